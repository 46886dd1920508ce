/**
 * The server's life cycle on the main thread: load the bootstrap, initialize, serve until a
 * termination signal, shut down. `--mode validate` stops after loading (no sockets are
 * opened) and `--mode init_only` after initializing, as in Envoy.
 */
import { newBalancerMemory } from "../listener/connection_balancer.ts";
import { localRateLimitMemory } from "../extensions/filters/common/local_ratelimit/bucket_memory.ts";
import { startIdleMemoryRelease } from "../common/idle_memory_release.ts";
import {
  type ActiveFaultMemory,
  newActiveFaultMemory,
} from "../extensions/filters/http/fault/active_faults.ts";
import {
  type CertificateListing,
  listCertificates,
} from "../extensions/transport_sockets/tls/certs_admin.ts";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { getLogger } from "../common/logger.ts";
import { formatAddress } from "../network/address.ts";
import { loadBootstrap } from "../config/bootstrap.ts";
import { compactMessages } from "../config/compact.ts";
import { formatIssue } from "../config/errors.ts";
import type { ExtensionRegistry, ServerContext } from "../config/extensions.ts";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type {
  AdminListener,
  AdminServer,
  ClusterInfo,
  DrainOptions,
  ListenerInfo,
  ServerInfo,
  ServerState,
} from "../admin/admin.ts";
import { createAdminAccessLogs } from "../admin/access_log.ts";
import { RuntimeLoader } from "../runtime/loader.ts";
import { deprecatedFieldUses } from "../runtime/deprecated.ts";
import { messageSchema } from "../config/api.ts";
import { setRuntimeSnapshot } from "../runtime/runtime.ts";
import type { SnapshotData } from "../runtime/snapshot.ts";
import { mergeHostStats } from "../upstream/host_stats.ts";
import { AdminView, localNode } from "./admin_view.ts";
import { Store } from "../stats/store.ts";
import { SnapshotMerger, type StoreSnapshot } from "../stats/snapshot.ts";
import { clusterStatsTemplate } from "../stats/cluster_stats_template.ts";
import { TagProducer } from "../stats/tag_extractor.ts";
import { ClusterStatsCache } from "../stats/data_path_stats.ts";
import { statsFlushSettings } from "../stats/flush_config.ts";
import type { StatsSink } from "../stats/sink.ts";
import { createStatsSinks, StatsFlusher } from "./stats_flusher.ts";
import {
  configureDefaultAccessLogManager,
  defaultAccessLogManager,
} from "../extensions/access_loggers/access_log_manager.ts";
import { ClusterManager } from "../upstream/cluster_manager.ts";
import { protoJson } from "../admin/proto_json.ts";
import { ConnPoolManager } from "../upstream/conn_pool.ts";
import type { PrioritySetSnapshot } from "../upstream/priority_set.ts";
import { preUnpack } from "../config/any.ts";
import type { ToWorker } from "./worker.ts";
import { WorkerPool } from "./worker_pool.ts";
import { BUILD_REVISION, BUILD_VERSION } from "../version.ts";
import { ServerStats, serverVersion } from "./server_stats.ts";
import { ListenerManagerStats } from "../listener/listener_manager_stats.ts";
import { Watchdog, watchdogThresholds } from "./watchdog.ts";
import { setBugCounter } from "../common/error_boundary.ts";
import type { Options } from "./options.ts";
import { localClusterOf } from "../upstream/zone_aware.ts";
import { XdsManager } from "../xds/xds_manager.ts";
import { addDynamicSections } from "../xds/config_dump.ts";
import { BootstrapReloader, type ReloadResult } from "../xds/bootstrap_reload.ts";
import { RouteConfigProviders } from "../xds/route_config_provider.ts";
import { ScopedRouteProviders } from "../xds/scoped_route_provider.ts";
import { waitForDrain } from "./graceful_shutdown.ts";
import { HotRestart, type HotRestartParentHooks, type ParentInfo } from "./hot_restart.ts";
import { createOverloadManager, type OverloadManager } from "./overload_manager.ts";

const log = getLogger("main");
const configLog = getLogger("config");

/** Where the server writes what an operator must see even with logging off. */
export interface Console {
  out(text: string): void;
  err(text: string): void;
}

