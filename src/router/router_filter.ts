/**
 * The router filter (`envoy.filters.http.router`): the terminal HTTP filter. It answers direct
 * responses and redirects, picks the cluster and a host, rewrites the request as the route
 * says, forwards it over a pooled upstream connection and streams the response back, with
 * Envoy's timeouts, response flags, local replies and `x-envoy-*` headers.
 */
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
import type { MessageHead } from "../http/http1/parser.ts";
import type { ResponseFlagName } from "../stream_info/stream_info.ts";
import type {
  PendingRequest,
  UpstreamCallbacks,
  UpstreamFailure,
  UpstreamStream,
} from "../upstream/conn_pool.ts";
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

/** One request's router. */
export class RouterFilter implements StreamDecoderFilter, UpstreamCallbacks {
  #cb: StreamFilterCallbacks;
  #route: MatchedRoute | undefined;
  #upstream: UpstreamStream | undefined;
  #pending: PendingRequest | undefined;
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
  /** x-envoy-upstream-rq-per-try-timeout-ms: the one attempt's own timeout (0 = none). */
  #perTryTimeoutMs = 0;
  #perTryTimer: CoarseTimer | undefined;
  /** x-envoy-upstream-rq-timeout-alt-response: a timeout answers 204 instead of 504. */
  #timeoutStatus = 504;
  #startMs = 0;
  /** When the downstream request completed (performance.now()), or 0 while it has not. */
  #requestCompleteMs = 0;
  /** Copies of the request body kept for an internal redirect; undefined when not buffering. */
  #redirectBody: Uint8Array[] | undefined;
  #redirectBodyBytes = 0;
  /** The body outgrew the buffer limit: an internal redirect can no longer replay it. */
  #redirectOverflow = false;
  #responseStarted = false;
  #done = false;
  #upgrade = false;
  /** The balancer and host this request counts against (least-request bookkeeping). */
  #lb: LoadBalancer | undefined;
  #stats: ClusterStats | undefined;
  /** The chosen host's stats on this worker (Envoy's per-host rq_success, rq_error, ...). */
  #hostStats: HostStats | undefined;
  #host: HostDescription | undefined;
  /** Set-Cookie values a cookie hash policy generated, for the response. */
  #setCookies: string[] | undefined;
  /** The request came from an internal address: Envoy charges `internal.*` code stats. */
  #internal = false;
  /** x-envoy-upstream-alt-stat-name: codes are also charged under this name. */
  #alt: AltCodeStats | undefined;
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
    const host = lb?.chooseHost(
      hashKey === undefined && !metadataMatch && !originalDst
        ? undefined
        : { hashKey, metadataMatch, ...(originalDst ? { downstreamHeaders: headers } : {}) },
    );
    if (!lb || !host) {
      stats.cxNoneHealthy.inc();
      this.#chargeCode(503);
      si.setFlag("UH");
      cb.sendLocalReply(503, "no healthy upstream", { details: "no_healthy_upstream" });
      return "stop";
    }
    lb.requestStarted(host);
    this.#lb = lb;
    this.#host = host;
    si.upstreamHost = hostKey(host);
    si.upstreamHostDescription = host;

