/**
 * The router filter (`envoy.filters.http.router`): the terminal HTTP filter. It answers direct
 * responses and redirects, picks the cluster and a host, rewrites the request as the route
 * says, forwards it over a pooled upstream connection and streams the response back, with
 * Envoy's timeouts, response flags, local replies and `x-envoy-*` headers.
 */
import type { MetadataMap } from "../http/http2/metadata.ts";
import { CoarseTimer } from "../common/coarse_timer.ts";
import type { ServerContext } from "../config/extensions.ts";
import type {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  StreamDecoderFilter,
  StreamFilterCallbacks,
} from "../http/filter.ts";
import { concat } from "../http/filter_manager.ts";
import { grpcTimeoutMs, isGrpc, toGrpcTimeout } from "../http/stream_duration.ts";
import type { HeaderMap } from "../http/header_map.ts";
import { isIP } from "../common/ip.ts";
import type { ClusterInfo } from "../upstream/cluster_info.ts";
import type { StreamResetReason } from "../http/codec.ts";
import type { ResponseFlagName } from "../stream_info/stream_info.ts";
import type {
  Cancellable,
  ConnectionPoolCallbacks,
  ConnectionPoolInstance,
  PoolFailureReason,
  UpstreamFailure,
  UpstreamStream,
  UpstreamStreamDecoder,
} from "../http/conn_pool.ts";
import type { Cluster } from "../upstream/cluster.ts";
import type { ResourceManager } from "../upstream/resource_manager.ts";
import { containBug } from "../common/error_boundary.ts";
import {
  DEFAULT_RETRY_POLICY,
  type ResetKind,
  RetryState,
  type RetryStatus,
} from "./retry_policy.ts";
import { type HostDescription, hostKey } from "../upstream/host.ts";
import { type AltCodeStats, type ClusterStats, RouterStats } from "../stats/data_path_stats.ts";
import type { LoadBalancer } from "../upstream/load_balancer.ts";
import { applyRequestHeaderMutations, applyResponseHeaderMutations } from "./header_mutation.ts";
import {
  copyResponseHeaders,
  INTERNAL_REDIRECT_STATE,
  type InternalRedirectState,
  parseRedirectLocation,
} from "./internal_redirect.ts";
import { pathEnd } from "./path_rewrite.ts";
import { redirectLocation } from "./redirect.ts";
import { type MatchedRoute, rewritePath } from "./route_table.ts";
import type { HostStats } from "../upstream/host_stats.ts";
import { monotonicNow } from "../common/monotonic_time.ts";
import { mirrorPolicies, type ShadowStream, startShadows } from "./shadow_writer.ts";
import {
  ACTIVE_HC,
  CONNECT_FAILED,
  CONNECT_SUCCESS,
  putHttpStatus,
  putImmediateHealthCheckFail,
  putLocalResult,
  recordTraffic,
  TIMEOUT,
} from "../upstream/host_monitor.ts";
import { PreviousPrioritiesRetryPriority } from "../extensions/retry/priority/previous_priorities/previous_priorities.ts";
import type { LbContext } from "../upstream/lb_base.ts";

const EMPTY = new Uint8Array(0);

/** Envoy's reset reasons (resetReasonToString) and the flags that go with each failure. */
const FAILURES: Record<
  UpstreamFailure,
  { status: number; flag: ResponseFlagName; reason: string }
> = {
  connection_failure: { status: 503, flag: "UF", reason: "remote connection failure" },
  connection_timeout: { status: 503, flag: "UF", reason: "connection timeout" },
  connection_termination: { status: 503, flag: "UC", reason: "connection termination" },
  protocol_error: { status: 502, flag: "UPE", reason: "protocol error" },
  local_reset: { status: 503, flag: "LR", reason: "local reset" },
  remote_reset: { status: 503, flag: "UR", reason: "remote reset" },
  remote_refused_stream_reset: { status: 503, flag: "UR", reason: "remote refused stream reset" },
  overflow: { status: 503, flag: "UO", reason: "overflow" },
};

/** The router filter's config (`envoy.extensions.filters.http.router.v3.Router`), resolved. */
export interface RouterConfig {
  /** `suppress_envoy_headers`: add no x-envoy-* headers to requests or responses. */
  readonly suppressEnvoyHeaders: boolean;
  /** `respect_expected_rq_timeout`: x-envoy-expected-rq-timeout-ms sets the route timeout. */
  readonly respectExpectedRqTimeout?: boolean;
}

/** Headers an upstream response never passes on (hop-by-hop). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);
const isHopByHop = (name: string) => HOP_BY_HOP.has(name);

/**
 * Request headers the router consumes (Envoy's RetryStateImpl::create and timeout handling):
 * they steer this hop and never reach the upstream.
 */
const CONSUMED = new Set([
  "x-envoy-retry-on",
  "x-envoy-retry-grpc-on",
  "x-envoy-max-retries",
  "x-envoy-hedge-on-per-try-timeout",
  "x-envoy-retriable-header-names",
  "x-envoy-retriable-status-codes",
]);
const isConsumed = (name: string) => CONSUMED.has(name);

/** Whether any `x-envoy-*` request header is present. */
function hasEnvoyHeaders(headers: HeaderMap): boolean {
  const kv = headers.raw();
  for (let i = 0; i < kv.length; i += 2) if (kv[i].startsWith("x-envoy-")) return true;
  return false;
}

/**
 * One attempt of a request on an upstream host (Envoy's UpstreamRequest): its pool request,
 * its stream, its per-try timers. A retry is a new attempt; with hedging several are in flight.
 */
class UpstreamAttempt implements UpstreamStreamDecoder, ConnectionPoolCallbacks {
  pending: Cancellable | undefined;
  stream: UpstreamStream | undefined;
  perTryTimer: CoarseTimer | undefined;
  perTryIdleTimer: CoarseTimer | undefined;
  /** A hedged retry was started for this attempt on its per-try timeout. */
  retried = false;
  /** No final response headers yet. */
  awaitingHeaders = true;
  /** Request bytes went out on it (for `reset-before-request`). */
  requestStarted = false;
  /** The host's stats on this worker (Envoy's per-host rq_success, rq_error, ...). */
  hostStats: HostStats | undefined;
  /** Request metadata that arrived before the stream was ready. */
  heldMetadata: MetadataMap[] | undefined;
  done = false;

  constructor(readonly router: RouterFilter, readonly host: HostDescription) {}

  onPoolReady(stream: UpstreamStream): void {
    this.router.onAttemptReady(this, stream);
  }
  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.router.onAttemptFailure(this, reason, transportFailureReason);
  }
  onResetStream(reason: StreamResetReason, details: string): void {
    this.router.onAttemptFailure(this, reason, details);
  }
  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.router.onAttemptHeaders(this, headers, endStream);
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.router.onAttemptData(this, data, endStream);
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.router.onAttemptTrailers(this, trailers);
  }
  decodeMetadata(metadata: MetadataMap): void {
    this.router.onAttemptMetadata(this, metadata);
  }
  onBelowWriteBufferLowWatermark(): void {
    this.router.onUpstreamWritable();
  }
  onBug(error: unknown): void {
    this.router.onBug(error);
  }

  clearTimers(): void {
    this.perTryTimer?.disarm();
    this.perTryIdleTimer?.disarm();
  }

  /** Gives up on the attempt: cancels its pool request or resets its stream. */
  reset(): void {
    this.done = true;
    this.clearTimers();
    this.pending?.cancel();
    this.pending = undefined;
    this.stream?.resetStream("local_reset");
  }
}

