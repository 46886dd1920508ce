/**
 * Envoy's subset load balancer (`lb_subset_config`): hosts are grouped into subsets by the
 * values of their `envoy.lb` metadata for each selector's keys; a route's `metadata_match`
 * (its `envoy.lb` key/values) picks the subset whose values equal it, and the cluster's
 * policy balances within that subset. When no subset matches (or the route gives no
 * criteria), the selector's `fallback_policy` for that set of keys applies, else the
 * cluster's: no host, any host, or the `default_subset`.
 *
 * Subsets are rebuilt, each with its own balancer of the cluster's policy, whenever the
 * membership changes.
 *
 * @module
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { HostDescription } from "./host.ts";
import type { LbContext, LbStats, LoadBalancer } from "./lb_base.ts";
import { type HostSet, PrioritySet } from "./priority_set.ts";

/** What to do when no subset matches. */
export type SubsetFallback = "NO_FALLBACK" | "ANY_ENDPOINT" | "DEFAULT_SUBSET";

/** One `subset_selectors` entry. */
export interface SubsetSelector {
  /** `keys`, sorted. */
  readonly keys: readonly string[];
  /** `fallback_policy`; undefined = NOT_DEFINED (the cluster's applies). */
  readonly fallback?: SubsetFallback | "KEYS_SUBSET";
  /** `fallback_keys_subset`, sorted (KEYS_SUBSET). */
  readonly fallbackKeys?: readonly string[];
}

/** `lb_subset_config`, resolved. */
export interface SubsetSettings {
  readonly fallbackPolicy: SubsetFallback;
  /** `default_subset` key/values. */
  readonly defaultSubset: Readonly<Record<string, JsonValue>>;
  readonly selectors: readonly SubsetSelector[];
  /** `list_as_any`: a list value in host metadata matches any of its elements. */
  readonly listAsAny: boolean;
}

/** A route's `metadata_match` for `envoy.lb`: key/value pairs sorted by key. */
export interface MetadataMatchCriteria {
  readonly entries: readonly (readonly [string, JsonValue])[];
}

/** Builds a balancer of the cluster's policy over a set of hosts. */
export type ChildLbFactory = (set: PrioritySet) => LoadBalancer;

