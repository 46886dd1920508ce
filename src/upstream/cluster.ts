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
import { type HostDescription, type HostMetadata, TRANSPORT_SOCKET_MATCH } from "./host.ts";
import type { UpstreamTransportSocketFactory } from "../network/transport_socket.ts";
import type { Random } from "./lb_base.ts";
import { type HostSetPolicy, type MembershipCallback, PrioritySet } from "./priority_set.ts";
import type { Scope } from "../stats/store.ts";
import { type ClusterMainStats, clusterMainStats } from "./cluster_stats.ts";
import { HashLbStats } from "./hash_lb_stats.ts";
import { HostHealthTracker } from "./host_health.ts";
import {
  anyTraffic,
  type CheckConn,
  HealthChecker,
  type HealthCheckEventLog,
  HealthCheckStats,
} from "./health_checker.ts";
import { OutlierDetector, OutlierStats } from "./outlier_detection.ts";
import type { JsonObject } from "@bufbuild/protobuf";
import type { HostEvent } from "./host_monitor.ts";
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
   * Opens an event log (main thread): `path` gets one line of `messageType` JSON per event.
   * Health checks' `event_log_path` and the outlier event log use it.
   */
  openEventLog?: (path: string, messageType: string) => (event: JsonObject) => void;
  /** `cluster_manager.outlier_detection.event_log_path`. */
  outlierEventLogPath?: string;
  /**
   * The shared memory of each cluster's circuit breakers, by cluster name: workers count into
   * the main thread's. A cluster without an entry allocates its own.
   */
  circuitBreakerMemory?: Readonly<Record<string, SharedArrayBuffer>>;
  /** The worker isolate this is (its circuit breaker share is kept apart). */
  workerId?: number;
  /** How many workers the circuit breaker memory this allocates keeps shares for. */
  workerSlots?: number;
  /**
   * Whether the cluster keeps the typed config it was built from (`Cluster.config`); true by
   * default. Workers read everything from `info`, so they pass false: each isolate would
   * otherwise hold a decoded copy of every cluster's config.
   */
  keepConfig?: boolean;
  /**
   * The transport socket (TLS) of a cluster's host, for active health checks; undefined for
   * plaintext.
   */
  transportSocketFor?: (
    info: ClusterInfo,
    metadata: HostMetadata | undefined,
  ) => UpstreamTransportSocketFactory | undefined;
}

/** One upstream cluster. */
export class Cluster {
  readonly info: ClusterInfo;
  /**
   * The typed config it was built from, for settings other components read themselves (the
   * admin, EDS, CDS on the main thread); undefined when built without it (`keepConfig`).
   */
  readonly config: ClusterConfig | undefined;
  readonly prioritySet = new PrioritySet();
  /** Membership and update stats, on the main thread. */
  readonly stats: ClusterMainStats | undefined;
  /** Circuit breakers, shared by every isolate. */
  readonly resources: ClusterResources;
  readonly #dns?: DnsMembership;
  #init?: Promise<void>;
  /** EDS: the membership assignments replace, and the first assignment's arrival. */
  #membership?: PrioritySet;
  #assigned?: Promise<void>;
  #firstAssignment?: () => void;
  /** Host health on the main thread, with health checks or outlier detection configured. */
  readonly health?: HostHealthTracker;
  readonly healthChecker?: HealthChecker;
  readonly outlierDetector?: OutlierDetector;

  /**
   * The typed config, for a cluster built to keep it (the main thread's clusters); a cluster built
   * without it (`keepConfig: false`, a worker's) throws, as reading it there is a bug.
   */
  get keptConfig(): ClusterConfig {
    if (this.config === undefined) {
      throw new Error(`cluster '${this.info.name}' was built without keeping its config`);
    }
    return this.config;
  }

