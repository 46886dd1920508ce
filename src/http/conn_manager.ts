/**
 * The HTTP connection manager (Envoy's ConnectionManagerImpl), codec-independent: a server
 * codec (codec.ts; HTTP/1.1 in http1/) turns the connection's bytes into streams, and the HCM
 * runs each stream through the HTTP filters (router last) and applies Envoy's rules: request
 * header sanitizing (x-forwarded-*, x-request-id, x-envoy-* from untrusted clients), path
 * normalization, keep-alive, upgrades, timeouts, drain, stats, access logs and local replies.
 * Any number of streams may be open on a connection (HTTP/1 has one at a time).
 */
import { grpcLocalReplyHeaders } from "./grpc_local_reply.ts";
import {
  appendVia,
  normalizeRequestHeaders,
  type RequestHeadersVerdict,
} from "./request_headers.ts";
import type { ConnectionManagerConfig } from "./conn_manager_config.ts";
import { FilterManager, type StreamSink } from "./filter_manager.ts";
import type { LocalReplyOptions } from "./filter.ts";
import { HeaderMap } from "./header_map.ts";
import type { MetadataMap } from "./http2/metadata.ts";
import { reasonPhrase } from "./http1/reason_phrase.ts";
import {
  CONTINUE_HEADERS,
  type Protocol,
  type RequestHead,
  type ResponseEncoder,
  type ServerConnection,
  type ServerConnectionCallbacks,
  type ServerStream,
  type StreamResetReason,
} from "./codec.ts";
import { detectProtocol, SERVER_CODECS } from "./server_codecs.ts";
import type { DownstreamCodec } from "../stats/data_path_stats.ts";
import type { CloseReason, Connection, ConnectionCallbacks } from "../network/connection.ts";
import type { SslConnectionInfo } from "../network/transport_socket.ts";
import type { ConnectionContext } from "../network/filter.ts";
import type { MatchedRoute, RouteTable } from "../router/route_table.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import type { AccessLogType } from "../formatter/provider.ts";
import type { Any } from "@bufbuild/protobuf/wkt";
import { CoarseTimer } from "../common/coarse_timer.ts";
import { getLogger } from "../common/logger.ts";
import { drainManager } from "../server/drain_manager.ts";
import { overloadState, TimerType } from "../server/overload_state.ts";

const CONNECTION_IDLE = TimerType.httpDownstreamConnectionIdle;
const STREAM_IDLE = TimerType.httpDownstreamStreamIdle;
import { INTERNAL_REDIRECT_STATE } from "../router/internal_redirect.ts";
import { isGrpc, streamDurationMs } from "./stream_duration.ts";
import { BUG_DETAILS, reportBug } from "../common/error_boundary.ts";
import { monotonicNow } from "../common/monotonic_time.ts";
import { PrematureResetTracker } from "./http2/premature_reset.ts";

const log = getLogger("http");
const encoder = new TextEncoder();

/** The encoder of a stream that never reaches the codec (request_headers_timeout): unused. */
const DETACHED_ENCODER: ResponseEncoder = {
  encode1xxHeaders() {},
  encodeHeaders() {},
  encodeData() {},
  encodeTrailers() {},
  setRequestDecoder() {},
  resetStream() {},
  readDisable() {},
  aboveHighWatermark: false,
  bufferLimit: 0,
  responseHeadersBytes: 0,
};

/** One request/response exchange (Envoy's ActiveStream). */
class ActiveStream implements StreamSink, ServerStream {
  readonly streamInfo = new StreamInfo();
  readonly fm: FilterManager;
  requestHeaders!: HeaderMap;
  /** The request's protocol version. */
  version: Protocol = "HTTP/1.1";
  #route: MatchedRoute | undefined | null = null;
  /** The response has no body (HEAD, 204, 304, a stray 101). */
  noBody = false;
  /** The connection closes after this stream's response. */
  closeAfter = false;
  responseDone = false;
  requestDone = false;
  upgraded = false;
  /** The HCM reset this stream itself: not a client's reset (premature reset accounting). */
  internallyReset = false;
  /** Whether downstream_rq_total counted this stream (codec errors before a head are not). */
  counted = false;
  /** Waiting for the downstream to drain; made when a filter first waits. */
  #writableCbs: (() => void)[] | undefined;
  #timer: CoarseTimer | undefined;
  /** access_log_flush_interval: periodic access log entries while the stream lives. */
  logTimer: CoarseTimer | undefined;
  lastActivity = monotonicNow();
  /** The stream idle timeout in force: the HCM's, or the route's `idle_timeout` once routed. */
  idleTimeoutMs: number;
  /** When max_stream_duration runs out (performance.now() time); Infinity when it does not. */
  #durationDeadline = Infinity;
  /** A route changed the idle timeout or stream duration: later routes recompute them. */
  #routeTimers = false;
  /** The connection's open streams, as an intrusive list (no allocation per stream). */
  prev: ActiveStream | undefined;
  next: ActiveStream | undefined;

  /**
   * @param encoder the codec's side of the stream.
   * @param previous the stream this one replays (internal redirect): its start, protocol and
   *   bytes received carry over.
   */
  constructor(
    readonly cm: ConnectionManager,
    readonly encoder: ResponseEncoder,
    previous?: StreamInfo,
  ) {
    if (previous) this.streamInfo.setFromForRecreateStream(previous);
    const si = this.streamInfo;
    const c = cm.conn;
    si.downstreamRemoteAddress = c.remoteAddress;
    si.downstreamDirectRemoteAddress = c.directRemoteAddress;
    si.downstreamDirectLocalAddress = c.directLocalAddress;
    si.downstreamLocalAddress = c.localAddress;
    si.connectionId = c.id;
    si.requestedServerName = cm.ctx.requestedServerName ?? (c.ssl?.serverName || undefined);
    si.downstreamTls = c.ssl;
    si.ja3Hash = cm.ctx.ja3;
    si.ja4Hash = cm.ctx.ja4;
    si.filterChain = cm.ctx.filterChain;
    this.fm = new FilterManager(this, cm.cfg.filterFactories);
    this.idleTimeoutMs = cm.cfg.streamIdleTimeoutMs;
    if (cm.cfg.maxStreamDurationMs > 0) {
      this.#durationDeadline = si.startMonotonic + cm.cfg.maxStreamDurationMs;
    }
    this.#armTimer();
  }

