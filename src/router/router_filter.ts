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
import { type ClusterStats, RouterStats } from "../stats/data_path_stats.ts";
import type { LoadBalancer } from "../upstream/load_balancer.ts";
import { applyRequestHeaderMutations, applyResponseHeaderMutations } from "./header_mutation.ts";
import { redirectLocation } from "./redirect.ts";
import { type MatchedRoute, rewritePath } from "./route_table.ts";
import type { HostStats } from "../upstream/host_stats.ts";

const EMPTY = new Uint8Array(0);

/** Envoy's local reply bodies and the flags that go with each upstream failure. */
const FAILURES: Record<
  UpstreamFailure,
  { status: number; flag: ResponseFlagName; reason: string }
> = {
  connection_failure: { status: 503, flag: "UF", reason: "connection failure" },
  connection_timeout: { status: 503, flag: "UF", reason: "connection timeout" },
  connection_termination: { status: 503, flag: "UC", reason: "connection termination" },
  protocol_error: { status: 502, flag: "UPE", reason: "protocol error" },
  local_reset: { status: 503, flag: "LR", reason: "local reset" },
  overflow: { status: 503, flag: "UO", reason: "overflow" },
};

/** Headers an upstream response never passes on (hop-by-hop). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding"]);
const isHopByHop = (name: string) => HOP_BY_HOP.has(name);

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
  #startMs = 0;
  #responseStarted = false;
  #done = false;
  #upgrade = false;
  /** The balancer and host this request counts against (least-request bookkeeping). */
  #lb: LoadBalancer | undefined;
  #stats: ClusterStats | undefined;
  /** The chosen host's stats on this worker (Envoy's per-host rq_success, rq_error, ...). */
  #hostStats: HostStats | undefined;
  #host: HostDescription | undefined;
  /** The request came from an internal address: Envoy charges `internal.*` code stats. */
  #internal = false;

  constructor(
    cb: StreamFilterCallbacks,
    readonly server: ServerContext,
    readonly routerStats: RouterStats,
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
    const lb = this.server.clusterManager.loadBalancer(cluster.info.name);
    const host = lb?.chooseHost();
    if (!lb || !host) {
      stats.cxNoneHealthy.inc();
      stats.chargeCode(503, headers.get("x-envoy-internal") === "true");
      si.setFlag("UH");
      cb.sendLocalReply(503, "no healthy upstream", { details: "no_healthy_upstream" });
      return "stop";
    }
    lb.requestStarted(host);
    this.#lb = lb;
    this.#host = host;
    this.#internal = headers.get("x-envoy-internal") === "true";
    si.upstreamHost = hostKey(host);
    si.upstreamHostDescription = host;

    // Timeout: the route's, unless a trusted x-envoy-upstream-rq-timeout-ms overrides it.
    this.#timeoutMs = r.timeoutMs;
    const override = headers.get("x-envoy-upstream-rq-timeout-ms");
    if (override !== undefined && /^\d+$/.test(override)) this.#timeoutMs = Number(override);
    headers.remove("x-envoy-upstream-rq-timeout-ms");
    if (this.#timeoutMs > 0) headers.set("x-envoy-expected-rq-timeout-ms", String(this.#timeoutMs));

    const newPath = rewritePath(m, headers);
    if (newPath !== undefined) {
      headers.set("x-envoy-original-path", headers.get(":path") ?? "");
      headers.set(":path", newPath);
    }
    const literal = m.weightedCluster?.hostRewriteLiteral ?? r.hostRewriteLiteral;
    if (literal) headers.set(":authority", literal);
    else if (r.autoHostRewrite && host.hostname) headers.set(":authority", host.hostname);
    else if (r.hostRewriteHeader) {
      const v = headers.get(r.hostRewriteHeader.toLowerCase());
      if (v) headers.set(":authority", v);
    }
    applyRequestHeaderMutations(m, headers, si);
    this.#requestHeaders = headers;
    this.#upgrade = headers.has("upgrade");
    this.#heldEnd = endStream;
    if (endStream) this.#startTimer();
    this.#startMs = performance.now();
    const pool = this.server.pools.pool(cluster.info, host.address, host.port);
    si.attemptCount = (si.attemptCount ?? 0) + 1;
    this.#hostStats = pool.stats;
    this.#pending = pool.newStream(this);
    return "stop";
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.#done) return "stopNoBuffer";
    if (endStream) this.#startTimer();
    if (this.#upstream) {
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
    this.#startTimer();
    if (this.#upstream) this.#upstream.encodeTrailers(trailers);
    else this.#heldTrailers = trailers;
    return "stop";
  }

  onDestroy(): void {
    // Downstream went away (or the stream finished): cancel whatever is in flight upstream.
    this.#recordUpstreamBytes();
    this.#done = true;
    this.#clearTimer();
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
    const si = this.#cb.streamInfo;
    si.upstreamLocalAddress = stream.localAddress;
    si.upstreamRemoteAddress = stream.remoteAddress;
    si.upstreamConnectionId = stream.connectionId;
    si.upstreamProtocol = "HTTP/1.1";
    const t = si.timings;
    // Connection times belong to the connection: on a reused one they precede this request.
    t.upstreamConnectStart = stream.pc.connectStart - si.startMonotonic;
    t.upstreamConnectComplete = stream.pc.connectComplete - si.startMonotonic;
    t.connectionPoolReadyLatency = performance.now() - this.#startMs;
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
  }

  onFailure(reason: UpstreamFailure, detail: string): void {
    if (this.#done) return;
    this.#pending = undefined;
    const f = FAILURES[reason];
    const si = this.#cb.streamInfo;
    if (!this.#responseStarted) this.#stats?.chargeCode(f.status, this.#internal);
    if (this.#hostStats) this.#hostStats.rq_error++;
    si.setFlag(f.flag);
    si.upstreamTransportFailureReason = reason.startsWith("connection_f") ||
        reason === "connection_timeout"
      ? detail
      : undefined;
    this.#fail(
      f.status,
      `upstream connect error or disconnect/reset before headers. reset reason: ${f.reason}`,
      `upstream_reset_before_response_started{${reason}}`,
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
    this.#responseStarted = true;
    si.responseCodeDetails = "via_upstream";
    const elapsed = performance.now() - this.#startMs;
    const stats = this.#stats;
    if (stats) {
      stats.chargeCode(status, this.#internal);
      stats.responseTime(elapsed, this.#internal);
    }
    if (this.#hostStats) {
      if (status >= 500) this.#hostStats.rq_error++;
      else this.#hostStats.rq_success++;
    }
    if (status !== 101) headers.removeIf(isHopByHop);
    headers.set(
      "x-envoy-upstream-service-time",
      String(Math.round(elapsed)),
    );
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

  // ---- timeout ----

  #startTimer(): void {
    if (this.#timeoutMs <= 0 || this.#timer || this.#upgrade) return;
    this.#timer = new CoarseTimer(() => {
      if (this.#done) return;
      this.#cb.streamInfo.setFlag("UT");
      this.#stats?.rqTimeout.inc();
      if (!this.#responseStarted) this.#stats?.chargeCode(504, this.#internal);
      if (this.#hostStats) {
        this.#hostStats.rq_timeout++;
        this.#hostStats.rq_error++;
      }
      this.#pending?.cancel();
      this.#fail(504, "upstream request timeout", "upstream_response_timeout");
    }, this);
    this.#timer.arm(this.#timeoutMs);
  }

  #clearTimer(): void {
    this.#timer?.disarm();
  }
}

/** The router factory's per-stream constructor. */
export function routerFilterFactory(server: ServerContext, statPrefix: string) {
  // http.<stat_prefix>.no_route and friends: the router shares its connection manager's prefix.
  const stats = new RouterStats(server.stats.scope(statPrefix));
  return (cb: StreamFilterCallbacks) => ({ decoder: new RouterFilter(cb, server, stats) });
}
