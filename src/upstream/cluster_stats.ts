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

/** How a cluster's discovery went: each attempt to refresh the membership and its outcome. */
export class ClusterUpdateStats {
  /** A resolution (or fetch) started. */
  readonly updateAttempt: Counter;
  /** It answered. */
  readonly updateSuccess: Counter;
  /** It failed; the previous hosts stay. */
  readonly updateFailure: Counter;
  /** It answered with the hosts already known: nothing was rebuilt. */
  readonly updateNoRebuild: Counter;

  constructor(s: Scope) {
    this.updateAttempt = s.counter("update_attempt");
    this.updateSuccess = s.counter("update_success");
    this.updateFailure = s.counter("update_failure");
    this.updateNoRebuild = s.counter("update_no_rebuild");
  }
}

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
