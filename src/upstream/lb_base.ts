/**
 * What every load balancing policy shares, as in Envoy's LoadBalancerBase and
 * ZoneAwareLoadBalancerBase: pick a priority level from the priority load, fall back to all of
 * the level's hosts in panic, optionally pick a locality by weight, and only then let the
 * policy pick a host from that group. Policies keep their own state per group of hosts (a
 * round-robin index, an EDF schedule) in a {@linkcode HostSource}, rebuilt whenever the
 * membership changes.
 *
 * @module
 */
import type { HeaderMap } from "../http/header_map.ts";
import { EdfScheduler } from "./edf_scheduler.ts";
import { type HostDescription, type Locality, localityKey } from "./host.ts";
import { choosePriority, computePriorityLoad, type PriorityLoad } from "./priority_load.ts";
import type { HostSet, PrioritySet } from "./priority_set.ts";
import type { RingHashSettings } from "./ring_hash_lb.ts";
import type { SlowStartSettings } from "./slow_start.ts";
import type { MetadataMatchCriteria, SubsetSettings } from "./subset_lb.ts";
import type { Clock } from "./slow_start.ts";
import {
  chooseLocality,
  hostsPerLocality,
  type LocalityRoutingState,
  localityRoutingState,
  type ZoneAwareSettings,
  type ZoneExitReason,
  type ZonePickStat,
} from "./zone_aware.ts";
import { runtimeSnapshot } from "../runtime/runtime.ts";

/** What a caller may tell the load balancer about a request. */
export interface LbContext {
  /** The request's consistent-hash key (route hash policy), for hash-based policies. */
  readonly hashKey?: bigint;
  /** The request's headers (the ORIGINAL_DST balancer reads its override header). */
  readonly downstreamHeaders?: HeaderMap;
  /**
   * The downstream connection's local address (`ip:port`, `[ip]:port`) when a listener filter
   * restored it (original_dst, proxy_protocol): an ORIGINAL_DST cluster's destination.
   */
  readonly downstreamLocalAddress?: string;
  /** The route's `metadata_match` (`envoy.lb`), for the subset load balancer. */
  readonly metadataMatch?: MetadataMatchCriteria;
  /**
   * Extra picks allowed when `shouldSelectAnotherHost` rejects a host (a retry's
   * `host_selection_retry_max_attempts`); honoured by the consistent-hash policies, which then
   * walk their ring or flip their hash as Envoy does.
   */
  readonly hostSelectionRetryCount?: number;
  /** A retry host predicate: true rejects `host` so that another is picked. */
  shouldSelectAnotherHost?(host: HostDescription): boolean;
  /** A retry priority: the priority load to pick with, given the balancer's own. */
  determinePriorityLoad?(sets: readonly HostSet[], original: PriorityLoad): PriorityLoad;
}

/** Picks an upstream host for each request. One instance per worker. */
export interface LoadBalancer {
  /**
   * True for consistent-hash policies: only then does the router evaluate the route's
   * `hash_policy` (and generate its cookies), as Envoy computes the hash key on demand.
   */
  readonly usesHashKey?: boolean;
  /** The host for the next request, or undefined when there is none ("no healthy upstream"). */
  chooseHost(ctx?: LbContext): HostDescription | undefined;
  /** Reports that a request to `host` started; policies that weigh load count it. */
  requestStarted(host: HostDescription): void;
  /** Reports that a request to `host` ended (any outcome). */
  requestFinished(host: HostDescription): void;
  /** Stops following membership updates. */
  destroy(): void;
}