/** A JSON value as a canonical string (object keys sorted), for equality and map keys. */
export function canonicalJson(v: JsonValue): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(",")}}`;
}

function lbMetadata(h: HostDescription): Readonly<Record<string, JsonValue>> | undefined {
  return h.metadata?.["envoy.lb"];
}

/** Whether `host` has every key/value of `kvs` (a list matches any element with list_as_any). */
function hostMatches(
  host: HostDescription,
  kvs: readonly (readonly [string, JsonValue])[],
  listAsAny: boolean,
): boolean {
  const md = lbMetadata(host);
  for (const [k, v] of kvs) {
    const hv = md?.[k];
    if (hv === undefined) return false;
    const want = canonicalJson(v);
    if (canonicalJson(hv) === want) continue;
    if (listAsAny && Array.isArray(hv) && hv.some((e) => canonicalJson(e) === want)) continue;
    return false;
  }
  return true;
}

/** The subset keys (one per combination of values) a host belongs to for `keys`. */
function subsetKeysOf(
  host: HostDescription,
  keys: readonly string[],
  listAsAny: boolean,
): string[] {
  const md = lbMetadata(host);
  let combos: string[][] = [[]];
  for (const k of keys) {
    const v = md?.[k];
    if (v === undefined) return [];
    const options = listAsAny && Array.isArray(v) ? v.map(canonicalJson) : [canonicalJson(v)];
    combos = combos.flatMap((c) => options.map((o) => [...c, o]));
  }
  return combos.map((c) => c.join("\u0000"));
}

/** The hosts of `sets` that `keep` accepts, level by level. */
function filteredSet(sets: readonly HostSet[], keep: (h: HostDescription) => boolean): PrioritySet {
  return new PrioritySet({
    hostSets: sets.map((s) => ({ ...s, hosts: s.hosts.filter(keep) })),
  });
}

interface Subsets {
  /** By sorted keys joined, then by values joined: the subset's balancer. */
  readonly byKeys: Map<string, Map<string, LoadBalancer>>;
  /** Every subset with hosts, by keys and values joined (for `lb_subsets_*`). */
  readonly names: Set<string>;
  readonly defaultLb?: LoadBalancer;
  readonly children: LoadBalancer[];
}

/** Subset selection in front of the cluster's policy. */
export class SubsetLoadBalancer implements LoadBalancer {
  readonly usesHashKey: boolean;
  readonly #prioritySet: PrioritySet;
  readonly #settings: SubsetSettings;
  readonly #child: ChildLbFactory;
  readonly #selectorByKeys: Map<string, SubsetSelector>;
  readonly #unsubscribe: () => void;
  /** The balancer over all hosts (ANY_ENDPOINT). */
  readonly #any: LoadBalancer;
  #subsets: Subsets | undefined;
  /** The balancer that last picked each host, to report request starts and ends to. */
  #pickedBy = new WeakMap<HostDescription, LoadBalancer>();
  readonly #stats: LbStats | undefined;
  /** Whether the last #select fell back rather than finding a subset. */
  #fellBack = false;

  constructor(
    prioritySet: PrioritySet,
    settings: SubsetSettings,
    child: ChildLbFactory,
    stats?: LbStats,
  ) {
    this.#stats = stats;
    this.#prioritySet = prioritySet;
    this.#settings = settings;
    this.#child = child;
    this.#any = child(prioritySet);
    this.usesHashKey = this.#any.usesHashKey ?? false;
    this.#selectorByKeys = new Map(settings.selectors.map((s) => [s.keys.join("\u0000"), s]));
    // Subsets are rebuilt as soon as membership changes (as Envoy updates them), so the
    // `lb_subsets_*` stats follow membership rather than traffic.
    this.#subsets = this.#build(undefined);
    this.#unsubscribe = prioritySet.onUpdate(() => {
      const before = this.#subsets;
      this.#destroySubsets();
      this.#subsets = this.#build(before);
    });
  }

  chooseHost(ctx?: LbContext): HostDescription | undefined {
    const subsets = this.#subsets!;
    const lb = this.#select(subsets, ctx?.metadataMatch?.entries ?? []);
    const host = lb?.chooseHost(ctx);
    if (host) {
      this.#pickedBy.set(host, lb!);
      if (this.#fellBack) this.#stats?.subsetsFallback?.inc();
      else this.#stats?.subsetsSelected?.inc();
    }
    return host;
  }

  /** The subset for `entries`, else what the fallback policies say. */
  #select(
    subsets: Subsets,
    entries: readonly (readonly [string, JsonValue])[],
  ): LoadBalancer | undefined {
    this.#fellBack = false;
    if (entries.length > 0) {
      const lb = this.#find(subsets, entries);
      if (lb) return lb;
      const selector = this.#selectorByKeys.get(entries.map((e) => e[0]).join("\u0000"));
      const policy = selector?.fallback;
      if (policy === "KEYS_SUBSET") {
        // Retry with only the selector's fallback keys (a less specific selector).
        const wanted = new Set(selector!.fallbackKeys);
        return this.#select(subsets, entries.filter((e) => wanted.has(e[0])));
      }
      if (policy) return this.#fallback(subsets, policy);
    }
    return this.#fallback(subsets, this.#settings.fallbackPolicy);
  }

  requestStarted(host: HostDescription): void {
    this.#pickedBy.get(host)?.requestStarted(host);
  }

  requestFinished(host: HostDescription): void {
    this.#pickedBy.get(host)?.requestFinished(host);
  }

  destroy(): void {
    this.#unsubscribe();
    this.#destroySubsets();
    this.#stats?.subsetsActive?.dec(this.#subsets?.names.size ?? 0);
    this.#subsets = undefined;
    this.#any.destroy();
  }

  #find(
    subsets: Subsets,
    entries: readonly (readonly [string, JsonValue])[],
  ): LoadBalancer | undefined {
    if (entries.length === 0) return undefined;
    const byValues = subsets.byKeys.get(entries.map((e) => e[0]).join("\u0000"));
    return byValues?.get(entries.map((e) => canonicalJson(e[1])).join("\u0000"));
  }

  #fallback(subsets: Subsets, policy: SubsetFallback): LoadBalancer | undefined {
    this.#fellBack = true;
    if (policy === "ANY_ENDPOINT") return this.#any;
    if (policy === "DEFAULT_SUBSET") return subsets.defaultLb;
    return undefined;
  }

  /** Builds the subsets of the current membership; `before` is what they replace. */
  #build(before: Subsets | undefined): Subsets {
    const sets = this.#prioritySet.hostSets;
    const names = new Set<string>();
    const all = this.#prioritySet.allHosts();
    const listAsAny = this.#settings.listAsAny;
    const children: LoadBalancer[] = [];
    const byKeys = new Map<string, Map<string, LoadBalancer>>();
    for (const selector of this.#settings.selectors) {
      const members = new Map<string, Set<HostDescription>>();
      for (const h of all) {
        for (const k of subsetKeysOf(h, selector.keys, listAsAny)) {
          let m = members.get(k);
          if (!m) members.set(k, m = new Set());
          m.add(h);
        }
      }
      const byValues = new Map<string, LoadBalancer>();
      const keysName = selector.keys.join("\u0000");
      for (const [k, hosts] of members) {
        const lb = this.#child(filteredSet(sets, (h) => hosts.has(h)));
        children.push(lb);
        byValues.set(k, lb);
        names.add(`${keysName}\u0001${k}`);
      }
      byKeys.set(keysName, byValues);
    }
    let defaultLb: LoadBalancer | undefined;
    const defaults = Object.entries(this.#settings.defaultSubset).sort((a, b) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
    );
    if (defaults.length === 0) defaultLb = this.#any;
    else if (all.some((h) => hostMatches(h, defaults, listAsAny))) {
      defaultLb = this.#child(filteredSet(sets, (h) => hostMatches(h, defaults, listAsAny)));
      children.push(defaultLb);
    }
    this.#countSubsets(before?.names, names);
    return { byKeys, names, defaultLb, children };
  }

  /** `lb_subsets_created/removed/active`: subsets that gained their first or lost their last host. */
  #countSubsets(before: Set<string> | undefined, now: Set<string>): void {
    const stats = this.#stats;
    if (!stats?.subsetsCreated) return;
    let created = 0;
    let removed = 0;
    for (const n of now) if (!before?.has(n)) created++;
    if (before) { for (const n of before) if (!now.has(n)) removed++; }
    stats.subsetsCreated.inc(created);
    stats.subsetsRemoved?.inc(removed);
    stats.subsetsActive?.inc(created);
    stats.subsetsActive?.dec(removed);
  }

  #destroySubsets(): void {
    for (const lb of this.#subsets?.children ?? []) lb.destroy();
  }
}