  /** Arms the stream timer for the earliest of its deadlines (idle, request, duration). */
  #armTimer(): void {
    const now = monotonicNow();
    const cfg = this.cm.cfg;
    const idleMs = overloadState().scaledTimeout(STREAM_IDLE, this.idleTimeoutMs);
    const next = Math.min(
      // reduce_timeouts: looked at again as the scale changes (#onTimer re-arms).
      idleMs
        ? Math.min(this.lastActivity + idleMs - now, overloadState().rescaleCheckMs(STREAM_IDLE))
        : Infinity,
      cfg.requestTimeoutMs && !this.requestDone
        ? this.streamInfo.startMonotonic + cfg.requestTimeoutMs - now
        : Infinity,
      this.#durationDeadline - now,
    );
    if (next === Infinity) {
      this.#timer?.disarm();
      return;
    }
    this.#timer ??= new CoarseTimer(() => this.#onTimer(), this);
    this.#timer.arm(Math.max(1, next));
  }

  /** A newly selected route may bring its own idle timeout and stream duration limit. */
  #refreshRouteTimeouts(): void {
    const r = this.#route?.route;
    if (r?.action !== "route") return;
    // Nothing to change while no route has touched the connection manager's settings.
    if (r.idleTimeoutMs === undefined && r.maxStreamDuration === undefined && !this.#routeTimers) {
      return;
    }
    this.#routeTimers = true;
    if (r.idleTimeoutMs !== undefined) this.idleTimeoutMs = r.idleTimeoutMs;
    const cfg = this.cm.cfg;
    const d = streamDurationMs(r.maxStreamDuration, cfg.maxStreamDurationMs, this.requestHeaders);
    this.#durationDeadline = d === undefined ? Infinity : this.streamInfo.startMonotonic + d;
    this.#armTimer();
  }

  /** The downstream connection, as filters see it (its id, addresses and TLS facts). */
  get connection(): {
    id: number;
    remoteAddress: string;
    localAddress: string;
    ssl?: SslConnectionInfo;
  } {
    return this.cm.conn;
  }

  #onTimer(): void {
    if (this.responseDone) return;
    const now = monotonicNow();
    const cfg = this.cm.cfg;
    const elapsed = now - this.streamInfo.startMonotonic;
    if (cfg.requestTimeoutMs && !this.requestDone && elapsed >= cfg.requestTimeoutMs) {
      cfg.stats.rqTimeout.inc();
      this.localReply(408, "request timeout", { details: "request_overall_timeout" });
      return;
    }
    if (now >= this.#durationDeadline) {
      cfg.stats.rqMaxDurationReached.inc();
      // Envoy: 504 once the request is complete, 408 while it is still arriving.
      this.localReply(this.requestDone ? 504 : 408, "downstream duration timeout", {
        details: "max_duration_timeout",
      });
      return;
    }
    const idleFor = now - this.lastActivity;
    const idleMs = overloadState().scaledTimeout(STREAM_IDLE, this.idleTimeoutMs);
    if (idleMs && idleFor >= idleMs) {
      this.streamInfo.setFlag("SI");
      cfg.stats.rqIdleTimeout.inc();
      if (this.fm.responseStarted) this.reset("stream_idle_timeout");
      else {
        // Envoy's maybeRequestTimeoutCode: 408 while the request is still coming in, 504 once
        // it is complete (then it is the upstream side that is slow).
        this.localReply(this.requestDone ? 504 : 408, "stream timeout", {
          details: "stream_idle_timeout",
        });
      }
      return;
    }
    this.#armTimer();
  }

  route(): MatchedRoute | undefined {
    if (this.#route === null) {
      const scopes = this.cm.cfg.scopes;
      const table = scopes === undefined
        ? this.cm.cfg.routeTable
        : scopes.table(this.requestHeaders);
      this.#route = table?.route({
        headers: this.requestHeaders,
        random: (Math.random() * 0x100000000) >>> 0,
      });
      this.streamInfo.route = this.#route;
      this.#refreshRouteTimeouts();
    }
    return this.#route;
  }

  clearRouteCache(): void {
    this.#route = null;
  }

  routeTable(): RouteTable {
    return this.cm.cfg.routeTable;
  }

  onDemandScope(): { scopedRoutes: string; routeConfig: string } | undefined {
    const scopes = this.cm.cfg.scopes;
    const routeConfig = scopes?.scope(this.requestHeaders)?.onDemand;
    return routeConfig === undefined ? undefined : { scopedRoutes: scopes!.name, routeConfig };
  }

  perFilterConfig(name: string): Any | undefined {
    const m = this.route();
    // Each level's map holds its parents' entries (route_entry.ts): the most specific is the
    // weighted cluster's, then the route's.
    return m && (m.weightedCluster?.typedPerFilterConfig ?? m.route.typedPerFilterConfig).get(name);
  }

  /** Envoy's local reply: a small text response, through the encoder filters. */
  localReply(status: number, body: string, opts?: LocalReplyOptions): void {
    if (this.responseDone) return;
    const si = this.streamInfo;
    si.responseCodeDetails = opts?.details ?? si.responseCodeDetails;
    si.localReplyBody = body;
    if (this.fm.responseStarted) {
      this.reset(opts?.details ?? "local_reply_after_response_started");
      return;
    }
    this.fm.localReplied = true;
    const h = new HeaderMap([":status", String(status)]);
    const reply = { status, body, contentType: "text/plain" };
    const rules = this.cm.cfg.localReply;
    if (!rules.empty) {
      si.responseCode = status;
      rules.apply(reply, h, {
        requestHeaders: this.requestHeaders,
        responseHeaders: h,
        streamInfo: si,
      });
      h.set(":status", String(reply.status));
    }
    const req = this.requestHeaders;
    if (req !== undefined && isGrpc(req)) {
      // Envoy answers a gRPC request with a trailers-only gRPC error instead.
      const g = grpcLocalReplyHeaders(
        reply.status,
        reply.body,
        opts?.grpcStatus,
        req.get(":method") === "HEAD",
      );
      // Headers a local_reply_config mapper added go along.
      for (const [k, v] of h.entries()) if (k !== ":status" && !g.has(k)) g.add(k, v);
      opts?.modifyHeaders?.(g);
      g.remove("content-length");
      this.fm.encodeHeaders(g, true);
      return;
    }
    const bytes = encoder.encode(reply.body);
    if (bytes.length > 0) {
      h.add("content-length", String(bytes.length));
      h.add("content-type", reply.contentType);
    } else h.add("content-length", "0");
    opts?.modifyHeaders?.(h);
    this.fm.encodeHeaders(h, bytes.length === 0);
    if (bytes.length > 0) this.fm.encodeData(bytes, true);
  }

  writeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.cm.writeResponseHeaders(this, headers, endStream);
  }

  writeData(data: Uint8Array, endStream: boolean): void {
    this.cm.writeResponseData(this, data, endStream);
  }

  writeTrailers(trailers: HeaderMap): void {
    this.cm.writeResponseTrailers(this, trailers);
  }

  /** Response metadata goes out while the response does, on a codec that carries it. */
  writeMetadata(metadata: MetadataMap): void {
    if (!this.responseDone) this.encoder.encodeMetadata?.(metadata);
  }

  /** Request metadata from the codec goes through the decoder filters (to the router). */
  decodeMetadata(metadata: MetadataMap): void {
    if (this.fm.localReplied || this.fm.destroyed) return;
    this.fm.decodeMetadata(metadata);
  }

  /**
   * BugScope: an exception escaped this stream's code. It ends here — a 500 if nothing was
   * sent yet, else a reset — and the connection closes after it (its state is suspect).
   */
  onBug(): void {
    if (this.responseDone) return;
    this.closeAfter = true;
    this.cm.stopReadingAfterBug();
    if (!this.fm.responseStarted) {
      try {
        this.localReply(500, "", { details: BUG_DETAILS });
        if (this.responseDone) return;
      } catch (e) {
        reportBug("local reply after a bug", e);
      }
    }
    this.reset(BUG_DETAILS);
  }

  reset(details: string): void {
    this.internallyReset = true;
    this.cm.cfg.stats.rqTxReset.inc();
    this.streamInfo.connectionTerminationDetails = details;
    this.streamInfo.responseCodeDetails ??= details;
    this.encoder.resetStream("local_reset");
  }

  readDisable(disable: boolean): void {
    this.encoder.readDisable(disable);
  }

  writable(): boolean {
    return !this.encoder.aboveHighWatermark;
  }

  onWritable(cb: () => void): void {
    (this.#writableCbs ??= []).push(cb);
  }

  get bufferLimit(): number {
    return this.encoder.bufferLimit;
  }

  recreateStream(headers: HeaderMap, body: Uint8Array | undefined): void {
    this.cm.recreateStream(this, headers, body);
  }

  // ---- RequestDecoder and StreamCallbacks (from the codec) ----

  decodeHeaders(headers: HeaderMap, endStream: boolean, head: RequestHead): void {
    this.cm.decodeHeaders(this, headers, endStream, head);
  }

  decodeData(data: Uint8Array, endStream: boolean): void {
    if (this.fm.destroyed) return;
    this.streamInfo.bytesReceived += data.length;
    this.lastActivity = monotonicNow();
    if (endStream) {
      if (this.requestDone) return;
      // HTTP/1 tunnels end with the connection; an HTTP/2 one (extended CONNECT) with its
      // stream, whose last bytes still go through.
      if (this.upgraded) {
        if (this.cm.http1) return;
        if (data.length > 0 && !this.fm.localReplied) this.fm.decodeData(data, false);
        return;
      }
      this.requestDone = true;
      this.streamInfo.mark("lastDownstreamRxByteReceived");
    }
    if (!this.fm.localReplied) this.fm.decodeData(data, endStream);
  }

  decodeTrailers(trailers: HeaderMap): void {
    if (this.requestDone || this.upgraded) return;
    this.requestDone = true;
    this.streamInfo.mark("lastDownstreamRxByteReceived");
    if (this.fm.localReplied || this.fm.destroyed) return;
    this.streamInfo.requestTrailers = trailers;
    this.fm.decodeTrailers(trailers);
  }

  onCodecError(status: number, details: string): void {
    // A request whose head never completed has no headers.
    this.requestHeaders ??= new HeaderMap();
    this.streamInfo.setFlag("DPE");
    this.cm.cfg.stats.cxProtocolError.inc();
    this.requestDone = true;
    this.closeAfter = true;
    // The codec's local reply carries the status text as its body (Envoy's sendProtocolError).
    this.localReply(status, reasonPhrase(status), { details });
  }

  onResetStream(reason: StreamResetReason, details: string): void {
    // A stream the HCM already ended (e.g. with its connection) has nothing left to reset.
    if (this.responseDone) return;
    this.cm.onStreamReset(this, reason, details);
  }

  onBelowWriteBufferLowWatermark(): void {
    if (this.responseDone) return;
    const cbs = this.#writableCbs;
    if (cbs === undefined) return;
    this.#writableCbs = undefined;
    for (const cb of cbs) cb();
  }

  clearTimers(): void {
    this.#timer?.disarm();
    this.logTimer?.disarm();
  }
}

