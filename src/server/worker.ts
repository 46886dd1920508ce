/**
 * A worker isolate (Envoy's worker thread): owns the connections of every listener it binds
 * (with SO_REUSEPORT, so the kernel spreads connections over workers), its own upstream
 * connection pools, and a read-only copy of cluster membership that the main thread keeps
 * current. Config arrives as the binary bootstrap; nothing here resolves DNS.
 */
import { startIdleMemoryRelease } from "../common/idle_memory_release.ts";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import {
  configureLogging,
  getLogger,
  type LogLevel,
  setComponentLevel,
  setThreadId,
} from "../common/logger.ts";
import type { ServerContext } from "../config/extensions.ts";
import {
  configureDefaultAccessLogManager,
  defaultAccessLogManager,
} from "../extensions/access_loggers/access_log_manager.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import { ActiveListener } from "../listener/listener.ts";
import { ClusterManager } from "../upstream/cluster_manager.ts";
import { ConnPoolManager } from "../upstream/conn_pool.ts";
import type { PrioritySetSnapshot } from "../upstream/priority_set.ts";
import type { Options } from "./options.ts";
import { localClusterOf } from "../upstream/zone_aware.ts";
import { Store } from "../stats/store.ts";
import type { KnownStats, PackedSnapshot } from "../stats/packed_snapshot.ts";
import { ClusterStatsCache } from "../stats/data_path_stats.ts";
import type { DrainOptions } from "../admin/listeners.ts";
import { setRuntimeSnapshot } from "../runtime/runtime.ts";
import type { SnapshotData } from "../runtime/snapshot.ts";
import type { HostStatsSnapshot } from "../upstream/host_stats.ts";
import { drainManager, gradualShare } from "./drain_manager.ts";
import { listenerNames, OverloadState, setOverloadState } from "./overload_state.ts";
import type { StatsSink } from "../stats/sink.ts";
import { TagProducer } from "../stats/tag_extractor.ts";
import { createStatsSinks } from "./stats_flusher.ts";
import { listenerCreateSuccess } from "../listener/listener_manager_stats.ts";
import { isolateConnectionStats, isolateMemoryStats } from "./server_stats.ts";
import { loopIntervalMs, startHeartbeat, watchdogThresholds } from "./watchdog.ts";
import { reportBug, setBugCounter } from "../common/error_boundary.ts";
import {
  type HostEvent,
  setConsecutiveNotifier,
  setHostMonitorWorker,
} from "../upstream/host_monitor.ts";
import { RouteConfigProviders } from "../xds/route_config_provider.ts";
import { ScopedRouteProviders } from "../xds/scoped_route_provider.ts";
import { applyDynamicUpdate, type DynamicUpdate } from "../xds/worker_updates.ts";
import { applySdsSecrets } from "../extensions/transport_sockets/tls/sds_registry.ts";
import { applyEcdsConfigs } from "../xds/ecds_config.ts";
import type { BalancerMemory } from "../listener/connection_balancer.ts";
import {
  type ActiveFaultMemory,
  setActiveFaultMemory,
} from "../extensions/filters/http/fault/active_faults.ts";
import {
  type BucketMemory,
  setLocalRateLimitMemory,
} from "../extensions/filters/common/local_ratelimit/bucket_memory.ts";
import { dropHandedOff, type HandedOffSocket, setHandOff } from "../listener/connection_handoff.ts";

