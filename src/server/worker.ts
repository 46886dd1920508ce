/**
 * A worker isolate (Envoy's worker thread): owns the connections of every listener it binds
 * (with SO_REUSEPORT, so the kernel spreads connections over workers), its own upstream
 * connection pools, and a read-only copy of cluster membership that the main thread keeps
 * current. Config arrives as the binary bootstrap; nothing here resolves DNS.
 */
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
import { Store } from "../stats/store.ts";
import type { StoreSnapshot } from "../stats/snapshot.ts";
import { ClusterStatsCache } from "../stats/data_path_stats.ts";

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
  }
  | { type: "membership"; cluster: string; snapshot: PrioritySetSnapshot }
  /** The admin changed log levels (`POST /logging`). */
  | { type: "logLevels"; levels: Record<string, LogLevel> }
  /** Stop accepting new connections; open ones finish (`POST /drain_listeners`). */
  | { type: "drain" }
  /** The admin wants this worker's stats (`/stats`); `id` pairs the answer. */
  | { type: "stats"; id: number }
  | { type: "resetCounters" }
  /** Reopen every access log file (`POST /reopen_logs`, SIGUSR1); `id` pairs the answer. */
  | { type: "reopenLogs"; id: number }
  | { type: "shutdown" };

/** Worker → main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "stats"; id: number; snapshot: StoreSnapshot }
  | { type: "logsReopened"; id: number }
  | { type: "error"; message: string }
  | { type: "stopped" };

const log = getLogger("main");

/** The running worker's state. */
class WorkerServer {
  readonly listeners: ActiveListener[] = [];
  readonly ctx: ServerContext;

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
    configureDefaultAccessLogManager(o.fileFlushIntervalMsec);
    const b = init.bootstrap;
    const clusterManager = new ClusterManager(b.staticResources?.clusters ?? []);
    for (const [name, snap] of Object.entries(init.membership)) {
      clusterManager.get(name)?.prioritySet.replace(snap);
    }
    const stats = new Store();
    this.ctx = {
      extensions: builtinExtensions(),
      clusterManager,
      pools: new ConnPoolManager(),
      stats,
      clusterStats: new ClusterStatsCache(stats),
    };
    for (const l of b.staticResources?.listeners ?? []) {
      this.listeners.push(new ActiveListener(l, this.ctx));
    }
    for (const l of this.listeners) l.bind(true, init.ports[l.name]);
    for (const l of this.listeners) {
      l.serve().catch((e) => log.error(`listener '${l.name}': ${(e as Error).message}`));
    }
  }

  async stop(): Promise<void> {
    for (const l of this.listeners) l.close(true);
    this.ctx.pools.close();
    this.ctx.clusterManager.destroy();
    await defaultAccessLogManager().close();
  }
}

/** Runs the worker message loop (called when this module is a Worker's entry). */
export function runWorker(scope: {
  postMessage(m: FromWorker): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}): void {
  let server: WorkerServer | undefined;
  scope.onmessage = (e) => {
    const m = e.data;
    try {
      if (m.type === "init") {
        server = new WorkerServer(m);
        scope.postMessage({ type: "ready" });
      } else if (m.type === "membership") {
        server?.ctx.clusterManager.get(m.cluster)?.prioritySet.replace(m.snapshot);
      } else if (m.type === "logLevels") {
        for (const [c, l] of Object.entries(m.levels)) setComponentLevel(c, l);
      } else if (m.type === "stats") {
        if (server) {
          scope.postMessage({ type: "stats", id: m.id, snapshot: server.ctx.stats.snapshot() });
        }
      } else if (m.type === "resetCounters") {
        server?.ctx.stats.reset();
      } else if (m.type === "reopenLogs") {
        defaultAccessLogManager().reopen().finally(() =>
          scope.postMessage({ type: "logsReopened", id: m.id })
        );
      } else if (m.type === "drain") {
        for (const l of server?.listeners ?? []) l.close(false);
      } else if (m.type === "shutdown") {
        (server?.stop() ?? Promise.resolve()).finally(() => scope.postMessage({ type: "stopped" }));
      }
    } catch (err) {
      scope.postMessage({ type: "error", message: (err as Error).message });
    }
  };
}