/** One downstream HTTP connection: its codec, its streams, its connection-level timers. */
export class ConnectionManager implements ConnectionCallbacks, ServerConnectionCallbacks {
  #codec: ServerConnection;
  /** The codec is HTTP/1 (one stream at a time; `connection: close` ends the connection). */
  #http1: boolean;

  /** Whether the connection's codec is HTTP/1. */
  get http1(): boolean {
    return this.#http1;
  }
  /** codec_type AUTO: the first bytes choose the codec (Envoy's determineNextProtocol). */
  #detect: boolean;
  /** The codec counted in downstream_cx_http{1,2}_*, once chosen. */
  #counted: DownstreamCodec;
  /** The open streams, oldest first (an intrusive list through ActiveStream.prev/next). */
  #first: ActiveStream | undefined;
  #last: ActiveStream | undefined;
  #closing = false;
  /**
   * HTTP/2 drain: the final GOAWAY went out (drain_timeout after the graceful one), so the
   * connection closes once its last stream is done. Until then it stays open for the streams
   * the client sent before it saw the first GOAWAY.
   */
  #goAwaySent = false;
  /**
   * Envoy's drain sequence has started (`DrainState::Draining`): every response closes the
   * connection, and an idle connection closes when `drain_timeout` runs out.
   */
  #draining = false;
  /** drain_timeout: HTTP/1 from the listener drain; HTTP/2 from the graceful GOAWAY. */
  #drainTimer: CoarseTimer | undefined;
  /** The client closed its side (FIN) or the connection failed: a remote close for the stats. */
  #peerClosed = false;
  #headersTimer: CoarseTimer | undefined;
  #idleTimer: CoarseTimer | undefined;
  /** When the connection last became idle (monotonic ms). */
  #idleSince = 0;
  #durationTimer: CoarseTimer | undefined;
  /** The connection's byte counts when the previous stream ended (per-stream wire bytes). */
  #wireRead = 0;
  #wireWritten = 0;
  /** Streams started on this connection (max_requests_per_connection). */
  #requests = 0;
  /** HTTP/2: the client's stream resets, against rapid reset (CVE-2023-44487). */
  #premature: PrematureResetTracker | undefined;

