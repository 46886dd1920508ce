/**
 * The cluster manager: every cluster of the config by name, their initialization (Envoy's
 * "cm init", which the server waits for before it starts listeners), and a load balancer per
 * cluster for this thread. Workers build their own load balancers over snapshots of each
 * cluster's membership (`Cluster.prioritySet.snapshot()`).
 *
 * @module
 */
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { Cluster, ClusterConfigError, type ClusterDeps } from "./cluster.ts";
import { createLoadBalancer, type LoadBalancer } from "./load_balancer.ts";
import type { ClusterStatsCache } from "../stats/data_path_stats.ts";
import type { Counter, Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import type { PrioritySet } from "./priority_set.ts";
import { CircuitBreakerStats, releaseWorkerResources } from "./resource_manager.ts";

/** What a cluster manager is built with. */
export interface ClusterManagerDeps extends ClusterDeps {
  /** This isolate's cluster traffic stats: its load balancers count into them. */
  clusterStats?: ClusterStatsCache;
}

/**
 * `cluster_manager.*` (Envoy's `ALL_CLUSTER_MANAGER_STATS` that static and DNS clusters move;
 * `warming_clusters`, `cluster_modified`/`_removed` and the update-merging ones come with CDS
 * and health checking, whose updates are the only ones that warm or merge).
 */
export class ClusterManagerStats {
  readonly clusterAdded: Counter;
  readonly clusterUpdated: Counter;
  readonly activeClusters: Gauge;

  constructor(store: Scope) {
    const s = store.scope("cluster_manager");
    this.clusterAdded = s.counter("cluster_added");
    this.clusterUpdated = s.counter("cluster_updated");
    this.activeClusters = s.gauge("active_clusters", "NeverImport");
  }
}

/** Owns the clusters of a config. */
export class ClusterManager {
  readonly #clusters = new Map<string, Cluster>();
  readonly #lbs = new Map<string, LoadBalancer>();
  readonly #random: () => number;
  readonly #clusterStats: ClusterStatsCache | undefined;
  /** `cluster_manager.*`, when built with the main thread's store (`deps.stats`). */
  readonly stats: ClusterManagerStats | undefined;
  /** The circuit breaker gauges, on the main thread (`deps.stats`). */
  readonly #breakerStats: CircuitBreakerStats[] = [];

  /**
   * Builds every cluster. Throws one Error listing all problems, each line naming its cluster,
   * so an operator sees every mistake in one run.
   */
  constructor(configs: readonly ClusterConfig[], deps: ClusterManagerDeps = {}) {
    this.#random = deps.random ?? Math.random;
    this.#clusterStats = deps.clusterStats;
    this.stats = deps.stats ? new ClusterManagerStats(deps.stats) : undefined;
    const problems: string[] = [];
    for (const config of configs) {
      if (this.#clusters.has(config.name)) {
        problems.push(`cluster '${config.name}': duplicate cluster name`);
        continue;
      }
      try {
        this.#clusters.set(config.name, new Cluster(config, deps));
      } catch (e) {
        if (!(e instanceof ClusterConfigError)) throw e;
        problems.push(e.message);
      }
    }
    if (problems.length > 0) throw new Error(problems.join("\n"));
    if (deps.stats) {
      for (const c of this.#clusters.values()) {
        this.#breakerStats.push(new CircuitBreakerStats(deps.stats, c.info.statName, c.resources));
      }
    }
    // Static clusters are active from the start, as in Envoy (only CDS clusters warm).
    this.stats?.clusterAdded.inc(this.#clusters.size);
    this.stats?.activeClusters.set(this.#clusters.size);
  }

  /** Resolves when every cluster has its first membership. */
  async initialize(): Promise<void> {
    await Promise.all([...this.#clusters.values()].map((c) => c.initialize()));
  }

  /** The cluster named `name`. */
  get(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  /** Names of all clusters, in config order. */
  names(): string[] {
    return [...this.#clusters.keys()];
  }

  /** Each cluster's circuit breaker memory, by name, for the workers to count into. */
  circuitBreakerMemory(): Record<string, SharedArrayBuffer> {
    const out: Record<string, SharedArrayBuffer> = {};
    for (const [name, c] of this.#clusters) out[name] = c.resources.memory;
    return out;
  }

  /** A worker is gone: what it held stops counting against every cluster's circuit breakers. */
  releaseWorker(workerId: number): void {
    for (const c of this.#clusters.values()) releaseWorkerResources(c.resources.memory, workerId);
  }

  /** Sets the circuit breaker gauges from the shared counters (before stats are read). */
  updateCircuitBreakerStats(): void {
    for (const s of this.#breakerStats) s.update();
  }

  /** This thread's load balancer for cluster `name`, created on first use. */
  loadBalancer(name: string): LoadBalancer | undefined {
    let lb = this.#lbs.get(name);
    if (!lb) {
      const cluster = this.#clusters.get(name);
      if (!cluster) return undefined;
      lb = createLoadBalancer(
        cluster.info,
        cluster.prioritySet,
        this.#random,
        this.#clusterStats
          ? { healthyPanic: this.#clusterStats.get(cluster.info.statName).lbHealthyPanic }
          : undefined,
      );
      this.#lbs.set(name, lb);
    }
    return lb;
  }

  /**
   * Calls `cb` with every membership change of every cluster from now on (the main thread
   * posts them to the workers), counting each as `cluster_manager.cluster_updated`. Envoy
   * starts listening once a cluster has initialized, so first memberships are not updates.
   */
  watchUpdates(cb: (name: string, set: PrioritySet) => void): void {
    for (const [name, cluster] of this.#clusters) {
      cluster.onMembershipUpdate((set) => {
        this.stats?.clusterUpdated.inc();
        cb(name, set);
      });
    }
  }

  /** Stops every cluster's timers and load balancer. */
  destroy(): void {
    for (const lb of this.#lbs.values()) lb.destroy();
    this.#lbs.clear();
    for (const c of this.#clusters.values()) c.destroy();
  }
}
