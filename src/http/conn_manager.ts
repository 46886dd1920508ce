/**
 * The HTTP connection manager for HTTP/1.1 connections: parses requests with our codec, runs
 * each request through the HTTP filters (router last), writes responses back with the right
 * framing, and applies Envoy's connection-level rules: request header sanitizing
 * (x-forwarded-*, x-request-id, x-envoy-* from untrusted clients), path normalization,
 * keep-alive and pipelining, upgrades, timeouts and local replies.
 */
import {
  appendVia,
  normalizeRequestHeaders,
  type RequestHeadersVerdict,
} from "./request_headers.ts";
import type { ConnectionManagerConfig } from "./conn_manager_config.ts";
import { FilterManager, type StreamSink } from "./filter_manager.ts";
import type { LocalReplyOptions } from "./filter.ts";
import { HeaderMap } from "./header_map.ts";
import { encodeChunk, encodeLastChunk, encodeResponseHead } from "./http1/encoder.ts";
import { Details, type MessageHead, RequestParser } from "./http1/parser.ts";
import { reasonPhrase } from "./http1/reason_phrase.ts";
import type { CloseReason, Connection, ConnectionCallbacks } from "../network/connection.ts";
import type { ConnectionContext } from "../network/filter.ts";
import type { MatchedRoute } from "../router/route_table.ts";
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
import { streamDurationMs } from "./stream_duration.ts";
import { BUG_DETAILS, reportBug } from "../common/error_boundary.ts";
import { monotonicNow } from "../common/monotonic_time.ts";

const log = getLogger("http");
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");

/** One request/response exchange on an HTTP/1 connection. */
class ActiveStream implements StreamSink {
  readonly streamInfo = new StreamInfo();
  readonly fm: FilterManager;
  requestHeaders!: HeaderMap;
  head!: MessageHead;
  #route: MatchedRoute | undefined | null = null;
  /** Response framing decided when headers were written. */
  chunked = false;
  noBody = false;
  closeAfter = false;
  responseDone = false;
  requestDone = false;
  upgraded = false;
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

