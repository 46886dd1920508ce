/**
 * Active health checking (Envoy's `HealthCheckerImplBase` with its HTTP and TCP checkers), run
 * once on the main thread per cluster: one session per host checks it every interval, moves
 * it between healthy and unhealthy by Envoy's rules (thresholds, immediate failure on a bad
 * HTTP status, first check decides at once) and the cluster publishes the new health to the
 * workers. gRPC health checks, and HTTP ones with `codec_client_type: HTTP2`, run over HTTP/2
 * (http2_check_client.ts).
 *
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type {
  HealthCheck,
  HealthCheck_Payload,
} from "../../proto/gen/envoy/config/core/v3/health_check_pb.ts";
import {
  connectionAddresses,
  type UpstreamProxyProtocol,
  upstreamProxyProtocolHeader,
} from "../extensions/transport_sockets/proxy_protocol/upstream_proxy_protocol.ts";
import { getLogger } from "../common/logger.ts";
import type { Counter, Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import type { HostState } from "./host_health.ts";
import type { HostDescription } from "./host.ts";
import { TRAFFIC } from "./host_monitor.ts";
import {
  type GrpcCheck,
  GrpcHealthCheckClient,
  parseGrpcHealthCheck,
} from "./grpc_health_check.ts";
import { durationMs } from "../common/duration.ts";
import { unpackAny } from "../config/any.ts";
import { HEALTH_CHECK_EVENT_FILE_SINK as FILE_SINK } from "../extensions/health_check/event_sinks/file/config.ts";
import type { HealthCheckEventFileSink } from "../../proto/gen/envoy/extensions/health_check/event_sinks/file/v3/file_pb.ts";
import { HeaderMap } from "../http/header_map.ts";
import { Http2CheckClient } from "./http2_check_client.ts";

const log = getLogger("hc");

/** The HTTP part of a health check. */
export interface HttpCheck {
  readonly type: "http";
  /**
   * `codec_client_type: HTTP2`: the check speaks HTTP/2, else HTTP/1.1. Over the cluster's TLS
   * transport socket it offers the ALPN protocols its TLS context configures, and no others (as
   * Envoy's health check connections, made outside the pools), and says scheme https.
   */
  readonly http2: boolean;
  readonly path: string;
  /** `host`; empty: the endpoint's health check hostname, else the cluster name. */
  readonly host: string;
  readonly method: string;
  /** Half-open [start, end) ranges of statuses that pass; default [200, 300). */
  readonly expected: readonly (readonly [number, number])[];
  readonly retriable: readonly (readonly [number, number])[];
  /** Headers to add: [name, value, overwrite]. */
  readonly headersToAdd: readonly (readonly [string, string, boolean])[];
  readonly headersToRemove: readonly string[];
  readonly send?: Uint8Array;
  readonly receive: readonly Uint8Array[];
  readonly responseBufferSize: number;
}

/** The TCP part of a health check. */
export interface TcpCheck {
  readonly type: "tcp";
  readonly send?: Uint8Array;
  readonly receive: readonly Uint8Array[];
}

/** One `health_checks` entry with Envoy's defaults applied. */
export interface HealthCheckConfig {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly initialJitterMs: number;
  readonly intervalJitterMs: number;
  readonly intervalJitterPercent: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  readonly altPort?: number;
  readonly reuseConnection: boolean;
  readonly noTrafficIntervalMs: number;
  readonly noTrafficHealthyIntervalMs: number;
  readonly unhealthyIntervalMs: number;
  readonly unhealthyEdgeIntervalMs: number;
  readonly healthyEdgeIntervalMs: number;
  readonly alwaysLogHealthCheckFailures: boolean;
  readonly alwaysLogHealthCheckSuccess: boolean;
  /**
   * Where health check events go: `event_log_path` and the paths of the `event_logger` file
   * sinks (none: nowhere).
   */
  readonly eventLogPaths: readonly string[];
  readonly check: HttpCheck | TcpCheck | GrpcCheck;
  /** The cluster's upstream_proxy_protocol: each check connection starts with its header. */
  readonly proxyProtocol?: UpstreamProxyProtocol;
  /**
   * `transport_socket_match_criteria`: the labels that pick the checks' transport socket from
   * the cluster's `transport_socket_matches` instead of the host's own metadata.
   */
  readonly transportSocketMatch?: JsonObject;
}

/** `RequestMethod` names by number (METHOD_UNSPECIFIED is GET). */
const METHODS = [
  "GET",
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
];

