/**
 * An upstream cluster: its settings ({@linkcode ClusterInfo}) and its membership (a
 * {@linkcode PrioritySet}), kept current by the cluster type — fixed for STATIC, re-resolved
 * for STRICT_DNS and LOGICAL_DNS. Construction only reads and checks the config; resolution
 * starts with {@linkcode Cluster.initialize}, so `--mode validate` touches no network.
 *
 * @module
 */
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { type ClusterInfo, parseCluster } from "./cluster_info.ts";
import { type DnsResolver, SystemDnsResolver } from "./dns.ts";
import { DnsMembership, SYSTEM_TIMERS, type Timers } from "./dns_cluster.ts";
import type { HostDescription } from "./host.ts";
import type { Random } from "./lb_base.ts";
import { type MembershipCallback, PrioritySet } from "./priority_set.ts";
import type { Scope } from "../stats/store.ts";
import { type ClusterMainStats, clusterMainStats } from "./cluster_stats.ts";
import { allocateCircuitBreakerMemory, ClusterResources } from "./resource_manager.ts";

export { ClusterConfigError, type ClusterInfo, type ClusterType } from "./cluster_info.ts";
export type { Timers } from "./dns_cluster.ts";

/** What a cluster uses from its environment; tests inject fakes. */
export interface ClusterDeps {
  /** Resolves DNS cluster names; the system resolver by default. */
  resolver?: DnsResolver;
  timers?: Timers;
  /** For DNS failure backoff jitter. */
  random?: Random;
  /**
   * The main thread's stats store: the cluster counts its membership and discovery updates
   * there (`cluster.<name>.membership_*`, `update_*`). Workers, which only mirror membership,
   * pass none.
   */
  stats?: Scope;
  /**
   * The shared memory of each cluster's circuit breakers, by cluster name: workers count into
   * the main thread's. A cluster without an entry allocates its own.
   */
  circuitBreakerMemory?: Readonly<Record<string, SharedArrayBuffer>>;
  /** The worker isolate this is (its circuit breaker share is kept apart). */
  workerId?: number;
  /** How many workers the circuit breaker memory this allocates keeps shares for. */
  workerSlots?: number;
}

/** One upstream cluster. */
export class Cluster {
  readonly info: ClusterInfo;
  /** The typed config it was built from, for settings other components read themselves. */
  readonly config: ClusterConfig;
  readonly prioritySet = new PrioritySet();
  /** Membership and update stats, on the main thread. */
  readonly stats: ClusterMainStats | undefined;
  /** Circuit breakers, shared by every isolate. */
  readonly resources: ClusterResources;
  readonly #dns?: DnsMembership;
  #init?: Promise<void>;

  /** Reads and checks `config`; throws a `ClusterConfigError` listing every problem. */
  constructor(config: ClusterConfig, deps: ClusterDeps = {}) {
    const { info, endpoints } = parseCluster(config);
    this.info = info;
    this.config = config;
    this.resources = new ClusterResources(
      info.circuitBreakers,
      deps.circuitBreakerMemory?.[config.name] ?? allocateCircuitBreakerMemory(deps.workerSlots),
      deps.workerId,
    );
    const stats = deps.stats ? clusterMainStats(deps.stats, info.statName) : undefined;
    this.stats = stats;
    if (info.type === "STATIC") {
      setStaticHosts(this.prioritySet, endpoints, info);
    } else {
      this.#dns = new DnsMembership(info, endpoints, this.prioritySet, {
        resolver: deps.resolver ?? new SystemDnsResolver(),
        timers: deps.timers ?? SYSTEM_TIMERS,
        random: deps.random ?? Math.random,
        stats: stats?.update,
      });
    }
    if (stats) {
      stats.endpoint.observe(this.prioritySet);
      this.prioritySet.onUpdate((set) => stats.endpoint.observe(set));
    }
  }

  /**
   * Resolves once the first membership is known: at once for STATIC; for DNS clusters when every
   * name has been resolved once (or failed to), or at once with `wait_for_warm_on_init: false`.
   * Idempotent.
   */
  initialize(): Promise<void> {
    if (!this.#init) {
      const first = this.#dns?.start() ?? Promise.resolve();
      this.#init = this.info.waitForWarmOnInit ? first : Promise.resolve();
    }
    return this.#init;
  }

  /** Calls `cb` after every membership change; returns the function that unregisters it. */
  onMembershipUpdate(cb: MembershipCallback): () => void {
    return this.prioritySet.onUpdate(cb);
  }

  /** Stops DNS refreshes. */
  destroy(): void {
    this.#dns?.stop();
  }
}

function setStaticHosts(set: PrioritySet, hosts: readonly HostDescription[], info: ClusterInfo) {
  const levels = Math.max(1, ...hosts.map((h) => h.priority + 1));
  for (let p = 0; p < levels; p++) {
    set.updateHosts(p, hosts.filter((h) => h.priority === p), info.hostSetPolicy);
  }
}
