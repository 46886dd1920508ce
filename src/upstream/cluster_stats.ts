/**
 * The main thread's stats of a cluster: its membership (Envoy's `ALL_CLUSTER_ENDPOINT_STATS`)
 * and the updates its discovery makes (`ALL_CLUSTER_CONFIG_UPDATE_STATS`), under
 * `cluster.<stat name>.`. The main thread owns membership, so these are counted once there;
 * the workers count the traffic stats (`ClusterStats` in `stats/data_path_stats.ts`).
 *
 * @module
 */
import type { Counter, Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import type { SnapshotMerger } from "../stats/snapshot.ts";
import { hostKey } from "./host.ts";
import type { PrioritySet } from "./priority_set.ts";

/** The membership gauges and change counter, kept current from the priority set. */
export class ClusterEndpointStats {
  readonly membershipChange: Counter;
  readonly membershipTotal: Gauge;
  readonly membershipHealthy: Gauge;
  readonly membershipDegraded: Gauge;
  readonly maxHostWeight: Gauge;
  /** The hosts (`ip:port`) of the last observed membership. */
  #hosts = new Set<string>();

  constructor(s: Scope) {
    this.membershipChange = s.counter("membership_change");
    this.membershipTotal = s.gauge("membership_total", "NeverImport");
    this.membershipHealthy = s.gauge("membership_healthy", "NeverImport");
    this.membershipDegraded = s.gauge("membership_degraded", "NeverImport");
    this.maxHostWeight = s.gauge("max_host_weight", "NeverImport");
  }

  /**
   * Reads the membership after an update. `membership_change` counts updates that added or
   * removed a host (a health or weight change is not one), as Envoy's member update callback;
   * the first observation compares with an empty cluster, so a static cluster's hosts count as
   * one change.
   */
  observe(set: PrioritySet): void {
    let total = 0;
    let healthy = 0;
    let degraded = 0;
    let maxWeight = 0;
    const hosts = new Set<string>();
    for (const level of set.hostSets) {
      for (const h of level.hosts) {
        total++;
        if (h.healthy) healthy++;
        else if (h.degraded) degraded++;
        if (h.weight > maxWeight) maxWeight = h.weight;
        hosts.add(hostKey(h));
      }
    }
    const before = this.#hosts;
    const changed = hosts.size !== before.size || [...hosts].some((k) => !before.has(k));
    if (changed) this.membershipChange.inc();
    this.#hosts = hosts;
    this.membershipTotal.set(total);
    this.membershipHealthy.set(healthy);
    this.membershipDegraded.set(degraded);
    this.maxHostWeight.set(maxWeight);
  }
}

/**
 * How a cluster's discovery went: each attempt to refresh the membership and its outcome.
 * Only DNS clusters count here (EDS counts in its subscription's stats of the same names), so
 * each counter is made on first use, and `fill` lists the ones not made as unused zeros: the
 * static clusters of a large config hold none of them.
 */
export class ClusterUpdateStats {
  readonly #scope: Scope;
  #attempt: Counter | undefined;
  #success: Counter | undefined;
  #failure: Counter | undefined;
  #noRebuild: Counter | undefined;

  constructor(s: Scope) {
    this.#scope = s;
  }

  /** A resolution (or fetch) started. */
  get updateAttempt(): Counter {
    return this.#attempt ??= this.#scope.counter("update_attempt");
  }
  /** It answered. */
  get updateSuccess(): Counter {
    return this.#success ??= this.#scope.counter("update_success");
  }
  /** It failed; the previous hosts stay. */
  get updateFailure(): Counter {
    return this.#failure ??= this.#scope.counter("update_failure");
  }
  /** It answered with the hosts already known: nothing was rebuilt. */
  get updateNoRebuild(): Counter {
    return this.#noRebuild ??= this.#scope.counter("update_no_rebuild");
  }

  /** Adds to `m` each counter not made yet, as an unused zero (that `decl` accepts). */
  fill(m: SnapshotMerger, decl: { accepts(name: string): boolean }): void {
    const made = [this.#attempt, this.#success, this.#failure, this.#noRebuild];
    UPDATE_COUNTERS.forEach((n, i) => {
      if (made[i]) return;
      const name = `${this.#scope.prefix}.${n}`;
      if (decl.accepts(name)) m.counter(name, 0, 0, false);
    });
  }
}

/** `ClusterUpdateStats`' counters, in the order of its fields. */
const UPDATE_COUNTERS = ["update_attempt", "update_success", "update_failure", "update_no_rebuild"];

/** A cluster's main-thread stats. */
export interface ClusterMainStats {
  readonly endpoint: ClusterEndpointStats;
  readonly update: ClusterUpdateStats;
}

/** Declares the main-thread stats of the cluster whose stat name is `statName`. */
export function clusterMainStats(store: Scope, statName: string): ClusterMainStats {
  const s = store.scope(`cluster.${statName}`);
  return { endpoint: new ClusterEndpointStats(s), update: new ClusterUpdateStats(s) };
}