/** Load balancing settings of a cluster shared by policies (`common_lb_config`, policy configs). */
export interface LbSettings {
  /** `common_lb_config.healthy_panic_threshold`, in percent (default 50; 0 disables panic). */
  readonly healthyPanicThreshold: number;
  /** `common_lb_config.locality_weighted_lb_config` is set. */
  readonly localityWeighted: boolean;
  /** `least_request_lb_config.choice_count` (default 2). */
  readonly choiceCount: number;
  /** `least_request_lb_config.active_request_bias` (default 1.0). */
  readonly activeRequestBias: number;
  /** Its runtime key: when set, the live runtime value applies from the next host set update. */
  readonly activeRequestBiasRuntimeKey?: string;
  /** `zone_aware_lb_config` (defaults when unset); applies only with a local cluster. */
  readonly zoneAware?: ZoneAwareSettings;
  /** `lb_subset_config`: subsets in front of the policy. */
  readonly subset?: SubsetSettings;
  /** ROUND_ROBIN and LEAST_REQUEST: `slow_start_config` with a non-zero window. */
  readonly slowStart?: SlowStartSettings;
  /** RING_HASH: `ring_hash_lb_config` (or the ring_hash policy), defaults applied. */
  readonly ringHash?: RingHashSettings;
  /** MAGLEV: `maglev_lb_config.table_size` (or the maglev policy's), default 65537. */
  readonly maglevTableSize?: number;
  /** `consistent_hashing_lb_config.use_hostname_for_hashing`. */
  readonly useHostnameForHashing?: boolean;
  /** RING_HASH and MAGLEV: `hash_balance_factor` (≥ 100), bounding each host's load. */
  readonly hashBalanceFactor?: number;
}

/** What a load balancer counts (`cluster.<name>.lb_*` of its isolate). */
export interface LbStats {
  /** `lb_healthy_panic`: picks made in panic mode. */
  readonly healthyPanic: { inc(): void };
  /** `lb_subsets_selected`: picks from a subset matching the route's metadata. */
  readonly subsetsSelected?: { inc(): void };
  /** `lb_subsets_fallback`: picks from a fallback (any endpoint or the default subset). */
  readonly subsetsFallback?: { inc(): void };
  /** `lb_subsets_created`: subsets that got their first host. */
  readonly subsetsCreated?: { inc(n?: number): void };
  /** `lb_subsets_removed`: subsets that lost their last host. */
  readonly subsetsRemoved?: { inc(n?: number): void };
  /** `lb_subsets_active`: subsets with hosts now. */
  readonly subsetsActive?: { inc(n?: number): void; dec(n?: number): void };
  /** Zone aware routing's `lb_zone_*`, `lb_local_cluster_not_ok` and friends, by stat name. */
  readonly zone?: Readonly<Record<ZoneStat, { inc(): void }>>;
}

/** The zone aware routing counters. */
export type ZoneStat = ZoneExitReason | ZonePickStat | "lb_recalculate_zone_structures";

/** This proxy's own cluster and locality, for zone aware routing. */
export interface LocalCluster {
  readonly prioritySet: PrioritySet;
  readonly locality: Locality;
}

/** What a balancer may be given besides its settings. */
export interface LbEnvironment {
  /** Monotonic ms for slow start windows; tests inject one. */
  readonly clock?: Clock;
  /** `cluster_manager.local_cluster_name`'s cluster and `node.locality`. */
  readonly local?: LocalCluster;
}

/** Uniform random numbers in [0, 1); injectable so tests are deterministic. */
export type Random = () => number;

/** A group of hosts a policy picks from, with the policy's state for that group. */
export interface HostSource<S> {
  readonly hosts: readonly HostDescription[];
  readonly state: S;
}

/** Weighted choice among a level's localities, and the hosts of each. */
interface LocalityChoice<S> {
  readonly scheduler: EdfScheduler<number>;
  readonly sources: readonly HostSource<S>[];
}

/** P=0's zone aware routing: per-locality sources in Envoy's locality order. */
interface ZoneRouting<S> {
  readonly state: LocalityRoutingState;
  readonly healthy: readonly HostSource<S>[];
  readonly degraded: readonly HostSource<S>[];
  /** The local cluster is in panic: no zone routing (or no host with fail_traffic_on_panic). */
  readonly localPanic: boolean;
}

interface Level<S> {
  readonly all: HostSource<S>;
  readonly healthy: HostSource<S>;
  readonly degraded: HostSource<S>;
  readonly healthyLocalities?: LocalityChoice<S>;
  readonly degradedLocalities?: LocalityChoice<S>;
}

/** A non-negative 32-bit integer from `random`. */
export function randomInt(random: Random): number {
  return Math.floor(random() * 0x1_0000_0000);
}

/** True when all hosts have the same weight (then policies skip weighting work). */
export function equalWeights(hosts: readonly HostDescription[]): boolean {
  return hosts.every((h) => h.weight === hosts[0].weight);
}