/** The reset reasons retries distinguish, for each pool failure. */
const RESET_KINDS: Record<UpstreamFailure, ResetKind> = {
  connection_failure: "connect_failure",
  connection_timeout: "connect_failure",
  connection_termination: "connection_termination",
  protocol_error: "protocol_error",
  local_reset: "local_reset",
  // Retried as any other reset (retry_on reset, 5xx, gateway-error).
  remote_reset: "connection_termination",
  remote_refused_stream_reset: "refused_stream",
  overflow: "overflow",
};

/** One request's router. */
export class RouterFilter implements StreamDecoderFilter {
  #cb: StreamFilterCallbacks;
  #route: MatchedRoute | undefined;
  /** Attempts in flight, oldest first (more than one only while hedging). */
  #attempts: UpstreamAttempt[] = [];
  /** The attempt whose response goes downstream. */
  #final: UpstreamAttempt | undefined;
  /** Request data not yet sent upstream when the body is not kept for a retry or redirect. */
  #held: Uint8Array[] = [];
  #heldEnd = false;
  #heldTrailers: HeaderMap | undefined;
  #requestHeaders!: HeaderMap;
  #timeoutMs = 0;
  #timer: CoarseTimer | undefined;
  /**
   * The upstream stream's duration limit: x-envoy-upstream-stream-duration-ms, else the
   * cluster's `common_http_protocol_options.max_stream_duration` (0: none).
   */
  #upstreamDurationMs = 0;
  #upstreamDurationTimer: CoarseTimer | undefined;
  /** Each attempt's own timeout (retry policy, x-envoy-upstream-rq-per-try-timeout-ms; 0 = none). */
  #perTryTimeoutMs = 0;
  /** `per_try_idle_timeout` (0 = none). */
  #perTryIdleTimeoutMs = 0;
  /** x-envoy-upstream-rq-timeout-alt-response: a timeout answers 204 instead of 504. */
  #timeoutStatus = 504;
  #startMs = 0;
  /** When the downstream request completed (performance.now() clock), or 0 while it has not. */
  #requestCompleteMs = 0;
  /** Copies of the request body kept for a retry or an internal redirect; undefined when not. */
  #body: Uint8Array[] | undefined;
  #bodyBytes = 0;
  /** The body outgrew the buffer limit: neither a redirect nor a retry can replay it. */
  #bodyOverflow = false;
  /** The request's buffer limit for retries and redirects (per_request_buffer_limit_bytes). */
  #bufferLimit = 0;
  #responseStarted = false;
  #done = false;
  #upgrade = false;
  #lb: LoadBalancer | undefined;
  #cluster: Cluster | undefined;
  #rm: ResourceManager | undefined;
  #stats: ClusterStats | undefined;
  /** The request came from an internal address: Envoy charges `internal.*` code stats. */
  #internal = false;
  /** x-envoy-upstream-alt-stat-name: codes are also charged under this name. */
  #alt: AltCodeStats | undefined;
  /** Retries of this request; undefined when none can happen. */
  #retry: RetryState | undefined;
  /** The retry resource this request holds (from a scheduled retry to the next decision). */
  #retryHeld = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #pendingRetries = 0;
  #isRetry = false;
  #attemptCount = 1;
  /** hedge_on_per_try_timeout (x-envoy-hedge-on-per-try-timeout). */
  #hedge = false;
  /** The scheduled retry follows a per-try timeout (x-envoy-is-timeout-retry). */
  #timeoutRetry = false;
  /** Hosts attempted, for retry host predicates. */
  #attempted: HostDescription[] | undefined;
  /** What the balancer is told about this request (hash, subset criteria, headers). */
  #lbContext: LbContext | undefined;
  /** `retry_priority` state of this request, when its retry policy has one. */
  #retryPriority: PreviousPrioritiesRetryPriority | undefined;
  /** Set-Cookie values a cookie hash policy generated, for the response. */
  #setCookies: string[] | undefined;
  /** Mirrored copies of the request still waiting for its body or trailers. */
  #shadows: ShadowStream[] | undefined;

