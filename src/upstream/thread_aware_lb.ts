/**
 * Envoy's ThreadAwareLoadBalancerBase, the frame of the consistent-hash policies (RING_HASH,
 * MAGLEV): a priority level is chosen from the request's hash (`hash % 100`, the same priority
 * load as every policy), and each level keeps one immutable table built over its healthy hosts
 * (all of them in panic), weighted by host weight — and by locality weight when locality
 * weighted load balancing is on. Without a hash (no route `hash_policy`, or none of its
 * policies produced one) a random 64-bit value stands in, as in Envoy. With
 * `hash_balance_factor` each table answers through the load bound (`BoundedLoadTable`).
 *
 * @module
 */
import { ActiveRequests } from "./active_requests.ts";
import { BoundedLoadTable } from "./bounded_load.ts";
import { type HostDescription, hostKey, localityKey } from "./host.ts";
import type { LbContext, LbSettings, LbStats, LoadBalancer, Random } from "./lb_base.ts";
import { randomInt } from "./lb_base.ts";
import { choosePriority, computePriorityLoad, type PriorityLoad } from "./priority_load.ts";
import type { HostSet, PrioritySet } from "./priority_set.ts";

/** A host with its share of the level (all shares of a level sum to at most 1). */
export interface NormalizedHostWeight {
  readonly host: HostDescription;
  readonly weight: number;
}

/** The hosts of a level with normalized weights, and the extremes of those weights. */
export interface NormalizedWeights {
  readonly hosts: readonly NormalizedHostWeight[];
  readonly min: number;
  readonly max: number;
}

/** A consistent-hash lookup structure built once per host set change (ring or Maglev table). */
export interface HashTable {
  /** The host for `hash`; `attempt` > 0 looks elsewhere (retry host predicates). */
  chooseHost(hash: bigint, attempt: number): HostDescription | undefined;
}

/** How a built table spread its entries (ring points or Maglev slots) over the hosts. */
export interface TableShape {
  /** Entries in the table. */
  readonly size: number;
  /** Fewest entries of one host. */
  readonly minPerHost: number;
  /** Most entries of one host. */
  readonly maxPerHost: number;
}

/** The extremes of per-host entry counts (`counts` non-empty). */
export function tableShape(size: number, counts: ArrayLike<number>): TableShape {
  let min = Infinity;
  let max = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] < min) min = counts[i];
    if (counts[i] > max) max = counts[i];
  }
  return { size, minPerHost: min, maxPerHost: max };
}

/** Builds a policy's table from a level's normalized weights. */
export type HashTableFactory = (weights: NormalizedWeights) => HashTable;

/**
 * The string a host is hashed by: its `envoy.lb` metadata `hash_key` when that is a non-empty
 * string, else its hostname (`use_hostname_for_hashing`) or its address as `ip:port`.
 */
export function hostHashKey(host: HostDescription, useHostname: boolean): string {
  const key = host.metadata?.["envoy.lb"]?.["hash_key"];
  if (typeof key === "string" && key !== "") return key;
  return useHostname ? host.hostname : hostKey(host);
}

function addNormalized(
  out: NormalizedHostWeight[],
  hosts: readonly HostDescription[],
  share: number,
  extremes: { min: number; max: number },
): void {
  let sum = 0;
  for (const h of hosts) sum += h.weight;
  for (const host of hosts) {
    const weight = host.weight * share / sum;
    out.push({ host, weight });
    if (weight < extremes.min) extremes.min = weight;
    if (weight > extremes.max) extremes.max = weight;
  }
}

/**
 * Envoy's normalizeWeights: each host's weight over the sum of the level's weights; with
 * locality weights, each locality's hosts share that locality's part of the sum of locality
 * weights (a locality without weight gets nothing).
 */
export function normalizeWeights(
  set: HostSet,
  panic: boolean,
  localityWeighted: boolean,
): NormalizedWeights {
  const out: NormalizedHostWeight[] = [];
  const extremes = { min: 1, max: 0 };
  const eligible = (h: HostDescription) => panic || h.healthy;
  if (!localityWeighted) {
    addNormalized(out, set.hosts.filter(eligible), 1, extremes);
    return { hosts: out, ...extremes };
  }
  const localities = new Map<string, HostDescription[]>();
  for (const h of set.hosts) {
    const k = localityKey(h.locality);
    const group = localities.get(k);
    if (group) group.push(h);
    else localities.set(k, [h]);
  }
  let sum = 0;
  for (const group of localities.values()) sum += group[0].localityWeight ?? 0;
  if (sum === 0) return { hosts: out, ...extremes };
  for (const group of localities.values()) {
    const w = group[0].localityWeight ?? 0;
    const hosts = group.filter(eligible);
    if (w !== 0 && hosts.length > 0) addNormalized(out, hosts, w / sum, extremes);
  }
  return { hosts: out, ...extremes };
}