/** Main thread → worker. */
export type ToWorker =
  | {
    type: "init";
    workerId: number;
    /** The bootstrap with every Any pre-unpacked (structured clone of the message). */
    bootstrap: Bootstrap;
    options: Options;
    /** Ports to bind, by listener name (port 0 listeners were resolved by the main thread). */
    ports: Record<string, number>;
    membership: Record<string, PrioritySetSnapshot>;
    /** Each cluster's circuit breaker counters, shared with the main thread and every worker. */
    circuitBreakerMemory: Record<string, SharedArrayBuffer>;
    /** The current runtime snapshot. */
    runtime: SnapshotData;
    /** Whether the server fails health checks (a replaced worker must drain too). */
    healthCheckFailed: boolean;
    /**
     * The server drains (shutdown, a hot restart's parent): a worker replaced now must not
     * accept again.
     */
    draining?: boolean;
    /** Bumped by this worker's event loop; the main thread's guard dog watches it. */
    heartbeat?: Int32Array;
    /** Every worker slot's data-path activity (idle_memory_release.ts); this one's is `workerId`. */
    activity?: Int32Array;
    /** Dynamic clusters, route tables and listeners (xDS, a reloaded bootstrap) to apply. */
    dynamic?: DynamicUpdate;
    /** The overload state the main thread's overload manager publishes (overload_state.ts). */
    overload?: SharedArrayBuffer;
    /** The exact balancers' counts (connection_balancer.ts); unset when nothing is balanced. */
    balancers?: BalancerMemory;
    /** The fault filters' active fault counts of every worker (fault/active_faults.ts). */
    activeFaults: ActiveFaultMemory;
    /** The local rate limit filters' token buckets, shared by every worker. */
    localRateLimits: BucketMemory;
  }
  /**
   * Sent when the worker reports `ready`, and does nothing: Deno's worker message loop keeps
   * the bytes of the last message it awaited until the next one it awaits (messages already
   * queued are taken without awaiting), and init's carry the whole config (some 1.5 KiB per
   * cluster), which would otherwise stay in each worker's memory while no other message comes.
   */
  | { type: "initEnd" }
  /** Clusters, route tables or listeners changed (xDS, a reloaded bootstrap). */
  | { type: "xds"; update: DynamicUpdate }
  | { type: "membership"; cluster: string; snapshot: PrioritySetSnapshot }
  /** The admin changed log levels (`POST /logging`). */
  | { type: "logLevels"; levels: Record<string, LogLevel> }
  /** `POST /drain_listeners`: stop accepting now, or after a drain period (`graceful`). */
  | { type: "drain"; options: DrainOptions }
  /**
   * Graceful shutdown and hot restart: every listener stops accepting now and every connection
   * drains, all at once (`immediate`) or a growing share of them over `durationMs`.
   */
  | {
    type: "drainAll";
    id: number;
    strategy: Options["drainStrategy"];
    durationMs: number;
    /** Go on accepting this long first (a hot restart's child steers connections away). */
    acceptForMs: number;
    /** A shutdown (SIGTERM), rather than a hot restart: every listener drains. */
    shutdown: boolean;
  }
  /** How many downstream connections are still open; `id` pairs the answer. */
  | { type: "connections"; id: number }
  /** The runtime changed (`/runtime_modify`, a disk layer swap). */
  | { type: "runtime"; snapshot: SnapshotData }
  /** `/healthcheck/fail` (true) and `/healthcheck/ok` (false): connections drain while failed. */
  | { type: "healthCheckFailed"; failed: boolean }
  /** The admin wants this worker's per-host stats (`/clusters`); `id` pairs the answer. */
  | { type: "hostStats"; id: number }
  /** The admin wants this worker's stats (`/stats`); `id` pairs the answer. */
  /**
   * The admin (or the stats flush) wants this worker's stats; `id` pairs the answer. `latch`
   * (the flush only) ends the flush interval: counter deltas restart from here.
   */
  | { type: "stats"; id: number; latch?: boolean; known: KnownStats }
  | { type: "resetCounters" }
  /** Reopen every access log file (`POST /reopen_logs`, SIGUSR1); `id` pairs the answer. */
  | { type: "reopenLogs"; id: number }
  /** A connection of a balanced listener that the balancer gave to this worker. */
  | { type: "handOff"; socket: HandedOffSocket }
  | { type: "shutdown" };

/** Worker → main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "stats"; id: number; packed: PackedSnapshot }
  | { type: "logsReopened"; id: number }
  | { type: "connections"; id: number; count: number }
  /** The worker stopped accepting and told its connections to drain (`drainAll`). */
  | { type: "draining"; id: number }
  | { type: "hostStats"; id: number; stats: HostStatsSnapshot }
  /** A host's consecutive-error threshold was reached, or it sent immediate-hc-fail. */
  | { type: "hostEvent"; monitorId: number; event: HostEvent }
  /** A request wants the virtual host of `host` in a VHDS route configuration (on_demand). */
  | { type: "vhdsDemand"; routeConfig: string; host: string }
  /** A request needs the route configuration of an on-demand scope (SRDS, on_demand). */
  | { type: "srdsDemand"; scopedRoutes: string; routeConfig: string }
  | { type: "error"; message: string }
  /** A connection this worker accepted that the balancer gave to another worker. */
  | { type: "handOff"; socket: HandedOffSocket }
  | { type: "stopped" };

const log = getLogger("main");

/** The running worker's state. */
class WorkerServer {
  readonly listeners: ActiveListener[] = [];
  readonly ctx: ServerContext;
  readonly #drainTimeMs: number;
  readonly #drainStrategy: Options["drainStrategy"];
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  /** Asks draining listeners' connections to close, a growing share each time (gradual). */
  #drainSweep: ReturnType<typeof setInterval> | undefined;
  /** This worker's instance of each stat sink, for the histogram values it records. */
  readonly sinks: StatsSink[] = [];