/** Priority, panic and locality selection; subclasses pick within the chosen group. */
export abstract class PriorityLoadBalancer<S> implements LoadBalancer {
  protected readonly random: Random;
  readonly #prioritySet: PrioritySet;
  readonly #settings: LbSettings;
  readonly #unsubscribe: () => void;
  readonly #stats: LbStats | undefined;
  readonly #local: LocalCluster | undefined;
  readonly #unsubscribeLocal: (() => void) | undefined;
  #zone: ZoneRouting<S> | undefined;
  // Derived state is rebuilt on the first pick after a change: updates that arrive together
  // (several DNS names resolving at once) cost one rebuild, and subclass fields exist by then.
  #stale = true;
  #load!: PriorityLoad;
  #levels: Level<S>[] = [];

  constructor(
    prioritySet: PrioritySet,
    settings: LbSettings,
    random: Random,
    stats?: LbStats,
    env: LbEnvironment = {},
  ) {
    this.random = random;
    this.#prioritySet = prioritySet;
    this.#settings = settings;
    this.#stats = stats;
    this.#unsubscribe = prioritySet.onUpdate(() => this.#stale = true);
    // Zone aware routing and locality weighted balancing exclude each other, as in Envoy.
    if (env.local && !settings.localityWeighted) {
      this.#local = env.local;
      this.#unsubscribeLocal = env.local.prioritySet.onUpdate(() => this.#stale = true);
    }
  }

  /** The policy's state for a new group of hosts. */
  protected abstract sourceState(hosts: readonly HostDescription[]): S;

  /** Picks from a non-empty group. */
  protected abstract pick(source: HostSource<S>): HostDescription;