  /** Reads and checks `config`; throws a `ClusterConfigError` listing every problem. */
  constructor(config: ClusterConfig, deps: ClusterDeps = {}) {
    const { info, endpoints } = parseCluster(config);
    this.info = info;
    this.config = deps.keepConfig === false ? undefined : config;
    this.resources = new ClusterResources(
      info.circuitBreakers,
      deps.circuitBreakerMemory?.[config.name] ?? allocateCircuitBreakerMemory(deps.workerSlots),
      deps.workerId,
    );
    const stats = deps.stats ? clusterMainStats(deps.stats, info.statName) : undefined;
    this.stats = stats;
    // An ORIGINAL_DST cluster's hosts are made by each worker's balancer, on demand.
    // On the main thread, health checking and outlier detection sit between the cluster type's
    // membership and the published one; workers receive the published snapshots.
    // Hosts limited by per_host_thresholds get a monitor too: it holds their connection count.
    const watched = deps.stats !== undefined &&
      (info.healthCheck || info.outlierDetection || info.perHostMaxConnections !== undefined);
    const membership = watched ? new PrioritySet() : this.prioritySet;
    if (info.type === "STATIC" || info.type === "ORIGINAL_DST") {
      setStaticHosts(membership, endpoints, info);
    } else if (info.type === "EDS") {
      this.#membership = membership;
      this.#assigned = new Promise((resolve) => (this.#firstAssignment = resolve));
    } else {
      this.#dns = new DnsMembership(info, endpoints, membership, {
        resolver: deps.resolver ?? new SystemDnsResolver(),
        timers: deps.timers ?? SYSTEM_TIMERS,
        random: deps.random ?? Math.random,
        stats: stats?.update,
      });
    }
    if (watched && deps.stats) {
      const scope = deps.stats.scope(`cluster.${info.statName}`);
      const health = new HostHealthTracker(membership, this.prioritySet, info.hostSetPolicy, {
        activeHc: info.healthCheck !== undefined,
        outlier: info.outlierDetection,
        // A LOGICAL_DNS cluster's one host follows DNS to its new address (Envoy never removes
        // it), so only STRICT_DNS hosts are kept after discovery drops them.
        keepRemovedHealthy: info.healthCheck !== undefined && info.type === "STRICT_DNS" &&
          !info.ignoreHealthOnHostRemoval,
        workerSlots: deps.workerSlots ?? 0,
      });
      this.health = health;
      const random = deps.random ?? Math.random;
      if (info.outlierDetection) {
        this.outlierDetector = new OutlierDetector(
          info.outlierDetection,
          new OutlierStats(scope),
          {
            get: (key) => health.states.get(key)?.outlier,
            all: () => [...health.states.values()].map((st) => st.outlier),
            count: () => health.states.size,
            changed: () => health.publish(),
          },
          {
            random,
            clusterName: info.name,
            ...(deps.outlierEventLogPath && deps.openEventLog
              ? {
                eventLog: deps.openEventLog(
                  deps.outlierEventLogPath,
                  "envoy.data.cluster.v3.OutlierDetectionEvent",
                ),
              }
              : {}),
          },
        );
      }
      if (info.healthCheck) {
        const detector = this.outlierDetector;
        const checker = new HealthChecker(info.healthCheck, new HealthCheckStats(scope), {
          clusterName: info.name,
          hadTraffic: () => anyTraffic(health.states.values()),
          changed: () => health.publish(),
          checkSucceeded: (st) => {
            if (detector?.onActiveHealthCheckSuccess(st.key)) health.publish();
          },
          ...(deps.transportSocketFor
            ? {
              transportSocket: (raw: Deno.Conn, host: HostDescription) => {
                // transport_socket_match_criteria stands in for the host's match labels.
                const labels = info.healthCheck?.transportSocketMatch;
                const f = deps.transportSocketFor!(
                  info,
                  labels ? { [TRANSPORT_SOCKET_MATCH]: labels } : host.metadata,
                );
                if (!f) return undefined;
                return new Promise<CheckConn>((resolve, reject) =>
                  f.connect(raw, { address: host.address }, scope, (err, tls) => {
                    if (err) reject(err);
                    else resolve(tls!.io);
                  })
                );
              },
            }
            : {}),
          ...(info.healthCheck.eventLogPaths.length > 0 && deps.openEventLog
            ? { eventLog: eventLogs(info.healthCheck.eventLogPaths, deps.openEventLog) }
            : {}),
        }, random);
        this.healthChecker = checker;
      }
      health.onHostsChanged = (added, removed) => {
        for (const st of removed) this.outlierDetector?.hostRemoved(st.outlier);
        this.healthChecker?.hostsChanged(added, removed);
      };
    }
    if (stats) {
      stats.endpoint.observe(this.prioritySet);
      this.prioritySet.onUpdate((set) => stats.endpoint.observe(set));
      const tables = HashLbStats.create(
        deps.stats!.scope(`cluster.${info.statName}`),
        info.lbPolicy,
        info.lb,
      );
      if (tables) {
        tables.observe(this.prioritySet);
        this.prioritySet.onUpdate((set) => tables.observe(set));
      }
    }
  }

  /**
   * Resolves once the first membership is known: at once for STATIC; for DNS clusters when every
   * name has been resolved once (or failed to), or at once with `wait_for_warm_on_init: false`.
   * Idempotent.
   */
  initialize(): Promise<void> {
    if (!this.#init) {
      this.outlierDetector?.start();
      const hc = this.healthChecker;
      if (hc) {
        const states = [...this.health!.states.values()];
        hc.hostsChanged(states, []);
      }
      let first = this.#dns?.start() ?? this.#assigned ?? Promise.resolve();
      // As Envoy, a health-checked cluster is initialized once every host had its first check.
      if (hc) first = first.then(() => hc.firstChecks());
      this.#init = this.info.waitForWarmOnInit ? first : Promise.resolve();
    }
    return this.#init;
  }

  /**
   * EDS: a load assignment's hosts (read by `parseCluster` as a STATIC cluster's would be)
   * replace the membership; levels it no longer has are emptied. The first one initializes
   * the cluster.
   */
  assign(hosts: readonly HostDescription[], policy: HostSetPolicy): void {
    const set = this.#membership;
    if (!set) throw new Error(`cluster '${this.info.name}' is not an EDS cluster`);
    const levels = Math.max(1, set.hostSets.length, ...hosts.map((h) => h.priority + 1));
    for (let p = 0; p < levels; p++) {
      set.updateHosts(p, hosts.filter((h) => h.priority === p), policy);
    }
    this.edsInitialized();
  }

  /** EDS: initialization is over without an assignment (the initial fetch timed out). */
  edsInitialized(): void {
    this.#firstAssignment?.();
    this.#firstAssignment = undefined;
  }

  /**
   * A worker's report about host `monitorId` (host_monitor.ts): a consecutive-error threshold
   * reached, or x-envoy-immediate-health-check-fail.
   */
  onHostEvent(monitorId: number, event: HostEvent): void {
    const key = this.health?.keyOf(monitorId);
    if (key === undefined) return;
    if (event === "immediate_hc_fail") this.healthChecker?.immediateFail(key);
    else this.outlierDetector?.onConsecutiveError(key, event);
  }

  /** Calls `cb` after every membership change; returns the function that unregisters it. */
  onMembershipUpdate(cb: MembershipCallback): () => void {
    return this.prioritySet.onUpdate(cb);
  }

  /** Stops DNS refreshes, health checks and outlier detection. */
  destroy(): void {
    this.#dns?.stop();
    this.healthChecker?.stop();
    this.outlierDetector?.stop();
  }
}

function setStaticHosts(set: PrioritySet, hosts: readonly HostDescription[], info: ClusterInfo) {
  const levels = Math.max(1, ...hosts.map((h) => h.priority + 1));
  for (let p = 0; p < levels; p++) {
    // Copied to its length: filter's result keeps the room it grew, kept as long as the
    // cluster serves.
    set.updateHosts(p, hosts.filter((h) => h.priority === p).slice(), info.hostSetPolicy);
  }
}

/** One health check event log writing to every path (`event_log_path`, file sinks). */
function eventLogs(
  paths: readonly string[],
  open: NonNullable<ClusterDeps["openEventLog"]>,
): HealthCheckEventLog {
  const logs = paths.map((p) => open(p, "envoy.data.core.v3.HealthCheckEvent"));
  return logs.length === 1 ? logs[0] : (event) => {
    for (const log of logs) log(event);
  };
}