/** Loads the bootstrap; returns it, or undefined after reporting every issue. */
export function loadConfig(
  options: Options,
  extensions: ExtensionRegistry,
  console: Console,
): Bootstrap | undefined {
  const result = loadBootstrap(
    {
      configPath: options.configPath || undefined,
      configYaml: options.configYaml || undefined,
      envSubstitution: options.envSubstitution,
    },
    extensions,
  );
  if (result.bootstrap) return result.bootstrap;
  const lines = result.issues.map(formatIssue);
  if (options.mode === "validate") {
    // Validation is a command-line tool: its findings go to the terminal whatever the log level.
    console.err(lines.join("\n") + "\n");
    const n = result.issues.length;
    console.err(
      `configuration '${options.configPath || "--config-yaml"}' is invalid: ` +
        `${n} error${n === 1 ? "" : "s"}\n`,
    );
  } else {
    for (const line of lines) configLog.critical(line);
    log.critical(
      `error initializing configuration '${options.configPath}': ` +
        `${result.issues.length} error(s) (see above)`,
    );
  }
  return undefined;
}

/** A running (or about to run) server instance. */
export class Server implements AdminServer {
  #stopped: (() => void) | undefined;
  #state: ServerState = "PRE_INITIALIZING";
  /** Main-thread sockets that reserve each listener's address until workers bind it. */
  #probes: { name: string; listener: Deno.TcpListener }[] = [];
  #admin: AdminListener | undefined;
  #ctx: ServerContext | undefined;
  #ports: Record<string, number> = {};
  /** The fault filters' active fault counts, shared by every worker (active_faults.ts). */
  #activeFaults: ActiveFaultMemory | undefined;
  readonly #workers: WorkerPool;
  readonly #view: AdminView;
  #sinks: StatsSink[] = [];
  /** The main thread's own stats (server.*), merged with the workers' for the admin and sinks. */
  readonly #stats = new Store({
    onHistogramValue: (h, v) => {
      for (const sink of this.#sinks) sink.onHistogramComplete(h, v);
    },
  });
  readonly #tags: TagProducer;
  readonly #serverStats: ServerStats;
  readonly #listenerManagerStats: ListenerManagerStats;
  readonly #watchdog: Watchdog;
  /** When initialization began (`performance.now()`), for server.initialization_time_ms. */
  #initStartMs = 0;
  #runtime: RuntimeLoader | undefined;
  /** The widest `/drain_listeners?graceful` under way: inbound listeners only, or all. */
  #gracefulDrain: "inbound" | "all" | undefined;
  #flusher: StatsFlusher | undefined;
  /** Dynamic resources (xDS) and reloads of the bootstrap's static ones. */
  #xds: XdsManager | undefined;
  #reloader: BootstrapReloader | undefined;
  /** A graceful shutdown (SIGTERM) is under way. */
  #shuttingDown = false;
  /** This process's side of hot restart (absent with `--disable-hot-restart`). */
  #hotRestart: HotRestart | undefined;
  /** Ports of the listeners the hot restart parent serves too, by listener name. */
  #parentPorts = new Map<string, number>();
  /** The hot restart parent, until it drains. */
  #parent: ParentInfo | undefined;
  #overload: OverloadManager | undefined;

  constructor(
    readonly bootstrap: Bootstrap,
    readonly options: Options,
    readonly extensions: ExtensionRegistry,
    workers = new WorkerPool(),
  ) {
    this.#workers = workers;
    this.#tags = new TagProducer(bootstrap.statsConfig ?? {});
    this.#serverStats = new ServerStats(this.#stats, {
      concurrency: options.concurrency,
      restartEpoch: options.restartEpoch,
      version: serverVersion(bootstrap.statsServerVersionOverride, BUILD_REVISION),
    });
    this.#listenerManagerStats = new ListenerManagerStats(this.#stats);
    setBugCounter(this.#stats.counter("server.envoy_bug_failures"));
    const wd = watchdogThresholds(bootstrap, "main_thread");
    this.#watchdog = new Watchdog(this.#stats, "main_thread", "main_thread", wd);
    const workerDog = watchdogThresholds(bootstrap, "workers");
    workers.watch(workerDog, this.#stats, (ids, stalledMs) => {
      // Several workers stuck at once: Envoy's multikill aborts the process, and so does
      // denvoy, for the supervisor (systemd) to start a fresh one.
      log.critical(
        `watchdog: workers ${ids.join(", ")} unresponsive for ${Math.round(stalledMs)} ms ` +
          `(multikill_timeout ${workerDog.multikillMs} ms): aborting`,
      );
      Deno.exit(134);
    });
    this.#view = new AdminView(
      bootstrap,
      options,
      () => this.#ctx?.clusterManager,
      (levels) => this.#workers.broadcast({ type: "logLevels", levels }),
      extensions,
    );
    // Workers get the bootstrap with every typed config already unpacked, so they need not
    // decode the API to build listeners (see config/any.ts).
    preUnpack(bootstrap);
    // The static clusters' messages stay as long as the server runs (config/compact.ts).
    const sr = bootstrap.staticResources;
    if (sr && sr.clusters.length > 0) sr.clusters = compactMessages(sr.clusters);
  }

  state(): ServerState {
    // Envoy reports DRAINING while it fails health checks (`/healthcheck/fail`).
    return this.#state === "LIVE" && this.#view.healthcheckFailed ? "DRAINING" : this.#state;
  }

  // ---- the admin API's view of the server ----

  serverInfo(): ServerInfo {
    return { ...this.#view.serverInfo(this.state()), state: this.state() };
  }
  listeners(): ListenerInfo[] {
    // The bound port, not the configured one (port 0 listeners).
    const ports = { ...this.#ports, ...this.#xds?.ports() };
    const dynamic = [...(this.#xds?.dumpState().listeners.values() ?? [])].map((l) => ({
      name: l.config.name,
      address: formatAddress(l.config.address),
    }));
    return [...this.#view.listeners(), ...dynamic].map((l) => {
      const port = ports[l.name];
      return port === undefined ? l : { ...l, address: l.address.replace(/:\d+$/, `:${port}`) };
    });
  }
  async clusters(): Promise<ClusterInfo[]> {
    const all = this.#view.clusters(mergeHostStats(await this.#workers.collectHostStats()));
    const cds = this.#xds?.dumpState().clusters;
    return cds ? all.map((c) => cds.has(c.name) ? { ...c, addedViaApi: true } : c) : all;
  }
  configDump(includeEds: boolean): JsonObject[] {
    const sections = this.#view.configDump(includeEds);
    if (this.#xds) addDynamicSections(sections, this.#xds, includeEds);
    const rejected = this.#reloader?.dumpRejection();
    return rejected ? [...sections, rejected] : sections;
  }
  /** `POST /config_reload`, SIGHUP: reloads the bootstrap file (xds/bootstrap_reload.ts). */
  configReload(): ReloadResult {
    if (!this.#reloader) {
      return { ok: false, message: "no bootstrap file to reload (-c/--config-path)" };
    }
    return this.#reloader.reload("admin");
  }
  runtime(): SnapshotData {
    return this.#runtime?.snapshot().data() ?? { layers: [] };
  }
  runtimeModify(values: [string, string][]): void {
    if (!this.#runtime) throw new Error("runtime not initialized");
    this.#runtime.mergeValues(values);
  }
  certificates(): JsonValue[] {
    return this.#certificates(true).certificates;
  }
  /** The TLS contexts' certificates, read again at most once a minute unless `fresh`. */
  #certificates(fresh = false): CertificateListing {
    const now = Date.now();
    if (fresh || !this.#certs || now - this.#certsAt > 60_000) {
      const d = this.#xds?.dumpState();
      this.#certs = listCertificates(this.bootstrap, this.extensions, now, {
        listeners: d ? [...d.listeners.values()].map((l) => l.config) : [],
        clusters: d ? [...d.clusters.values()].map((c) => c.config) : [],
      });
      this.#certsAt = now;
    }
    return this.#certs;
  }
  #certs: CertificateListing | undefined;
  #certsAt = 0;
  mutexTracingEnabled(): boolean {
    return this.options.enableMutexTracing;
  }
  logLevels(): Record<string, string> {
    return this.#view.logLevels();
  }
  setLogLevel(component: string | undefined, level: string): void {
    this.#view.setLogLevel(component, level);
  }
  healthcheckFail(): void {
    this.#view.healthcheckFailed = true;
    this.#workers.broadcast({ type: "healthCheckFailed", failed: true });
  }
  healthcheckOk(): void {
    this.#view.healthcheckFailed = false;
    this.#workers.broadcast({ type: "healthCheckFailed", failed: false });
  }
  /**
   * A hot restart's child: the listeners the parent also has (same name and configured
   * address) take its ports, the generation goes one up, uptime counts from the first epoch.
   */
  #adoptParent(parent: ParentInfo): void {
    this.#parent = parent;
    this.#serverStats.hotRestartGeneration.set(parent.generation + 1);
    this.#view.originalStartedAt = parent.originalStartTimeMs;
    for (const l of this.bootstrap.staticResources?.listeners ?? []) {
      const p = parent.listeners.find((p) =>
        p.name === l.name && p.address === formatAddress(l.address)
      );
      if (p) this.#parentPorts.set(l.name, p.port);
    }
  }

  /** Has the hot restart parent drain, once every worker accepts on the shared addresses. */
  #drainParent(hr: HotRestart, parent: ParentInfo): void {
    this.#parent = undefined;
    const shared = [];
    for (const l of this.bootstrap.staticResources?.listeners ?? []) {
      const port = this.#parentPorts.get(l.name);
      const sa = l.address?.address;
      if (port !== undefined && sa?.case === "socketAddress") {
        shared.push({ ip: sa.value.address, port });
      }
    }
    hr.drainParent(
      parent,
      shared,
      this.options.concurrency,
      () => this.#serverStats.parentConnections.set(0),
    );
  }

  /** What this server does for its next epoch. */
  #hotRestartHooks(): HotRestartParentHooks {
    return {
      listeners: () =>
        (this.bootstrap.staticResources?.listeners ?? []).map((l) => ({
          name: l.name,
          address: formatAddress(l.address),
          port: this.#ports[l.name],
        })),
      generation: () => this.#serverStats.hotRestartGeneration.value,
      originalStartTimeMs: () => this.#view.originalStartedAt,
      shutdownAdmin: async () => {
        await this.#admin?.close();
        this.#admin = undefined;
      },
      workers: () => this.options.concurrency,
      drainForChild: async (acceptForMs) => {
        if (this.#state !== "LIVE") return;
        this.#state = "DRAINING";
        // The child reports this process's counters from now on: flushing them here too
        // would count them twice in the sinks.
        this.#flusher?.stop();
        const names = (this.bootstrap.staticResources?.listeners ?? []).map((l) => l.name);
        this.#listenerManagerStats.drainingAll(names);
        await this.#workers.drainAll(this.options.drainStrategy, this.options.drainTimeS * 1000, {
          acceptForMs,
        });
      },
      stats: () => this.#collectStats(false),
      terminate: () => this.stop(),
    };
  }

  /**
   * Graceful shutdown (SIGTERM): every listener stops accepting now, every connection drains at
   * once, and the server stops when none is left or after `--drain-time-s`. A second call
   * changes nothing.
   */
  shutdownGracefully(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    const timeoutMs = this.options.drainTimeS * 1000;
    const names = (this.bootstrap.staticResources?.listeners ?? []).map((l) => l.name);
    if (this.#state === "LIVE") {
      this.#state = "DRAINING";
      this.#listenerManagerStats.drainingAll(names);
    }
    // A hot restart's parent already drains (maybe gradually): its connections go now too.
    log.info(`draining ${names.length} listener(s) for at most ${this.options.drainTimeS}s`);
    this.#workers.drainAll("immediate", timeoutMs, { shutdown: true });
    waitForDrain(() => this.#workers.connectionCount(), timeoutMs).then((drained) => {
      log.info(drained ? "all connections drained" : "drain time over: closing what is left");
      this.stop();
    });
  }
  quit(): void {
    // Answer the admin request first, then shut down.
    setTimeout(() => this.stop(), 0);
  }
  /**
   * Workers stop accepting (after the drain time when graceful); open connections finish. The
   * server keeps running. A graceful drain that is already under way is not restarted.
   */
  drainListeners(opts: DrainOptions): void {
    // Listener.TrafficDirection INBOUND is 1.
    const affected = (this.bootstrap.staticResources?.listeners ?? [])
      .filter((l) => !opts.inboundOnly || l.trafficDirection === 1).map((l) => l.name);
    if (opts.graceful) {
      const scope = opts.inboundOnly ? "inbound" : "all";
      if (this.#gracefulDrain === "all" || this.#gracefulDrain === scope) return;
      this.#gracefulDrain = scope;
      // The workers stop accepting once the drain time is over (unless skip_exit).
      if (!opts.skipExit) {
        setTimeout(
          () => this.#listenerManagerStats.stopped(affected),
          this.options.drainTimeS * 1000,
        ).unref();
      }
    } else this.#listenerManagerStats.stopped(affected);
    log.info(
      `admin: draining ${opts.inboundOnly ? "inbound" : "all"} listeners` +
        (opts.graceful ? ` over ${this.options.drainTimeS}s (${this.options.drainStrategy})` : ""),
    );
    this.#workers.broadcast({ type: "drain", options: opts });
  }
  memory(): Record<string, string> {
    return this.#view.memory();
  }
  /**
   * Every isolate's stats merged, for the admin. It does not end the flush interval, so the
   * sinks still get every counter increase; with `stats_flush_on_admin` it is a flush.
   */
  statsSnapshot(): Promise<StoreSnapshot> {
    if (this.#flusher && statsFlushSettings(this.bootstrap).onAdmin) return this.#flusher.flush();
    return this.#collectStats(false);
  }

  /**
   * Every isolate's stats merged, with server.* refreshed (main thread first, as Envoy).
   * `latch` ends the flush interval (counter deltas, histogram intervals): the flush only.
   */
  async #collectStats(latch: boolean): Promise<StoreSnapshot> {
    const s = this.#stats;
    this.#serverStats.update({
      state: this.state(),
      live: this.#state === "LIVE",
      uptimeSeconds: this.serverInfo().uptimeCurrentEpochSeconds,
      daysUntilFirstCertExpiring: this.#certificates().daysUntilFirstExpiring,
    });
    s.gauge("server.worker_restarts", "NeverImport").set(this.#workers.restarts);
    const hr = this.#hotRestart;
    if (hr?.hasParent) {
      await hr.refreshParentStats();
      this.#serverStats.parentConnections.set(hr.parentStats.connections);
    }
    this.#ctx?.clusterManager.updateCircuitBreakerStats();
    const own = s.snapshot({ latch });
    const workers = await this.#workers.collectStats(undefined, latch);
    const merger = new SnapshotMerger();
    merger.add(own, true);
    if (hr) merger.add(hr.parentStats.snapshot(latch), false);
    for (const w of workers) w.table.mergeInto(merger, w.packed, latch, w.retired);
    const cm = this.#ctx?.clusterManager;
    if (cm) {
      clusterStatsTemplate().fill(merger, cm.statNames(), s);
      cm.fillUnmadeStats(merger, s);
    }
    return merger.result();
  }
  statsTags(): TagProducer {
    return this.#tags;
  }
  resetCounters(): void {
    this.#stats.reset();
    this.#workers.broadcast({ type: "resetCounters" });
  }
  /** Reopens the access log files of the main thread and of every worker (logrotate). */
  async reopenLogs(): Promise<void> {
    await Promise.all([defaultAccessLogManager().reopen(), this.#workers.reopenLogs()]);
    log.debug("access log files reopened");
  }

  /**
   * Builds the cluster manager and every listener (compiling route tables and filter chains),
   * waiting for the first DNS answers of DNS clusters, as Envoy's init manager does.
   * Throws an Error naming the first problem.
   */
  async initialize(): Promise<void> {
    const b = this.bootstrap;
    const node = b.node;
    this.#initStartMs = performance.now();
    this.#state = "INITIALIZING";
    log.info(`initializing epoch ${this.options.restartEpoch} (base id=${this.options.baseId})`);
    log.info(`denvoy version: ${BUILD_VERSION}`);
    log.info(
      `node id: '${node?.id || this.options.serviceNode}', cluster: ` +
        `'${node?.cluster || this.options.serviceCluster}', concurrency: ` +
        `${this.options.concurrency}`,
    );
    configureDefaultAccessLogManager(this.options.fileFlushIntervalMsec);
    // The runtime comes first: config may read it while it is built.
    this.#runtime = new RuntimeLoader(
      b.layeredRuntime,
      this.#stats,
      node?.cluster || this.options.serviceCluster,
      (snapshot) => {
        setRuntimeSnapshot(snapshot);
        this.#workers.broadcast({ type: "runtime", snapshot: snapshot.data() });
      },
    );
    this.#overload = createOverloadManager(b, this.extensions, this.#stats);
    // One worker has nobody to balance with: its listeners accept as any other. With more,
    // the counts are there from the start (a few KiB) for any listener that balances: static,
    // from LDS, or added by a bootstrap reload.
    if (this.options.concurrency > 1) {
      this.#workers.balancers = newBalancerMemory(this.options.concurrency);
    }
    // Serving scans once listeners are up, off the start-up path (a big config takes a while).
    if (this.options.mode === "init_only") this.#countDeprecatedFields();
    // The main thread counts membership, DNS updates and cluster_manager.*; workers, traffic.
    const eventLogPath = b.clusterManager?.outlierDetection?.eventLogPath;
    const clusterManager = new ClusterManager(b.staticResources?.clusters ?? [], {
      stats: this.#stats,
      openEventLog,
      ...(eventLogPath ? { outlierEventLogPath: eventLogPath } : {}),
      local: localClusterOf(b, this.options.serviceZone),
      workerSlots: this.options.concurrency,
      // Health checks of TLS clusters use the main thread's pools' transport sockets.
      transportSocketFor: (info, metadata) => this.#ctx?.pools.transportSocket(info, metadata),
    });
    // A worker that died held requests and connections: they no longer count.
    this.#workers.onWorkerGone = (id) => clusterManager.releaseWorker(id);
    const clusterStats = new ClusterStatsCache(this.#stats);
    const secrets = b.staticResources?.secrets ?? [];
    const routeConfigs = new RouteConfigProviders();
    this.#ctx = {
      extensions: this.extensions,
      secrets,
      clusterManager,
      pools: new ConnPoolManager(clusterStats, {
        extensions: this.extensions,
        secrets,
        stats: this.#stats,
      }),
      stats: this.#stats,
      clusterStats,
      routeConfigs,
      scopedRoutes: new ScopedRouteProviders(routeConfigs),
      localInfo: {
        nodeId: node?.id || this.options.serviceNode,
        clusterName: node?.cluster || this.options.serviceCluster,
      },
    };
    clusterManager.setHostPools(this.#ctx.pools);
    this.#xds = new XdsManager({
      bootstrap: b,
      ctx: this.#ctx,
      clusterDeps: {
        stats: this.#stats,
        openEventLog,
        ...(eventLogPath ? { outlierEventLogPath: eventLogPath } : {}),
        workerSlots: this.options.concurrency,
      },
      listenerStats: this.#listenerManagerStats,
      post: (update) => this.#workers.broadcast({ type: "xds", update }),
      drainTimeMs: this.options.drainTimeS * 1000,
      staticPort: (name) => this.#ports[name],
      node: localNode(b, this.options, this.extensions),
      runtime: this.#runtime,
    });
    if (this.options.configPath && this.options.mode === "serve") {
      this.#reloader = new BootstrapReloader(
        { configPath: this.options.configPath, configYaml: this.options.configYaml || undefined },
        this.extensions,
        this.#xds,
        b,
        this.#stats,
        (next) => {
          preUnpack(next);
          this.#view.bootstrap = next;
        },
      );
    }
    this.#sinks = createStatsSinks(b, this.extensions, {
      clusterManager,
      stats: this.#stats,
      clusterStats: this.#ctx.clusterStats,
      tags: this.#tags,
      localInfo: {
        nodeId: node?.id || this.options.serviceNode,
        clusterName: node?.cluster || this.options.serviceCluster,
      },
    });
    this.#flusher = new StatsFlusher(
      this.#sinks,
      () => this.#collectStats(true),
      statsFlushSettings(b).intervalMs,
      this.#serverStats.droppedStatFlushes,
    );
    this.#listenerManagerStats.added(b.staticResources?.listeners.length ?? 0);
    for (const l of b.staticResources?.listeners ?? []) {
      log.info(
        `listener '${l.name}' on ${formatAddress(l.address)} with ${l.filterChains.length} ` +
          `filter chain(s)`,
      );
    }
    if (this.options.mode === "init_only") {
      // Serving builds listeners in the workers; init_only has none, so it builds them here to
      // report what a worker would. Imported lazily: the main thread never serves.
      const { ActiveListener } = await import("../listener/listener.ts");
      for (const l of b.staticResources?.listeners ?? []) new ActiveListener(l, this.#ctx);
    }
    if (this.options.mode === "serve") await this.#startAdmin();
    log.info(`cm init: initializing ${clusterManager.names().length} static cluster(s)`);
    this.#xds.start();
    await clusterManager.initialize();
    log.info("cm init: all clusters initialized");
    // Membership lives here; workers get every change, and report host results back.
    this.#workers.onHostEvent = (id, event) => clusterManager.onHostEvent(id, event);
    this.#workers.onVhdsDemand = (rc, host) => this.#xds?.demandVirtualHost(rc, host);
    this.#workers.onSrdsDemand = (sr, rc) => this.#xds?.demandScopedRoutes(sr, rc);
    clusterManager.watchUpdates((name, set) =>
      this.#workers.broadcast({ type: "membership", cluster: name, snapshot: set.snapshot() })
    );
    // Dynamic resources: the initial fetches (or their timeouts) and warming come first.
    await this.#xds.initialized();
  }

  /**
   * The hot restart hand-over (the parent's admin closes) and the admin listener, before the
   * initial xDS fetches as in Envoy: `/ready`, `/stats`, `/config_dump` answer while the
   * server still initializes.
   */
  async #startAdmin(): Promise<void> {
    if (!this.options.disableHotRestart) {
      this.#hotRestart = await HotRestart.start(this.options);
      const parent = await this.#hotRestart.takeOver();
      if (parent) this.#adoptParent(parent);
    }
    const admin = this.bootstrap.admin?.address?.address;
    if (admin?.case === "socketAddress") {
      const { createAdminApp, startAdmin } = await import("../admin/admin.ts");
      const { adminGuard, adminSecurity, exposureWarning } = await import(
        "../admin/security.ts"
      );
      const security = adminSecurity(this.options);
      const exposed = exposureWarning(admin.value.address, security);
      if (exposed) log.warn(exposed);
      const ps = admin.value.portSpecifier;
      let localAddress = "";
      this.#admin = await startAdmin(
        createAdminApp(this, {
          accessLogs: createAdminAccessLogs(this.bootstrap.admin),
          localAddress: () => localAddress,
          guard: adminGuard(security),
        }),
        admin.value.address,
        ps.case === "portValue" ? ps.value : 0,
        this.#stats,
        this.bootstrap.admin?.ignoreGlobalConnLimit,
        security.tls,
      );
      localAddress = admin.value.address.includes(":")
        ? `[${admin.value.address}]:${this.#admin.port}`
        : `${admin.value.address}:${this.#admin.port}`;
      log.info(`admin address: ${admin.value.address}:${this.#admin.port}`);
    }
  }

  /** Envoy warns about each deprecated field the config sets and counts it in the runtime stats. */
  #countDeprecatedFields(): void {
    const schema = messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap");
    for (const field of deprecatedFieldUses(schema, this.bootstrap)) {
      if (!this.options.skipDeprecatedLogs) {
        log.warn(
          `Using deprecated option '${field}'. It will be removed from a future Envoy version; ` +
            "see Envoy's version history for its replacement.",
        );
      }
      this.#runtime!.countDeprecatedFeatureUse();
    }
  }

  /**
   * Binds the admin, resolves listener ports, starts `--concurrency` workers that each bind
   * every listener (SO_REUSEPORT), serves until SIGTERM/SIGINT (or `stop()`).
   */
  async run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.#stopped = resolve));
    const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
    const handlers = signals.map((sig) => {
      const h = () => {
        log.warn(`caught ${sig}`);
        // SIGTERM drains first unless --exit-on-sigterm; a second one, or SIGINT, stops now.
        const serving = this.#state === "LIVE" || this.#state === "DRAINING";
        if (sig === "SIGTERM" && !this.options.exitOnSigterm && serving && !this.#shuttingDown) {
          this.shutdownGracefully();
        } else this.stop();
      };
      Deno.addSignalListener(sig, h);
      return [sig, h] as const;
    });
    // SIGUSR1 reopens access logs, as Envoy does for logrotate.
    const reopen = () => {
      log.info("caught SIGUSR1. Reopening access logs.");
      this.reopenLogs().catch((e) => log.error(`reopening access logs: ${e.message}`));
    };
    Deno.addSignalListener("SIGUSR1", reopen);
    handlers.push(["SIGUSR1", reopen]);
    if (this.#reloader) {
      const reloader = this.#reloader;
      const hup = () => void reloader.reload("SIGHUP");
      Deno.addSignalListener("SIGHUP", hup);
      handlers.push(["SIGHUP", hup]);
      if (this.options.watchConfig) reloader.watch();
    }
    try {
      this.#runtime?.watch();
      // The main thread binds each listener once (reuse-port) to fail fast on ports in use and
      // to learn the port of port-0 listeners, which every worker then binds too.
      this.#ports = this.#reserveListenerPorts();
      // Workers start with the overload actions' values already computed.
      this.#overload?.start();
      const workersStarted = this.#workers.start(
        this.options.concurrency,
        this.#initMessage.bind(this),
      );
      const { rest } = await workersStarted;
      const n = this.options.concurrency;
      rest.then(
        () => {
          this.#workersStarted();
          if (n > 1) log.info(`all ${n} workers serving`);
          // Every worker accepts: the parent may stop.
          if (this.#parent) this.#drainParent(this.#hotRestart!, this.#parent);
        },
        (e) => log.error(`a worker failed to start: ${(e as Error).message}`),
      );
      // Connections that reached the probes before workers were up would wait forever there.
      this.#releaseProbes();
    } catch (e) {
      for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
      await this.#shutdown();
      throw e;
    }
    this.#state = "LIVE";
    this.#hotRestart?.serveChild(this.#hotRestartHooks());
    if (!statsFlushSettings(this.bootstrap).onAdmin) this.#flusher?.start();
    log.info(
      `all listeners ready: ${
        Object.entries(this.#ports).map(([n, p]) => `'${n}' on port ${p}`).join(", ") ||
        "(none)"
      } (${
        this.options.concurrency === 1
          ? "1 worker"
          : `worker 0 serving, ${this.options.concurrency - 1} more starting`
      })`,
    );
    for (const w of this.#overload?.startupWarnings() ?? []) log.warn(w);
    log.info("starting main dispatch loop");
    // Loading the config leaves a grown young generation and garbage behind: given back once
    // the workers are quiet too.
    const activity = this.#workers.activity;
    startIdleMemoryRelease(activity && { cells: activity, own: -1 });
    setTimeout(() => this.#countDeprecatedFields(), 0);
    await done;
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
    log.info("main dispatch loop exited");
    await this.#shutdown();
    log.info("exiting");
  }

  /**
   * Every worker serves every listener: Envoy's start-workers callback, which completes
   * server.initialization_time_ms and marks the listeners active. The main thread's watchdog
   * starts then, after the start-up work that would read as stalls.
   */
  #workersStarted(): void {
    if (this.#state !== "LIVE") return;
    this.#serverStats.initializationTime.record(performance.now() - this.#initStartMs);
    this.#listenerManagerStats.started(
      this.#xds?.activeListenerCount() ?? this.bootstrap.staticResources?.listeners.length ?? 0,
    );
    this.#watchdog.start();
  }

  /**
   * Binds each listener's address once on the main thread (reuse-port): a port in use fails
   * start-up here with a clear message, and port-0 listeners get the port every worker binds.
   */
  #reserveListenerPorts(): Record<string, number> {
    const ports: Record<string, number> = {};
    for (const l of this.bootstrap.staticResources?.listeners ?? []) {
      const sa = l.address?.address;
      if (sa?.case !== "socketAddress") {
        throw new Error(`listener '${l.name}': only socket_address listeners are supported yet`);
      }
      const parentPort = this.#parentPorts.get(l.name);
      if (parentPort !== undefined) {
        // The parent's socket holds the address; workers join its reuse-port group.
        ports[l.name] = parentPort;
        continue;
      }
      const ps = sa.value.portSpecifier;
      try {
        const listener = Deno.listen({
          hostname: sa.value.address,
          port: ps.case === "portValue" ? ps.value : 0,
          reusePort: true,
        } as Deno.TcpListenOptions);
        this.#probes.push({ name: l.name, listener });
        ports[l.name] = (listener.addr as Deno.NetAddr).port;
      } catch (e) {
        const why = e instanceof Deno.errors.AddrInUse
          ? "address already in use"
          : e instanceof Deno.errors.PermissionDenied
          ? "permission denied"
          : (e as Error).message;
        throw new Error(`listener '${l.name}': cannot bind ${formatAddress(l.address)}: ${why}`);
      }
    }
    return ports;
  }

  #releaseProbes(): void {
    for (const p of this.#probes.splice(0)) {
      try {
        p.listener.close();
      } catch { /* already closed */ }
    }
  }

  /** The init message for worker `workerId`: config, options, ports and current membership. */
  #initMessage(workerId: number): ToWorker {
    const cm = this.#ctx!.clusterManager;
    const membership: Record<string, PrioritySetSnapshot> = {};
    for (const name of cm.names()) membership[name] = cm.get(name)!.prioritySet.snapshot();
    const b = this.#view.bootstrap;
    return {
      type: "init",
      workerId,
      // The static resources serving now (a reload changes them), and the dynamic ones.
      bootstrap: this.#xds
        ? { ...b, staticResources: { ...b.staticResources!, ...this.#xds.staticResources() } }
        : b,
      dynamic: this.#xds?.snapshot(),
      options: this.options,
      ports: { ...this.#ports, ...this.#xds?.ports() },
      membership,
      circuitBreakerMemory: cm.circuitBreakerMemory(),
      runtime: this.#runtime?.snapshot().data() ?? { layers: [] },
      healthCheckFailed: this.#view.healthcheckFailed,
      draining: this.#state === "DRAINING",
      overload: this.#overload?.state.memory,
      balancers: this.#workers.balancers,
      activeFaults: this.#activeFaults ??= newActiveFaultMemory(this.options.concurrency),
      localRateLimits: localRateLimitMemory(),
    };
  }

  async #shutdown(): Promise<void> {
    this.#state = "DRAINING";
    this.#watchdog.stop();
    this.#reloader?.stop();
    this.#xds?.stop();
    this.#overload?.stop();
    // The last flush needs the workers' stats, so it comes before they stop.
    await this.#flusher?.stop();
    this.#runtime?.close();
    await this.#workers.stop();
    this.#releaseProbes();
    this.#ctx?.pools.close();
    this.#ctx?.clusterManager.destroy();
    await this.#admin?.close();
    this.#hotRestart?.close();
    // Buffered access log lines must not be lost on a clean shutdown.
    await defaultAccessLogManager().close();
  }

  /** Asks a running server to shut down. */
  stop(): void {
    this.#stopped?.();
  }
}

/**
 * An event log of the main thread (health checks' `event_log_path`, the outlier event log):
 * each event as one line of `messageType` JSON with default values printed, as Envoy writes
 * them.
 */
function openEventLog(path: string, messageType: string): (event: JsonObject) => void {
  const writer = defaultAccessLogManager().writer(path);
  return (event) => writer.write(JSON.stringify(protoJson(messageType, event, true)) + "\n");
}
