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
import {
  createLoadBalancer,
  type LbStats,
  type LoadBalancer,
  type LocalCluster,
} from "./load_balancer.ts";
import type { Locality } from "./host.ts";
import { type HostPoolView, OriginalDstLoadBalancer } from "./original_dst_cluster.ts";
import type { ClusterStats, ClusterStatsCache } from "../stats/data_path_stats.ts";
import type { Counter, Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import type { PrioritySet, PrioritySetSnapshot } from "./priority_set.ts";
import type { SnapshotMerger } from "../stats/snapshot.ts";
import { diffMembership } from "./membership_diff.ts";
import { SYSTEM_TIMERS, type Timers } from "./dns_cluster.ts";
import type { HostEvent } from "./host_monitor.ts";
import { CircuitBreakerStats, releaseWorkerResources } from "./resource_manager.ts";
import { releaseWorkerHostConnections } from "./host_monitor.ts";

/** What a cluster manager is built with. */
export interface ClusterManagerDeps extends ClusterDeps {
  /** This isolate's cluster traffic stats: its load balancers count into them. */
  clusterStats?: ClusterStatsCache;
  /** A monotonic clock in ms (update merge windows); `performance.now` by default. */
  now?: () => number;
  /**
   * `cluster_manager.local_cluster_name` and `node.locality` (after `--service-zone`): other
   * clusters' balancers route zone aware against this cluster's membership.
   */
  local?: { readonly clusterName: string; readonly locality: Locality };
}

/** Envoy's `common_lb_config.update_merge_window` when unset. */
const DEFAULT_UPDATE_MERGE_WINDOW_MS = 1000;

/** One cluster's merged-update state (Envoy's PendingUpdates). */
interface PendingUpdates {
  /** The membership the last change left, to tell what the next one adds or removes. */
  previous: PrioritySetSnapshot;
  /** When an update was last delivered or let through. */
  lastUpdatedMs: number;
  /** The timer that delivers the merged updates, while one is pending. */
  timer?: unknown;
  /** Stops watching the cluster (it was replaced or removed). */
  unwatch?: () => void;
}

/**
 * `cluster_manager.*` (Envoy's `ALL_CLUSTER_MANAGER_STATS` that static and DNS clusters move,
 * and the update-merging ones; `warming_clusters`, `cluster_modified`/`_removed` come with CDS).
 */
export class ClusterManagerStats {
  readonly clusterAdded: Counter;
  readonly clusterUpdated: Counter;
  readonly clusterUpdatedViaMerge: Counter;
  readonly updateMergeCancelled: Counter;
  readonly updateOutOfMergeWindow: Counter;
  readonly activeClusters: Gauge;
  /** CDS and bootstrap reloads. */
  readonly clusterModified: Counter;
  readonly clusterRemoved: Counter;
  readonly warmingClusters: Gauge;

  constructor(store: Scope) {
    const s = store.scope("cluster_manager");
    this.clusterAdded = s.counter("cluster_added");
    this.clusterUpdated = s.counter("cluster_updated");
    this.clusterUpdatedViaMerge = s.counter("cluster_updated_via_merge");
    this.updateMergeCancelled = s.counter("update_merge_cancelled");
    this.updateOutOfMergeWindow = s.counter("update_out_of_merge_window");
    this.activeClusters = s.gauge("active_clusters", "NeverImport");
    this.clusterModified = s.counter("cluster_modified");
    this.clusterRemoved = s.counter("cluster_removed");
    this.warmingClusters = s.gauge("warming_clusters", "NeverImport");
  }
}

/** Owns the clusters of a config. */
export class ClusterManager {
  readonly #clusters = new Map<string, Cluster>();
  readonly #lbs = new Map<string, LoadBalancer>();
  readonly #random: () => number;
  readonly #clusterStats: ClusterStatsCache | undefined;
  #pools: HostPoolView | undefined;
  readonly #timers: Timers;
  readonly #now: () => number;
  readonly #pending = new Map<string, PendingUpdates>();
  #local: LocalCluster | undefined;
  readonly #localName: string | undefined;
  /** The main thread's store (`deps.stats`), for the stats of clusters added later. */
  readonly #stats: Scope | undefined;
  /** Where membership changes go once `watchUpdates` was called. */
  #watcher: ((name: string, set: PrioritySet) => void) | undefined;
  /** `cluster_manager.*`, when built with the main thread's store (`deps.stats`). */
  readonly stats: ClusterManagerStats | undefined;
  /** The circuit breaker gauges, on the main thread (`deps.stats`). */
  readonly #breakerStats = new Map<string, CircuitBreakerStats>();

  /**
   * Builds every cluster. Throws one Error listing all problems, each line naming its cluster,
   * so an operator sees every mistake in one run.
   */
  constructor(configs: readonly ClusterConfig[], deps: ClusterManagerDeps = {}) {
    this.#random = deps.random ?? Math.random;
    this.#clusterStats = deps.clusterStats;
    this.#timers = deps.timers ?? SYSTEM_TIMERS;
    this.#now = deps.now ?? (() => performance.now());
    this.stats = deps.stats ? new ClusterManagerStats(deps.stats) : undefined;
    this.#stats = deps.stats;
    this.#localName = deps.local?.clusterName || undefined;
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
    const local = deps.local;
    if (local?.clusterName) {
      const cluster = this.#clusters.get(local.clusterName);
      if (cluster) this.#local = { prioritySet: cluster.prioritySet, locality: local.locality };
      else problems.push(`local cluster '${local.clusterName}' must be defined`);
    }
    if (problems.length > 0) throw new Error(problems.join("\n"));
    if (deps.stats) {
      for (const c of this.#clusters.values()) {
        this.#breakerStats.set(
          c.info.name,
          new CircuitBreakerStats(deps.stats, c.info.statName, c.resources),
        );
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

  /** Every cluster's stat name (`alt_stat_name`, else its name). */
  *statNames(): IterableIterator<string> {
    for (const c of this.#clusters.values()) yield c.info.statName;
  }

  /** Each cluster's circuit breaker memory, by name, for the workers to count into. */
  circuitBreakerMemory(): Record<string, SharedArrayBuffer> {
    const out: Record<string, SharedArrayBuffer> = {};
    for (const [name, c] of this.#clusters) out[name] = c.resources.memory;
    return out;
  }

  /** A worker is gone: what it held stops counting against every cluster's circuit breakers. */
  releaseWorker(workerId: number): void {
    for (const c of this.#clusters.values()) {
      releaseWorkerResources(c.resources.memory, workerId);
      for (const st of c.health?.states.values() ?? []) {
        releaseWorkerHostConnections(st.monitor, workerId);
      }
    }
  }

  /** Sets the circuit breaker gauges from the shared counters (before stats are read). */
  updateCircuitBreakerStats(): void {
    for (const s of this.#breakerStats.values()) s.update();
  }

  /**
   * Adds the main-thread cluster stats made only on first use (circuit breaker gauges of
   * breakers that never opened, discovery update counters) to `m`, as unused zeros.
   */
  fillUnmadeStats(m: SnapshotMerger, decl: { accepts(name: string): boolean }): void {
    for (const s of this.#breakerStats.values()) s.fill(m, decl);
    for (const c of this.#clusters.values()) c.stats?.update.fill(m, decl);
  }

  /** This thread's load balancer for cluster `name`, created on first use. */
  loadBalancer(name: string): LoadBalancer | undefined {
    let lb = this.#lbs.get(name);
    if (!lb) {
      const cluster = this.#clusters.get(name);
      if (!cluster) return undefined;
      const od = cluster.info.originalDst;
      lb = od
        ? new OriginalDstLoadBalancer(
          name,
          od,
          this.#clusterStats?.get(cluster.info.statName).originalDstHostInvalid ?? { inc() {} },
          () => this.#pools,
        )
        : createLoadBalancer(
          cluster.info,
          cluster.prioritySet,
          this.#random,
          this.#clusterStats ? lbStats(this.#clusterStats.get(cluster.info.statName)) : undefined,
          this.#local ? { local: this.#local } : undefined,
        );
      this.#lbs.set(name, lb);
    }
    return lb;
  }

  /** This thread's connection pools, which balancers that make hosts on demand look at. */
  setHostPools(pools: HostPoolView): void {
    this.#pools = pools;
  }

  /**
   * Swaps in a membership the main thread posted (workers), and acts on what changed as
   * Envoy's thread-local cluster manager does: pools of removed hosts drain, and with
   * `close_connections_on_host_health_failure` the connections to a host that turned unhealthy
   * are closed.
   */
  updateMembership(name: string, snapshot: PrioritySetSnapshot): void {
    const cluster = this.#clusters.get(name);
    if (!cluster) return;
    const pools = this.#pools;
    const diff = pools ? diffMembership(cluster.prioritySet.snapshot(), snapshot) : undefined;
    cluster.prioritySet.replace(snapshot);
    if (!pools || !diff) return;
    for (const h of diff.removed) pools.drainConnectionsTo(name, h.address, h.port);
    if (cluster.info.closeConnectionsOnHostHealthFailure) {
      for (const h of diff.turnedUnhealthy) pools.closeConnectionsTo(name, h.address, h.port);
    }
  }

  /**
   * Calls `cb` with every membership change of every cluster from now on (the main thread
   * posts them to the workers), counting each as `cluster_manager.cluster_updated`. Envoy
   * starts listening once a cluster has initialized, so first memberships are not updates.
   * As in Envoy, an update that adds or removes no host (health, weight, metadata) arriving
   * within `common_lb_config.update_merge_window` of the last one waits for the window to end
   * and goes out merged with those that follow it (`cluster_updated_via_merge`).
   */
  watchUpdates(cb: (name: string, set: PrioritySet) => void): void {
    this.#watcher = cb;
    for (const [name, cluster] of this.#clusters) this.#watch(name, cluster, cb);
  }

  #watch(name: string, cluster: Cluster, cb: (name: string, set: PrioritySet) => void): void {
    const state: PendingUpdates = {
      previous: cluster.prioritySet.snapshot(),
      lastUpdatedMs: -Infinity,
    };
    this.#pending.set(name, state);
    state.unwatch = cluster.onMembershipUpdate((set) => {
      const next = set.snapshot();
      const { mergeable } = diffMembership(state.previous, next);
      state.previous = next;
      const window = cluster.info.updateMergeWindowMs ?? DEFAULT_UPDATE_MERGE_WINDOW_MS;
      if (window > 0 && this.#scheduleUpdate(state, mergeable, window, () => cb(name, set))) {
        return;
      }
      this.stats?.clusterUpdated.inc();
      cb(name, set);
    });
  }

  /**
   * Puts `cluster` in service under its name (CDS, a reloaded bootstrap), replacing and
   * destroying the one it updates: this thread's balancer is rebuilt and, on a worker, the
   * pools of the old cluster drain (requests under way finish on them). Its membership
   * changes are watched like the others'. Returns whether it replaced one.
   */
  addOrUpdateCluster(cluster: Cluster): boolean {
    const name = cluster.info.name;
    const old = this.#clusters.get(name);
    if (old) this.#retire(name, old);
    this.#clusters.set(name, cluster);
    if (this.#local && this.#localName === name) {
      this.#local = { prioritySet: cluster.prioritySet, locality: this.#local.locality };
    }
    if (this.#stats) {
      this.#breakerStats.set(
        name,
        new CircuitBreakerStats(this.#stats, cluster.info.statName, cluster.resources),
      );
    }
    if (this.#watcher) this.#watch(name, cluster, this.#watcher);
    this.stats?.activeClusters.set(this.#clusters.size);
    return old !== undefined;
  }

  /** Takes cluster `name` out of service (CDS removed it); returns whether it existed. */
  removeCluster(name: string): boolean {
    const old = this.#clusters.get(name);
    if (!old) return false;
    this.#retire(name, old);
    this.#clusters.delete(name);
    this.#breakerStats.delete(name);
    this.stats?.activeClusters.set(this.#clusters.size);
    return true;
  }

  #retire(name: string, old: Cluster): void {
    const pending = this.#pending.get(name);
    if (pending) {
      if (pending.timer !== undefined) this.#timers.clearTimeout(pending.timer);
      pending.unwatch?.();
      this.#pending.delete(name);
    }
    this.#lbs.get(name)?.destroy();
    this.#lbs.delete(name);
    this.#pools?.drainCluster?.(name);
    old.destroy();
  }

  /** Envoy's scheduleUpdate: whether the update waits to be delivered merged. */
  #scheduleUpdate(
    state: PendingUpdates,
    mergeable: boolean,
    windowMs: number,
    deliver: () => void,
  ): boolean {
    const now = this.#now();
    const outOfWindow = now - state.lastUpdatedMs > windowMs;
    if (outOfWindow || !mergeable) {
      if (mergeable) this.stats?.updateOutOfMergeWindow.inc();
      if (state.timer !== undefined) {
        // A pending merged update goes out now, with this one.
        this.#timers.clearTimeout(state.timer);
        state.timer = undefined;
        this.stats?.updateMergeCancelled.inc();
      }
      state.lastUpdatedMs = now;
      return false;
    }
    state.timer ??= this.#timers.setTimeout(() => {
      state.timer = undefined;
      this.stats?.clusterUpdatedViaMerge.inc();
      state.lastUpdatedMs = this.#now();
      deliver();
    }, windowMs);
    return true;
  }

  /** A worker's report about a host (host_monitor.ts), for the cluster that owns it. */
  onHostEvent(monitorId: number, event: HostEvent): void {
    for (const c of this.#clusters.values()) {
      if (c.health?.keyOf(monitorId) !== undefined) {
        c.onHostEvent(monitorId, event);
        return;
      }
    }
  }

  /** Stops every cluster's timers and load balancer. */
  destroy(): void {
    for (const p of this.#pending.values()) {
      if (p.timer !== undefined) this.#timers.clearTimeout(p.timer);
    }
    this.#pending.clear();
    for (const lb of this.#lbs.values()) lb.destroy();
    this.#lbs.clear();
    for (const c of this.#clusters.values()) c.destroy();
  }
}

/** The `lb_*` counters of a cluster's stats. */
function lbStats(s: ClusterStats): LbStats {
  return {
    healthyPanic: s.lbHealthyPanic,
    subsetsSelected: s.lbSubsetsSelected,
    subsetsFallback: s.lbSubsetsFallback,
    subsetsCreated: s.lbSubsetsCreated,
    subsetsRemoved: s.lbSubsetsRemoved,
    subsetsActive: s.lbSubsetsActive,
    zone: s.lbZone,
  };
}