  constructor(init: Extract<ToWorker, { type: "init" }>) {
    const o = init.options;
    configureLogging({
      level: o.logLevel,
      componentLevels: o.componentLogLevels,
      format: o.logFormat,
      escape: o.logFormatEscaped,
      path: o.logPath || undefined,
    });
    // Envoy numbers threads; the main thread is 1 in our logs, workers follow.
    setThreadId(init.workerId + 2);
    setRuntimeSnapshot(init.runtime);
    // SDS secrets first: static listeners and clusters build their TLS contexts with them.
    if (init.dynamic?.secrets) applySdsSecrets(init.dynamic.secrets);
    if (init.dynamic?.ecds) applyEcdsConfigs(init.dynamic.ecds);
    drainManager().setHealthCheckFailed(init.healthCheckFailed);
    this.#drainTimeMs = o.drainTimeS * 1000;
    this.#drainStrategy = o.drainStrategy;
    configureDefaultAccessLogManager(o.fileFlushIntervalMsec);
    const b = init.bootstrap;
    const sinks = this.sinks;
    // Without sinks, histograms get no callback at all: nothing is added to record().
    const stats = new Store(
      b.statsSinks.length === 0 ? {} : {
        onHistogramValue: (h, v) => {
          for (const sink of sinks) sink.onHistogramComplete(h, v);
        },
      },
    );
    setBugCounter(stats.counter("server.envoy_bug_failures"));
    const clusterStats = new ClusterStatsCache(stats);
    const clusterManager = new ClusterManager(b.staticResources?.clusters ?? [], {
      clusterStats,
      local: localClusterOf(b, o.serviceZone),
      circuitBreakerMemory: init.circuitBreakerMemory,
      workerId: init.workerId,
      keepConfig: false,
    });
    for (const [name, snap] of Object.entries(init.membership)) {
      clusterManager.get(name)?.prioritySet.replace(snap);
    }
    // A cluster's traffic stats are made on its first use here; the main thread lists the
    // unused ones as zeros (cluster_stats_template.ts), so /stats shows them from the start.
    const extensions = builtinExtensions();
    const secrets = b.staticResources?.secrets ?? [];
    const routeConfigs = new RouteConfigProviders();
    this.ctx = {
      extensions,
      secrets,
      clusterManager,
      pools: new ConnPoolManager(clusterStats, { extensions, secrets, stats }),
      stats,
      clusterStats,
      workerId: init.workerId,
      routeConfigs,
      scopedRoutes: new ScopedRouteProviders(routeConfigs),
      localInfo: {
        nodeId: b.node?.id || o.serviceNode,
        clusterName: b.node?.cluster || o.serviceCluster,
      },
    };
    clusterManager.setHostPools(this.ctx.pools);
    // TLS clusters build their contexts now (their `ssl.*` stats exist from the start).
    for (const n of clusterManager.names()) {
      this.ctx.pools.declareTransportSocket(clusterManager.get(n)!.info);
    }
    setOverloadState(new OverloadState(init.overload, b.overloadManager, listenerNames(b)))
      .attach(stats);
    if (b.statsSinks.length > 0) {
      sinks.push(...createStatsSinks(b, this.ctx.extensions, {
        clusterManager,
        stats,
        clusterStats: this.ctx.clusterStats,
        tags: new TagProducer(b.statsConfig ?? {}),
        localInfo: {
          nodeId: b.node?.id || o.serviceNode,
          clusterName: b.node?.cluster || o.serviceCluster,
        },
      }));
    }
    for (const l of b.staticResources?.listeners ?? []) {
      this.listeners.push(new ActiveListener(l, this.ctx));
      drainManager().registerListener(l.name, l.drainType);
    }
    listenerCreateSuccess(stats).inc(this.listeners.length);
    if (!init.draining) {
      for (const l of this.listeners) l.bind(true, init.ports[l.name]);
      for (const l of this.listeners) {
        l.serve().catch((e) => log.error(`listener '${l.name}': ${(e as Error).message}`));
      }
    }
    // A worker replaced while the server drains serves no dynamic listener either.
    if (init.dynamic) {
      this.applyUpdate(init.draining ? { ...init.dynamic, listeners: [] } : init.dynamic);
    }
    // The guard dog on the main thread counts this worker's stalls and acts on them. The
    // heartbeat runs until the isolate ends (a worker that stops draining is a stall too).
    if (init.heartbeat) {
      startHeartbeat(init.heartbeat, loopIntervalMs(watchdogThresholds(b, "workers")) / 2);
    }
  }

