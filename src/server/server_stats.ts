/**
 * `server.*` (Envoy's `ALL_SERVER_STATS`), with Envoy's gauge import modes: the main thread
 * declares them and refreshes the gauges before each read, and each isolate reports its own
 * heap so the `Accumulate` memory gauges add up to the process's when snapshots merge.
 *
 * Not declared, because nothing in denvoy can move them yet:
 * `seconds_until_first_ocsp_response_expiring` (denvoy never staples OCSP responses),
 * `static_unknown_fields` (unknown static fields are rejected, as Envoy does by default),
 * `dynamic_unknown_fields` (no xDS yet), `debug_assertion_failures` and `envoy_bug_failures`
 * (denvoy has no such assertions), `stats_recent_lookups` (no symbol table).
 *
 * @module
 */
import type { Counter, Gauge, Histogram } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";

/** Envoy's `server.state` values (`admin.v3.ServerInfo.State`). */
export const SERVER_STATE_CODES = {
  LIVE: 0,
  DRAINING: 1,
  PRE_INITIALIZING: 2,
  INITIALIZING: 3,
} as const;

/**
 * The `server.version` gauge: `stats_server_version_override` when set, else the first six hex
 * digits of the build's source revision as a number (Envoy's rule), else 0 for a build without
 * a revision (a development checkout).
 */
export function serverVersion(override: bigint | undefined, revision: string): number {
  if (override !== undefined && override > 0n) return Number(override);
  const head = revision.slice(0, 6);
  return /^[0-9a-fA-F]{6}$/.test(head) ? parseInt(head, 16) : 0;
}

/** What the main thread knows when it refreshes the gauges. */
export interface ServerStatsView {
  state: keyof typeof SERVER_STATE_CODES;
  /** Not draining or shutting down. */
  live: boolean;
  uptimeSeconds: number;
  /** Days until the first TLS certificate expires; undefined when there is none. */
  daysUntilFirstCertExpiring?: number;
}

/** What Envoy reports for `days_until_first_cert_expiring` without any certificate. */
const NO_CERTIFICATE_DAYS = 0xffffffff;

/** The main thread's `server.*`. */
export class ServerStats {
  readonly concurrency: Gauge;
  readonly hotRestartEpoch: Gauge;
  readonly hotRestartGeneration: Gauge;
  readonly live: Gauge;
  readonly state: Gauge;
  readonly uptime: Gauge;
  readonly version: Gauge;
  readonly memoryPhysicalSize: Gauge;
  readonly parentConnections: Gauge;
  readonly droppedStatFlushes: Counter;
  readonly initializationTime: Histogram;
  readonly fipsMode: Gauge;
  readonly daysUntilFirstCertExpiring: Gauge;
  readonly #store: Scope;

  constructor(
    store: Scope,
    opts: { concurrency: number; restartEpoch: number; version: number },
  ) {
    this.#store = store;
    const s = store.scope("server");
    this.concurrency = s.gauge("concurrency", "NeverImport");
    this.hotRestartEpoch = s.gauge("hot_restart_epoch", "NeverImport");
    this.hotRestartGeneration = s.gauge("hot_restart_generation", "Accumulate");
    this.live = s.gauge("live", "NeverImport");
    this.state = s.gauge("state", "NeverImport");
    this.uptime = s.gauge("uptime", "Accumulate");
    this.version = s.gauge("version", "NeverImport");
    this.memoryPhysicalSize = s.gauge("memory_physical_size", "Accumulate");
    this.parentConnections = s.gauge("parent_connections", "Accumulate");
    this.droppedStatFlushes = s.counter("dropped_stat_flushes");
    this.initializationTime = s.histogram("initialization_time_ms", "Milliseconds");
    this.fipsMode = s.scope("compilation_settings").gauge("fips_mode", "NeverImport");
    this.daysUntilFirstCertExpiring = s.gauge("days_until_first_cert_expiring", "NeverImport");
    this.concurrency.set(opts.concurrency);
    this.hotRestartEpoch.set(opts.restartEpoch);
    // A process started without a hot restart parent is generation 1 (the parent's plus one).
    this.hotRestartGeneration.set(1);
    this.version.set(opts.version);
    // No parent process hands connections over (hot restart is not implemented yet).
    this.parentConnections.set(0);
    // BoringSSL's FIPS module is not what denvoy's TLS (node:tls) uses.
    this.fipsMode.set(0);
    isolateMemoryStats(store);
    // The main thread serves no data-path connections; the workers' add to this.
    isolateConnectionStats(store, 0);
  }

  /** Refreshes the gauges that change by themselves, before the stats are read. */
  update(view: ServerStatsView): void {
    this.state.set(SERVER_STATE_CODES[view.state]);
    this.live.set(view.live ? 1 : 0);
    this.uptime.set(view.uptimeSeconds);
    this.daysUntilFirstCertExpiring.set(view.daysUntilFirstCertExpiring ?? NO_CERTIFICATE_DAYS);
    this.memoryPhysicalSize.set(Deno.memoryUsage().rss);
    isolateMemoryStats(this.#store);
  }
}

/**
 * Sets `server.memory_allocated` and `server.memory_heap_size` to this isolate's V8 heap (used
 * and reserved). Each isolate (main thread and every worker) sets its own and the `Accumulate`
 * merge sums them into the process's, as Envoy's allocator reports one process.
 */
export function isolateMemoryStats(store: Scope): void {
  const m = Deno.memoryUsage();
  store.gauge("server.memory_allocated", "Accumulate").set(m.heapUsed);
  store.gauge("server.memory_heap_size", "Accumulate").set(m.heapTotal);
}

/**
 * Sets `server.total_connections` to this isolate's open downstream connections (a worker's,
 * over all its listeners); the `Accumulate` merge sums the workers'.
 */
export function isolateConnectionStats(store: Scope, connections: number): void {
  store.gauge("server.total_connections", "Accumulate").set(connections);
}