/** A uniformly random unsigned 64-bit value from `random`. */
export function random64(random: Random): bigint {
  return (BigInt(randomInt(random)) << 32n) | BigInt(randomInt(random));
}

/** A priority level's table, and whether it was built in panic (over every host). */
export interface HashLevel {
  readonly table: HashTable;
  readonly panic: boolean;
  readonly weights: NormalizedWeights;
}

/**
 * The priority load and each level's table over `prioritySet`, as the balancer and the main
 * thread's table gauges both build them.
 */
export function buildHashLevels(
  prioritySet: PrioritySet,
  settings: LbSettings,
  factory: HashTableFactory,
): { load: PriorityLoad; levels: HashLevel[] } {
  const sets = prioritySet.hostSets;
  const load = computePriorityLoad(sets, settings.healthyPanicThreshold);
  const levels = sets.map((set, p) => {
    const panic = load.panic[p] ?? false;
    const weights = normalizeWeights(set, panic, settings.localityWeighted);
    return { table: factory(weights), panic, weights };
  });
  return { load, levels };
}

/** Priority and panic handling around a policy's per-level hash table. */
export class ThreadAwareLoadBalancer implements LoadBalancer {
  /** Tells the router to compute the route's hash policy for this balancer. */
  readonly usesHashKey = true;
  readonly #prioritySet: PrioritySet;
  readonly #settings: LbSettings;
  readonly #factory: HashTableFactory;
  readonly #random: Random;
  readonly #stats: LbStats | undefined;
  readonly #unsubscribe: () => void;
  /** Requests in flight per host, kept only when `hash_balance_factor` bounds the load. */
  readonly #active: ActiveRequests | undefined;
  #stale = true;
  #load!: PriorityLoad;
  #levels: HashLevel[] = [];

  constructor(
    prioritySet: PrioritySet,
    settings: LbSettings,
    factory: HashTableFactory,
    random: Random,
    stats?: LbStats,
  ) {
    this.#prioritySet = prioritySet;
    this.#settings = settings;
    this.#factory = factory;
    this.#random = random;
    this.#stats = stats;
    if (settings.hashBalanceFactor !== undefined) this.#active = new ActiveRequests();
    this.#unsubscribe = prioritySet.onUpdate((set) => {
      this.#stale = true;
      this.#active?.prune(set);
    });
  }

  chooseHost(ctx?: LbContext): HostDescription | undefined {
    if (this.#stale) this.#refresh();
    const hash = ctx?.hashKey ?? random64(this.#random);
    const load = ctx?.determinePriorityLoad
      ? ctx.determinePriorityLoad(this.#prioritySet.hostSets, this.#load)
      : this.#load;
    const { priority } = choosePriority(load, Number(hash % 100n));
    const level = this.#levels[priority];
    if (!level) return undefined;
    if (level.panic) this.#stats?.healthyPanic.inc();
    const attempts = (ctx?.hostSelectionRetryCount ?? 0) + 1;
    let host: HostDescription | undefined;
    for (let i = 0; i < attempts; i++) {
      host = level.table.chooseHost(hash, i);
      // The last host checked is returned when every attempt was rejected, as in Envoy.
      if (!host || !ctx?.shouldSelectAnotherHost?.(host)) return host;
    }
    return host;
  }

  requestStarted(host: HostDescription): void {
    this.#active?.started(host);
  }

  requestFinished(host: HostDescription): void {
    this.#active?.finished(host);
  }

  destroy(): void {
    this.#unsubscribe();
  }

  #refresh(): void {
    this.#stale = false;
    const { load, levels } = buildHashLevels(this.#prioritySet, this.#settings, this.#factory);
    this.#load = load;
    const factor = this.#settings.hashBalanceFactor;
    const active = this.#active;
    this.#levels = factor === undefined || !active ? levels : levels.map((l) => ({
      ...l,
      table: new BoundedLoadTable(l.table, l.weights, active, factor),
    }));
  }
}