/** A payload's bytes: `text` is hex, as Envoy reads it. */
function payloadBytes(p: HealthCheck_Payload, at: string, problems: string[]): Uint8Array {
  if (p.payload.case === "binary") return p.payload.value;
  const hex = (p.payload.value ?? "").replace(/\s/g, "");
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    problems.push(`${at}.text: '${p.payload.value}' is not a hex string`);
    return new Uint8Array();
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Reads `health_checks[i]`; problems go to `problems`. */
export function parseHealthCheck(
  hc: HealthCheck,
  at: string,
  problems: string[],
): HealthCheckConfig | undefined {
  const timeoutMs = durationMs(hc.timeout, undefined);
  const intervalMs = durationMs(hc.interval, undefined);
  if (!timeoutMs) problems.push(`${at}.timeout: required, and greater than 0`);
  if (!intervalMs) problems.push(`${at}.interval: required, and greater than 0`);
  if (hc.unhealthyThreshold === undefined) problems.push(`${at}.unhealthy_threshold: required`);
  if (hc.healthyThreshold === undefined) problems.push(`${at}.healthy_threshold: required`);
  const eventLogPaths = hc.eventLogPath ? [hc.eventLogPath] : [];
  hc.eventLogger.forEach((sink, i) => {
    const any = sink.typedConfig;
    if (any?.typeUrl.endsWith("/" + FILE_SINK)) {
      const path = unpackAny<HealthCheckEventFileSink>(any)?.eventLogPath;
      if (path && !eventLogPaths.includes(path)) eventLogPaths.push(path);
    } else {
      problems.push(
        `${at}.event_logger[${i}]: health check event sink '${
          any?.typeUrl ?? sink.name
        }' is not supported (only ${FILE_SINK})`,
      );
    }
  });
  if (hc.tlsOptions) {
    problems.push(`${at}.tls_options: ALPN for health checks is not supported yet`);
  }
  let check: HttpCheck | TcpCheck | GrpcCheck | undefined;
  const c = hc.healthChecker;
  if (c.case === "httpHealthCheck") {
    const h = c.value;
    const p = `${at}.http_health_check`;
    if (h.codecClientType !== 0 && h.codecClientType !== 1) {
      problems.push(
        `${p}.codec_client_type: only HTTP1 and HTTP2 health checks are supported (HTTP/3 is not)`,
      );
    }
    if (h.serviceNameMatcher) {
      problems.push(`${p}.service_name_matcher: not supported yet`);
    }
    if (!h.path) problems.push(`${p}.path: required`);
    if (h.method === 6) problems.push(`${p}.method: CONNECT is not allowed for health checks`);
    const range = (r: { start: bigint; end: bigint }, f: string): [number, number] => {
      const s = Number(r.start), e = Number(r.end);
      if (s < 100 || e > 600 || s >= e) {
        problems.push(`${p}.${f}: invalid range [${s}, ${e}) (statuses 100-599, start below end)`);
      }
      return [s, e];
    };
    const headersToAdd = h.requestHeadersToAdd.map((o, i): [string, string, boolean] => {
      const name = (o.header?.key ?? "").toLowerCase();
      const raw = o.header?.rawValue;
      const value = o.header?.value || (raw && raw.length > 0 ? new TextDecoder().decode(raw) : "");
      if (value.includes("%")) {
        problems.push(
          `${p}.request_headers_to_add[${i}]: header formatters (%...%) are not supported in health checks yet`,
        );
      }
      if (o.appendAction !== 0 && o.appendAction !== 2) {
        problems.push(
          `${p}.request_headers_to_add[${i}].append_action: only APPEND_IF_EXISTS_OR_ADD and OVERWRITE_IF_EXISTS_OR_ADD are supported`,
        );
      }
      return [name, value, o.append === false || o.appendAction === 2];
    });
    check = {
      type: "http",
      http2: h.codecClientType === 1,
      path: h.path,
      host: h.host,
      method: METHODS[h.method] ?? "GET",
      expected: h.expectedStatuses.length > 0
        ? h.expectedStatuses.map((r, i) => range(r, `expected_statuses[${i}]`))
        : [[200, 300]],
      retriable: h.retriableStatuses.map((r, i) => range(r, `retriable_statuses[${i}]`)),
      headersToAdd,
      headersToRemove: h.requestHeadersToRemove.map((n) => n.toLowerCase()),
      ...(h.send ? { send: payloadBytes(h.send, `${p}.send`, problems) } : {}),
      receive: h.receive.map((r, i) => payloadBytes(r, `${p}.receive[${i}]`, problems)),
      responseBufferSize: Number(h.responseBufferSize ?? 1024n),
    };
  } else if (c.case === "tcpHealthCheck") {
    const t = c.value;
    const p = `${at}.tcp_health_check`;
    if (t.proxyProtocolConfig) problems.push(`${p}.proxy_protocol_config: not supported yet`);
    check = {
      type: "tcp",
      ...(t.send ? { send: payloadBytes(t.send, `${p}.send`, problems) } : {}),
      receive: t.receive.map((r, i) => payloadBytes(r, `${p}.receive[${i}]`, problems)),
    };
  } else if (c.case === "grpcHealthCheck") {
    check = parseGrpcHealthCheck(c.value, `${at}.grpc_health_check`, problems);
  } else if (c.case === "customHealthCheck") {
    problems.push(`${at}.custom_health_check: custom health checkers are not supported`);
  } else {
    problems.push(
      `${at}: a health checker (http_health_check, tcp_health_check or grpc_health_check) is required`,
    );
  }
  if (!check || !timeoutMs || !intervalMs) return undefined;
  const unhealthyIntervalMs = durationMs(hc.unhealthyInterval, intervalMs);
  const noTrafficIntervalMs = durationMs(hc.noTrafficInterval, 60_000);
  return {
    timeoutMs,
    intervalMs,
    initialJitterMs: durationMs(hc.initialJitter, 0),
    intervalJitterMs: durationMs(hc.intervalJitter, 0),
    intervalJitterPercent: hc.intervalJitterPercent,
    unhealthyThreshold: hc.unhealthyThreshold ?? 1,
    healthyThreshold: hc.healthyThreshold ?? 1,
    ...(hc.altPort !== undefined ? { altPort: hc.altPort } : {}),
    reuseConnection: hc.reuseConnection ?? true,
    noTrafficIntervalMs,
    noTrafficHealthyIntervalMs: durationMs(hc.noTrafficHealthyInterval, noTrafficIntervalMs),
    unhealthyIntervalMs,
    unhealthyEdgeIntervalMs: durationMs(hc.unhealthyEdgeInterval, unhealthyIntervalMs),
    healthyEdgeIntervalMs: durationMs(hc.healthyEdgeInterval, intervalMs),
    alwaysLogHealthCheckFailures: hc.alwaysLogHealthCheckFailures,
    alwaysLogHealthCheckSuccess: hc.alwaysLogHealthCheckSuccess,
    eventLogPaths,
    check,
    ...(hc.transportSocketMatchCriteria
      ? { transportSocketMatch: hc.transportSocketMatchCriteria }
      : {}),
  };
}

/** `cluster.<name>.health_check.*`. */
export class HealthCheckStats {
  readonly attempt: Counter;
  readonly success: Counter;
  readonly failure: Counter;
  readonly passiveFailure: Counter;
  readonly networkFailure: Counter;
  readonly verifyCluster: Counter;
  readonly healthy: Gauge;
  readonly degraded: Gauge;

  constructor(cluster: Scope) {
    const s = cluster.scope("health_check");
    this.attempt = s.counter("attempt");
    this.success = s.counter("success");
    this.failure = s.counter("failure");
    this.passiveFailure = s.counter("passive_failure");
    this.networkFailure = s.counter("network_failure");
    this.verifyCluster = s.counter("verify_cluster");
    this.healthy = s.gauge("healthy", "Accumulate");
    this.degraded = s.gauge("degraded", "Accumulate");
  }
}

/** Envoy's HealthCheckFailureType. */
type FailureType = "ACTIVE" | "PASSIVE" | "NETWORK" | "NETWORK_TIMEOUT";

/**
 * Writes `event_log_path` lines: one `envoy.data.core.v3.HealthCheckEvent` as JSON each (the
 * caller renders the message).
 */
export type HealthCheckEventLog = (event: JsonObject) => void;
/** What one check found. */
type CheckResult =
  | { ok: true; degraded: boolean }
  | { ok: false; type: FailureType; retriable: boolean };

const NETWORK_FAILURE: CheckResult = { ok: false, type: "NETWORK", retriable: false };
const ACTIVE_FAILURE: CheckResult = { ok: false, type: "ACTIVE", retriable: false };

/** Envoy's HealthTransition. */
type Transition = "Unchanged" | "Changed" | "ChangePending";

/** True when `needles` occur in `hay` in order (not necessarily adjacent), as Envoy matches. */
export function payloadsMatch(hay: Uint8Array, needles: readonly Uint8Array[]): boolean {
  let from = 0;
  for (const n of needles) {
    const at = indexOf(hay, n, from);
    if (at < 0) return false;
    from = at + n.length;
  }
  return true;
}

function indexOf(hay: Uint8Array, n: Uint8Array, from: number): number {
  outer: for (let i = from; i + n.length <= hay.length; i++) {
    for (let j = 0; j < n.length; j++) if (hay[i + j] !== n[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** What the checker tells its cluster. */
export interface HealthCheckerHost {
  /** The cluster's name (the default Host of HTTP checks). */
  readonly clusterName: string;
  /** The cluster had traffic (a worker connected to any host): normal intervals apply. */
  hadTraffic(): boolean;
  /** A host's health flags changed: publish. */
  changed(): void;
  /** A check passed (outlier detection may return an ejected host). */
  checkSucceeded(st: HostState): void;
  /** Where `event_log_path` events go, when it is set. */
  readonly eventLog?: HealthCheckEventLog;
  /**
   * The cluster's transport socket for `host`: the handshake over a connected socket, or
   * undefined for plaintext.
   */
  readonly transportSocket?: (
    raw: Deno.Conn,
    host: HostDescription,
  ) => Promise<CheckConn> | undefined;
}

/** What a check reads and writes: the socket, or the TLS stream over it. */
export type CheckConn = Pick<Deno.Conn, "read" | "write" | "close">;

/** One cluster's active health checker. */
export class HealthChecker {
  readonly config: HealthCheckConfig;
  readonly stats: HealthCheckStats;
  readonly #sessions = new Map<string, Session>();
  readonly #cluster: HealthCheckerHost;
  readonly random: () => number;
  #pendingFirst = new Set<Session>();
  #firstDone: (() => void) | undefined;
  #stopped = false;

  constructor(
    config: HealthCheckConfig,
    stats: HealthCheckStats,
    cluster: HealthCheckerHost,
    random: () => number = Math.random,
  ) {
    this.config = config;
    this.stats = stats;
    this.#cluster = cluster;
    this.random = random;
  }

  get cluster(): HealthCheckerHost {
    return this.#cluster;
  }

  /** Starts checking `added` hosts and stops checking `removed` ones. */
  hostsChanged(added: readonly HostState[], removed: readonly HostState[]): void {
    if (this.#stopped) return;
    for (const st of removed) {
      const s = this.#sessions.get(st.key);
      if (!s) continue;
      this.#sessions.delete(st.key);
      if (!st.failedActiveHc) this.stats.healthy.dec();
      if (st.degradedActiveHc) this.stats.degraded.dec();
      s.stop();
      this.#firstCheckDone(s);
    }
    for (const st of added) {
      const s = new Session(this, st);
      this.#sessions.set(st.key, s);
      this.#pendingFirst.add(s);
      s.start();
    }
  }

  /**
   * Resolves when every host known now has had its first check (Envoy holds a cluster's
   * initialization until then).
   */
  firstChecks(): Promise<void> {
    if (this.#pendingFirst.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#firstDone = resolve);
  }

  /** @internal A session finished its first check. */
  firstCheckDone(s: Session): void {
    this.#firstCheckDone(s);
  }

  #firstCheckDone(s: Session): void {
    if (!this.#pendingFirst.delete(s) || this.#pendingFirst.size > 0) return;
    this.#firstDone?.();
    this.#firstDone = undefined;
  }

  /**
   * An upstream answered a request with x-envoy-immediate-health-check-fail: the host fails
   * at once (Envoy's `setUnhealthy(ImmediateHealthCheckFail)`).
   */
  immediateFail(key: string): void {
    this.#sessions.get(key)?.setUnhealthy();
  }

  /** Stops every session. */
  stop(): void {
    this.#stopped = true;
    for (const s of this.#sessions.values()) s.stop();
    this.#sessions.clear();
    this.#firstDone?.();
  }
}

/** Checks one host. */
class Session {
  readonly #parent: HealthChecker;
  readonly st: HostState;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timeout: ReturnType<typeof setTimeout> | undefined;
  #conn: CheckConn | undefined;
  /** The HTTP/2 client of a gRPC check or an HTTP/2 HTTP check on #conn. */
  #h2: Http2CheckClient | undefined;
  /** #conn went through the cluster's TLS transport socket: HTTP/2 requests say https. */
  #secure = false;
  #firstCheck = true;
  #numHealthy = 0;
  #numUnhealthy = 0;
  /** Bumped per check: results of an abandoned check (timed out) are ignored. */
  #generation = 0;
  #stopped = false;

  constructor(parent: HealthChecker, st: HostState) {
    this.#parent = parent;
    this.st = st;
  }

  start(): void {
    const j = this.#parent.config.initialJitterMs;
    if (j > 0) this.#timer = setTimeout(() => this.#check(), Math.floor(this.#parent.random() * j));
    else this.#check();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#timeout);
    this.#close();
  }

  #close(): void {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    this.#conn = undefined;
    this.#h2 = undefined;
  }

  #check(): void {
    if (this.#stopped) return;
    const p = this.#parent;
    p.stats.attempt.inc();
    const gen = ++this.#generation;
    this.#timeout = setTimeout(() => {
      if (gen !== this.#generation || this.#stopped) return;
      this.#generation++;
      this.#close();
      this.st.activeHcTimeout = true;
      this.#done(this.#handleFailure("NETWORK_TIMEOUT", false));
    }, p.config.timeoutMs);
    this.#run(gen).then((r) => {
      if (gen !== this.#generation || this.#stopped) return;
      clearTimeout(this.#timeout);
      this.#generation++;
      if (r.ok) this.#done(this.#handleSuccess(r.degraded));
      else this.#done(this.#handleFailure(r.type, r.retriable));
    }, (e) => log.error(`health check of ${this.st.key}: ${(e as Error).message}`));
  }

  /**
   * One check; never rejects. A reused connection that the host closed while idle (servers
   * time out keep-alive connections) is no failure: the check is tried again on a new one.
   */
  async #run(gen: number): Promise<CheckResult> {
    // The host sent GOAWAY or closed the HTTP/2 connection since the last check.
    if (this.#h2?.failed) this.#close();
    const reused = this.#conn !== undefined;
    const r = await this.#attempt(gen);
    if (r !== "stale") return r;
    if (reused && gen === this.#generation && !this.#stopped) {
      const again = await this.#attempt(gen);
      if (again !== "stale") return again;
    }
    return NETWORK_FAILURE;
  }

  /** One try; "stale" when the connection failed before any byte of an answer. */
  async #attempt(gen: number): Promise<CheckResult | "stale"> {
    const c = this.#parent.config;
    const h = this.st.host;
    let reader: ByteReader | undefined;
    try {
      if (!this.#conn) {
        let raw: Deno.Conn;
        try {
          raw = await Deno.connect({
            hostname: h.healthCheckAddress ?? h.address,
            port: c.altPort ?? h.healthCheckPort ?? h.port,
          });
          // Checks go through the cluster's transport socket (TLS), as in Envoy.
          const secured = this.#parent.cluster.transportSocket?.(raw, h);
          this.#conn = raw;
          this.#secure = secured !== undefined;
          if (secured) this.#conn = await secured;
        } catch {
          this.#close();
          return NETWORK_FAILURE;
        }
        if (gen !== this.#generation) {
          this.#close();
          return NETWORK_FAILURE;
        }
        // As Envoy's checks through the cluster's transport socket: no downstream, so v1
        // names this connection's own addresses and v2 is a LOCAL header.
        if (c.proxyProtocol) {
          const conn = this.#conn;
          await conn.write(
            upstreamProxyProtocolHeader(c.proxyProtocol, undefined, connectionAddresses(raw)),
          );
        }
      }
      const conn = this.#conn;
      reader = new ByteReader(conn);
      const check = c.check;
      if (check.type === "tcp") {
        if (check.send) await conn.write(check.send);
        if (check.receive.length > 0) {
          while (!payloadsMatch(reader.buffered, check.receive)) {
            if (!(await reader.fill())) {
              this.#close();
              return reader.received === 0 ? "stale" : NETWORK_FAILURE;
            }
          }
        }
        if (!c.reuseConnection) this.#close();
        return { ok: true, degraded: false };
      }
      if (check.type === "grpc") {
        const client = this.#h2 ??= new GrpcHealthCheckClient(conn);
        const outcome = await (client as GrpcHealthCheckClient).check(
          check,
          this.#hostHeader(check),
          this.#secure,
        );
        if (client.failed || !c.reuseConnection) this.#close();
        if (outcome === "network_failure") {
          return client.received === 0 ? "stale" : NETWORK_FAILURE;
        }
        return outcome === "healthy" ? { ok: true, degraded: false } : ACTIVE_FAILURE;
      }
      if (check.http2) {
        const client = this.#h2 ??= new Http2CheckClient(conn);
        const res = await client.request(
          http2CheckHeaders(check, this.#hostHeader(check), this.#secure),
          check.send,
          check.responseBufferSize,
        );
        if (res === "reset") {
          this.#close();
          return client.received === 0 ? "stale" : NETWORK_FAILURE;
        }
        // A graceful GOAWAY let this check finish; the next one needs a new connection.
        if (client.failed || !c.reuseConnection) this.#close();
        const h = res.headers;
        return this.#httpResult(check, {
          status: Number(h.get(":status")),
          body: res.body,
          close: false,
          immediateFail: h.get("x-envoy-immediate-health-check-fail") !== undefined,
          degraded: h.get("x-envoy-degraded") !== undefined,
        });
      }
      const res = await httpCheck(conn, reader, check, this.#hostHeader(check));
      if (!res) {
        this.#close();
        return reader.received === 0 ? "stale" : NETWORK_FAILURE;
      }
      if (!c.reuseConnection || res.close) this.#close();
      return this.#httpResult(check, res);
    } catch {
      this.#close();
      return reader === undefined || reader.received === 0 ? "stale" : NETWORK_FAILURE;
    }
  }

  /** What an HTTP check's response says: statuses, then the `receive` payloads. */
  #httpResult(check: HttpCheck, res: HttpCheckResponse): CheckResult {
    if (res.immediateFail) this.st.excludedViaImmediateHcFail = true;
    const inRange = (rs: HttpCheck["expected"]) =>
      rs.some(([s, e]) => res.status >= s && res.status < e);
    if (inRange(check.expected)) {
      if (check.receive.length > 0 && !payloadsMatch(res.body, check.receive)) {
        return ACTIVE_FAILURE;
      }
      return { ok: true, degraded: res.degraded };
    }
    return { ok: false, type: "ACTIVE", retriable: inRange(check.retriable) };
  }

  #hostHeader(check: HttpCheck | GrpcCheck): string {
    const configured = check.type === "grpc" ? check.authority : check.host;
    return this.st.host.healthCheckHostname || configured || this.#parent.cluster.clusterName;
  }

  /** A passive failure reported by a worker: unhealthy at once. */
  setUnhealthy(): void {
    this.st.excludedViaImmediateHcFail = true;
    const t = this.#handleFailure("PASSIVE", false);
    if (t !== "Unchanged") this.#parent.cluster.changed();
  }

  #handleSuccess(degraded: boolean): Transition {
    const p = this.#parent;
    const st = this.st;
    this.#numUnhealthy = 0;
    let t: Transition = "Unchanged";
    const wasTimeout = st.activeHcTimeout;
    st.activeHcTimeout = false;
    if (st.failedActiveHc) {
      // The first result decides at once, so start-up does not wait for healthy_threshold.
      if (this.#firstCheck || ++this.#numHealthy === p.config.healthyThreshold) {
        st.failedActiveHc = false;
        st.excludedViaImmediateHcFail = false;
        p.stats.healthy.inc();
        t = "Changed";
        this.#log({ add_healthy_event: { first_check: this.#firstCheck } });
      } else t = "ChangePending";
    }
    t = this.#clearPending(t);
    if (degraded !== st.degradedActiveHc) {
      st.degradedActiveHc = degraded;
      if (degraded) p.stats.degraded.inc();
      else p.stats.degraded.dec();
      this.#log(degraded ? { degraded_healthy_host: {} } : { no_longer_degraded_host: {} });
      t = "Changed";
    }
    if (p.config.alwaysLogHealthCheckSuccess) this.#log({ successful_health_check_event: {} });
    if (wasTimeout && t === "Unchanged") t = "Changed";
    p.stats.success.inc();
    this.#firstCheck = false;
    p.cluster.checkSucceeded(st);
    return t;
  }

  #handleFailure(type: FailureType, retriable: boolean): Transition {
    const p = this.#parent;
    const st = this.st;
    this.#numHealthy = 0;
    let t: Transition = "Unchanged";
    if (!st.failedActiveHc) {
      // A bad status fails at once; network failures and retriable statuses need
      // unhealthy_threshold of them in a row.
      const network = type === "NETWORK" || type === "NETWORK_TIMEOUT";
      if ((!network && !retriable) || ++this.#numUnhealthy >= p.config.unhealthyThreshold) {
        st.failedActiveHc = true;
        p.stats.healthy.dec();
        t = "Changed";
        log.debug(() => `health check: ${st.key} of '${p.cluster.clusterName}' is now unhealthy`);
        this.#log({ eject_unhealthy_event: { failure_type: type } });
      } else t = "ChangePending";
    }
    // The first check's failure, or every one with always_log_health_check_failures.
    if (this.#firstCheck || p.config.alwaysLogHealthCheckFailures) {
      this.#log({
        health_check_failure_event: { failure_type: type, first_check: this.#firstCheck },
      });
    }
    t = this.#clearPending(t);
    p.stats.failure.inc();
    if (type === "NETWORK" || type === "NETWORK_TIMEOUT") p.stats.networkFailure.inc();
    else if (type === "PASSIVE") p.stats.passiveFailure.inc();
    this.#firstCheck = false;
    return t;
  }

  /** One event log line (Envoy's `HealthCheckEventLoggerImpl`), when event_log_path is set. */
  #log(event: JsonObject): void {
    const p = this.#parent;
    const write = p.cluster.eventLog;
    if (!write) return;
    const h = this.st.host;
    write({
      health_checker_type: p.config.check.type.toUpperCase(),
      host: { socket_address: { address: h.address, port_value: h.port } },
      cluster_name: p.cluster.clusterName,
      ...event,
      timestamp: new Date().toISOString(),
      ...(h.metadata ? { metadata: { filter_metadata: h.metadata } } : {}),
      locality: { region: h.locality.region, zone: h.locality.zone, sub_zone: h.locality.subZone },
    });
  }

  #clearPending(t: Transition): Transition {
    if (!this.st.pendingActiveHc) return t;
    this.st.pendingActiveHc = false;
    return "Changed";
  }

  #done(t: Transition): void {
    const p = this.#parent;
    if (t === "Changed" || this.st.activeHcTimeout) p.cluster.changed();
    p.firstCheckDone(this);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#check(), this.#interval(t));
  }

  /** Envoy's `interval(state, transition)` with jitter. */
  #interval(t: Transition): number {
    const p = this.#parent;
    const c = p.config;
    const healthy = !this.st.failedActiveHc;
    let base: number;
    if (p.cluster.hadTraffic()) {
      base = healthy
        ? (t === "ChangePending" ? c.healthyEdgeIntervalMs : c.intervalMs)
        : (t === "ChangePending" ? c.unhealthyEdgeIntervalMs : c.unhealthyIntervalMs);
    } else {
      base = healthy && t !== "ChangePending"
        ? c.noTrafficHealthyIntervalMs
        : c.noTrafficIntervalMs;
    }
    const percent = Math.floor(c.intervalJitterPercent * base / 100);
    if (percent > 0) base += Math.floor(p.random() * percent);
    if (c.intervalJitterMs > 0) base += Math.floor(p.random() * c.intervalJitterMs);
    return Math.max(1, base);
  }
}