  constructor(
    cb: StreamFilterCallbacks,
    readonly server: ServerContext,
    readonly routerStats: RouterStats,
    readonly config: RouterConfig = { suppressEnvoyHeaders: false },
  ) {
    this.#cb = cb;
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    const cb = this.#cb;
    const si = cb.streamInfo;
    const rs = this.routerStats;
    rs.rqTotal.inc();
    const m = cb.route();
    if (!m) {
      rs.noRoute.inc();
      si.setFlag("NR");
      cb.sendLocalReply(404, "", { details: "route_not_found" });
      return "stop";
    }
    this.#route = m;
    const r = m.route;
    if (r.action === "direct_response") {
      rs.rqDirectResponse.inc();
      const status = r.directResponse!.status;
      // Envoy gives 201 and 3xx direct responses a Location: the request's own URL.
      const location = status === 201 || (status >= 300 && status < 400)
        ? redirectLocation(r, headers)
        : undefined;
      cb.sendLocalReply(status, r.directResponse!.body, {
        details: "direct_response",
        modifyHeaders: (h) => {
          if (location) h.set("location", location);
          applyResponseHeaderMutations(m, h, headers, si);
        },
      });
      return "stop";
    }
    if (r.action === "redirect") {
      // Envoy answers redirects as direct responses, counted there; rq_redirect says which.
      rs.rqDirectResponse.inc();
      rs.rqRedirect.inc();
      const location = redirectLocation(r, headers);
      cb.sendLocalReply(r.redirect!.responseCode, "", {
        details: "direct_response",
        modifyHeaders: (h) => {
          h.set("location", location);
          applyResponseHeaderMutations(m, h, headers, si);
        },
      });
      return "stop";
    }
    const clusterName = m.clusterName;
    const cluster = clusterName ? this.server.clusterManager.get(clusterName) : undefined;
    if (!cluster) {
      rs.noCluster.inc();
      si.setFlag("NC");
      cb.sendLocalReply(r.clusterNotFoundResponseCode, "", { details: "cluster_not_found" });
      return "stop";
    }
    this.#cluster = cluster;
    si.upstreamCluster = cluster.info.name;
    si.upstreamClusterDescription = cluster.info;
    const stats = this.server.clusterStats.get(cluster.info.statName);
    this.#stats = stats;
    // Most requests carry no x-envoy-* header: one scan spares the lookups below.
    const control = hasEnvoyHeaders(headers);
    this.#internal = control && headers.get("x-envoy-internal") === "true";
    if (control) {
      // Consumed here, as in Envoy (the connection manager removed it from external requests).
      const alt = headers.get("x-envoy-upstream-alt-stat-name");
      if (alt !== undefined) {
        headers.remove("x-envoy-upstream-alt-stat-name");
        if (alt !== "") this.#alt = stats.alt(alt);
      }
    }
    const lb = this.server.clusterManager.loadBalancer(cluster.info.name);
    // As in Envoy the hash (and any cookie it generates) is only computed for a balancer
    // that asks for it; only an ORIGINAL_DST cluster's balancer reads the request's headers.
    const hashKey = lb?.usesHashKey && r.hashPolicy
      ? r.hashPolicy.generateHash(headers, si, (c) => (this.#setCookies ??= []).push(c))
      : undefined;
    const metadataMatch = m.weightedCluster?.metadataMatch ?? r.metadataMatch;
    const originalDst = cluster.info.originalDst !== undefined;
    if (hashKey !== undefined || metadataMatch || originalDst) {
      this.#lbContext = {
        hashKey,
        metadataMatch,
        ...(originalDst
          ? {
            downstreamHeaders: headers,
            downstreamLocalAddress: si.downstreamDirectLocalAddress === undefined
              ? undefined
              : si.downstreamLocalAddress,
          }
          : {}),
      };
    }
    const host = lb?.chooseHost(this.#lbContext);
    if (!lb || !host) {
      this.#noHealthyUpstream(false);
      return "stop";
    }
    this.#lb = lb;
    this.#rm = cluster.resources.forPriority(r.priority);

    const envoyHeaders = !this.config.suppressEnvoyHeaders;
    const policy = r.retryPolicy ?? DEFAULT_RETRY_POLICY;
    this.#perTryTimeoutMs = policy.perTryTimeoutMs;
    this.#perTryIdleTimeoutMs = policy.perTryIdleTimeoutMs;
    this.#hedge = r.hedgeOnPerTryTimeout;
    if (control) {
      const hedge = headers.get("x-envoy-hedge-on-per-try-timeout");
      if (hedge === "true") this.#hedge = true;
      else if (hedge === "false") this.#hedge = false;
    }
    // Timeout: the route's, unless a trusted x-envoy-upstream-rq-timeout-ms overrides it. A
    // route with max_stream_duration has none: the connection manager's duration timer applies.
    this.#timeoutMs = r.maxStreamDuration ? 0 : r.timeoutMs;
    // Deprecated max_grpc_timeout: a gRPC request's grpc-timeout (less grpc_timeout_offset,
    // capped by max_grpc_timeout, 0 meaning no cap) is the route timeout.
    const grpcTimeout = r.maxGrpcTimeoutMs !== undefined && !r.maxStreamDuration &&
      isGrpc(headers);
    if (grpcTimeout) this.#timeoutMs = grpcRouteTimeoutMs(r, headers.get("grpc-timeout"));
    // respect_expected_rq_timeout: an egress Envoy's x-envoy-expected-rq-timeout-ms wins over
    // x-envoy-upstream-rq-timeout-ms.
    const expectedHeader = this.config.respectExpectedRqTimeout
      ? headers.get("x-envoy-expected-rq-timeout-ms")
      : undefined;
    const respectExpected = expectedHeader !== undefined && /^\d+$/.test(expectedHeader);
    if (respectExpected) this.#timeoutMs = Number(expectedHeader);
    if (control) this.#consumeTimeoutHeaders(headers, !respectExpected);
    // A per-try timeout not below the global one is ignored, as in Envoy.
    if (this.#timeoutMs > 0 && this.#perTryTimeoutMs >= this.#timeoutMs) this.#perTryTimeoutMs = 0;
    this.#setExpectedTimeout(headers, 0, grpcTimeout);
    this.#upstreamDurationMs = cluster.info.maxStreamDurationMs;
    const duration = headers.get("x-envoy-upstream-stream-duration-ms");
    if (duration !== undefined) {
      if (/^\d+$/.test(duration)) this.#upstreamDurationMs = Number(duration);
      headers.remove("x-envoy-upstream-stream-duration-ms");
    }
    if (r.includeRequestAttemptCount) headers.set("x-envoy-attempt-count", "1");

    // The host is rewritten before the path: host_rewrite_path_regex reads the original path.
    const literal = m.weightedCluster?.hostRewriteLiteral ?? r.hostRewriteLiteral;
    if (literal) updateAuthority(headers, literal, r.appendXForwardedHost);
    else if (r.autoHostRewrite && host.hostname) {
      updateAuthority(headers, host.hostname, r.appendXForwardedHost);
    } else if (r.hostRewriteHeader) {
      const v = headers.get(r.hostRewriteHeader);
      if (v) updateAuthority(headers, v, r.appendXForwardedHost);
    } else if (r.hostRewritePathRegex) {
      const path = headers.get(":path");
      if (path !== undefined) {
        const v = r.hostRewritePathRegex.replaceAll(path.slice(0, pathEnd(path)));
        if (v) updateAuthority(headers, v, r.appendXForwardedHost);
      }
    }
    const newPath = rewritePath(m, headers);
    if (newPath !== undefined) {
      if (envoyHeaders) headers.set("x-envoy-original-path", headers.get(":path") ?? "");
      headers.set(":path", newPath);
    }
    applyRequestHeaderMutations(m, headers, si);
    // Envoy's RetryStateImpl::create: a state only when some condition can apply; the retry
    // headers are consumed either way.
    this.#upgrade = headers.has("upgrade");
    // An upgrade's bytes are not kept, so it is never retried.
    if (
      !this.#upgrade && (policy.retryOn !== 0 ||
        (control && (headers.has("x-envoy-retry-on") || headers.has("x-envoy-retry-grpc-on"))))
    ) {
      this.#retry = new RetryState(policy, headers, control);
      const frequency = policy.previousPrioritiesUpdateFrequency;
      if (frequency) this.#retryPriority = new PreviousPrioritiesRetryPriority(frequency);
    }
    if (control) headers.removeIf(isConsumed);
    this.#requestHeaders = headers;
    this.#heldEnd = endStream;
    this.#bufferLimit = Math.min(
      this.#cb.decoderBufferLimit || Infinity,
      r.perRequestBufferLimitBytes ?? Infinity,
    );
    if (!this.#upgrade && (r.internalRedirectPolicy || this.#retry?.enabled)) this.#body = [];
    this.#startMs = monotonicNow();
    // As Envoy's createConnPool: no pool (max_connection_pools) ends the request here.
    const pool = this.#pool(host);
    if (pool === undefined) {
      this.#noHealthyUpstream(false, false);
      return "stop";
    }
    if (endStream) this.#onRequestComplete();
    if (r.requestMirrorPolicies.length > 0) {
      this.#shadows = startShadows(
        this.server,
        mirrorPolicies(r.requestMirrorPolicies),
        headers,
        endStream,
        this.#timeoutMs,
        this.#cb.decoderBufferLimit,
      );
    }
    this.#startAttempt(host, pool);
    return "stop";
  }

  /**
   * The connection pool for a request to `host`; undefined when the cluster's
   * `max_connection_pools` leaves no room for the one it needs.
   */
  #pool(host: HostDescription): ConnectionPoolInstance | undefined {
    const info = this.#cluster!.info;
    return this.server.pools.pool(
      info,
      host.address,
      host.port,
      this.#cb.streamInfo.protocol,
      host.metadata,
      info.autoSni && autoSniTarget(info.autoSni, this.#requestHeaders),
      this.#rm,
    );
  }

  /** Sends the request on a new attempt to `host`, through `pool`. */
  #startAttempt(host: HostDescription, pool: ConnectionPoolInstance): void {
    const a = new UpstreamAttempt(this, host);
    // Nearly always the only attempt: an array of one, not the 17 slots a push onto [] makes.
    if (this.#attempts.length === 0) this.#attempts = [a];
    else this.#attempts.push(a);
    this.#lb!.requestStarted(host);
    if (this.#retry?.policy.hostPredicates.length) (this.#attempted ??= []).push(host);
    this.#retryPriority?.onHostAttempted(host);
    const si = this.#cb.streamInfo;
    si.attemptCount = (si.attemptCount ?? 0) + 1;
    si.upstreamHost = hostKey(host);
    si.upstreamHostDescription = host;
    if (host.monitor !== undefined) pool.hostMonitor = host.monitor;
    a.hostStats = pool.stats;
    // Outlier detection and health check intervals learn of traffic (clusters with either).
    if (host.monitor !== undefined) recordTraffic(host.monitor);
    a.pending = pool.newStream(a, a, this.#rm);
  }

  /**
   * "no healthy upstream": 503 with UH. `attempted`: a retry found no host (the response then
   * carries the attempt count, as Envoy's does once an attempt was made). `noHost`: the load
   * balancer found none (`upstream_cx_none_healthy`), rather than the host getting no
   * connection pool (`upstream_cx_pool_overflow`, counted by the pools).
   */
  #noHealthyUpstream(attempted: boolean, noHost = true): void {
    if (noHost) this.#stats!.cxNoneHealthy.inc();
    this.#chargeCode(503);
    this.#cb.streamInfo.setFlag("UH");
    this.#done = true;
    this.#cb.sendLocalReply(503, "no healthy upstream", {
      details: "no_healthy_upstream",
      ...(attempted ? { modifyHeaders: (h: HeaderMap) => this.#modifyHeaders(h) } : {}),
    });
  }

  /**
   * x-envoy-expected-rq-timeout-ms (and grpc-timeout with max_grpc_timeout): the per-try
   * timeout, else (or when hedging) the global one, less the time already spent.
   */
  #setExpectedTimeout(headers: HeaderMap, elapsedMs: number, grpc: boolean): void {
    const global = this.#timeoutMs;
    let expected = this.#hedge || this.#perTryTimeoutMs === 0 ? global : this.#perTryTimeoutMs;
    if (expected <= 0) return;
    if (global > 0) expected = elapsedMs >= global ? 1 : Math.min(expected, global - elapsedMs);
    if (!this.config.suppressEnvoyHeaders) {
      headers.set("x-envoy-expected-rq-timeout-ms", String(expected));
    }
    // The upstream learns the timeout in force.
    if (grpc) headers.set("grpc-timeout", toGrpcTimeout(expected));
  }

  /**
   * The timeout headers of a trusted client (the connection manager removed them from
   * external requests), consumed as Envoy's router does.
   */
  #consumeTimeoutHeaders(headers: HeaderMap, applyTimeout: boolean): void {
    const override = headers.get("x-envoy-upstream-rq-timeout-ms");
    if (override !== undefined) {
      if (applyTimeout && /^\d+$/.test(override)) this.#timeoutMs = Number(override);
      headers.remove("x-envoy-upstream-rq-timeout-ms");
    }
    const perTry = headers.get("x-envoy-upstream-rq-per-try-timeout-ms");
    if (perTry !== undefined) {
      if (/^\d+$/.test(perTry)) this.#perTryTimeoutMs = Number(perTry);
      headers.remove("x-envoy-upstream-rq-per-try-timeout-ms");
    }
    if (headers.remove("x-envoy-upstream-rq-timeout-alt-response") > 0) this.#timeoutStatus = 204;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.#done) return "stopNoBuffer";
    if (this.#body && data.length > 0 && !this.#bufferBody(data)) return "stopNoBuffer";
    if (this.#shadows) this.#shadowData(data, endStream);
    if (endStream) {
      this.#heldEnd = true;
      this.#onRequestComplete();
    }
    const a = this.#attempts[this.#attempts.length - 1];
    const up = a?.stream;
    if (up) {
      up.encodeData(data, endStream);
      this.#cb.streamInfo.mark("firstUpstreamTxByteSent");
      if (endStream) {
        this.#cb.streamInfo.mark("lastUpstreamTxByteSent");
        this.#startPerTryTimers();
      }
      // Upstream flow control: stop reading downstream while the upstream buffer is full.
      if (up.aboveHighWatermark) this.#cb.readDisableDownstream(true);
    } else {
      // Kept in #body when buffering; otherwise held until the attempt is ready (usually one
      // chunk: an array of one, not the 17 slots a push onto [] makes).
      if (this.#body) return "stopNoBuffer";
      if (this.#held.length === 0) this.#held = [data];
      else this.#held.push(data);
    }
    return "stopNoBuffer";
  }

  /**
   * Request metadata (HTTP/2 METADATA) goes to the oldest upstream attempt in flight, as in
   * Envoy's router: held by it until its stream is ready, never replayed on a retry or a shadow.
   */
  decodeMetadata(metadata: MetadataMap): void {
    const a = this.#attempts[0];
    if (a === undefined) return;
    if (a.stream) a.stream.encodeMetadata?.(metadata);
    else (a.heldMetadata ??= []).push(metadata);
  }

  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    this.#heldTrailers = trailers;
    this.#onRequestComplete();
    if (this.#shadows) {
      for (const s of this.#shadows) s.encodeTrailers(trailers);
      this.#shadows = undefined;
    }
    const up = this.#attempts[this.#attempts.length - 1]?.stream;
    if (up) {
      up.encodeTrailers(trailers);
      this.#startPerTryTimers();
    }
    return "stop";
  }

  onDestroy(): void {
    // Downstream went away (or the stream finished): cancel whatever is in flight upstream.
    this.#recordUpstreamBytes(this.#final ?? this.#attempts[0]);
    this.#done = true;
    this.#clearTimer();
    if (this.#shadows) { for (const s of this.#shadows) s.cancel(); }
    const attempts = this.#attempts;
    if (attempts.length > 0) {
      // A fresh empty list rather than splice(0), which copies the attempts into a new array.
      this.#attempts = [];
      for (const a of attempts) this.#endAttempt(a);
    }
    this.#dropRetry();
  }

  /** Request body for the shadows; they are on their own once the request ended. */
  #shadowData(data: Uint8Array, endStream: boolean): void {
    for (const s of this.#shadows!) s.encodeData(data, endStream);
    if (endStream) this.#shadows = undefined;
  }

  /** An attempt is over: its stream reset if still open, its host's load released. */
  #endAttempt(a: UpstreamAttempt): void {
    if (!a.done) a.reset();
    this.#lb!.requestFinished(a.host);
  }

  #removeAttempt(a: UpstreamAttempt): void {
    const i = this.#attempts.indexOf(a);
    if (i >= 0) this.#attempts.splice(i, 1);
    this.#endAttempt(a);
  }

  // ---- upstream callbacks ----

  onAttemptReady(a: UpstreamAttempt, stream: UpstreamStream): void {
    if (this.#done || a.done) {
      stream.resetStream("local_reset");
      return;
    }
    a.stream = stream;
    a.pending = undefined;
    if (a.host.monitor !== undefined) putLocalResult(a.host.monitor, CONNECT_SUCCESS);
    const si = this.#cb.streamInfo;
    si.upstreamLocalAddress = stream.localAddress;
    si.upstreamRemoteAddress = stream.remoteAddress;
    si.upstreamConnectionId = stream.connectionId;
    si.upstreamTls = stream.ssl;
    si.upstreamProtocol = stream.protocol;
    const t = si.timings;
    // Connection times belong to the connection: on a reused one they precede this request.
    t.upstreamConnectStart = stream.connectStart - si.startMonotonic;
    t.upstreamConnectComplete = stream.connectComplete - si.startMonotonic;
    t.connectionPoolReadyLatency = monotonicNow() - this.#startMs;
    if (this.#upstreamDurationMs > 0 && !this.#upstreamDurationTimer) this.#armUpstreamDuration();
    // The body so far: all of it when kept for a retry, else what arrived before this.
    const body = this.#body ?? this.#held;
    const end = this.#heldEnd;
    const trailers = this.#heldTrailers;
    const bodyLess = end && body.length === 0 && !trailers;
    stream.encodeHeaders(this.#requestHeaders, bodyLess);
    const held = a.heldMetadata;
    // After a body-less request's END_STREAM the codec drops it (the stream is half-closed).
    if (held !== undefined && stream.encodeMetadata) {
      a.heldMetadata = undefined;
      for (let i = 0; i < held.length; i++) stream.encodeMetadata(held[i]);
    }
    a.requestStarted = true;
    si.mark("firstUpstreamTxByteSent");
    if (!bodyLess) {
      if (!this.#body) this.#held = [];
      for (let i = 0; i < body.length; i++) {
        stream.encodeData(body[i], end && i === body.length - 1 && !trailers);
      }
      if (body.length === 0 && end && !trailers) stream.encodeData(EMPTY, true);
      if (trailers) stream.encodeTrailers(trailers);
    }
    if (end) si.mark("lastUpstreamTxByteSent");
    if (end || trailers) this.#startPerTryTimer(a);
  }

  onAttemptFailure(a: UpstreamAttempt, reason: UpstreamFailure, detail: string): void {
    if (this.#done || a.done) return;
    a.done = true;
    a.pending = undefined;
    a.clearTimers();
    // A connect failure or reset counts against the host (retried or not); an overflow or our
    // own reset does not.
    const monitor = a.host.monitor;
    if (monitor !== undefined && reason !== "overflow" && reason !== "local_reset") {
      putLocalResult(monitor, CONNECT_FAILED);
    }
    const kind = RESET_KINDS[reason];
    if (this.#maybeRetryReset(kind, a)) return;
    const f = FAILURES[reason];
    const si = this.#cb.streamInfo;
    if (!this.#responseStarted) this.#chargeCode(f.status);
    if (a.hostStats) a.hostStats.rq_error++;
    this.#recordUpstreamBytes(a);
    this.#removeAttempt(a);
    // Other attempts (hedging) or a scheduled retry may still answer.
    if (this.#awaitingHeaders() || this.#pendingRetries > 0) return;
    si.setFlag(f.flag);
    // Only a failed connect has a transport failure reason (`delayed connect error: 111`).
    const transport = reason === "connection_failure" ? detail : "";
    si.upstreamTransportFailureReason = transport || undefined;
    // Envoy's words, byte for byte: the body with ", transport failure reason: ..." when there
    // is one, the details `upstream_reset_{before,after}_response_started{<reason>|<transport>}`
    // with blanks made `_`.
    const started = this.#responseStarted ? "after" : "before";
    this.#fail(
      f.status,
      "upstream connect error or disconnect/reset before headers. " +
        (this.#isRetry ? "retried and the latest " : "") + `reset reason: ${f.reason}` +
        (transport ? `, transport failure reason: ${transport}` : ""),
      `upstream_reset_${started}_response_started{${f.reason}${transport ? "|" + transport : ""}}`
        .replaceAll(" ", "_"),
      reason === "overflow",
    );
  }

  /** Attempts still waiting for their response headers. */
  #awaitingHeaders(): boolean {
    for (const a of this.#attempts) if (a.awaitingHeaders) return true;
    return false;
  }

  /**
   * Envoy's maybeRetryReset: a reset (or a per-try timeout) is retried when the policy says so
   * and nothing went downstream yet. True when a retry was scheduled.
   */
  #maybeRetryReset(kind: ResetKind, a: UpstreamAttempt, timeout = false): boolean {
    const retry = this.#retry;
    if (this.#responseStarted || !retry || a.retried) return false;
    const status = this.#shouldRetry(retry.wouldRetryFromReset(kind, a.requestStarted), timeout);
    if (status === "yes") {
      if (a.hostStats) a.hostStats.rq_error++;
      this.#removeAttempt(a);
      return true;
    }
    this.#flagRetryStatus(status);
    return false;
  }

  #flagRetryStatus(status: RetryStatus): void {
    if (status === "no_overflow") this.#cb.streamInfo.setFlag("UO");
    else if (status === "no_retry_limit_exceeded") this.#cb.streamInfo.setFlag("URX");
  }

  /**
   * Envoy's RetryStateImpl::shouldRetry: a success is a decision not to retry after a retry;
   * then the retries left and the cluster's retry circuit breaker; "yes" schedules the retry
   * after its back-off.
   */
  #shouldRetry(wouldRetry: boolean, timeout = false): RetryStatus {
    const retry = this.#retry!;
    const stats = this.#stats!;
    if (this.#retryHeld && !wouldRetry) stats.rqRetrySuccess.inc();
    this.#releaseRetry();
    const rm = this.#rm!;
    const status = retry.decide(wouldRetry, () => rm.retries.tryCreate());
    if (status === "no_retry_limit_exceeded") stats.rqRetryLimitExceeded.inc();
    else if (status === "no_overflow") stats.rqRetryOverflow.inc();
    if (status !== "yes") return status;
    this.#retryHeld = true;
    this.#timeoutRetry = timeout;
    stats.rqRetry.inc();
    const backOff = retry.nextBackOff();
    (backOff.rateLimited ? stats.rqRetryBackoffRatelimited : stats.rqRetryBackoffExponential)
      .inc();
    this.#pendingRetries++;
    this.#retryTimer = setTimeout(() => {
      try {
        this.#doRetry();
      } catch (e) {
        containBug(this, "retry", e);
      }
    }, backOff.ms);
    return status;
  }

  /** Gives back the retry resource this request holds. */
  #releaseRetry(): void {
    if (!this.#retryHeld) return;
    this.#retryHeld = false;
    this.#rm!.retries.dec();
  }

  /** No more retries for this request (response chosen, request over, body too large). */
  #dropRetry(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#pendingRetries = 0;
    this.#releaseRetry();
    this.#retry = undefined;
  }

  /** Envoy's doRetry: the next attempt, on a host the load balancer (and predicates) pick. */
  #doRetry(): void {
    this.#retryTimer = undefined;
    if (this.#done) return;
    this.#isRetry = true;
    this.#attemptCount++;
    this.#pendingRetries--;
    const host = this.#chooseRetryHost();
    const pool = host && this.#pool(host);
    if (!pool) {
      for (const a of this.#attempts.splice(0)) this.#endAttempt(a);
      this.#dropRetry();
      this.#noHealthyUpstream(true, !host);
      return;
    }
    const r = this.#route!.route;
    const headers = this.#requestHeaders;
    if (r.includeRequestAttemptCount) {
      headers.set("x-envoy-attempt-count", String(this.#attemptCount));
    }
    if (r.virtualHost.config.includeIsTimeoutRetryHeader) {
      headers.set("x-envoy-is-timeout-retry", this.#timeoutRetry ? "true" : "false");
    }
    const elapsed = this.#requestCompleteMs > 0 ? monotonicNow() - this.#requestCompleteMs : 0;
    this.#setExpectedTimeout(
      headers,
      Math.floor(elapsed),
      r.maxGrpcTimeoutMs !== undefined && !r.maxStreamDuration && isGrpc(headers),
    );
    this.#startAttempt(host!, pool);
  }

  /** A host for a retry: `host_selection_retry_max_attempts` picks to satisfy the predicates. */
  #chooseRetryHost(): HostDescription | undefined {
    const lb = this.#lb!;
    const policy = this.#retry?.policy;
    const predicates = policy?.hostPredicates;
    const attempted = this.#attempted ?? [];
    const rp = this.#retryPriority;
    const ctx: LbContext | undefined = rp
      ? {
        ...this.#lbContext,
        determinePriorityLoad: (sets, o) => rp.determinePriorityLoad(sets, o),
      }
      : this.#lbContext;
    if (predicates?.length && lb.usesHashKey) {
      // A consistent-hash balancer would pick the same host again: it walks its ring (or flips
      // its hash) itself while the predicates reject hosts, as Envoy's do.
      return lb.chooseHost({
        ...ctx,
        hostSelectionRetryCount: policy!.hostSelectionMaxAttempts,
        shouldSelectAnotherHost: (h) => !predicates.every((p) => p(h, attempted)),
      });
    }
    let host = lb.chooseHost(ctx);
    if (!host || !predicates?.length) return host;
    for (let i = 1; i < policy!.hostSelectionMaxAttempts + 1; i++) {
      if (predicates.every((p) => p(host!, attempted))) return host;
      const next = lb.chooseHost(ctx);
      if (!next) return host;
      host = next;
    }
    return host;
  }

  #fail(status: number, body: string, details: string, dropped = false): void {
    this.#recordUpstreamBytes(this.#final ?? this.#attempts[0]);
    this.#done = true;
    this.#clearTimer();
    this.#dropRetry();
    for (const a of this.#attempts.splice(0)) this.#endAttempt(a);
    if (this.#responseStarted) {
      this.routerStats.rqResetAfterDownstreamResponseStarted.inc();
      // The reset's details replace the response's (via_upstream), as Envoy's local reply does.
      this.#cb.streamInfo.responseCodeDetails = details;
      this.#cb.resetStream(details);
    } else {
      const suppress = this.config.suppressEnvoyHeaders;
      this.#cb.sendLocalReply(status, body, {
        details,
        modifyHeaders: (h) => {
          if (dropped && !suppress) h.set("x-envoy-overloaded", "true");
          this.#modifyHeaders(h);
        },
      });
    }
  }

  /**
   * What every response gets (upstream or local): the cookies a hash policy generated, and
   * x-envoy-attempt-count with include_attempt_count_in_response.
   */
  #modifyHeaders(h: HeaderMap): void {
    if (this.#setCookies) { for (const c of this.#setCookies) h.add("set-cookie", c); }
    // Added whatever suppress_envoy_headers says, as Envoy does.
    if (this.#route?.route.includeAttemptCountInResponse) {
      h.set("x-envoy-attempt-count", String(this.#attemptCount));
    }
  }

  onAttemptHeaders(a: UpstreamAttempt, headers: HeaderMap, endStream: boolean): void {
    if (this.#done || a.done) return;
    const status = Number(headers.get(":status"));
    const si = this.#cb.streamInfo;
    si.mark("firstUpstreamRxByteReceived");
    if (status >= 100 && status < 200 && status !== 101) {
      // 100-continue is forwarded; other 1xx are swallowed, as Envoy does by default. Nothing
      // is retried once a 100 went downstream.
      if (status === 100) {
        this.#dropRetry();
        this.#resetOthers(a);
        this.#cb.encodeHeaders(headers, false);
      }
      return;
    }
    a.awaitingHeaders = false;
    // Every final response counts for outlier detection, retried or not (as Envoy's
    // UpstreamRequest reports it to the host's detector).
    const monitor = a.host.monitor;
    if (monitor !== undefined) {
      putHttpStatus(monitor, status);
      if (monitor[ACTIVE_HC] === 1 && headers.has("x-envoy-immediate-health-check-fail")) {
        putImmediateHealthCheckFail(monitor);
      }
    }
    this.#armPerTryIdle(a);
    const retry = this.#retry;
    let couldNotRetry = false;
    if (retry) {
      if (a.retried) {
        couldNotRetry = retry.wouldRetryFromHeaders(headers, status);
      } else {
        const would = retry.wouldRetryFromHeaders(headers, status);
        if (would) retry.noteResetHeaders(headers);
        const rs = this.#shouldRetry(would);
        if (rs === "yes") {
          if (a.hostStats) a.hostStats.rq_error++;
          this.#stats!.retryCodes.charge(status);
          this.#removeAttempt(a);
          return;
        }
        this.#flagRetryStatus(rs);
        couldNotRetry = rs !== "no";
      }
    }
    const policy = this.#route!.route.internalRedirectPolicy;
    if (policy?.redirectResponseCodes.has(status) && this.#setupRedirect(headers, status)) return;
    // A bad response while other attempts may still answer: wait for them.
    if (couldNotRetry && (this.#awaitingHeaders() || this.#pendingRetries > 0)) {
      if (a.hostStats) a.hostStats.rq_error++;
      this.#removeAttempt(a);
      return;
    }
    this.#dropRetry();
    this.#final = a;
    this.#resetOthers(a);
    this.#responseStarted = true;
    si.upstreamHost = hostKey(a.host);
    si.upstreamHostDescription = a.host;
    si.responseCodeDetails = "via_upstream";
    const now = monotonicNow();
    const elapsed = now - this.#startMs;
    const stats = this.#stats;
    if (stats) {
      this.#chargeCode(status);
      stats.responseTime(elapsed, this.#internal);
      this.#alt?.responseTime(elapsed, this.#internal);
    }
    if (a.hostStats) {
      if (status >= 500) a.hostStats.rq_error++;
      else a.hostStats.rq_success++;
    }
    // An upgrade's 101 keeps Connection/Upgrade for the client; anything else loses them.
    if (status !== 101 || !this.#upgrade) headers.removeIf(isHopByHop);
    // Only for a response to a complete request, timed from its end, as Envoy does.
    if (this.#requestCompleteMs > 0 && !this.config.suppressEnvoyHeaders) {
      headers.set(
        "x-envoy-upstream-service-time",
        String(Math.round(now - this.#requestCompleteMs)),
      );
    }
    this.#modifyHeaders(headers);
    applyResponseHeaderMutations(this.#route!, headers, this.#requestHeaders, si);
    if (endStream) this.#finishUpstream(a);
    this.#cb.encodeHeaders(headers, endStream);
  }

  /** Hedging: the winner's response goes downstream, every other attempt is reset. */
  #resetOthers(winner: UpstreamAttempt): void {
    if (this.#attempts.length === 1) return;
    for (const a of this.#attempts.splice(0)) {
      if (a === winner) this.#attempts.push(a);
      else this.#endAttempt(a);
    }
  }

  onAttemptData(a: UpstreamAttempt, data: Uint8Array, endStream: boolean): void {
    if ((this.#done && !endStream) || a !== this.#final) return;
    if (data.length > 0) this.#cb.streamInfo.mark("firstUpstreamRxBodyByteReceived");
    if (endStream) this.#finishUpstream(a);
    else this.#armPerTryIdle(a);
    this.#cb.encodeData(data, endStream);
    // Downstream flow control: a slow client pauses reading from the upstream.
    const up = a.stream;
    if (!endStream && up && !this.#cb.downstreamWritable()) {
      up.readDisable(true);
      this.#cb.onDownstreamWritable(() => up.readDisable(false));
    }
  }

  /** Response metadata of an attempt goes downstream through the encoder filters. */
  onAttemptMetadata(a: UpstreamAttempt, metadata: MetadataMap): void {
    if (this.#done || a.done) return;
    this.#cb.encodeMetadata(metadata);
  }

  onAttemptTrailers(a: UpstreamAttempt, trailers: HeaderMap): void {
    if (this.#done || a !== this.#final) return;
    this.#finishUpstream(a);
    this.#cb.encodeTrailers(trailers);
  }

  /** Envoy's chargeUpstreamCode: the cluster's code stats, and the alt stat name's. */
  #chargeCode(status: number): void {
    this.#stats?.chargeCode(status, this.#internal);
    this.#alt?.chargeCode(status, this.#internal);
  }

  onUpstreamWritable(): void {
    this.#cb.readDisableDownstream(false);
  }

  /**
   * BugScope of the router's own entry points (the pool's ready and failure callbacks, the
   * route timeout): the downstream stream ends, and with it this filter and its upstream.
   */
  onBug(error: unknown): void {
    this.#cb.onBug(error);
  }

  /** Copies an attempt's byte counts to StreamInfo (before the stream is dropped). */
  #recordUpstreamBytes(a: UpstreamAttempt | undefined): void {
    const up = a?.stream;
    if (!up) return;
    const si = this.#cb.streamInfo;
    si.upstreamWireBytesSent = up.wireBytesSent;
    si.upstreamWireBytesReceived = up.wireBytesReceived;
    si.upstreamHeaderBytesSent = up.headerBytesSent;
    si.upstreamHeaderBytesReceived = up.headerBytesReceived;
  }

  #finishUpstream(a: UpstreamAttempt | undefined): void {
    this.#clearTimer();
    a?.clearTimers();
    this.#cb.streamInfo.mark("lastUpstreamRxByteReceived");
  }

  // ---- request body ----

  #onRequestComplete(): void {
    if (this.#requestCompleteMs === 0) this.#requestCompleteMs = monotonicNow();
    this.#startTimer();
  }

  /**
   * Keeps a copy of request data a retry or an internal redirect may replay, up to the buffer
   * limit. Over it, Envoy gives up on both; with no attempt in flight (a retry waiting for
   * its back-off) the request fails with 507. Returns false when the request is over.
   */
  #bufferBody(data: Uint8Array): boolean {
    this.#bodyBytes += data.length;
    if (this.#bodyBytes > this.#bufferLimit) {
      this.#stats?.retryOrShadowAbandoned.inc();
      // What was kept is already upstream; the rest streams to the attempt in flight.
      this.#body = undefined;
      this.#bodyOverflow = true;
      const waiting = this.#attempts.length === 0;
      this.#dropRetry();
      if (waiting) {
        this.#done = true;
        this.#clearTimer();
        this.#cb.sendLocalReply(507, "exceeded request buffer limit while retrying upstream", {
          details: "request_payload_exceeded_retry_buffer_limit",
          modifyHeaders: (h) => this.#modifyHeaders(h),
        });
        return false;
      }
      return true;
    }
    this.#body!.push(data.slice());
    return true;
  }

  // ---- internal redirects ----

  /**
   * Envoy's `setupRedirect`: follows the upstream 3xx when the request is complete, its body
   * buffered and the Location usable, by recreating the stream with the redirected request.
   * Returns false (the 3xx then goes downstream) when any condition fails.
   */
  #setupRedirect(response: HeaderMap, status: number): boolean {
    const location = response.get("location");
    if (
      this.#requestCompleteMs > 0 && !this.#bodyOverflow && location !== undefined &&
      !this.#upgrade && this.#convertRequestForRedirect(response, location, status)
    ) {
      const body = this.#body;
      this.#stats?.upstreamInternalRedirectSucceeded.inc();
      this.#finishUpstream(undefined);
      // The ended stream's access log still shows the redirect it followed.
      this.#cb.streamInfo.responseHeaders = response;
      // The new stream takes over; this one (and this filter) is destroyed in the call.
      this.#cb.recreateStream(
        this.#requestHeaders,
        body && body.length > 0 ? concat(body) : undefined,
      );
      return true;
    }
    this.#stats?.upstreamInternalRedirectFailed.inc();
    return false;
  }

  /** Envoy's `convertRequestHeadersForInternalRedirect`; restores the headers when it fails. */
  #convertRequestForRedirect(response: HeaderMap, location: string, status: number): boolean {
    const cb = this.#cb;
    const rs = this.routerStats;
    const headers = this.#requestHeaders;
    const policy = this.#route!.route.internalRedirectPolicy!;
    const path = headers.get(":path");
    if (path === undefined) return false;
    const target = parseRedirectLocation(location);
    if (!target) {
      rs.passthroughInternalRedirectBadLocation.inc();
      return false;
    }
    const si = cb.streamInfo;
    const schemeIsHttp = headers.get(":scheme") === "http" || !si.downstreamTls;
    const targetIsHttp = target.scheme === "http";
    if (!policy.allowCrossSchemeRedirect && schemeIsHttp !== targetIsHttp) {
      rs.passthroughInternalRedirectUnsafeScheme.inc();
      return false;
    }
    let state = si.filterState.get(INTERNAL_REDIRECT_STATE) as InternalRedirectState | undefined;
    if (!state) {
      state = { count: 0, previousRoutes: new Map() };
      si.filterState.set(INTERNAL_REDIRECT_STATE, state);
    }
    if (state.count >= policy.maxInternalRedirects) {
      rs.passthroughInternalRedirectTooManyRedirects.inc();
      return false;
    }
    const saved = headers.clone();
    const restore = () => {
      headers.removeIf(() => true);
      saved.forEach((k, v) => headers.add(k, v));
      // The stream's route (for logs and its timeouts) is the original request's again.
      cb.clearRouteCache();
      cb.route();
    };
    copyResponseHeaders(policy.responseHeadersToCopy, response, headers);
    headers.set(":scheme", target.scheme);
    headers.set(":authority", target.authority);
    headers.set(":path", target.pathAndQuery);
    cb.clearRouteCache();
    const next = cb.route();
    if (!next) {
      rs.passthroughInternalRedirectNoRoute.inc();
      restore();
      return false;
    }
    for (const p of policy.predicates) {
      if (!p.accept(state, next.route.name, !schemeIsHttp, !targetIsHttp)) {
        rs.passthroughInternalRedirectPredicate.inc();
        restore();
        return false;
      }
    }
    // RFC 9110 §15.4.4: a 303 is followed with GET (and no body) unless the request was HEAD.
    const method = headers.get(":method");
    if (status === 303 && method !== "GET" && method !== "HEAD") {
      headers.set(":method", "GET");
      headers.remove("content-length");
      headers.remove("transfer-encoding");
      this.#body = undefined;
    }
    state.count++;
    headers.set(
      "x-envoy-original-url",
      `${schemeIsHttp ? "http" : "https"}://${saved.get(":authority") ?? ""}${path}`,
    );
    return true;
  }

  // ---- timeouts ----

  #startTimer(): void {
    if (this.#timeoutMs <= 0 || this.#timer || this.#upgrade) return;
    this.#timer = new CoarseTimer(() => this.#onResponseTimeout(), this);
    this.#timer.arm(this.#timeoutMs);
  }

  /** The request completed: every attempt with a stream starts its per-try timers. */
  #startPerTryTimers(): void {
    for (const a of this.#attempts) if (a.stream) this.#startPerTryTimer(a);
  }

  /** An attempt's own timeouts run once its request is complete on an upstream stream. */
  #startPerTryTimer(a: UpstreamAttempt): void {
    if (this.#upgrade) return;
    if (this.#perTryTimeoutMs > 0 && !a.perTryTimer) {
      a.perTryTimer = new CoarseTimer(() => this.#onPerTryTimeout(a, false), this);
      a.perTryTimer.arm(this.#perTryTimeoutMs);
    }
    this.#armPerTryIdle(a);
  }

  /** `per_try_idle_timeout`: (re)armed when the attempt starts and on each response byte. */
  #armPerTryIdle(a: UpstreamAttempt): void {
    if (this.#perTryIdleTimeoutMs <= 0 || a.done || this.#upgrade) return;
    a.perTryIdleTimer ??= new CoarseTimer(() => this.#onPerTryTimeout(a, true), this);
    a.perTryIdleTimer.arm(this.#perTryIdleTimeoutMs);
  }

  /** Envoy's onPerTryTimeoutCommon: a hedge, a retry, or the end of the request. */
  #onPerTryTimeout(a: UpstreamAttempt, idle: boolean): void {
    if (this.#done || a.done) return;
    if (this.#hedge) {
      this.#onSoftPerTryTimeout(a);
      return;
    }
    const stats = this.#stats!;
    (idle ? stats.rqPerTryIdleTimeout : stats.rqPerTryTimeout).inc();
    if (a.hostStats) a.hostStats.rq_timeout++;
    if (a.host.monitor !== undefined && a.stream !== undefined) {
      putLocalResult(a.host.monitor, TIMEOUT);
    }
    a.reset();
    if (this.#maybeRetryReset("local_reset", a, true)) return;
    if (!this.#responseStarted) this.#chargeCode(this.#timeoutStatus);
    if (a.hostStats) a.hostStats.rq_error++;
    this.#recordUpstreamBytes(a);
    this.#removeAttempt(a);
    this.#timeoutAbort(idle ? "upstream_per_try_idle_timeout" : "upstream_per_try_timeout");
  }

  /** Hedging: the attempt keeps running and another one starts, if retries allow. */
  #onSoftPerTryTimeout(a: UpstreamAttempt): void {
    const retry = this.#retry;
    if (this.#responseStarted || !retry || a.retried) return;
    const status = this.#shouldRetry(true, true);
    if (status === "yes") a.retried = true;
    else this.#flagRetryStatus(status);
  }

  /** The route timeout: every attempt in flight ends, 504 (204 when asked), flag UT. */
  #onResponseTimeout(): void {
    if (this.#done) return;
    const stats = this.#stats!;
    for (const a of this.#attempts) {
      stats.rqTimeout.inc();
      if (a.hostStats) a.hostStats.rq_timeout++;
      if (a.host.monitor !== undefined && a.stream !== undefined) {
        putLocalResult(a.host.monitor, TIMEOUT);
      }
      if (a.awaitingHeaders && !this.#responseStarted) {
        this.#chargeCode(this.#timeoutStatus);
        if (a.hostStats) a.hostStats.rq_error++;
      }
    }
    this.#timeoutAbort("upstream_response_timeout");
  }

  #timeoutAbort(details: string): void {
    this.#cb.streamInfo.setFlag("UT");
    const status = this.#timeoutStatus;
    this.#fail(status, status === 204 ? "" : "upstream request timeout", details);
  }

  #clearTimer(): void {
    this.#timer?.disarm();
    this.#upstreamDurationTimer?.disarm();
    for (const a of this.#attempts) a.clearTimers();
  }

  /** Envoy's upstream max stream duration: armed when the upstream stream is ready. */
  #armUpstreamDuration(): void {
    this.#upstreamDurationTimer = new CoarseTimer(() => {
      if (this.#done) return;
      this.#stats?.rqMaxDurationReached.inc();
      this.#cb.streamInfo.setFlag("UMSDR");
      // 504 once the request is complete, 408 while it is still arriving (or a reset once the
      // response has started).
      this.#fail(
        this.#requestCompleteMs > 0 ? 504 : 408,
        "upstream max stream duration reached",
        "upstream_max_stream_duration_reached",
      );
    }, this);
    this.#upstreamDurationTimer.arm(this.#upstreamDurationMs);
  }
}

/**
 * Envoy's `updateAuthority`: sets `:authority`, first appending the old value to
 * x-forwarded-host when the route says `append_x_forwarded_host` (unless it is already the
 * header's last value).
 */
export function updateAuthority(headers: HeaderMap, host: string, appendXfh: boolean): void {
  const old = headers.get(":authority");
  if (appendXfh && old) {
    const xfh = headers.get("x-forwarded-host");
    if (!xfh || xfh.slice(xfh.lastIndexOf(",") + 1) !== old) {
      headers.append("x-forwarded-host", old);
    }
  }
  headers.set(":authority", host);
}

/**
 * Envoy's route timeout for a gRPC request on a route with `max_grpc_timeout`: the
 * `grpc-timeout` header (0 when absent) less `grpc_timeout_offset` when that leaves something,
 * capped by `max_grpc_timeout` unless that is 0; 0 means no timeout.
 */
export function grpcRouteTimeoutMs(
  r: { readonly maxGrpcTimeoutMs?: number; readonly grpcTimeoutOffsetMs?: number },
  grpcTimeoutHeader: string | undefined,
): number {
  const max = r.maxGrpcTimeoutMs ?? 0;
  let t = grpcTimeoutMs(grpcTimeoutHeader) ?? 0;
  const offset = r.grpcTimeoutOffsetMs;
  if (offset !== undefined && offset < t) t -= offset;
  if (max !== 0 && (t === 0 || t > max)) t = max;
  return t;
}

/** The router factory's per-stream constructor. */
export function routerFilterFactory(
  server: ServerContext,
  statPrefix: string,
  config: RouterConfig = { suppressEnvoyHeaders: false },
) {
  // http.<stat_prefix>.no_route and friends: the router shares its connection manager's prefix.
  const stats = new RouterStats(server.stats.scope(statPrefix));
  return (cb: StreamFilterCallbacks) => ({ decoder: new RouterFilter(cb, server, stats, config) });
}

/**
 * The SNI and SAN to check for a cluster with auto_sni / auto_san_validation: the host of the
 * request header (`:authority` without its port, or override_auto_sni_header); none for an IP
 * address or a missing header.
 */
function autoSniTarget(
  cfg: NonNullable<ClusterInfo["autoSni"]>,
  headers: HeaderMap,
): { sni?: string; verifySan?: string } | undefined {
  const value = headers.get(cfg.header);
  if (!value) return undefined;
  const host = value.startsWith("[")
    ? value.slice(0, value.indexOf("]") + 1)
    : value.replace(/:\d+$/, "");
  if (isIP(host.replace(/^\[|\]$/g, ""))) return undefined;
  return {
    ...(cfg.sni ? { sni: host } : {}),
    ...(cfg.sanValidation ? { verifySan: host } : {}),
  };
}