  /** Swaps in dynamic clusters, route tables and listeners (xds/worker_updates.ts). */
  applyUpdate(update: DynamicUpdate): void {
    applyDynamicUpdate({
      ctx: this.ctx,
      listeners: this.listeners,
      drainTimeMs: this.#drainTimeMs,
      drainStrategy: this.#drainStrategy,
    }, update);
  }

  /** This worker's stats, with its share of the server gauges refreshed. */
  packStats(latch: boolean, known: KnownStats): PackedSnapshot {
    const stats = this.ctx.stats;
    isolateMemoryStats(stats);
    let connections = 0;
    for (const l of this.listeners) connections += l.connectionCount;
    isolateConnectionStats(stats, connections);
    // Counter increases are computed by the main thread from values (`PackedStatsTable`), so
    // a reply it never receives loses nothing; histogram intervals still end here.
    return stats.pack(known, { latch, latchCounters: false });
  }

  /**
   * `/drain_listeners`: the listeners concerned (inbound ones only with `inboundonly`) stop
   * accepting now, or, when graceful, drain their connections over the drain time and stop
   * then (unless `skip_exit`).
   */
  drain(opts: DrainOptions): void {
    // Listener.TrafficDirection INBOUND is 1.
    const affected = this.listeners.filter((l) =>
      !opts.inboundOnly || l.config.trafficDirection === 1
    );
    if (!opts.graceful) {
      for (const l of affected) l.close(false);
      return;
    }
    const draining = affected.filter(drainsWithServer);
    drainManager().startDrain(
      draining.map((l) => l.drainKey),
      this.#drainTimeMs,
      this.#drainStrategy,
    );
    this.#drainConnections(draining, this.#drainStrategy, this.#drainTimeMs);
    if (opts.skipExit) return;
    clearTimeout(this.#drainTimer);
    this.#drainTimer = setTimeout(() => {
      for (const l of affected) l.close(false);
    }, this.#drainTimeMs);
  }

  /**
   * Shutdown or hot restart: connections drain, and nothing is accepted any more after
   * `acceptForMs`; resolves then. On hot restart, the connections of `MODIFY_ONLY` listeners
   * are left alone (until the parent exits), as in Envoy; a shutdown drains them too.
   */
  async drainAll(
    strategy: Options["drainStrategy"],
    durationMs: number,
    acceptForMs: number,
    shutdown: boolean,
  ): Promise<void> {
    const draining = shutdown ? this.listeners : this.listeners.filter(drainsWithServer);
    drainManager().startDrain(draining.map((l) => l.drainKey), durationMs, strategy);
    this.#drainConnections(draining, strategy, durationMs);
    if (acceptForMs > 0) await new Promise((r) => setTimeout(r, acceptForMs));
    for (const l of this.listeners) l.close(false);
    // Connections accepted meanwhile drain too.
    if (acceptForMs > 0 && strategy === "immediate") {
      for (const l of draining) l.drainConnections(1);
    }
  }

  /**
   * Starts the drain sequence of the listeners' connections: at once (immediate), or each
   * second for a share of those left, so that the part told grows linearly to all of them at
   * the end of the drain time (gradual). Idle connections need this: they send no response to
   * carry the `connection: close`.
   */
  #drainConnections(
    listeners: ActiveListener[],
    strategy: Options["drainStrategy"],
    durationMs: number,
  ): void {
    clearInterval(this.#drainSweep);
    if (strategy === "immediate" || durationMs <= 0) {
      for (const l of listeners) l.drainConnections(1);
      return;
    }
    const start = performance.now();
    const interval = Math.min(1000, durationMs);
    this.#drainSweep = setInterval(() => {
      const share = gradualShare(performance.now() - start, durationMs, interval);
      for (const l of listeners) l.drainConnections(share);
      if (share >= 1) clearInterval(this.#drainSweep);
    }, interval);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#drainTimer);
    clearInterval(this.#drainSweep);
    for (const l of this.listeners) l.close(true);
    this.ctx.pools.close();
    this.ctx.clusterManager.destroy();
    await Promise.all(this.sinks.map((s) => s.close().catch(() => {})));
    await defaultAccessLogManager().close();
  }
}

/**
 * Whether a listener's connections drain when the server drains (hot restart,
 * `/drain_listeners?graceful`): not with `drain_type: MODIFY_ONLY` (1), which drains only when
 * the listener itself is modified or removed.
 */