/** True when any host of `states` has carried traffic. */
export function anyTraffic(states: Iterable<HostState>): boolean {
  for (const st of states) if (st.monitor[TRAFFIC] !== 0) return true;
  return false;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What an HTTP check's response says, whichever codec carried it. */
interface HttpCheckResponse {
  readonly status: number;
  readonly body: Uint8Array;
  /** The host asked to close the connection (HTTP/1). */
  readonly close: boolean;
  readonly immediateFail: boolean;
  readonly degraded: boolean;
}

/**
 * The headers of an HTTP check's request, host first: Envoy's (host, `user-agent: Envoy/HC`)
 * with `request_headers_to_add` and `request_headers_to_remove` applied (host stays), and a
 * content-length for a `send` payload.
 */
function checkRequestHeaders(check: HttpCheck, host: string): [string, string][] {
  const headers: [string, string][] = [["host", host], ["user-agent", "Envoy/HC"]];
  for (const [name, value, overwrite] of check.headersToAdd) {
    if (overwrite) {
      for (let i = headers.length - 1; i >= 0; i--) {
        if (headers[i][0] === name) headers.splice(i, 1);
      }
    }
    headers.push([name, value]);
  }
  const kept = headers.filter(([n]) => !check.headersToRemove.includes(n) || n === "host");
  if (check.send) kept.push(["content-length", String(check.send.length)]);
  return kept;
}

/**
 * The request of an HTTP/2 check: the same headers as over HTTP/1.1, host as `:authority`,
 * and as Envoy's the scheme of the connection (https over the cluster's TLS transport socket).
 */
export function http2CheckHeaders(check: HttpCheck, host: string, secure: boolean): HeaderMap {
  const headers = checkRequestHeaders(check, host);
  const authority = headers.find(([n]) => n === "host")?.[1] ?? host;
  const kv = [
    ":method",
    check.method,
    ":scheme",
    secure ? "https" : "http",
    ":path",
    check.path,
    ":authority",
    authority,
  ];
  for (const [n, v] of headers) if (n !== "host") kv.push(n, v);
  return new HeaderMap(kv);
}

/** One HTTP/1.1 health check request and its response; undefined on a protocol failure. */
async function httpCheck(
  conn: CheckConn,
  reader: ByteReader,
  check: HttpCheck,
  host: string,
): Promise<HttpCheckResponse | undefined> {
  const kept = checkRequestHeaders(check, host);
  let head = `${check.method} ${check.path} HTTP/1.1\r\n`;
  for (const [n, v] of kept) head += `${n}: ${v}\r\n`;
  head += "\r\n";
  await conn.write(check.send ? concat(encoder.encode(head), check.send) : encoder.encode(head));
  const headEnd = await reader.until(CRLFCRLF, 64 * 1024);
  if (headEnd === undefined) return undefined;
  const lines = decoder.decode(headEnd).split("\r\n");
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
  if (!m) return undefined;
  const status = Number(m[2]);
  let length: number | undefined;
  let chunked = false;
  let close = m[1] === "0";
  let immediateFail = false;
  let degraded = false;
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    if (name === "content-length") length = Number(value);
    else if (name === "transfer-encoding") chunked = value.toLowerCase().includes("chunked");
    else if (name === "connection") close = value.toLowerCase() === "close";
    else if (name === "x-envoy-immediate-health-check-fail") immediateFail = true;
    else if (name === "x-envoy-degraded") degraded = true;
  }
  let body: Uint8Array;
  if (check.method === "HEAD" || status === 204 || status === 304) body = new Uint8Array();
  else if (chunked) {
    const parts: Uint8Array[] = [];
    for (;;) {
      const sizeLine = await reader.until(CRLF, 4096);
      if (sizeLine === undefined) return undefined;
      const size = parseInt(decoder.decode(sizeLine), 16);
      if (!(size >= 0)) return undefined;
      if (size === 0) {
        // Trailers, up to the blank line.
        for (;;) {
          const t = await reader.until(CRLF, 64 * 1024);
          if (t === undefined) return undefined;
          if (t.length === 0) break;
        }
        break;
      }
      const chunk = await reader.exactly(size + 2);
      if (!chunk) return undefined;
      parts.push(chunk.subarray(0, size));
    }
    body = parts.reduce(concat, new Uint8Array());
  } else if (length !== undefined) {
    const b = await reader.exactly(length);
    if (!b) return undefined;
    body = b;
  } else {
    body = await reader.rest();
    close = true;
  }
  return {
    status,
    body: body.subarray(0, check.responseBufferSize),
    close,
    immediateFail,
    degraded,
  };
}