  chooseHost(ctx?: LbContext): HostDescription | undefined {
    if (this.#stale) this.#refresh(this.#prioritySet.hostSets);
    const load = ctx?.determinePriorityLoad
      ? ctx.determinePriorityLoad(this.#prioritySet.hostSets, this.#load)
      : this.#load;
    const choice = choosePriority(load, randomInt(this.random));
    const level = this.#levels[choice.priority];
    if (!level) return undefined;
    let source: HostSource<S>;
    const zone = choice.priority === 0 ? this.#zone : undefined;
    if (this.#load.panic[choice.priority]) {
      this.#stats?.healthyPanic.inc();
      if (this.#settings.zoneAware?.failTrafficOnPanic) return undefined;
      source = level.all;
    } else if (zone && this.#zoneRoutingEnabled()) {
      if (zone.localPanic) {
        this.#stats?.zone?.lb_local_cluster_not_ok.inc();
        if (this.#settings.zoneAware?.failTrafficOnPanic) return undefined;
        source = choice.degraded ? level.degraded : level.healthy;
      } else {
        const sources = choice.degraded ? zone.degraded : zone.healthy;
        const i = chooseLocality(
          zone.state,
          sources.length,
          () => randomInt(this.random),
          (stat) => this.#stats?.zone?.[stat].inc(),
        );
        source = sources[i];
      }
    } else {
      const localities = choice.degraded ? level.degradedLocalities : level.healthyLocalities;
      const index = localities?.scheduler.pickAndAdd();
      source = localities && index !== undefined
        ? localities.sources[index]
        : choice.degraded
        ? level.degraded
        : level.healthy;
    }
    return source.hosts.length > 0 ? this.pick(source) : undefined;
  }

  requestStarted(_host: HostDescription): void {}

  requestFinished(_host: HostDescription): void {}

  destroy(): void {
    this.#unsubscribe();
    this.#unsubscribeLocal?.();
  }

  /** Runtime `upstream.zone_routing.enabled` over `routing_enabled`, per pick as in Envoy. */
  #zoneRoutingEnabled(): boolean {
    return runtimeSnapshot().featureEnabledPercent(
      "upstream.zone_routing.enabled",
      this.#settings.zoneAware?.routingEnabled ?? 100,
      randomInt(this.random),
    );
  }

  #refresh(sets: readonly HostSet[]): void {
    this.#stale = false;
    this.#load = computePriorityLoad(sets, this.#settings.healthyPanicThreshold);
    this.#levels = sets.map((set) => this.#level(set));
    this.#zone = this.#local && sets[0] ? this.#zoneRouting(sets[0], this.#local) : undefined;
  }

  /** Envoy's regenerateLocalityRoutingStructures for P=0; undefined when zone routing is off. */
  #zoneRouting(set: HostSet, local: LocalCluster): ZoneRouting<S> | undefined {
    this.#stats?.zone?.lb_recalculate_zone_structures.inc();
    const localSet = local.prioritySet.hostSets[0];
    const isHealthy = (h: HostDescription) => h.healthy;
    const upstream = hostsPerLocality(set.hosts, local.locality, isHealthy);
    const minSize = runtimeSnapshot().getInteger(
      "upstream.zone_routing.min_cluster_size",
      this.#settings.zoneAware?.minClusterSize ?? 6,
    );
    const { state, exit } = localityRoutingState(
      upstream,
      hostsPerLocality(localSet?.hosts ?? [], local.locality, isHealthy),
      minSize,
    );
    if (exit) this.#stats?.zone?.[exit].inc();
    if (state.kind === "none") return undefined;
    const degraded = hostsPerLocality(set.hosts, local.locality, (h) => !h.healthy && !!h.degraded);
    const source = (hosts: readonly HostDescription[]) => ({
      hosts,
      state: this.sourceState(hosts),
    });
    return {
      state,
      healthy: upstream.groups.map(source),
      degraded: degraded.groups.map(source),
      localPanic: hostSetInPanic(localSet?.hosts ?? [], this.#settings.healthyPanicThreshold),
    };
  }

  #level(set: HostSet): Level<S> {
    const source = (hosts: readonly HostDescription[]) => ({
      hosts,
      state: this.sourceState(hosts),
    });
    const healthy = set.hosts.filter((h) => h.healthy);
    const degraded = set.hosts.filter((h) => !h.healthy && h.degraded === true);
    const level: Level<S> = {
      all: source(set.hosts),
      healthy: source(healthy),
      degraded: source(degraded),
    };
    if (!this.#settings.localityWeighted) return level;
    const byLocality = groupByLocality(set.hosts);
    return {
      ...level,
      healthyLocalities: this.#localities(byLocality, set, (h) => h.healthy),
      degradedLocalities: this.#localities(byLocality, set, (h) => !h.healthy && !!h.degraded),
    };
  }

  /**
   * An EDF schedule over the localities with eligible hosts, each weighted by its locality
   * weight times its availability (eligible share times the overprovisioning factor, capped
   * at 1) — so a locality loses traffic only once many of its hosts are gone.
   */
  #localities(
    groups: readonly (readonly HostDescription[])[],
    set: HostSet,
    eligible: (h: HostDescription) => boolean,
  ): LocalityChoice<S> | undefined {
    const scheduler = new EdfScheduler<number>();
    const sources: HostSource<S>[] = [];
    for (const all of groups) {
      const hosts = all.filter(eligible);
      const availability = Math.min(
        1,
        set.overprovisioningFactor / 100 * hosts.length / all.length,
      );
      const weight = (all[0].localityWeight ?? 0) * availability;
      const index = sources.push({ hosts, state: this.sourceState(hosts) }) - 1;
      if (weight > 0) scheduler.add(index, weight);
    }
    return scheduler.size > 0 ? { scheduler, sources } : undefined;
  }
}

/** Hosts grouped by locality, in order of each locality's first host. */
function groupByLocality(hosts: readonly HostDescription[]): HostDescription[][] {
  const groups = new Map<string, HostDescription[]>();
  for (const h of hosts) {
    const k = localityKey(h.locality);
    const g = groups.get(k);
    if (g) g.push(h);
    else groups.set(k, [h]);
  }
  return [...groups.values()];
}

/** Envoy's isHostSetInPanic: healthy and degraded hosts under the panic threshold. */
function hostSetInPanic(hosts: readonly HostDescription[], threshold: number): boolean {
  let available = 0;
  for (const h of hosts) if (h.healthy || h.degraded) available++;
  const pct = hosts.length === 0 ? 0 : 100 * available / hosts.length;
  return pct < Math.min(100, threshold);
}