function drainsWithServer(l: ActiveListener): boolean {
  return l.config.drainType !== 1;
}

/**
 * Builds the worker from its init message. Apart from the message loop: a closure made where
 * the message is in scope would keep the whole init message (the bootstrap, every cluster's
 * membership) alive as long as the closure lives.
 */
function startWorkerServer(
  scope: { postMessage(m: FromWorker): void },
  init: Extract<ToWorker, { type: "init" }>,
): WorkerServer {
  // Outlier detection and health checking run on the main thread; it hears of a threshold
  // reached the moment a request reaches it.
  setConsecutiveNotifier((monitorId, event) =>
    scope.postMessage({ type: "hostEvent", monitorId, event })
  );
  setHostMonitorWorker(init.workerId);
  setActiveFaultMemory(init.activeFaults, init.workerId);
  setLocalRateLimitMemory(init.localRateLimits);
  setHandOff(
    init.balancers,
    init.balancers && ((socket) => scope.postMessage({ type: "handOff", socket })),
  );
  const server = new WorkerServer(init);
  server.ctx.routeConfigs!.onDemand = (routeConfig, host) =>
    scope.postMessage({ type: "vhdsDemand", routeConfig, host });
  server.ctx.routeConfigs!.onDemandScope = (scopedRoutes, routeConfig) =>
    scope.postMessage({ type: "srdsDemand", scopedRoutes, routeConfig });
  // Ready from a later task, once Deno's message loop awaits its next message: the main
  // thread's answer (`initEnd`) then takes the init message's place there.
  setTimeout(() => scope.postMessage({ type: "ready" }), 0);
  // Start-up and bursts of connections leave the heap grown: give it back when quiet.
  startIdleMemoryRelease(init.activity && { cells: init.activity, own: init.workerId });
  return server;
}

/** Runs the worker message loop (called when this module is a Worker's entry). */
export function runWorker(scope: {
  postMessage(m: FromWorker): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}): void {
  let server: WorkerServer | undefined;
  // The last line of the error boundary: an exception that escaped every entry point's own
  // catch is counted and logged (server.envoy_bug_failures) and does not end the worker, with
  // every connection on it.
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    reportBug("unhandled promise rejection", e.reason);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    reportBug("uncaught exception", e.error);
  });
  scope.onmessage = (e) => {
    const m = e.data;
    try {
      if (m.type === "init") {
        server = startWorkerServer(scope, m);
      } else if (m.type === "xds") {
        server?.applyUpdate(m.update);
      } else if (m.type === "membership") {
        server?.ctx.clusterManager.updateMembership(m.cluster, m.snapshot);
      } else if (m.type === "logLevels") {
        for (const [c, l] of Object.entries(m.levels)) setComponentLevel(c, l);
      } else if (m.type === "stats") {
        if (server) {
          const packed = server.packStats(m.latch === true, m.known);
          scope.postMessage({ type: "stats", id: m.id, packed });
        }
      } else if (m.type === "resetCounters") {
        server?.ctx.stats.reset();
      } else if (m.type === "reopenLogs") {
        defaultAccessLogManager().reopen().finally(() =>
          scope.postMessage({ type: "logsReopened", id: m.id })
        );
      } else if (m.type === "drain") {
        server?.drain(m.options);
      } else if (m.type === "drainAll") {
        (server?.drainAll(m.strategy, m.durationMs, m.acceptForMs, m.shutdown) ??
          Promise.resolve())
          .finally(() => scope.postMessage({ type: "draining", id: m.id }));
      } else if (m.type === "connections") {
        let count = 0;
        for (const l of server?.listeners ?? []) count += l.connectionCount;
        scope.postMessage({ type: "connections", id: m.id, count });
      } else if (m.type === "runtime") {
        setRuntimeSnapshot(m.snapshot);
      } else if (m.type === "healthCheckFailed") {
        drainManager().setHealthCheckFailed(m.failed);
      } else if (m.type === "hostStats") {
        if (server) {
          scope.postMessage({ type: "hostStats", id: m.id, stats: server.ctx.pools.hostStats() });
        }
      } else if (m.type === "handOff") {
        const l = server?.listeners.find((l) => l.name === m.socket.listener);
        if (l) l.adoptHandedOff(m.socket);
        else dropHandedOff(m.socket);
      } else if (m.type === "shutdown") {
        (server?.stop() ?? Promise.resolve()).finally(() => scope.postMessage({ type: "stopped" }));
      }
    } catch (err) {
      scope.postMessage({ type: "error", message: (err as Error).message });
    }
  };
}