    const envoyHeaders = !this.config.suppressEnvoyHeaders;
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
    if (control) this.#consumeControlHeaders(headers, !respectExpected);
    const expected = this.#perTryTimeoutMs || this.#timeoutMs;
    if (expected > 0 && envoyHeaders) {
      headers.set("x-envoy-expected-rq-timeout-ms", String(expected));
    }
    // The upstream learns the timeout in force.
    if (this.#timeoutMs > 0 && grpcTimeout) {
      headers.set("grpc-timeout", toGrpcTimeout(this.#timeoutMs));
    }
    this.#upstreamDurationMs = cluster.info.maxStreamDurationMs;
    const duration = headers.get("x-envoy-upstream-stream-duration-ms");
    if (duration !== undefined) {
      if (/^\d+$/.test(duration)) this.#upstreamDurationMs = Number(duration);
      headers.remove("x-envoy-upstream-stream-duration-ms");
    }

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
    this.#requestHeaders = headers;
    this.#upgrade = headers.has("upgrade");
    this.#heldEnd = endStream;
    if (r.internalRedirectPolicy && !this.#upgrade) this.#redirectBody = [];
    this.#startMs = monotonicNow();
    if (endStream) this.#onRequestComplete();
    if (r.requestMirrorPolicies.length > 0) {
      this.#shadows = startShadows(
        this.server,
        mirrorPolicies(r.requestMirrorPolicies),
        headers,
        endStream,
        this.#timeoutMs,
        cb.decoderBufferLimit,
      );
    }
    const pool = this.server.pools.pool(cluster.info, host.address, host.port);
    si.attemptCount = (si.attemptCount ?? 0) + 1;
    this.#hostStats = pool.stats;
    // Outlier detection and health check intervals learn of traffic (clusters with either).
    if (host.monitor !== undefined) recordTraffic(host.monitor);
    this.#pending = pool.newStream(this);
    return "stop";
  }

  /**
   * The timeout and retry headers of a trusted client (the connection manager removed them
   * from external requests): the router honours what it implements and, as Envoy's router
   * does, consumes them all so that they never reach the upstream.
   */
  #consumeControlHeaders(headers: HeaderMap, applyTimeout: boolean): void {
    const override = headers.get("x-envoy-upstream-rq-timeout-ms");
    if (override !== undefined) {
      if (applyTimeout && /^\d+$/.test(override)) this.#timeoutMs = Number(override);
      headers.remove("x-envoy-upstream-rq-timeout-ms");
    }
    const perTry = headers.get("x-envoy-upstream-rq-per-try-timeout-ms");
    if (perTry !== undefined) {
      if (/^\d+$/.test(perTry)) this.#perTryTimeoutMs = Number(perTry);
      headers.remove("x-envoy-upstream-rq-per-try-timeout-ms");
      // A per-try timeout not below the global one is ignored, as in Envoy.
      if (this.#timeoutMs > 0 && this.#perTryTimeoutMs >= this.#timeoutMs) {
        this.#perTryTimeoutMs = 0;
      }
    }
    if (headers.remove("x-envoy-upstream-rq-timeout-alt-response") > 0) this.#timeoutStatus = 204;
    headers.removeIf(isConsumed);
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.#done) return "stopNoBuffer";
    if (this.#redirectBody && data.length > 0) this.#bufferForRedirect(data);
    if (this.#shadows) this.#shadowData(data, endStream);
    if (endStream) this.#onRequestComplete();
    if (this.#upstream) {
      if (endStream) this.#startPerTryTimer();
      this.#upstream.encodeData(data, endStream);
      this.#cb.streamInfo.mark("firstUpstreamTxByteSent");
      if (endStream) this.#cb.streamInfo.mark("lastUpstreamTxByteSent");
      // Upstream flow control: stop reading downstream while the upstream buffer is full.
      if (!this.#upstream.writable()) this.#cb.readDisableDownstream(true);
    } else {
      this.#held.push(data);
      this.#heldEnd = endStream;
    }
    return "stopNoBuffer";
  }

  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    this.#onRequestComplete();
    if (this.#shadows) {
      for (const s of this.#shadows) s.encodeTrailers(trailers);
      this.#shadows = undefined;
    }
    if (this.#upstream) {
      this.#startPerTryTimer();
      this.#upstream.encodeTrailers(trailers);
    } else this.#heldTrailers = trailers;
    return "stop";
  }

  onDestroy(): void {
    // Downstream went away (or the stream finished): cancel whatever is in flight upstream.
    this.#recordUpstreamBytes();
    this.#done = true;
    this.#clearTimer();
    if (this.#shadows) { for (const s of this.#shadows) s.cancel(); }
    this.#pending?.cancel();
    this.#upstream?.reset();
    if (this.#host) this.#lb!.requestFinished(this.#host);
    this.#host = undefined;
  }

  // ---- upstream callbacks ----

  onReady(stream: UpstreamStream): void {
    if (this.#done) {
      stream.reset();
      return;
    }
    this.#upstream = stream;
    this.#pending = undefined;
    const monitor = this.#host?.monitor;
    if (monitor !== undefined) putLocalResult(monitor, CONNECT_SUCCESS);
    const si = this.#cb.streamInfo;
    si.upstreamLocalAddress = stream.localAddress;
    si.upstreamRemoteAddress = stream.remoteAddress;
    si.upstreamConnectionId = stream.connectionId;
    si.upstreamProtocol = "HTTP/1.1";
    const t = si.timings;
    // Connection times belong to the connection: on a reused one they precede this request.
    t.upstreamConnectStart = stream.pc.connectStart - si.startMonotonic;
    t.upstreamConnectComplete = stream.pc.connectComplete - si.startMonotonic;
    t.connectionPoolReadyLatency = monotonicNow() - this.#startMs;
    if (this.#upstreamDurationMs > 0) this.#armUpstreamDuration();
    const bodyLess = this.#heldEnd && this.#held.length === 0 && !this.#heldTrailers;
    stream.encodeHeaders(this.#requestHeaders, bodyLess);
    si.mark("firstUpstreamTxByteSent");
    if (!bodyLess) {
      const held = this.#held;
      this.#held = [];
      for (let i = 0; i < held.length; i++) {
        stream.encodeData(held[i], this.#heldEnd && i === held.length - 1 && !this.#heldTrailers);
      }
      if (held.length === 0 && this.#heldEnd && !this.#heldTrailers) stream.encodeData(EMPTY, true);
      if (this.#heldTrailers) stream.encodeTrailers(this.#heldTrailers);
    }
    if (this.#heldEnd) si.mark("lastUpstreamTxByteSent");
    if (this.#heldEnd || this.#heldTrailers) this.#startPerTryTimer();
  }

  onFailure(reason: UpstreamFailure, detail: string): void {
    if (this.#done) return;
    this.#pending = undefined;
    const f = FAILURES[reason];
    const si = this.#cb.streamInfo;
    if (!this.#responseStarted) this.#chargeCode(f.status);
    if (this.#hostStats) this.#hostStats.rq_error++;
    const monitor = this.#host?.monitor;
    // A connect failure or reset counts against the host; an overflow or our own reset not.
    if (monitor !== undefined && reason !== "overflow" && reason !== "local_reset") {
      putLocalResult(monitor, CONNECT_FAILED);
    }
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
      `upstream connect error or disconnect/reset before headers. reset reason: ${f.reason}` +
        (transport ? `, transport failure reason: ${transport}` : ""),
      `upstream_reset_${started}_response_started{${f.reason}${transport ? "|" + transport : ""}}`
        .replaceAll(" ", "_"),
    );
  }

  #fail(status: number, body: string, details: string): void {
    this.#recordUpstreamBytes();
    this.#done = true;
    this.#clearTimer();
    this.#upstream?.reset();
    this.#upstream = undefined;
    if (this.#responseStarted) {
      this.routerStats.rqResetAfterDownstreamResponseStarted.inc();
      // The reset's details replace the response's (via_upstream), as Envoy's local reply does.
      this.#cb.streamInfo.responseCodeDetails = details;
      this.#cb.resetStream(details);
    } else this.#cb.sendLocalReply(status, body, { details });
  }

  onResponseHeaders(headers: HeaderMap, _head: MessageHead, endStream: boolean): void {
    if (this.#done) return;
    const status = Number(headers.get(":status"));
    const si = this.#cb.streamInfo;
    si.mark("firstUpstreamRxByteReceived");
    if (status >= 100 && status < 200 && status !== 101) {
      // 100-continue is forwarded; other 1xx are swallowed, as Envoy does by default.
      if (status === 100) this.#cb.encodeHeaders(headers, false);
      return;
    }
    const policy = this.#route!.route.internalRedirectPolicy;
    if (policy?.redirectResponseCodes.has(status) && this.#setupRedirect(headers, status)) return;
    this.#responseStarted = true;
    si.responseCodeDetails = "via_upstream";
    const now = monotonicNow();
    const elapsed = now - this.#startMs;
    const stats = this.#stats;
    if (stats) {
      this.#chargeCode(status);
      stats.responseTime(elapsed, this.#internal);
      this.#alt?.responseTime(elapsed, this.#internal);
    }
    if (this.#hostStats) {
      if (status >= 500) this.#hostStats.rq_error++;
      else this.#hostStats.rq_success++;
    }
    const monitor = this.#host?.monitor;
    if (monitor !== undefined) {
      putHttpStatus(monitor, status);
      if (monitor[ACTIVE_HC] === 1 && headers.has("x-envoy-immediate-health-check-fail")) {
        putImmediateHealthCheckFail(monitor);
      }
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
    if (this.#setCookies) { for (const c of this.#setCookies) headers.add("set-cookie", c); }
    applyResponseHeaderMutations(this.#route!, headers, this.#requestHeaders, si);
    if (endStream) this.#finishUpstream();
    this.#cb.encodeHeaders(headers, endStream);
  }

  onResponseData(data: Uint8Array, endStream: boolean): void {
    if (this.#done && !endStream) return;
    if (data.length > 0) this.#cb.streamInfo.mark("firstUpstreamRxBodyByteReceived");
    if (endStream) this.#finishUpstream();
    this.#cb.encodeData(data, endStream);
    // Downstream flow control: a slow client pauses reading from the upstream.
    const up = this.#upstream;
    if (!endStream && up && !this.#cb.downstreamWritable()) {
      up.readDisable(true);
      this.#cb.onDownstreamWritable(() => up.readDisable(false));
    }
  }

  onResponseTrailers(trailers: HeaderMap): void {
    if (this.#done) return;
    this.#finishUpstream();
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

  /** Copies the upstream stream's byte counts to StreamInfo (before the stream is dropped). */
  #recordUpstreamBytes(): void {
    const up = this.#upstream;
    if (!up) return;
    const si = this.#cb.streamInfo;
    si.upstreamWireBytesSent = up.wireBytesSent;
    si.upstreamWireBytesReceived = up.wireBytesReceived;
    si.upstreamHeaderBytesSent = up.headerBytesSent;
    si.upstreamHeaderBytesReceived = up.headerBytesReceived;
  }

  #finishUpstream(): void {
    this.#clearTimer();
    this.#cb.streamInfo.mark("lastUpstreamRxByteReceived");
  }

  /** Request body for the shadows; they are on their own once the request ended. */
  #shadowData(data: Uint8Array, endStream: boolean): void {
    for (const s of this.#shadows!) s.encodeData(data, endStream);
    if (endStream) this.#shadows = undefined;
  }

  // ---- internal redirects ----

  #onRequestComplete(): void {
    if (this.#requestCompleteMs === 0) this.#requestCompleteMs = monotonicNow();
    this.#startTimer();
  }

  /** Keeps a copy of request data an internal redirect may replay, up to the buffer limit. */
  #bufferForRedirect(data: Uint8Array): void {
    this.#redirectBodyBytes += data.length;
    if (this.#redirectBodyBytes > this.#cb.decoderBufferLimit) {
      // Envoy gives up on the redirect (and on retries) rather than buffer more.
      this.#stats?.retryOrShadowAbandoned.inc();
      this.#redirectBody = undefined;
      this.#redirectOverflow = true;
      return;
    }
    this.#redirectBody!.push(data.slice());
  }

  /**
   * Envoy's `setupRedirect`: follows the upstream 3xx when the request is complete, its body
   * buffered and the Location usable, by recreating the stream with the redirected request.
   * Returns false (the 3xx then goes downstream) when any condition fails.
   */
  #setupRedirect(response: HeaderMap, status: number): boolean {
    const location = response.get("location");
    if (
      this.#requestCompleteMs > 0 && !this.#redirectOverflow && location !== undefined &&
      !this.#upgrade && this.#convertRequestForRedirect(response, location, status)
    ) {
      const body = this.#redirectBody;
      this.#stats?.upstreamInternalRedirectSucceeded.inc();
      this.#finishUpstream();
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
      this.#redirectBody = undefined;
    }
    state.count++;
    headers.set(
      "x-envoy-original-url",
      `${schemeIsHttp ? "http" : "https"}://${saved.get(":authority") ?? ""}${path}`,
    );
    return true;
  }

  // ---- timeout ----

  #startTimer(): void {
    if (this.#timeoutMs <= 0 || this.#timer || this.#upgrade) return;
    this.#timer = new CoarseTimer(() => {
      this.#stats?.rqTimeout.inc();
      this.#onTimeout("upstream_response_timeout");
    }, this);
    this.#timer.arm(this.#timeoutMs);
  }

  /** The attempt's own timeout runs once its request is complete on an upstream stream. */
  #startPerTryTimer(): void {
    if (this.#perTryTimeoutMs <= 0 || this.#perTryTimer || this.#upgrade) return;
    this.#perTryTimer = new CoarseTimer(() => {
      this.#stats?.rqPerTryTimeout.inc();
      this.#onTimeout("upstream_per_try_timeout");
    }, this);
    this.#perTryTimer.arm(this.#perTryTimeoutMs);
  }

  /** No retries: a timeout ends the request with 504 (204 when the client asked), flag UT. */
  #onTimeout(details: string): void {
    if (this.#done) return;
    this.#cb.streamInfo.setFlag("UT");
    const status = this.#timeoutStatus;
    if (!this.#responseStarted) this.#chargeCode(status);
    if (this.#hostStats) {
      this.#hostStats.rq_timeout++;
      this.#hostStats.rq_error++;
    }
    const monitor = this.#host?.monitor;
    if (monitor !== undefined && this.#upstream !== undefined) putLocalResult(monitor, TIMEOUT);
    this.#pending?.cancel();
    this.#fail(status, status === 204 ? "" : "upstream request timeout", details);
  }

  #clearTimer(): void {
    this.#timer?.disarm();
    this.#upstreamDurationTimer?.disarm();
    this.#perTryTimer?.disarm();
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