  constructor(
    readonly conn: Connection,
    readonly cfg: ConnectionManagerConfig,
    readonly ctx: ConnectionContext,
  ) {
    const http2 = cfg.codecType === "HTTP2";
    this.#codec = SERVER_CODECS[http2 ? "HTTP2" : "HTTP1"](conn, this, cfg);
    this.#http1 = !http2;
    this.#detect = cfg.codecType === "AUTO";
    this.#counted = this.#detect ? "none" : http2 ? "http2" : "http1";
    if (http2) this.#premature = new PrematureResetTracker();
    // request_headers_timeout starts with the first byte of a request (onMessageBegin).
    this.#armIdleTimer();
    if (cfg.maxConnectionDurationMs > 0) {
      this.#durationTimer = new CoarseTimer(() => {
        cfg.stats.cxMaxDurationReached.inc();
        this.#drainClose();
      }, this);
      this.#durationTimer.arm(cfg.maxConnectionDurationMs);
    }
    cfg.stats.connectionOpened(this.#counted);
    if (conn.ssl) {
      cfg.stats.cxSslTotal.inc();
      cfg.stats.cxSslActive.inc();
    }
    conn.byteCounters = cfg.stats.cxBytes;
    conn.start(this);
  }

  #armHeadersTimer(): void {
    if (this.cfg.requestHeadersTimeoutMs <= 0 || this.#headersTimer?.armed) return;
    // Slowloris defence: a request's headers must complete within the timeout. Envoy's
    // stream exists from the request's first byte, so the timeout resets a counted stream
    // (access log: DC, request_header_timeout).
    this.#headersTimer ??= new CoarseTimer(() => {
      log.debug(() => `[C${this.conn.id}] request headers timeout`);
      this.cfg.stats.rqHeaderTimeout.inc();
      const s = this.#newStream(DETACHED_ENCODER);
      s.requestHeaders = new HeaderMap();
      s.streamInfo.protocol = "HTTP/1.1";
      s.streamInfo.responseCodeDetails = "request_header_timeout";
      this.conn.close();
    }, this);
    this.#headersTimer.arm(this.cfg.requestHeadersTimeoutMs);
  }

  #clearHeadersTimer(): void {
    this.#headersTimer?.disarm();
  }

  #armIdleTimer(): void {
    if (this.cfg.idleTimeoutMs <= 0) return;
    this.#idleTimer ??= new CoarseTimer(ConnectionManager.#fireIdleTimer, this);
    this.#idleSince = monotonicNow();
    this.#idleTimer.arm(overloadState().timerDelay(CONNECTION_IDLE, this.cfg.idleTimeoutMs, 0));
  }

  /**
   * The idle timer's callback, shared by every connection (`this` is the timer, whose scope is
   * its connection manager): a closure per connection would live as long as the idle
   * connection does.
   */
  static #fireIdleTimer(this: CoarseTimer): void {
    (this.scope as ConnectionManager).#onIdleTimer();
  }

  #onIdleTimer(): void {
    if (this.#first) return;
    // reduce_timeouts may have changed the timeout since the timer was armed.
    const elapsed = monotonicNow() - this.#idleSince;
    const wait = overloadState().timerDelay(CONNECTION_IDLE, this.cfg.idleTimeoutMs, elapsed);
    if (wait > 0) {
      this.#idleTimer!.arm(wait);
      return;
    }
    this.cfg.stats.cxIdleTimeout.inc();
    this.#closeIdle();
  }

  /**
   * Counts a new stream against max_requests_per_connection; the one that reaches it is the
   * last: its response carries `connection: close`, as in Envoy.
   */
  #countRequest(s: ActiveStream): void {
    const max = this.cfg.maxRequestsPerConnection;
    if (max > 0 && ++this.#requests >= max) {
      s.closeAfter = true;
      this.cfg.stats.cxMaxRequestsReached.inc();
    }
  }

  /**
   * max_connection_duration: no new streams; the connection closes once the open ones end
   * (HTTP/2: after the drain sequence, as Envoy's onConnectionDurationTimeout).
   */
  #drainClose(): void {
    if (this.#closing) return;
    if (this.#first === undefined && this.#http1) {
      this.#closeIdle();
      return;
    }
    this.#drainStreams();
  }

  /** Closes a connection with no stream open (HTTP/2: after a GOAWAY). */
  #closeIdle(): void {
    if (this.#http1) {
      this.conn.close();
      return;
    }
    this.#codec.goAway();
    this.conn.closeAfterFlush();
  }

  /**
   * The listener drains: Envoy's `startDrainSequence` for HTTP/1.1. Counted once as a drain
   * close; responses from now on carry `connection: close`; after `drain_timeout` (the second
   * phase, when HTTP/2 would send its final GOAWAY) the connection closes once idle.
   */
  onDrain(): void {
    if (this.#draining || this.#closing) return;
    this.#draining = true;
    this.cfg.stats.cxDrainClose.inc();
    // HTTP/2: the graceful GOAWAY now, the final one drain_timeout later.
    if (!this.#http1) {
      this.#drainStreams();
      return;
    }
    this.#drainTimer = new CoarseTimer(() => this.#drainClose(), this);
    this.#drainTimer.arm(this.cfg.drainTimeoutMs);
  }

  // ---- connection events ----

  onData(chunk: Uint8Array): void {
    if (this.#detect) this.#chooseCodec(chunk);
    this.#codec.dispatch(chunk);
  }

  /** codec_type AUTO: HTTP/2 when the first bytes are its preface, else HTTP/1.1. */
  #chooseCodec(chunk: Uint8Array): void {
    this.#detect = false;
    if (detectProtocol(chunk) === "HTTP2") {
      this.#codec = SERVER_CODECS.HTTP2(this.conn, this, this.cfg);
      this.#http1 = false;
      this.#counted = "http2";
      this.#premature = new PrematureResetTracker();
    } else this.#counted = "http1";
    this.cfg.stats.codecOpened(this.#counted);
  }

  /** The connection will close: the codec reads and parses nothing more. */
  #stopReading(): void {
    this.#codec.stopDispatch();
  }

  onEnd(): void {
    this.#peerClosed = true;
    // Envoy does not enable half-close on HTTP connections: a FIN is a remote close, which
    // resets the stream in flight (DC, downstream_remote_disconnect) and cancels its upstream
    // request, whether or not the request was complete, upgraded streams included (onClose
    // does both).
    this.conn.close();
  }

  onClose(reason: CloseReason): void {
    this.#clearHeadersTimer();
    this.#idleTimer?.disarm();
    this.#durationTimer?.disarm();
    this.#drainTimer?.disarm();
    const active = this.#first !== undefined;
    const remote = reason !== "local" || this.#peerClosed;
    this.cfg.stats.connectionClosed(
      remote,
      active,
      monotonicNow() - this.conn.openedMs,
      this.#counted,
    );
    if (this.conn.ssl) this.cfg.stats.cxSslActive.dec();
    // Every open stream is reset with the connection (Envoy's resetAllStreams).
    for (let s = this.#first; s !== undefined; s = this.#first) {
      // Envoy's onResetStream counts every stream reset as received (rx), whoever closed.
      this.cfg.stats.rqRxReset.inc();
      s.streamInfo.setFlag("DC");
      if (remote) {
        // As Envoy's stream destructor: a remote close names itself in the details.
        s.streamInfo.connectionTerminationDetails ??= "downstream_remote_disconnect";
        s.streamInfo.responseCodeDetails = "downstream_remote_disconnect";
      }
      this.#finishStream(s, true);
    }
    this.#stopReading();
  }

  onWritable(): void {
    this.#codec.onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }

  /**
   * BugScope (for this connection's socket callbacks and timers): an exception escaped while
   * handling this connection. Its stream, if any, ends with a 500 or a reset; nothing more is
   * read, and the connection closes.
   */
  onBug(): void {
    this.#stopReading();
    const s = this.#first;
    if (s === undefined) {
      this.conn.close();
      return;
    }
    for (let n: ActiveStream | undefined = s; n !== undefined;) {
      const next: ActiveStream | undefined = n.next;
      n.onBug();
      n = next;
    }
  }

  /**
   * A stream hit a bug: the requests behind it are not parsed (the parser may be mid-way). On
   * HTTP/2 the connection's streams end with it, and the connection closes.
   */
  stopReadingAfterBug(): void {
    this.#stopReading();
    if (!this.#http1) this.conn.close();
  }

  /** ServerConnectionCallbacks: the codec closes a connection that broke the protocol. */
  onCodecProtocolError(): void {
    this.cfg.stats.cxProtocolError.inc();
  }

  // ---- codec events ----

  /** ServerConnectionCallbacks: a request stream begins on the codec. */
  newStream(encoder: ResponseEncoder): ServerStream {
    const s = this.#newStream(encoder);
    s.version = this.#codec.protocol;
    s.streamInfo.protocol = s.version;
    return s;
  }

  /** ServerConnectionCallbacks: a request starts arriving while no stream is open. */
  onMessageBegin(): void {
    if (!this.#headersTimer?.armed) this.#armHeadersTimer();
  }

  /** A stream's request headers (RequestDecoder.decodeHeaders). */
  decodeHeaders(s: ActiveStream, headers: HeaderMap, endStream: boolean, head: RequestHead): void {
    s.requestHeaders = headers;
    s.version = head.version;
    const si = s.streamInfo;
    si.protocol = head.version;
    si.requestHeaders = headers;
    si.requestHeadersBytes = head.headersBytes;
    if (!head.keepAlive) s.closeAfter = true;
    if (!this.cfg.proxy100Continue && head.expectContinue) this.#continue(s, headers);
    const verdict: RequestHeadersVerdict = normalizeRequestHeaders(headers, head, this.cfg, s);
    if (verdict.reject) {
      s.requestDone = true;
      s.closeAfter = true;
      s.localReply(verdict.reject.status, verdict.reject.body, { details: verdict.reject.details });
      return;
    }
    if (verdict.redirect) {
      s.requestDone = endStream;
      s.localReply(307, "", {
        details: "path_normalization",
        modifyHeaders: (h) => h.add("location", verdict.redirect!),
      });
      return;
    }
    if (head.upgrade) {
      const type = (headers.get("upgrade") ?? "").toLowerCase();
      // The route's upgrade_configs enable or disable a type over the connection manager's.
      const allowed = s.route()?.route.upgradeMap?.get(type) ?? this.cfg.upgrades.has(type);
      if (headers.get(":method") !== "CONNECT" && allowed) {
        s.upgraded = true;
        this.cfg.stats.cxUpgradesTotal.inc();
        this.cfg.stats.cxUpgradesActive.inc();
      } else {
        // Upgrades not configured are refused as Envoy does (403 for unsupported upgrades).
        s.requestDone = true;
        s.closeAfter = true;
        s.localReply(403, "", { details: "upgrade_failed" });
        return;
      }
    }
    if (endStream) {
      s.requestDone = true;
      si.mark("lastDownstreamRxByteReceived");
    }
    if (this.cfg.accessLogs.length > 0) this.#startAccessLogs(s);
    if (overloadState().enabled && this.#shedByOverload(s)) return;
    s.fm.decodeHeaders(headers, endStream);
  }

  /**
   * `Expect: 100-continue` without proxy_100_continue: Envoy answers `100 Continue` itself,
   * before any filter runs, counts it as a 1xx response, and drops Expect so the upstream does
   * not handle it again.
   */
  #continue(s: ActiveStream, headers: HeaderMap): void {
    const expect = headers.get("expect");
    if (expect === undefined || expect.toLowerCase() !== "100-continue") return;
    headers.remove("expect");
    this.cfg.stats.chargeCode(100);
    s.encoder.encode1xxHeaders(CONTINUE_HEADERS);
  }

  /** A new open stream, counted in downstream_rq_total and _active and against the limits. */
  #newStream(encoder: ResponseEncoder): ActiveStream {
    this.#clearHeadersTimer();
    this.#idleTimer?.disarm();
    const s = this.#openStream(encoder, undefined);
    this.#countRequest(s);
    return s;
  }

  /** Links a new stream into the open ones and counts it (downstream_rq_total, _active). */
  #openStream(
    encoder: ResponseEncoder,
    headers: HeaderMap | undefined,
    previous?: StreamInfo,
  ): ActiveStream {
    const s = new ActiveStream(this, encoder, previous);
    // A stream opened by the codec gets its headers with them (decodeHeaders).
    if (headers !== undefined) s.requestHeaders = headers;
    const last = this.#last;
    s.prev = last;
    if (last === undefined) this.#first = s;
    else last.next = s;
    this.#last = s;
    const stats = this.cfg.stats;
    stats.rqTotal.inc();
    (this.#http1 ? stats.rqHttp1Total : stats.rqHttp2Total).inc();
    stats.rqActive.inc();
    s.counted = true;
    return s;
  }

  #unlink(s: ActiveStream): void {
    const { prev, next } = s;
    if (prev === undefined) {
      if (this.#first === s) this.#first = next;
    } else prev.next = next;
    if (next === undefined) {
      if (this.#last === s) this.#last = prev;
    } else next.prev = prev;
    s.prev = s.next = undefined;
  }

  // ---- response path ----

  writeResponseHeaders(s: ActiveStream, h: HeaderMap, endStream: boolean): void {
    const si = s.streamInfo;
    const status = Number(h.get(":status") ?? 200);
    if (status >= 100 && status < 200 && status !== 101) {
      this.#writeInformational(s, h, status);
      return;
    }
    si.responseCode = status;
    si.responseHeaders = h;
    si.mark("firstDownstreamTxByteSent");
    const cfg = this.cfg;
    if (cfg.serverHeader === "overwrite") h.set("server", cfg.serverName);
    else if (cfg.serverHeader === "append_if_absent" && !h.has("server")) {
      h.add("server", cfg.serverName);
    }
    if (cfg.alwaysSetRequestIdInResponse) {
      const id = s.requestHeaders.get("x-request-id");
      if (id) h.set("x-request-id", id);
    }
    const method = s.requestHeaders.get(":method");
    // Envoy appends `via` to final responses only, local replies included.
    if (cfg.via) appendVia(h, cfg.via);
    // A 101 to a request that did not upgrade is no upgrade: it is the whole response (no body,
    // no framing headers), and the connection closes after it as its next bytes are undefined.
    const stray101 = status === 101 && !s.upgraded;
    if (stray101) s.closeAfter = true;
    s.noBody = method === "HEAD" || status === 204 || status === 304 || stray101;
    if (!this.#http1) {
      // HTTP/2 ends a connection with GOAWAY, not with a response header. An upgrade's 101
      // keeps its headers: the codec turns it into the 200 that accepts an extended CONNECT.
      if (!s.upgraded) {
        h.remove("connection");
        h.remove("upgrade");
      }
      h.remove("keep-alive");
      if (!this.#closing && this.#drainClosing()) this.#drainStreams();
    } else if (status !== 101 && !s.noBody && !h.has("content-length")) {
      if (endStream) h.set("content-length", "0");
      // HTTP/1.0 has no chunked coding: a body of unknown length ends with the connection.
      else if (s.version === "HTTP/1.0") s.closeAfter = true;
    }
    if (this.#http1 && !s.upgraded) {
      h.remove("connection");
      h.remove("keep-alive");
      h.remove("upgrade");
      if (stray101) {
        // a 1xx carries no connection options
      } else if (
        this.#closing || s.closeAfter || !s.requestDone || this.#drainClosing()
      ) {
        // A response that starts before its request finished closes the connection: Envoy
        // does not wait for the rest of the request, and says so in the response.
        s.closeAfter = true;
        h.set("connection", "close");
      } else if (s.version === "HTTP/1.0") h.set("connection", "keep-alive");
    }
    const enc = s.encoder;
    enc.encodeHeaders(h, endStream);
    si.responseHeadersBytes = enc.responseHeadersBytes;
    if (status === 101 && s.upgraded && cfg.accessLogOptions.onTunnelEstablished) {
      this.#logAccess(s, "DownstreamTunnelSuccessfullyEstablished");
    }
    if (endStream) this.#responseComplete(s);
  }

  /**
   * A 1xx other than 101 (the upstream's 100 Continue with proxy_100_continue): counted as a
   * response; the final response follows.
   */
  #writeInformational(s: ActiveStream, h: HeaderMap, status: number): void {
    if (status === 100 && !this.cfg.proxy100Continue) return;
    this.cfg.stats.chargeCode(status);
    s.encoder.encode1xxHeaders(h);
  }

  writeResponseData(s: ActiveStream, data: Uint8Array, endStream: boolean): void {
    if (s.responseDone) return;
    s.lastActivity = monotonicNow();
    if (!s.noBody) s.streamInfo.bytesSent += data.length;
    s.encoder.encodeData(data, endStream);
    if (endStream) this.#responseComplete(s);
  }

  writeResponseTrailers(s: ActiveStream, trailers: HeaderMap): void {
    if (s.responseDone) return;
    s.streamInfo.responseTrailers = trailers;
    s.encoder.encodeTrailers(trailers);
    this.#responseComplete(s);
  }

  #responseComplete(s: ActiveStream): void {
    s.streamInfo.mark("lastDownstreamTxByteSent");
    if (s.upgraded && this.#http1) {
      // The tunnel's end: close once both directions are done.
      this.#stopReading();
      this.conn.closeAfterFlush();
      this.#finishStream(s, false);
      return;
    }
    if (!s.requestDone) this.cfg.stats.rqResponseBeforeRqComplete.inc();
    if (!this.#http1) {
      this.#multiplexedStreamComplete(s);
      return;
    }
    const closeConn = s.closeAfter || this.#closing || !s.requestDone;
    if (closeConn) this.#stopReading();
    this.#finishStream(s, false);
    if (closeConn) {
      this.conn.closeAfterFlush();
      return;
    }
    if (this.#first === undefined) this.#armIdleTimer();
    this.#codec.resumeDispatch();
  }

  /**
   * A response ended on a multiplexed (HTTP/2) connection. A request still arriving is reset
   * (Envoy resets the stream once its response is complete); a stream that ends the
   * connection (max_requests_per_connection) starts its drain; a draining connection closes
   * once its last stream is done.
   */
  #multiplexedStreamComplete(s: ActiveStream): void {
    const requestDone = s.requestDone;
    if (s.closeAfter && !this.#closing) this.#drainStreams();
    this.#finishStream(s, false);
    if (!requestDone) s.encoder.resetStream("local_reset");
    if (this.#first !== undefined) return;
    if (this.#goAwaySent) this.conn.closeAfterFlush();
    else this.#armIdleTimer();
  }

  /**
   * Drain (Envoy's startDrainSequence): no more requests on this connection. HTTP/2 sends the
   * graceful GOAWAY and, `drain_timeout` later, the final one, after which the connection
   * closes once its streams are done; HTTP/1 closes after the response in flight.
   */
  #drainStreams(): void {
    this.#closing = true;
    this.#codec.shutdownNotice();
    if (this.#http1) return;
    this.#drainTimer = new CoarseTimer(() => this.#onDrainTimeout(), this);
    this.#drainTimer.arm(this.cfg.drainTimeoutMs);
  }

  /** drain_timeout after the graceful GOAWAY: the final GOAWAY (Envoy's onDrainTimeout). */
  #onDrainTimeout(): void {
    this.#goAwaySent = true;
    this.#codec.goAway();
    if (this.#first === undefined) this.conn.closeAfterFlush();
  }

  /**
   * Whether this connection closes after the response (counted): `disable_http_keepalive`
   * first, then the listener's drain, as in Envoy.
   */
  #drainClosing(): boolean {
    if (this.#draining) return true;
    const ov = overloadState();
    if (ov.enabled && ov.disableKeepalive()) {
      this.cfg.stats.cxOverloadDisableKeepalive.inc();
      return true;
    }
    if (!drainManager().drainClose(this.ctx.drainKey)) return false;
    this.#draining = true;
    this.cfg.stats.cxDrainClose.inc();
    return true;
  }

  /**
   * `stop_accepting_requests` and the `http_connection_manager_decode_headers` load shed point:
   * a 503 "envoy overloaded" (flag OM, details `overload`) before any filter is made.
   */
  #shedByOverload(s: ActiveStream): boolean {
    const why = overloadState().shedRequest();
    if (!why) return false;
    if (why === "stop_accepting_requests") this.cfg.stats.rqOverloadClose.inc();
    s.streamInfo.setFlag("OM");
    s.localReply(503, "envoy overloaded", { details: "overload" });
    return true;
  }

  /**
   * Envoy's `recreateStream` (internal redirects): `s` ends without a response (logged with
   * details `internal_redirect`, no response code charged) and the complete request is replayed
   * on a new stream through a new filter chain, on the same codec stream. The request was
   * sanitized on its first pass; the new stream does not redo it.
   */
  recreateStream(s: ActiveStream, headers: HeaderMap, body: Uint8Array | undefined): void {
    s.streamInfo.responseCodeDetails = "internal_redirect";
    this.#finishStream(s, false);
    const n = this.#openStream(s.encoder, headers, s.streamInfo);
    s.encoder.setRequestDecoder(n);
    n.version = s.version;
    n.requestDone = true;
    n.closeAfter = s.closeAfter;
    const si = n.streamInfo;
    si.requestHeaders = headers;
    const state = s.streamInfo.filterState.get(INTERNAL_REDIRECT_STATE);
    if (state !== undefined) si.filterState.set(INTERNAL_REDIRECT_STATE, state);
    if (this.cfg.accessLogs.length > 0) this.#startAccessLogs(n);
    n.fm.decodeHeaders(headers, body === undefined);
    if (body !== undefined && !n.fm.localReplied && !n.fm.destroyed) n.fm.decodeData(body, true);
  }

  /**
   * The codec ended a stream (StreamCallbacks.onResetStream): on HTTP/1 after this side reset
   * it, which closes the connection.
   */
  onStreamReset(s: ActiveStream, reason: StreamResetReason, details: string): void {
    // A reset this side sends (tx, counted by the caller) comes back through Envoy's
    // onResetStream as well, which counts every reset (rx).
    this.cfg.stats.rqRxReset.inc();
    // HTTP/2: the client reset the stream (RST_STREAM), or the codec did for a bad message.
    if (reason === "remote_reset") s.streamInfo.setFlag("DR");
    else if (reason === "protocol_error") s.streamInfo.setFlag("DPE");
    if (details) s.streamInfo.connectionTerminationDetails ??= details;
    if (!s.streamInfo.responseCode && !s.fm.responseStarted) s.streamInfo.responseCode = 0;
    this.#finishStream(s, true);
    // HTTP/1 closes the connection with the stream; HTTP/2 goes on without it.
    if (!this.#http1 && this.#first === undefined) {
      if (this.#goAwaySent) this.conn.closeAfterFlush();
      else this.#armIdleTimer();
    }
  }

  #finishStream(s: ActiveStream, reset: boolean): void {
    if (s.responseDone) return;
    s.responseDone = true;
    this.#unlink(s);
    s.clearTimers();
    s.streamInfo.finish();
    if (this.#premature !== undefined && !s.internallyReset) this.#onStreamClosed(s);
    if (s.upgraded) this.cfg.stats.cxUpgradesActive.dec();
    if (s.counted) {
      this.cfg.stats.rqActive.dec();
      this.cfg.stats.requestDone(s.streamInfo.responseCode, s.streamInfo.duration!);
    }
    if (reset) s.streamInfo.responseCodeDetails ??= "downstream_reset";
    s.fm.destroy();
    if (this.cfg.accessLogs.length === 0) return;
    this.#logAccess(s, "DownstreamEnd");
    this.#wireRead = this.conn.bytesRead;
    this.#wireWritten = this.conn.bytesWritten + this.conn.bufferedBytes;
  }
  /**
   * An HTTP/2 stream closed: once too many of the connection's streams were reset by the
   * client before any response (rapid reset), the connection is told GOAWAY and closed, as
   * Envoy's maybeDrainDueToPrematureResets.
   */
  #onStreamClosed(s: ActiveStream): void {
    const si = s.streamInfo;
    if (!this.#premature!.onStreamClosed(si.duration ?? 0, (si.responseCode ?? 0) > 0)) return;
    // Once: the streams the close resets below are not judged again.
    this.#premature = undefined;
    if (this.conn.closed) return;
    log.debug(() => `[C${this.conn.id}] sending GOAWAY due to too many premature resets`);
    this.cfg.stats.rqTooManyPrematureResets.inc();
    this.#closing = true;
    this.#codec.goAway();
    this.#stopReading();
    this.conn.closeAfterFlush();
  }

  /** access_log_options that act while the stream runs: a first entry, periodic ones. */
  #startAccessLogs(s: ActiveStream): void {
    const o = this.cfg.accessLogOptions;
    if (o.onNewRequest) this.#logAccess(s, "DownstreamStart");
    if (o.flushIntervalMs > 0) {
      const timer = s.logTimer = new CoarseTimer(() => {
        this.#logAccess(s, "DownstreamPeriodic");
        timer.arm(o.flushIntervalMs);
      }, s);
      timer.arm(o.flushIntervalMs);
    }
  }

  /** Writes the access logs for `s`; `type` says why. */
  #logAccess(s: ActiveStream, type: AccessLogType): void {
    // This stream's share of the connection's bytes; pipelined requests over-count, as in Envoy.
    const si = s.streamInfo;
    const c = this.conn;
    si.downstreamWireBytesReceived = c.bytesRead - this.#wireRead;
    si.downstreamWireBytesSent = c.bytesWritten + c.bufferedBytes - this.#wireWritten;
    const ctx = {
      requestHeaders: s.requestHeaders,
      responseHeaders: si.responseHeaders,
      responseTrailers: si.responseTrailers,
      streamInfo: si,
      accessLogType: type,
    };
    for (const al of this.cfg.accessLogs) al.log(ctx);
  }
}