const CRLF = new Uint8Array([13, 10]);
const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);

/** Buffered reads from a connection. */
class ByteReader {
  #buf: Uint8Array = new Uint8Array();
  readonly #conn: CheckConn;
  /** Bytes read so far. */
  received = 0;
  constructor(conn: CheckConn) {
    this.#conn = conn;
  }

  /** What was read and not consumed. */
  get buffered(): Uint8Array {
    return this.#buf;
  }

  /** Reads more; false at EOF. */
  async fill(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    this.received += n;
    this.#buf = concat(this.#buf, chunk.subarray(0, n));
    return true;
  }

  /** The bytes before `delim` (consuming it), or undefined at EOF or beyond `max`. */
  async until(delim: Uint8Array, max: number): Promise<Uint8Array | undefined> {
    for (;;) {
      const i = indexOf(this.#buf, delim, 0);
      if (i >= 0) {
        const out = this.#buf.subarray(0, i);
        this.#buf = this.#buf.subarray(i + delim.length);
        return out;
      }
      if (this.#buf.length > max || !(await this.fill())) return undefined;
    }
  }

  async exactly(n: number): Promise<Uint8Array | undefined> {
    while (this.#buf.length < n) if (!(await this.fill())) return undefined;
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async rest(): Promise<Uint8Array> {
    while (await this.fill()) { /* to EOF */ }
    return this.#buf;
  }
}