  /**
   * @param previous the stream this one replays (internal redirect): its start, protocol and
   *   bytes received carry over.
   */
  constructor(readonly cm: Http1ConnectionManager, previous?: StreamInfo) {
    if (previous) this.streamInfo.setFromForRecreateStream(previous);
    const si = this.streamInfo;
    const c = cm.conn;
    si.downstreamRemoteAddress = c.remoteAddress;
    si.downstreamDirectRemoteAddress = c.remoteAddress;
    si.downstreamLocalAddress = c.localAddress;
    si.connectionId = c.id;
    si.requestedServerName = cm.ctx.requestedServerName;
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

  /** The downstream connection, as filters see it (its id and addresses). */
  get connection(): { id: number; remoteAddress: string; localAddress: string } {
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
      this.#route = this.cm.cfg.routeTable.route({
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

  perFilterConfig(name: string): Any | undefined {
    const m = this.route();
    if (!m) return undefined;
    return m.route.typedPerFilterConfig?.get(name) ?? m.virtualHost.typedPerFilterConfig?.get(name);
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
    this.cm.cfg.stats.rqTxReset.inc();
    this.streamInfo.connectionTerminationDetails = details;
    this.streamInfo.responseCodeDetails ??= details;
    this.cm.resetStream(this);
  }

  readDisable(disable: boolean): void {
    this.cm.conn.readDisable(disable);
  }

  writable(): boolean {
    return !this.cm.conn.aboveHighWatermark;
  }

  onWritable(cb: () => void): void {
    (this.#writableCbs ??= []).push(cb);
  }

  get bufferLimit(): number {
    return this.cm.conn.highWatermark;
  }

  recreateStream(headers: HeaderMap, body: Uint8Array | undefined): void {
    this.cm.recreateStream(this, headers, body);
  }

  notifyWritable(): void {
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

/** An HTTP/1.1 downstream connection. */
export class Http1ConnectionManager implements ConnectionCallbacks {
  readonly parser: RequestParser;
  #stream: ActiveStream | undefined;
  /** Bytes received while a response is still going out (pipelined requests). */
  #pending: Uint8Array[] = [];
  #closing = false;
  /**
   * No more requests are read: the connection is closing (a codec error, a response that
   * ends it, a reset). Input after that point is neither parsed nor answered (RFC 9112 §9.6).
   */
  #inputClosed = false;
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

  constructor(
    readonly conn: Connection,
    readonly cfg: ConnectionManagerConfig,
    readonly ctx: ConnectionContext,
  ) {
    this.parser = new RequestParser({
      onHead: (h, head) => this.#onHead(h, head),
      onBody: (chunk) => this.#onBody(chunk),
      onMessageComplete: (trailers) => this.#onMessageComplete(trailers),
      onError: (status, detail) => this.#onCodecError(status, detail),
    }, cfg.parserOptions);
    // request_headers_timeout starts with the first byte of a request (#feed), not at accept.
    this.#armIdleTimer();
    if (cfg.maxConnectionDurationMs > 0) {
      this.#durationTimer = new CoarseTimer(() => {
        cfg.stats.cxMaxDurationReached.inc();
        this.#drainClose();
      }, this);
      this.#durationTimer.arm(cfg.maxConnectionDurationMs);
    }
    cfg.stats.connectionOpened();
    conn.byteCounters = cfg.stats.cxBytes;
    conn.start(this, ctx.initialData);
  }

  #armHeadersTimer(): void {
    if (this.cfg.requestHeadersTimeoutMs <= 0 || this.#headersTimer?.armed) return;
    // Slowloris defence: a request's headers must complete within the timeout. Envoy's
    // stream exists from the request's first byte, so the timeout resets a counted stream
    // (access log: DC, request_header_timeout).
    this.#headersTimer ??= new CoarseTimer(() => {
      log.debug(() => `[C${this.conn.id}] request headers timeout`);
      this.cfg.stats.rqHeaderTimeout.inc();
      const s = this.#openStream();
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
    this.#idleTimer ??= new CoarseTimer(() => this.#onIdleTimer(), this);
    this.#idleSince = monotonicNow();
    this.#idleTimer.arm(overloadState().timerDelay(CONNECTION_IDLE, this.cfg.idleTimeoutMs, 0));
  }

  #onIdleTimer(): void {
    if (this.#stream) return;
    // reduce_timeouts may have changed the timeout since the timer was armed.
    const elapsed = monotonicNow() - this.#idleSince;
    const wait = overloadState().timerDelay(CONNECTION_IDLE, this.cfg.idleTimeoutMs, elapsed);
    if (wait > 0) {
      this.#idleTimer!.arm(wait);
      return;
    }
    this.cfg.stats.cxIdleTimeout.inc();
    this.conn.close();
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

  #drainClose(): void {
    if (this.#stream) this.#closing = true;
    else this.conn.close();
  }

  // ---- connection events ----

  onData(chunk: Uint8Array): void {
    if (this.#inputClosed) return;
    const s = this.#stream;
    if (s?.upgraded) {
      s.streamInfo.bytesReceived += chunk.length;
      s.lastActivity = monotonicNow();
      s.fm.decodeData(chunk, false);
      return;
    }
    if (this.parser.paused || this.#pending.length > 0) {
      this.#pending.push(chunk);
      // Stop reading until the current response is out: HTTP/1 pipelining flow control.
      this.conn.readDisable(true);
      return;
    }
    this.#feed(chunk);
  }

  #feed(chunk: Uint8Array): void {
    if (this.#stream === undefined && !this.#headersTimer?.armed) this.#armHeadersTimer();
    const used = this.parser.execute(chunk);
    if (used === chunk.length || this.#inputClosed) return;
    const rest = chunk.subarray(used);
    if (this.#stream?.upgraded) this.onData(rest);
    else if (this.parser.paused && !this.parser.stopped) {
      this.#pending.unshift(rest);
      this.conn.readDisable(true);
    } else {
      // A parser that gives input back without being paused is dead: feeding it again
      // would spin forever, so this connection reads nothing more.
      this.#stopReading();
    }
  }

  /** The connection will close: stop parsing and reading, drop what was read ahead. */
  #stopReading(): void {
    if (this.#inputClosed) return;
    this.#inputClosed = true;
    this.parser.stop();
    this.#pending.length = 0;
    this.conn.readDisable(true);
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
    this.#stopReading();
    this.#clearHeadersTimer();
    this.#idleTimer?.disarm();
    this.#durationTimer?.disarm();
    const s = this.#stream;
    const active = s !== undefined && !s.responseDone;
    const remote = reason !== "local" || this.#peerClosed;
    this.cfg.stats.connectionClosed(
      remote,
      active,
      monotonicNow() - this.conn.openedMs,
    );
    if (active) {
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
  }

  onWritable(): void {
    this.#stream?.notifyWritable();
  }

  /**
   * BugScope (for this connection's socket callbacks and timers): an exception escaped while
   * handling this connection. Its stream, if any, ends with a 500 or a reset; nothing more is
   * read, and the connection closes.
   */
  onBug(): void {
    this.#stopReading();
    const s = this.#stream;
    if (s && !s.responseDone) s.onBug();
    else this.conn.close();
  }

  /** A stream hit a bug: the requests behind it are not parsed (the parser may be mid-way). */
  stopReadingAfterBug(): void {
    this.#stopReading();
  }

  // ---- parser events ----

  #onHead(headers: HeaderMap, head: MessageHead): void {
    this.#clearHeadersTimer();
    this.#idleTimer?.disarm();
    const s = this.#newStream(headers);
    this.#countRequest(s);
    s.head = head;
    const si = s.streamInfo;
    si.protocol = head.version;
    si.requestHeaders = headers;
    si.requestHeadersBytes = head.headersBytes;
    if (!head.keepAlive) s.closeAfter = true;
    const endStream = head.endStream && !head.upgrade;
    if (!this.cfg.proxy100Continue && head.expectContinue) this.#continue(headers);
    const verdict: RequestHeadersVerdict = normalizeRequestHeaders(headers, head, this.cfg, s);
    if (verdict.reject) {
      s.requestDone = true;
      s.closeAfter = true;
      this.parser.pause();
      s.localReply(verdict.reject.status, verdict.reject.body, { details: verdict.reject.details });
      return;
    }
    if (verdict.redirect) {
      s.requestDone = endStream;
      this.parser.pause();
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
        this.parser.pause();
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
  #continue(headers: HeaderMap): void {
    const expect = headers.get("expect");
    if (expect === undefined || expect.toLowerCase() !== "100-continue") return;
    headers.remove("expect");
    this.cfg.stats.chargeCode(100);
    this.conn.write(CONTINUE);
  }

  #onBody(chunk: Uint8Array): void {
    const s = this.#stream;
    if (!s || s.fm.destroyed) return;
    s.streamInfo.bytesReceived += chunk.length;
    s.lastActivity = monotonicNow();
    if (!s.fm.localReplied) s.fm.decodeData(chunk, false);
  }

  #onMessageComplete(trailers: HeaderMap | undefined): void {
    const s = this.#stream;
    // One request at a time: the next pipelined request waits for this response (unless the
    // response is already complete, e.g. a local reply sent from the request headers).
    if (s) this.parser.pause();
    if (!s || s.requestDone || s.upgraded) return;
    s.requestDone = true;
    s.streamInfo.mark("lastDownstreamRxByteReceived");
    if (s.fm.localReplied || s.fm.destroyed) return;
    // HTTP/1 trailers pass only with http_protocol_options.enable_trailers, as in Envoy.
    if (trailers && this.cfg.enableTrailers) {
      s.streamInfo.requestTrailers = trailers;
      s.fm.decodeTrailers(trailers);
    } else s.fm.decodeData(EMPTY, true);
  }

  #onCodecError(status: number, detail: string): void {
    this.#stopReading();
    let s = this.#stream;
    if (s && (s.fm.responseStarted || s.requestDone)) {
      this.conn.close();
      return;
    }
    if (!s) {
      this.#clearHeadersTimer();
      s = this.#openStream();
    }
    s.streamInfo.setFlag("DPE");
    this.cfg.stats.cxProtocolError.inc();
    if (detail === Details.invalidUnderscore) {
      this.cfg.http1Stats.requestsRejectedWithUnderscoresInHeaders.inc();
    }
    s.requestDone = true;
    s.closeAfter = true;
    // The codec's local reply carries the status text as its body (Envoy's sendProtocolError).
    s.localReply(status, reasonPhrase(status), { details: detail });
  }

  /**
   * The stream of a request whose head never completed. Envoy's codec opens a stream at a
   * message's first byte, so such a request (rejected by the codec, or timed out) is counted
   * in downstream_rq_total and logged like any other.
   */
  #openStream(): ActiveStream {
    const s = this.#newStream(new HeaderMap());
    this.#countRequest(s);
    s.streamInfo.protocol = "HTTP/1.1";
    return s;
  }

  /** The connection's new current stream, counted in downstream_rq_total and _active. */
  #newStream(headers: HeaderMap, previous?: StreamInfo): ActiveStream {
    const s = new ActiveStream(this, previous);
    this.#stream = s;
    s.requestHeaders = headers;
    const stats = this.cfg.stats;
    stats.rqTotal.inc();
    stats.rqHttp1Total.inc();
    stats.rqActive.inc();
    s.counted = true;
    return s;
  }

  // ---- response path ----

  writeResponseHeaders(s: ActiveStream, h: HeaderMap, endStream: boolean): void {
    const si = s.streamInfo;
    const status = Number(h.get(":status") ?? 200);
    if (status >= 100 && status < 200 && status !== 101) {
      this.#writeInformational(h, status);
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
    h.remove("transfer-encoding");
    if (status === 101) {
      s.chunked = false;
    } else if (!s.noBody && !h.has("content-length")) {
      if (endStream) h.set("content-length", "0");
      else if (s.head?.version === "HTTP/1.0") s.closeAfter = true;
      else s.chunked = true;
    }
    if (!s.upgraded) {
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
      } else if (s.head?.version === "HTTP/1.0") h.set("connection", "keep-alive");
    }
    const version = s.head?.version === "HTTP/1.0" ? "HTTP/1.0" : "HTTP/1.1";
    const bytes = encodeResponseHead(h, version, s.chunked, cfg.properCaseHeaders);
    si.responseHeadersBytes = bytes.length;
    this.conn.write(bytes);
    if (status === 101 && s.upgraded && cfg.accessLogOptions.onTunnelEstablished) {
      this.#logAccess(s, "DownstreamTunnelSuccessfullyEstablished");
    }
    if (endStream) this.#responseComplete(s);
  }

  /**
   * A 1xx other than 101 (the upstream's 100 Continue with proxy_100_continue): counted as a
   * response, hop-by-hop headers removed, never framed; the final response follows.
   */
  #writeInformational(h: HeaderMap, status: number): void {
    if (status === 100 && !this.cfg.proxy100Continue) return;
    this.cfg.stats.chargeCode(status);
    h.remove("connection");
    h.remove("keep-alive");
    h.remove("transfer-encoding");
    h.remove("content-length");
    this.conn.write(encodeResponseHead(h, "HTTP/1.1", false, this.cfg.properCaseHeaders));
  }

  writeResponseData(s: ActiveStream, data: Uint8Array, endStream: boolean): void {
    if (s.responseDone) return;
    s.lastActivity = monotonicNow();
    if (data.length > 0 && !s.noBody) {
      s.streamInfo.bytesSent += data.length;
      if (s.chunked) {
        const parts = encodeChunk(data);
        if (parts instanceof Uint8Array) this.conn.write(parts);
        else for (const p of parts) this.conn.write(p);
      } else this.conn.write(data);
    }
    if (endStream) {
      if (s.chunked) this.conn.write(encodeLastChunk());
      this.#responseComplete(s);
    }
  }

  writeResponseTrailers(s: ActiveStream, trailers: HeaderMap): void {
    if (s.responseDone) return;
    s.streamInfo.responseTrailers = trailers;
    // HTTP/1 can carry trailers only in a chunked body; otherwise they are dropped, as in Envoy.
    if (s.chunked) {
      const cfg = this.cfg;
      this.conn.write(
        encodeLastChunk(cfg.enableTrailers ? trailers : undefined, cfg.properCaseHeaders),
      );
    }
    this.#responseComplete(s);
  }

  #responseComplete(s: ActiveStream): void {
    s.streamInfo.mark("lastDownstreamTxByteSent");
    if (s.upgraded) {
      // The tunnel's end: close once both directions are done.
      this.#stopReading();
      this.conn.closeAfterFlush();
      this.#finishStream(s, false);
      return;
    }
    if (!s.requestDone) this.cfg.stats.rqResponseBeforeRqComplete.inc();
    const closeConn = s.closeAfter || this.#closing || !s.requestDone;
    if (closeConn) this.#stopReading();
    this.#finishStream(s, false);
    if (closeConn) {
      this.conn.closeAfterFlush();
      return;
    }
    this.#armIdleTimer();
    this.parser.resume();
    this.conn.readDisable(false);
    // Requests that arrived while this one was being answered are parsed now.
    while (this.#pending.length > 0 && !this.parser.paused && !this.#inputClosed) {
      this.#feed(this.#pending.shift()!);
    }
  }

  /**
   * Whether this connection closes after the response (counted): `disable_http_keepalive`
   * first, then the listener's drain, as in Envoy.
   */
  #drainClosing(): boolean {
    const ov = overloadState();
    if (ov.enabled && ov.disableKeepalive()) {
      this.cfg.stats.cxOverloadDisableKeepalive.inc();
      return true;
    }
    if (!drainManager().drainClose(this.ctx.listenerName)) return false;
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
   * on a new stream through a new filter chain. The request was sanitized on its first pass;
   * the new stream does not redo it.
   */
  recreateStream(s: ActiveStream, headers: HeaderMap, body: Uint8Array | undefined): void {
    s.streamInfo.responseCodeDetails = "internal_redirect";
    this.#finishStream(s, false);
    const n = this.#newStream(headers, s.streamInfo);
    n.head = s.head;
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

  /** Aborts a stream: on HTTP/1 the only way to signal it is to close the connection. */
  resetStream(s: ActiveStream, details?: string): void {
    // A reset this side sends (tx, counted by the caller) comes back through Envoy's
    // onResetStream as well, which counts every reset (rx).
    this.cfg.stats.rqRxReset.inc();
    this.#stopReading();
    if (details) s.streamInfo.connectionTerminationDetails ??= details;
    if (!s.streamInfo.responseCode && !s.fm.responseStarted) s.streamInfo.responseCode = 0;
    try {
      this.#finishStream(s, true);
    } finally {
      // A tunnel's relayed bytes are delivered before the close (Envoy's flush-write close).
      if (s.upgraded) this.conn.closeAfterFlush();
      else this.conn.close();
    }
  }

  #finishStream(s: ActiveStream, reset: boolean): void {
    if (s.responseDone) return;
    s.responseDone = true;
    s.clearTimers();
    s.streamInfo.finish();
    if (s.upgraded) this.cfg.stats.cxUpgradesActive.dec();
    if (s.counted) {
      this.cfg.stats.rqActive.dec();
      this.cfg.stats.requestDone(s.streamInfo.responseCode, s.streamInfo.duration!);
    }
    if (reset) s.streamInfo.responseCodeDetails ??= "downstream_reset";
    s.fm.destroy();
    if (this.#stream === s) this.#stream = undefined;
    if (this.cfg.accessLogs.length === 0) return;
    this.#logAccess(s, "DownstreamEnd");
    this.#wireRead = this.conn.bytesRead;
    this.#wireWritten = this.conn.bytesWritten + this.conn.bufferedBytes;
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
