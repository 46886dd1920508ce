/**
 * An HTTP/2 connection (RFC 9113) in the server or the client role, free of I/O: bytes in
 * through `dispatch`, frames out through the transport's `write`, stream events out through
 * each stream's handler. It keeps the stream states, both directions of flow control, SETTINGS,
 * PING, GOAWAY (with the graceful double GOAWAY on drain), the HTTP/2 message rules (RFC 9113
 * §8) and Envoy's flood protections (see protocol_constraints.ts).
 *
 * Envoy's behaviour where it differs from the bare RFC is kept: an invalid message resets the
 * stream and, unless `stream_error_on_invalid_http_messaging` is set, closes the connection;
 * headers over `max_request_headers_kb` / `max_headers_count` reset the stream with
 * INTERNAL_ERROR (`header_overflow`); local resets send NO_ERROR (REFUSED_STREAM when refused).
 *
 * @module
 */
import { HeaderMap } from "../header_map.ts";
import { allocate } from "../../common/slab.ts";
import {
  COMPRESSION_ERROR,
  CONTINUATION,
  DATA,
  DEFAULT_WINDOW,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PRIORITY,
  FLOW_CONTROL_ERROR,
  FRAME_HEADER_SIZE,
  FRAME_SIZE_ERROR,
  FrameReader,
  GOAWAY,
  goawayFrame,
  HEADERS,
  INTERNAL_ERROR,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  MIN_MAX_FRAME_SIZE,
  NO_ERROR,
  paddedEnd,
  paddedStart,
  PING,
  pingFrame,
  PREFACE,
  PRIORITY,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  REFUSED_STREAM,
  RST_STREAM,
  rstStreamFrame,
  SETTINGS,
  SETTINGS_ENABLE_CONNECT_PROTOCOL,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  settingsAckFrame,
  settingsFrame,
  STREAM_CLOSED,
  u32,
  WINDOW_UPDATE,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frame.ts";
import {
  DECODE_COMPRESSION_ERROR,
  DECODE_INVALID_HEADER,
  DECODE_OVERFLOW,
  HpackDecoder,
  HpackEncoder,
} from "./hpack.ts";
import type { Http2CodecStats } from "./codec_stats.ts";
import { ProtocolConstraints } from "./protocol_constraints.ts";
import {
  CODEC_BUFFER_FLOOD,
  CODEC_OK,
  CODEC_PROTOCOL_ERROR,
  type CodecStatus,
  type Http2ConnectionCallbacks,
  type Http2StreamEncoder,
  type Http2Transport,
  type StreamHandler,
  type StreamResetReason,
} from "./codec_types.ts";
import { validateRequestHeaders, validateResponseHeaders, validateTrailers } from "./message.ts";
import {
  FLAG_END_METADATA,
  METADATA,
  MetadataDecoder,
  MetadataEncoder,
  type MetadataMap,
} from "./metadata.ts";
import {
  isH2UpgradeRequest,
  isUpgrade,
  upgradeRequestFromH1toH2,
  upgradeRequestFromH2toH1,
  upgradeResponseFromH1toH2,
  upgradeResponseFromH2toH1,
} from "./upgrade.ts";

/** Where every connection of the isolate encodes a header block (grown as needed). */
let headerScratch = new Uint8Array(4096);

/**
 * Where every connection of the isolate decodes a header block, before copying the list out at
 * its size. It is never emptied: emptying an array gives up its backing store, and decoding
 * into a fresh one grew it (17 slots, then 43) for every block. Decoding is synchronous, so
 * one list serves all connections.
 */
const decodeScratch: string[] = [];
/**
 * Room left behind each decoded list for the headers the connection manager and the router add
 * (`x-request-id`, `x-forwarded-proto`, `x-envoy-expected-rq-timeout-ms`,
 * `x-envoy-upstream-service-time`, ...), so that adding them does not grow it.
 */
const KV_HEADROOM = 8;
/** Envoy's Http2ProtocolOptions, resolved (defaults in DEFAULT_HTTP2_OPTIONS). */
export interface Http2Options {
  /** `hpack_table_size`: our SETTINGS_HEADER_TABLE_SIZE. */
  readonly hpackTableSize: number;
  /** `max_concurrent_streams`: our SETTINGS_MAX_CONCURRENT_STREAMS. */
  readonly maxConcurrentStreams: number;
  /** `initial_stream_window_size`: our SETTINGS_INITIAL_WINDOW_SIZE. */
  readonly initialStreamWindowSize: number;
  /** `initial_connection_window_size`: the connection window we grant. */
  readonly initialConnectionWindowSize: number;
  /** `allow_connect`: SETTINGS_ENABLE_CONNECT_PROTOCOL (extended CONNECT, RFC 8441). */
  readonly allowConnect: boolean;
  /**
   * `stream_error_on_invalid_http_messaging`, or the HCM's
   * `stream_error_on_invalid_http_message` override when set: reset only the stream of an
   * invalid message instead of closing the connection.
   */
  readonly streamErrorOnInvalidHttpMessaging: boolean;
  /** `max_outbound_frames`. */
  readonly maxOutboundFrames: number;
  /** `max_outbound_control_frames`. */
  readonly maxOutboundControlFrames: number;
  /** `max_consecutive_inbound_frames_with_empty_payload`. */
  readonly maxConsecutiveInboundFramesWithEmptyPayload: number;
  /** `max_inbound_priority_frames_per_stream`. */
  readonly maxInboundPriorityFramesPerStream: number;
  /** `max_inbound_window_update_frames_per_data_frame_sent`. */
  readonly maxInboundWindowUpdateFramesPerDataFrameSent: number;
  /** The HCM's `max_request_headers_kb` (header bytes, cookies included). */
  readonly maxHeadersKb: number;
  /** `max_headers_count` (common_http_protocol_options). */
  readonly maxHeadersCount: number;
  /**
   * `common_http_protocol_options.headers_with_underscores_action` (server role): keep such
   * headers, drop them (`dropped_headers_with_underscores`), or reset the request
   * (`requests_rejected_with_underscores_in_headers`).
   */
  readonly headersWithUnderscoresAction: "allow" | "drop_header" | "reject_request";
  /**
   * Bytes a stream may queue for the peer before its handler is told to stop producing
   * (`per_connection_buffer_limit_bytes` in Envoy).
   */
  readonly streamBufferLimit: number;
  /** Our SETTINGS_MAX_FRAME_SIZE (from `custom_settings_parameters`; 16384 otherwise). */
  readonly maxFrameSize: number;
  /** `allow_metadata`: METADATA frames (0x4D) are decoded and may be sent; else ignored. */
  readonly allowMetadata: boolean;
  /** Further SETTINGS to send, `[id, value, ...]` (other `custom_settings_parameters`). */
  readonly customSettings: readonly number[];
}

/** Envoy's defaults for Http2ProtocolOptions and the HCM header limits. */
export const DEFAULT_HTTP2_OPTIONS: Http2Options = {
  hpackTableSize: 4096,
  maxConcurrentStreams: 2147483647,
  initialStreamWindowSize: 268435456,
  initialConnectionWindowSize: 268435456,
  allowConnect: false,
  streamErrorOnInvalidHttpMessaging: false,
  maxOutboundFrames: 10000,
  maxOutboundControlFrames: 1000,
  maxConsecutiveInboundFramesWithEmptyPayload: 1,
  maxInboundPriorityFramesPerStream: 100,
  maxInboundWindowUpdateFramesPerDataFrameSent: 10,
  maxHeadersKb: 60,
  maxHeadersCount: 100,
  headersWithUnderscoresAction: "allow",
  streamBufferLimit: 1024 * 1024,
  maxFrameSize: MIN_MAX_FRAME_SIZE,
  allowMetadata: false,
  customSettings: [],
};

/** Envoy's response code details for HTTP/2 stream failures. */
export const DETAILS = {
  invalidHeaderField: "http2.invalid.header.field",
  messagingError: "http2.violation.of.messaging.rule",
  tooManyHeaders: "http2.too_many_headers",
  invalidUnderscore: "http2.unexpected_underscore",
  remoteReset: "http2.remote_reset",
  remoteRefused: "http2.remote_refuse",
} as const;

/** A header block bigger than the header limit by this much is a flood (CVE-2024-27919). */
const HEADER_BLOCK_SLACK = 64 * 1024;
/** Streams closed by a local reset whose late frames are ignored rather than errors. */
const RECENTLY_RESET = 64;
/** Connection-specific header names a message must not carry (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/** Stream states that matter here (RFC 9113 §5.1). */
const OPEN = 0;
const CLOSED = 1;

/** One HTTP/2 stream of a connection. */
export class Http2Stream implements Http2StreamEncoder {
  /** Who receives this stream's events. */
  handler: StreamHandler | undefined;
  /** Window the peer granted us to send on this stream. */
  sendWindow: number;
  /** Window we granted the peer, and bytes it used that we have not given back yet. */
  recvWindow: number;
  unacked = 0;
  /** Bytes received while read-disabled, handed back when reading resumes. */
  held = 0;
  #readDisabled = 0;
  state = OPEN;
  /** We sent END_STREAM / the peer did. */
  localEnd = false;
  remoteEnd = false;
  /** Headers seen from the peer: 0 none, 1 (final) headers, 2 trailers. */
  remoteHeaders = 0;
  /** content-length of the peer's message, or -1; and DATA bytes received. */
  contentLength = -1;
  received = 0;
  /** Whether the peer's message has no body by definition (response to HEAD, 204, 304). */
  headRequest = false;
  /**
   * The upgrade (e.g. `websocket`) this stream carries as an extended CONNECT, "" for none:
   * responses are translated to and from the HTTP/1 form (upgrade.ts).
   */
  upgradeType = "";
  /** Data waiting for window: chunks, offset into the first, total bytes, then END_STREAM. */
  pending: Uint8Array[] = [];
  pendingOffset = 0;
  pendingBytes = 0;
  pendingEnd = false;
  pendingTrailers: HeaderMap | undefined;
  /** Whether it is in the connection's list of streams waiting for connection window. */
  waitingForConnectionWindow = false;
  /** METADATA contexts, made on first use (allow_metadata). */
  metadataIn: MetadataDecoder | undefined;
  metadataOut: MetadataEncoder | undefined;
  #aboveHigh = false;

  /** A stream of `conn` with identifier `id`. */
  constructor(readonly conn: Http2Connection, readonly id: number) {
    this.sendWindow = conn.peerInitialWindow;
    this.recvWindow = conn.options.initialStreamWindowSize;
  }

  /** Bytes queued for the peer, waiting for window. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Whether the stream is read-disabled. */
  get readDisabled(): boolean {
    return this.#readDisabled > 0;
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.conn.encodeHeaders(this, headers, endStream);
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    this.conn.encodeData(this, data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    this.conn.encodeTrailers(this, trailers);
  }

  encodeMetadata(metadata: MetadataMap): void {
    this.conn.encodeMetadata(this, metadata);
  }

  resetStream(reason: StreamResetReason): void {
    this.conn.resetStreamLocal(this, reason);
  }

  readDisable(disable: boolean): void {
    if (disable) this.#readDisabled++;
    else if (this.#readDisabled > 0 && --this.#readDisabled === 0 && this.held > 0) {
      const n = this.held;
      this.held = 0;
      this.conn.consumed(this, n);
    }
  }

  /** Re-evaluates the write watermark after the queue changed. */
  updateWatermark(): void {
    const limit = this.conn.options.streamBufferLimit;
    if (!this.#aboveHigh && this.pendingBytes > limit) {
      this.#aboveHigh = true;
      this.handler?.onAboveWriteBufferHighWatermark();
    } else if (this.#aboveHigh && this.pendingBytes <= limit >> 1) {
      this.#aboveHigh = false;
      this.handler?.onBelowWriteBufferLowWatermark();
    }
  }
}

/** The role of a connection. */
export type Http2Role = "server" | "client";

/**
 * One HTTP/2 connection. The server role expects the client preface; the client role sends it.
 * Both send their SETTINGS (and the connection WINDOW_UPDATE) on construction.
 */
export class Http2Connection {
  readonly options: Http2Options;
  readonly stats: Http2CodecStats;
  readonly #transport: Http2Transport;
  readonly #callbacks: Http2ConnectionCallbacks;
  readonly #server: boolean;
  readonly #reader: FrameReader;
  readonly #decoder: HpackDecoder;
  readonly #encoder = new HpackEncoder();
  readonly #constraints: ProtocolConstraints;
  readonly #streams = new Map<number, Http2Stream>();
  /** Streams with data waiting for connection window, oldest first. */
  #blocked: Http2Stream[] = [];
  /** Bytes of the client preface still expected (server role). */
  #prefaceLeft: number;
  #gotSettings = false;
  /** Highest stream id the peer opened / we opened. */
  #lastPeerStream = 0;
  #nextLocalStream: number;
  /** Window the peer granted us on the connection, and the one we granted it. */
  #sendWindow = DEFAULT_WINDOW;
  #recvWindow: number;
  #unacked = 0;
  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE: the send window new streams start with. */
  peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrameSize = MIN_MAX_FRAME_SIZE;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (client pools size themselves by it). */
  peerMaxConcurrentStreams = 0xffffffff;
  /** Whether the peer allows extended CONNECT (RFC 8441). */
  peerEnableConnect = false;
  /** Client role: the :scheme of requests that carry none (`https` over TLS). */
  scheme = "http";
  /** The continuation state: stream, flags of its HEADERS, block bytes so far. */
  #contStream = 0;
  #contFlags = 0;
  /** Whether the HEADERS of the block being read made its stream depend on itself. */
  #selfDependent = false;
  #block = new Uint8Array(0);
  #blockLen = 0;
  /** The header list of the last block decoded (a HeaderMap may take it). */
  #kv: string[] = [];
  /** GOAWAY: the last stream id we will process (after a real GOAWAY), and the peer's. */
  #goAwaySent = false;
  #goAwayLastStream = MAX_WINDOW;
  #goAwayReceived = false;
  #recentlyReset = new Int32Array(RECENTLY_RESET);
  #recentlyResetAt = 0;
  #failed = false;
  #failStatus: CodecStatus = CODEC_OK;
  /** The chunk being dispatched: DATA cut from it may be handed on as a view. */
  #chunk: Uint8Array | undefined;
  /** Bytes handed to the transport so far (the outbound flood limits measure against it). */
  #written = 0;
  #pingCounter = 0;
  /** Active streams the peer opened (server) or we opened (client). */
  #active = 0;

  /**
   * @param role server (expects the preface) or client (sends it)
   * @param transport where frames go
   * @param callbacks connection events
   * @param options Envoy's Http2ProtocolOptions, resolved
   * @param stats the `http2.*` stats of the scope this connection belongs to
   */
  constructor(
    role: Http2Role,
    transport: Http2Transport,
    callbacks: Http2ConnectionCallbacks,
    options: Http2Options,
    stats: Http2CodecStats,
  ) {
    this.options = options;
    this.stats = stats;
    this.#transport = transport;
    this.#callbacks = callbacks;
    this.#server = role === "server";
    this.#prefaceLeft = this.#server ? PREFACE.length : 0;
    this.#nextLocalStream = this.#server ? 2 : 1;
    this.#reader = new FrameReader(this);
    // Until the peer acknowledges our SETTINGS it may use the default table size (RFC 7541 §4.2).
    this.#decoder = new HpackDecoder(Math.max(options.hpackTableSize, 4096));
    this.#constraints = new ProtocolConstraints(options, stats);
    this.#recvWindow = options.initialConnectionWindowSize;
    if (!this.#server) {
      this.#transport.write(PREFACE);
      this.#written = PREFACE.length;
    }
    const settings: number[] = [];
    if (!this.#server) settings.push(SETTINGS_ENABLE_PUSH, 0);
    if (options.hpackTableSize !== 4096) {
      settings.push(SETTINGS_HEADER_TABLE_SIZE, options.hpackTableSize);
    }
    settings.push(SETTINGS_MAX_CONCURRENT_STREAMS, options.maxConcurrentStreams);
    settings.push(SETTINGS_INITIAL_WINDOW_SIZE, options.initialStreamWindowSize);
    if (this.#server && options.allowConnect) settings.push(SETTINGS_ENABLE_CONNECT_PROTOCOL, 1);
    if (options.maxFrameSize !== MIN_MAX_FRAME_SIZE) {
      settings.push(SETTINGS_MAX_FRAME_SIZE, options.maxFrameSize);
      this.#reader.maxFrameSize = options.maxFrameSize;
    }
    for (const v of options.customSettings) settings.push(v);
    this.#write(settingsFrame(settings), false);
    if (options.initialConnectionWindowSize > DEFAULT_WINDOW) {
      this.#write(
        windowUpdateFrame(0, options.initialConnectionWindowSize - DEFAULT_WINDOW),
        false,
      );
    }
  }

  /** Streams open now. */
  get activeStreams(): number {
    return this.#active;
  }

  /** Whether the peer sent GOAWAY (no new streams may start). */
  get goAwayReceived(): boolean {
    return this.#goAwayReceived;
  }

  /** Whether the connection failed (a codec error was reported). */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * Processes bytes from the peer. Returns CODEC_OK, or the error that was also reported to
   * `onCodecError` (the connection must then close; later input is ignored).
   */
  dispatch(chunk: Uint8Array): CodecStatus {
    if (this.#failed) return this.#failStatus;
    try {
      let start = 0;
      if (this.#prefaceLeft > 0) {
        const off = PREFACE.length - this.#prefaceLeft;
        const n = Math.min(this.#prefaceLeft, chunk.length);
        for (let i = 0; i < n; i++) {
          if (chunk[i] !== PREFACE[off + i]) {
            this.#connectionError(PROTOCOL_ERROR, "http2.invalid_preface");
            return this.#failStatus;
          }
        }
        this.#prefaceLeft -= n;
        start = n;
        if (start === chunk.length) return CODEC_OK;
      }
      this.#chunk = chunk;
      const err = this.#reader.feed(chunk, start, chunk.length);
      if (err !== NO_ERROR && !this.#failed) this.#connectionError(err, "http2.frame_too_large");
    } finally {
      this.#chunk = undefined;
    }
    return this.#failed ? this.#failStatus : CODEC_OK;
  }

  /** Client role: opens a stream whose response goes to `handler`; undefined after GOAWAY. */
  newStream(handler: StreamHandler): Http2Stream | undefined {
    if (this.#failed || this.#goAwayReceived || this.#nextLocalStream > MAX_WINDOW) {
      return undefined;
    }
    const s = new Http2Stream(this, this.#nextLocalStream);
    this.#nextLocalStream += 2;
    s.handler = handler;
    this.#open(s);
    return s;
  }

  /**
   * Drain, first step (Envoy's shutdownNotice): a GOAWAY with the last stream id 2^31-1 tells
   * the peer to stop opening streams while those in flight still arrive.
   */
  shutdownNotice(): void {
    if (this.#failed || this.#goAwaySent) return;
    this.#write(goawayFrame(MAX_WINDOW, NO_ERROR), false);
    this.stats.goaway_graceful_sent.inc();
  }

  /**
   * Drain, second step (Envoy's goAway): GOAWAY NO_ERROR with the last stream actually
   * processed; streams the peer opens after it are ignored.
   */
  goAway(): void {
    this.#sendGoAway(NO_ERROR, "");
  }

  /** Sends a PING (connection keepalive); its ACK is reported to `onPingAck`. */
  sendPing(): void {
    if (this.#failed) return;
    const data = new Uint8Array(8);
    new DataView(data.buffer).setUint32(4, ++this.#pingCounter);
    this.#write(pingFrame(false, data, 0), false);
  }

  /**
   * The keepalive timer fired without a PING ACK (Envoy's keepalive_timeout): counts it and
   * reports a codec error so the owner closes the connection.
   */
  keepaliveTimeout(): void {
    if (this.#failed) return;
    this.stats.keepalive_timeout.inc();
    this.#fail(CODEC_PROTOCOL_ERROR, "http2.keepalive_timeout");
  }

  /**
   * The network connection's write buffer went above its high watermark: every stream's
   * producer stops (Envoy's onUnderlyingConnectionAboveWriteBufferHighWatermark).
   */
  onUnderlyingConnectionAboveWriteBufferHighWatermark(): void {
    for (const s of this.#streams.values()) s.handler?.onAboveWriteBufferHighWatermark();
  }

  /** The network connection's write buffer drained: producers resume. */
  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void {
    for (const s of this.#streams.values()) s.handler?.onBelowWriteBufferLowWatermark();
  }

  /** The connection closed under the streams: each is reset with `connection termination`. */
  onConnectionClosed(): void {
    for (const s of [...this.#streams.values()]) {
      this.#close(s);
      s.handler?.onResetStream("connection termination", "");
    }
    this.#constraints.release();
    this.#failed = true;
  }

  // ---- inbound frames ----

  /** FrameHandler: one inbound frame. */
  onFrame(
    type: number,
    flags: number,
    id: number,
    buf: Uint8Array,
    start: number,
    end: number,
  ): boolean {
    if (this.#contStream !== 0 && type !== CONTINUATION) {
      return this.#connectionError(PROTOCOL_ERROR, "http2.expected_continuation");
    }
    if (!this.#gotSettings) {
      if (type !== SETTINGS || (flags & FLAG_ACK) !== 0) {
        return this.#connectionError(PROTOCOL_ERROR, "http2.expected_settings");
      }
    }
    switch (type) {
      case DATA:
        return this.#onData(flags, id, buf, start, end);
      case HEADERS:
        return this.#onHeaders(flags, id, buf, start, end);
      case CONTINUATION:
        return this.#onContinuation(flags, id, buf, start, end);
      case SETTINGS:
        return this.#onSettings(flags, id, buf, start, end);
      case WINDOW_UPDATE:
        return this.#onWindowUpdate(id, buf, start, end);
      case RST_STREAM:
        return this.#onRstStream(id, buf, start, end);
      case PING:
        return this.#onPing(flags, id, buf, start, end);
      case GOAWAY:
        return this.#onGoAway(id, buf, start, end);
      case PRIORITY:
        return this.#onPriority(id, buf, start, end);
      case PUSH_PROMISE:
        // We never enable push (client) and clients cannot push (server): §8.4.
        return this.#connectionError(PROTOCOL_ERROR, "http2.unexpected_push_promise");
      case METADATA:
        // Without allow_metadata it is an unknown frame type like any other.
        return this.options.allowMetadata ? this.#onMetadata(flags, id, buf, start, end) : true;
      default:
        // Unknown frame types are ignored (§4.1, §5.5).
        return true;
    }
  }

  /**
   * A METADATA frame (allow_metadata): collected per stream until END_METADATA, then the map
   * goes to the stream's handler (an empty one is only counted, `metadata_empty_frames`).
   * Frames for streams that are not open are ignored.
   */
  #onMetadata(flags: number, id: number, buf: Uint8Array, start: number, end: number): boolean {
    const s = this.#streams.get(id);
    if (s === undefined || s.state === CLOSED) return true;
    const d = s.metadataIn ??= new MetadataDecoder();
    if (!d.receive(buf, start, end)) {
      return this.#connectionError(PROTOCOL_ERROR, "http2.metadata_too_large");
    }
    if ((flags & FLAG_END_METADATA) === 0) return true;
    const map = d.finish();
    if (map === undefined) return this.#connectionError(COMPRESSION_ERROR, "http2.metadata_hpack");
    // An empty map is counted, not delivered, as in Envoy.
    if (map.size === 0) this.stats.metadata_empty_frames.inc();
    else s.handler?.decodeMetadata?.(map);
    return true;
  }

  #onData(flags: number, id: number, buf: Uint8Array, start: number, end: number): boolean {
    if (id === 0) return this.#connectionError(PROTOCOL_ERROR, "http2.data_on_stream_0");
    const length = end - start;
    const from = paddedStart(buf, start, end, flags, 0);
    if (from < 0) return this.#connectionError(PROTOCOL_ERROR, "http2.bad_padding");
    const to = paddedEnd(buf, start, end, flags);
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    if (!this.#track(DATA, endStream, to === from)) return false;
    // The connection window covers every DATA frame, even one for a stream that is gone.
    if (length > this.#recvWindow) {
      return this.#connectionError(FLOW_CONTROL_ERROR, "http2.connection_window_exceeded");
    }
    this.#recvWindow -= length;
    const s = this.#streams.get(id);
    if (s === undefined) {
      this.#giveBackConnection(length);
      if (this.#isIdle(id)) return this.#connectionError(PROTOCOL_ERROR, "http2.data_on_idle");
      if (!this.#wasRecentlyReset(id)) this.#sendReset(id, STREAM_CLOSED);
      return true;
    }
    if (s.remoteEnd || s.remoteHeaders === 0 || s.remoteHeaders === 2) {
      this.#giveBackConnection(length);
      if (s.remoteEnd) return this.#streamError(s, STREAM_CLOSED, DETAILS.messagingError);
      return this.#messagingError(s, DETAILS.messagingError);
    }
    if (length > s.recvWindow) {
      this.#giveBackConnection(length);
      return this.#streamError(s, FLOW_CONTROL_ERROR, DETAILS.messagingError);
    }
    s.recvWindow -= length;
    const n = to - from;
    s.received += n;
    if (
      s.contentLength >= 0 && (s.received > s.contentLength ||
        (endStream && s.received !== s.contentLength))
    ) {
      this.#giveBackConnection(length);
      return this.#messagingError(s, DETAILS.messagingError);
    }
    // Padding counts against the windows but never reaches the decoder: hand it back now.
    if (length > n) this.consumed(s, length - n);
    if (endStream) s.remoteEnd = true;
    if (n > 0 || endStream) {
      // A frame cut from a whole chunk is a view the decoder may keep (the chunk is never
      // reused); one assembled in the reader's buffer must be copied out of it.
      const data = buf === this.#chunk ? buf.subarray(from, to) : buf.slice(from, to);
      if (n > 0) {
        if (s.readDisabled) s.held += n;
        else this.consumed(s, n);
      }
      s.handler?.decodeData(data, endStream);
    }
    if (endStream) this.#maybeClose(s);
    return !this.#failed;
  }

  #onHeaders(flags: number, id: number, buf: Uint8Array, start: number, end: number): boolean {
    if (id === 0) return this.#connectionError(PROTOCOL_ERROR, "http2.headers_on_stream_0");
    const from = paddedStart(buf, start, end, flags, (flags & FLAG_PRIORITY) ? 5 : 0);
    if (from < 0) return this.#connectionError(PROTOCOL_ERROR, "http2.bad_padding");
    const to = paddedEnd(buf, start, end, flags);
    // A stream cannot depend on itself (RFC 7540 §5.3.1): a stream error once the block is
    // decoded (it must be, to keep the HPACK table in step).
    this.#selfDependent = (flags & FLAG_PRIORITY) !== 0 && (u32(buf, from - 5) & MAX_WINDOW) === id;
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    const endHeaders = (flags & FLAG_END_HEADERS) !== 0;
    if (!this.#track(HEADERS, endStream, to === from, endHeaders)) return false;
    if (endHeaders) {
      this.#contFlags = flags;
      return this.#onHeaderBlock(id, buf, from, to);
    }
    this.#contStream = id;
    this.#contFlags = flags;
    this.#blockLen = 0;
    return this.#appendBlock(buf, from, to);
  }

  #onContinuation(flags: number, id: number, buf: Uint8Array, start: number, end: number) {
    if (this.#contStream === 0 || id !== this.#contStream) {
      return this.#connectionError(PROTOCOL_ERROR, "http2.unexpected_continuation");
    }
    const endHeaders = (flags & FLAG_END_HEADERS) !== 0;
    if (!this.#track(CONTINUATION, false, end === start, endHeaders)) return false;
    if (!this.#appendBlock(buf, start, end)) return false;
    if (!endHeaders) return true;
    this.#contStream = 0;
    return this.#onHeaderBlock(id, this.#block, 0, this.#blockLen);
  }

  /** Adds a fragment to the header block being assembled; false on a CONTINUATION flood. */
  #appendBlock(buf: Uint8Array, from: number, to: number): boolean {
    const n = to - from;
    const limit = this.options.maxHeadersKb * 1024 + HEADER_BLOCK_SLACK;
    if (this.#blockLen + n > limit) {
      this.stats.header_overflow.inc();
      return this.#connectionError(PROTOCOL_ERROR, DETAILS.tooManyHeaders);
    }
    if (this.#block.length < this.#blockLen + n) {
      const grown = new Uint8Array(Math.max(this.#blockLen + n, this.#block.length * 2, 1024));
      grown.set(this.#block.subarray(0, this.#blockLen));
      this.#block = grown;
    }
    this.#block.set(buf.subarray(from, to), this.#blockLen);
    this.#blockLen += n;
    return true;
  }

  /**
   * Decodes a complete header block `buf[from, to)` into #kv. Returns the HPACK status, or
   * -1 after a connection error.
   */
  #decodeBlock(buf: Uint8Array, from: number, to: number): number {
    const scratch = decodeScratch;
    const status = this.#decoder.decode(
      buf,
      from,
      to,
      scratch,
      this.options.maxHeadersKb * 1024,
      this.options.maxHeadersCount,
    );
    if (status === DECODE_COMPRESSION_ERROR) {
      this.#connectionError(COMPRESSION_ERROR, "http2.compression_error");
      return -1;
    }
    const n = this.#decoder.decodedLength;
    while (scratch.length < n + KV_HEADROOM) scratch.push("");
    // A slice is allocated at its size; shortening it to the list keeps the room behind it.
    const kv = scratch.slice(0, n + KV_HEADROOM);
    kv.length = n;
    this.#kv = kv;
    return status;
  }

  /** A whole header block (HEADERS plus CONTINUATIONs) for stream `id`. */
  #onHeaderBlock(id: number, buf: Uint8Array, from: number, to: number): boolean {
    const status = this.#decodeBlock(buf, from, to);
    if (status < 0) return false;
    const endStream = (this.#contFlags & FLAG_END_STREAM) !== 0;
    let s = this.#streams.get(id);
    if (this.#selfDependent) {
      if (s) return this.#streamError(s, PROTOCOL_ERROR, DETAILS.messagingError);
      if (this.#server && (id & 1) === 1 && this.#isIdle(id)) this.#lastPeerStream = id;
      this.#sendReset(id, PROTOCOL_ERROR);
      return !this.#failed;
    }
    if (s === undefined) {
      if (!this.#isIdle(id)) {
        // A stream that is gone: late trailers of a stream we reset are dropped; anything
        // else is a frame on a closed stream (§5.1).
        this.stats.headers_cb_no_stream.inc();
        if (this.#wasRecentlyReset(id)) return true;
        return this.#connectionError(STREAM_CLOSED, "http2.headers_on_closed_stream");
      }
      if (!this.#server || (id & 1) === 0) {
        return this.#connectionError(PROTOCOL_ERROR, "http2.unexpected_stream_id");
      }
      this.#lastPeerStream = id;
      if (this.#goAwaySent && id > this.#goAwayLastStream) return true;
      if (this.#active >= this.options.maxConcurrentStreams) {
        this.stats.stream_refused_errors.inc();
        this.#sendReset(id, REFUSED_STREAM);
        this.#rememberReset(id);
        return true;
      }
      s = new Http2Stream(this, id);
      this.#open(s);
      s.handler = this.#callbacks.newStream?.(s);
      if (s.state === CLOSED) return !this.#failed;
    }
    if (s.remoteEnd) return this.#streamError(s, STREAM_CLOSED, DETAILS.messagingError);
    if (status === DECODE_OVERFLOW) {
      this.stats.header_overflow.inc();
      this.#resetFromCodec(s, INTERNAL_ERROR, DETAILS.tooManyHeaders);
      return !this.#failed;
    }
    if (status === DECODE_INVALID_HEADER) {
      return this.#messagingError(s, DETAILS.invalidHeaderField);
    }
    const kv = this.#kv;
    if (
      this.#server && this.options.headersWithUnderscoresAction !== "allow" &&
      !this.#underscores(kv)
    ) {
      this.#resetFromCodec(s, INTERNAL_ERROR, DETAILS.invalidUnderscore);
      return !this.#failed;
    }
    if (s.remoteHeaders === 0) {
      let detail: string;
      if (this.#server) {
        detail = validateRequestHeaders(kv, this.options.allowConnect);
      } else {
        detail = validateResponseHeaders(kv);
        if (detail === "" && kv[1].charCodeAt(0) === 0x31 /* 1xx */) {
          if (endStream) return this.#messagingError(s, DETAILS.messagingError);
          if (kv[1] === "101") return this.#messagingError(s, DETAILS.messagingError);
          const h = this.#headerMap(kv);
          s.handler?.decode1xxHeaders?.(h);
          return !this.#failed;
        }
      }
      if (detail !== "") return this.#messagingError(s, detail);
      const cl = contentLength(kv);
      if (cl === -2) return this.#messagingError(s, DETAILS.messagingError);
      s.contentLength = s.headRequest ? -1 : cl;
      if (!this.#server && s.headRequest) s.contentLength = -1;
      if (endStream && s.contentLength > 0) return this.#messagingError(s, DETAILS.messagingError);
      s.remoteHeaders = 1;
      if (endStream) s.remoteEnd = true;
      const h = this.#headerMap(kv);
      if (s.upgradeType !== "") upgradeResponseFromH2toH1(h, s.upgradeType);
      else if (this.#server && this.options.allowConnect && isH2UpgradeRequest(h)) {
        s.upgradeType = h.get(":protocol")!;
        upgradeRequestFromH2toH1(h);
      }
      s.handler?.decodeHeaders(h, endStream);
    } else {
      // Trailers: they end the stream and carry no pseudo-headers (§8.1).
      if (!endStream || validateTrailers(kv) !== "") {
        return this.#messagingError(s, DETAILS.messagingError);
      }
      if (s.contentLength >= 0 && s.received !== s.contentLength) {
        return this.#messagingError(s, DETAILS.messagingError);
      }
      s.remoteHeaders = 2;
      s.remoteEnd = true;
      this.stats.trailers.inc();
      s.handler?.decodeTrailers(this.#headerMap(kv));
    }
    if (endStream) this.#maybeClose(s);
    return !this.#failed;
  }

  /**
   * Applies headers_with_underscores_action to `kv`: drops such headers, or returns false
   * when the request must be rejected.
   */
  #underscores(kv: string[]): boolean {
    for (let i = 0; i < kv.length;) {
      if (kv[i].indexOf("_") < 0 || kv[i].charCodeAt(0) === 0x3a) {
        i += 2;
        continue;
      }
      if (this.options.headersWithUnderscoresAction === "reject_request") {
        this.stats.requests_rejected_with_underscores_in_headers.inc();
        return false;
      }
      this.stats.dropped_headers_with_underscores.inc();
      kv.splice(i, 2);
    }
    return true;
  }

  /**
   * The header list as a HeaderMap, cookie crumbs joined with "; " (RFC 9113 §8.2.3). The
   * map takes `kv` (#kv); the next block decodes into a list of its own.
   */
  #headerMap(kv: string[]): HeaderMap {
    let cookies = 0;
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === "cookie") cookies++;
    if (cookies < 2) return new HeaderMap(kv);
    const out: string[] = [];
    let cookieAt = -1;
    for (let i = 0; i < kv.length; i += 2) {
      if (kv[i] !== "cookie") out.push(kv[i], kv[i + 1]);
      else if (cookieAt < 0) {
        cookieAt = out.length;
        out.push("cookie", kv[i + 1]);
      } else out[cookieAt + 1] += "; " + kv[i + 1];
    }
    return new HeaderMap(out);
  }

  #onSettings(flags: number, id: number, buf: Uint8Array, start: number, end: number): boolean {
    if (id !== 0) return this.#connectionError(PROTOCOL_ERROR, "http2.settings_on_stream");
    if (flags & FLAG_ACK) {
      if (end !== start) return this.#connectionError(FRAME_SIZE_ERROR, "http2.settings_ack_size");
      this.#decoder.setMaxTableSizeLimit(this.options.hpackTableSize);
      return true;
    }
    if ((end - start) % 6 !== 0) {
      return this.#connectionError(FRAME_SIZE_ERROR, "http2.settings_size");
    }
    this.#gotSettings = true;
    for (let p = start; p < end; p += 6) {
      const key = (buf[p] << 8) | buf[p + 1];
      const value = u32(buf, p + 2);
      switch (key) {
        case SETTINGS_HEADER_TABLE_SIZE:
          this.#encoder.setMaxTableSize(value);
          break;
        case SETTINGS_ENABLE_PUSH:
          if (value > 1) return this.#connectionError(PROTOCOL_ERROR, "http2.bad_enable_push");
          break;
        case SETTINGS_MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrentStreams = value;
          break;
        case SETTINGS_INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) {
            return this.#connectionError(FLOW_CONTROL_ERROR, "http2.bad_initial_window");
          }
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.#streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) {
              return this.#connectionError(FLOW_CONTROL_ERROR, "http2.window_overflow");
            }
          }
          break;
        }
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
            return this.#connectionError(PROTOCOL_ERROR, "http2.bad_max_frame_size");
          }
          this.#peerMaxFrameSize = value;
          break;
        case SETTINGS_MAX_HEADER_LIST_SIZE:
          break;
        case SETTINGS_ENABLE_CONNECT_PROTOCOL:
          if (value > 1) return this.#connectionError(PROTOCOL_ERROR, "http2.bad_enable_connect");
          this.peerEnableConnect = value === 1;
          break;
      }
    }
    this.#write(settingsAckFrame(), true);
    if (this.#failed) return false;
    this.#callbacks.onSettings?.();
    // A larger initial window may unblock queued data.
    for (const s of this.#streams.values()) if (s.pendingBytes > 0 || s.pendingEnd) this.#flush(s);
    return !this.#failed;
  }

  #onWindowUpdate(id: number, buf: Uint8Array, start: number, end: number): boolean {
    if (end - start !== 4) {
      return this.#connectionError(FRAME_SIZE_ERROR, "http2.window_update_size");
    }
    if (!this.#track(WINDOW_UPDATE, false, false)) return false;
    const inc = u32(buf, start) & MAX_WINDOW;
    if (id === 0) {
      if (inc === 0) return this.#connectionError(PROTOCOL_ERROR, "http2.zero_window_update");
      if (this.#sendWindow + inc > MAX_WINDOW) {
        return this.#connectionError(FLOW_CONTROL_ERROR, "http2.window_overflow");
      }
      this.#sendWindow += inc;
      this.#flushBlocked();
      return !this.#failed;
    }
    const s = this.#streams.get(id);
    if (s === undefined) {
      if (this.#isIdle(id)) return this.#connectionError(PROTOCOL_ERROR, "http2.window_on_idle");
      return true;
    }
    if (inc === 0) return this.#streamError(s, PROTOCOL_ERROR, DETAILS.messagingError);
    if (s.sendWindow + inc > MAX_WINDOW) {
      return this.#streamError(s, FLOW_CONTROL_ERROR, DETAILS.messagingError);
    }
    s.sendWindow += inc;
    if (s.pendingBytes > 0 || s.pendingEnd) this.#flush(s);
    return !this.#failed;
  }

  #onRstStream(id: number, buf: Uint8Array, start: number, end: number): boolean {
    if (end - start !== 4) return this.#connectionError(FRAME_SIZE_ERROR, "http2.rst_size");
    if (id === 0) return this.#connectionError(PROTOCOL_ERROR, "http2.rst_on_stream_0");
    const s = this.#streams.get(id);
    if (s === undefined) {
      if (this.#isIdle(id)) return this.#connectionError(PROTOCOL_ERROR, "http2.rst_on_idle");
      return true;
    }
    const code = u32(buf, start);
    this.stats.rx_reset.inc();
    this.#close(s);
    const refused = code === REFUSED_STREAM;
    s.handler?.onResetStream(
      refused ? "remote refused stream reset" : "remote reset",
      refused ? DETAILS.remoteRefused : DETAILS.remoteReset,
    );
    return !this.#failed;
  }

  #onPing(flags: number, id: number, buf: Uint8Array, start: number, end: number): boolean {
    if (end - start !== 8) return this.#connectionError(FRAME_SIZE_ERROR, "http2.ping_size");
    if (id !== 0) return this.#connectionError(PROTOCOL_ERROR, "http2.ping_on_stream");
    if (flags & FLAG_ACK) {
      this.#callbacks.onPingAck?.();
      return !this.#failed;
    }
    this.#write(pingFrame(true, buf, start), true);
    return !this.#failed;
  }

  #onGoAway(id: number, buf: Uint8Array, start: number, end: number): boolean {
    if (end - start < 8) return this.#connectionError(FRAME_SIZE_ERROR, "http2.goaway_size");
    if (id !== 0) return this.#connectionError(PROTOCOL_ERROR, "http2.goaway_on_stream");
    const last = u32(buf, start) & MAX_WINDOW;
    const code = u32(buf, start + 4);
    this.#goAwayReceived = true;
    // Streams we opened above the peer's last stream were never processed: safe to retry.
    for (const s of [...this.#streams.values()]) {
      if ((s.id & 1) === (this.#server ? 0 : 1) && s.id > last) {
        this.#close(s);
        s.handler?.onResetStream("remote refused stream reset", DETAILS.remoteRefused);
      }
    }
    this.#callbacks.onGoAway(code, last);
    return !this.#failed;
  }

  #onPriority(id: number, buf: Uint8Array, start: number, end: number): boolean {
    if (id === 0) return this.#connectionError(PROTOCOL_ERROR, "http2.priority_on_stream_0");
    if (!this.#track(PRIORITY, false, false)) return false;
    if (end - start !== 5) {
      const s = this.#streams.get(id);
      if (s) return this.#streamError(s, FRAME_SIZE_ERROR, DETAILS.messagingError);
      this.#sendReset(id, FRAME_SIZE_ERROR);
      return !this.#failed;
    }
    if ((u32(buf, start) & MAX_WINDOW) === id) {
      const s = this.#streams.get(id);
      if (s) return this.#streamError(s, PROTOCOL_ERROR, DETAILS.messagingError);
      this.#sendReset(id, PROTOCOL_ERROR);
    }
    // Priorities are otherwise ignored (RFC 9113 §5.3.2 deprecates them).
    return !this.#failed;
  }

  /** Counts an inbound frame against the flood limits; false once the connection failed. */
  #track(type: number, endStream: boolean, empty: boolean, endHeaders = false): boolean {
    const flood = this.#constraints.trackInbound(type, endStream, empty, endHeaders);
    if (flood === "") return true;
    this.#fail(CODEC_BUFFER_FLOOD, flood);
    return false;
  }

  /** Whether `id` names a stream the peer has not opened yet. */
  #isIdle(id: number): boolean {
    const peerInitiated = (id & 1) === (this.#server ? 1 : 0);
    return peerInitiated ? id > this.#lastPeerStream : id >= this.#nextLocalStream;
  }

  #rememberReset(id: number): void {
    this.#recentlyReset[this.#recentlyResetAt] = id;
    this.#recentlyResetAt = (this.#recentlyResetAt + 1) % RECENTLY_RESET;
  }

  #wasRecentlyReset(id: number): boolean {
    return this.#recentlyReset.includes(id);
  }

  // ---- flow control, receive side ----

  /** The handler consumed `n` bytes of `s`: grant them again once half a window is used. */
  consumed(s: Http2Stream, n: number): void {
    if (this.#failed) return;
    this.#giveBackConnection(n);
    if (s.state === CLOSED || s.remoteEnd) return;
    s.unacked += n;
    if (s.unacked >= this.options.initialStreamWindowSize >> 1) {
      s.recvWindow += s.unacked;
      this.#write(windowUpdateFrame(s.id, s.unacked), false);
      s.unacked = 0;
    }
  }

  #giveBackConnection(n: number): void {
    this.#unacked += n;
    if (this.#unacked >= this.options.initialConnectionWindowSize >> 1) {
      this.#recvWindow += this.#unacked;
      this.#write(windowUpdateFrame(0, this.#unacked), false);
      this.#unacked = 0;
    }
  }

  // ---- outbound ----

  /** Sends `headers` on stream `s` (Http2Stream.encodeHeaders). */
  encodeHeaders(s: Http2Stream, headers: HeaderMap, endStream: boolean): void {
    if (s.state === CLOSED || s.localEnd || this.#failed) return;
    if (this.#server) {
      if (s.upgradeType !== "" && isUpgrade(headers)) headers = upgradeResponseFromH1toH2(headers);
    } else {
      if (headers.get(":method") === "HEAD") s.headRequest = true;
      else if (s.remoteHeaders === 0 && isUpgrade(headers)) {
        s.upgradeType = headers.get("upgrade")!;
        headers = upgradeRequestFromH1toH2(headers);
      }
    }
    this.#writeHeaders(s, headers, endStream);
    if (endStream) {
      s.localEnd = true;
      this.#maybeClose(s);
    }
  }

  /** Sends body bytes on `s`, or queues them until the peer grants window. */
  encodeData(s: Http2Stream, data: Uint8Array, endStream: boolean): void {
    if (s.state === CLOSED || s.localEnd || s.pendingEnd || this.#failed) return;
    if (data.length > 0) {
      // Usually the only chunk queued: an array of one, not the 17 slots a push onto [] makes.
      if (s.pending.length === 0) s.pending = [data];
      else s.pending.push(data);
      s.pendingBytes += data.length;
      this.stats.pending_send_bytes.inc(data.length);
    }
    if (endStream) s.pendingEnd = true;
    this.#flush(s);
    s.updateWatermark();
  }

  /** Sends trailers on `s` (after any queued data). */
  encodeTrailers(s: Http2Stream, trailers: HeaderMap): void {
    if (s.state === CLOSED || s.localEnd || s.pendingEnd || this.#failed) return;
    s.pendingEnd = true;
    if (trailers.size > 0) s.pendingTrailers = trailers;
    this.#flush(s);
  }

  /** Sends a metadata map on `s` (allow_metadata; else it is dropped, as the peer's would be). */
  encodeMetadata(s: Http2Stream, metadata: MetadataMap): void {
    if (!this.options.allowMetadata || s.state === CLOSED || s.localEnd || this.#failed) return;
    const frames = (s.metadataOut ??= new MetadataEncoder()).frames(metadata, s.id);
    for (let i = 0; i < frames.length && !this.#failed; i++) this.#write(frames[i], false);
  }

  /** A local reset of `s` (Http2Stream.resetStream). */
  resetStreamLocal(s: Http2Stream, reason: StreamResetReason): void {
    if (s.state === CLOSED) return;
    this.#close(s);
    this.#rememberReset(s.id);
    this.#sendReset(s.id, reason === "local refused stream reset" ? REFUSED_STREAM : NO_ERROR);
    s.handler?.onResetStream(reason, "");
  }

  /** Writes as much of the queued data of `s` as both windows allow. */
  #flush(s: Http2Stream): void {
    while (s.pendingBytes > 0 && !this.#failed && s.state !== CLOSED) {
      const allowed = Math.min(s.sendWindow, this.#sendWindow, this.#peerMaxFrameSize);
      if (allowed <= 0) {
        if (this.#sendWindow <= 0 && s.sendWindow > 0 && !s.waitingForConnectionWindow) {
          s.waitingForConnectionWindow = true;
          this.#blocked.push(s);
        }
        return;
      }
      const first = s.pending[0];
      const avail = first.length - s.pendingOffset;
      const n = Math.min(avail, allowed);
      const last = n === s.pendingBytes && s.pendingEnd && s.pendingTrailers === undefined;
      this.#writeData(s.id, first, s.pendingOffset, n, last);
      s.sendWindow -= n;
      this.#sendWindow -= n;
      s.pendingBytes -= n;
      this.stats.pending_send_bytes.dec(n);
      if (n === avail) {
        s.pending.shift();
        s.pendingOffset = 0;
      } else s.pendingOffset += n;
      if (last) {
        s.pendingEnd = false;
        s.localEnd = true;
        s.updateWatermark();
        this.#maybeClose(s);
        return;
      }
    }
    if (s.pendingBytes === 0 && s.pendingEnd && !this.#failed && s.state !== CLOSED) {
      s.pendingEnd = false;
      const trailers = s.pendingTrailers;
      s.pendingTrailers = undefined;
      if (trailers !== undefined) this.#writeHeaders(s, trailers, true);
      else this.#writeData(s.id, EMPTY, 0, 0, true);
      s.localEnd = true;
      this.#maybeClose(s);
    }
    s.updateWatermark();
  }

  /** The connection window grew: streams waiting for it send, oldest first. */
  #flushBlocked(): void {
    const blocked = this.#blocked;
    this.#blocked = [];
    for (let i = 0; i < blocked.length; i++) {
      const s = blocked[i];
      if (this.#sendWindow <= 0) {
        for (let j = i; j < blocked.length; j++) this.#blocked.push(blocked[j]);
        return;
      }
      s.waitingForConnectionWindow = false;
      if (s.state !== CLOSED) this.#flush(s);
    }
  }

  /** One DATA frame with `data[off, off + n)`. */
  #writeData(id: number, data: Uint8Array, off: number, n: number, endStream: boolean): void {
    const flags = endStream ? FLAG_END_STREAM : 0;
    if (n <= 4096) {
      // Small payloads are copied in with the header: one write, one array.
      const out = allocate(FRAME_HEADER_SIZE + n);
      writeFrameHeader(out, 0, n, DATA, flags, id);
      // A whole chunk (the usual case) is copied without a view onto it.
      if (off === 0 && n === data.length) out.set(data, FRAME_HEADER_SIZE);
      else if (n > 0) out.set(data.subarray(off, off + n), FRAME_HEADER_SIZE);
      this.#write(out, false, true);
      return;
    }
    const head = allocate(FRAME_HEADER_SIZE);
    writeFrameHeader(head, 0, n, DATA, flags, id);
    this.#write(head, false, true, n);
    if (!this.#failed) this.#transport.write(data.subarray(off, off + n));
  }

  /** HEADERS (and CONTINUATIONs past the peer's max frame size) for `s`. */
  #writeHeaders(s: Http2Stream, headers: HeaderMap, endStream: boolean): void {
    const kv = headers.raw();
    let bound = 12 + 20;
    for (let i = 0; i < kv.length; i += 2) bound += kv[i].length + kv[i + 1].length + 12;
    // Encoded into a scratch buffer sized by the bound, then copied out at the block's size:
    // one array per frame, and the slab gives up only what the frame takes.
    if (headerScratch.length < FRAME_HEADER_SIZE + bound) {
      headerScratch = new Uint8Array(Math.max(FRAME_HEADER_SIZE + bound, headerScratch.length * 2));
    }
    const out = headerScratch;
    const enc = this.#encoder;
    let pos = enc.begin(out, FRAME_HEADER_SIZE);
    const hasAuthority = !this.#server && headers.has(":authority");
    // Pseudo-headers first (§8.3), then the rest minus connection-specific ones (§8.2.2).
    let needScheme = false;
    for (let i = 0; i < kv.length; i += 2) {
      const name = kv[i];
      if (name.charCodeAt(0) !== 0x3a) continue;
      if (name === ":method" && !this.#server) {
        needScheme = kv[i + 1] !== "CONNECT" || headers.has(":protocol");
      }
      pos = enc.field(name, kv[i + 1], out, pos);
    }
    // A request from HTTP/1 has no :scheme; HTTP/2 requires one (§8.3.1).
    if (needScheme && !headers.has(":scheme")) pos = enc.field(":scheme", this.scheme, out, pos);
    for (let i = 0; i < kv.length; i += 2) {
      const name = kv[i];
      if (name.charCodeAt(0) === 0x3a || CONNECTION_SPECIFIC.has(name)) continue;
      if (name === "host") {
        if (this.#server || hasAuthority) continue;
        pos = enc.field(":authority", kv[i + 1], out, pos);
        continue;
      }
      if (name === "te" && kv[i + 1] !== "trailers") continue;
      pos = enc.field(name, kv[i + 1], out, pos);
    }
    const len = pos - FRAME_HEADER_SIZE;
    const flags = endStream ? FLAG_END_STREAM : 0;
    const max = this.#peerMaxFrameSize;
    if (len <= max) {
      writeFrameHeader(out, 0, len, HEADERS, flags | FLAG_END_HEADERS, s.id);
      const frame = allocate(pos);
      // A head is tens of bytes: a loop copies it without making a view of the scratch.
      if (pos <= 512) { for (let i = 0; i < pos; i++) frame[i] = out[i]; }
      else frame.set(out.subarray(0, pos));
      this.#write(frame, false);
      return;
    }
    let off = FRAME_HEADER_SIZE;
    let type = HEADERS;
    let f = flags;
    while (off < pos && !this.#failed) {
      const n = Math.min(max, pos - off);
      const frame = new Uint8Array(FRAME_HEADER_SIZE + n);
      const endHeaders = off + n === pos;
      writeFrameHeader(frame, 0, n, type, f | (endHeaders ? FLAG_END_HEADERS : 0), s.id);
      frame.set(out.subarray(off, off + n), FRAME_HEADER_SIZE);
      this.#write(frame, false);
      off += n;
      type = CONTINUATION;
      f = 0;
    }
  }

  /** Sends RST_STREAM for a stream that has no object (refused, or already gone). */
  #sendReset(id: number, code: number): void {
    this.stats.tx_reset.inc();
    this.#write(rstStreamFrame(id, code), true);
  }

  /**
   * Resets `s` because of what the peer sent; its handler hears `local reset` with the
   * details (as Envoy reports streams it reset on a peer's invalid frames).
   */
  #resetFromCodec(s: Http2Stream, code: number, details: string): void {
    this.#close(s);
    this.#rememberReset(s.id);
    this.#sendReset(s.id, code);
    s.handler?.onResetStream("local reset", details);
  }

  /** A stream error (§5.4.2): RST_STREAM with `code`; the connection lives on. */
  #streamError(s: Http2Stream, code: number, details: string): boolean {
    if (s.state !== CLOSED) this.#resetFromCodec(s, code, details);
    return !this.#failed;
  }

  /**
   * A malformed message (§8.1.1): Envoy resets the stream and, unless
   * stream_error_on_invalid_http_messaging, closes the whole connection.
   */
  #messagingError(s: Http2Stream, details: string): boolean {
    this.stats.rx_messaging_error.inc();
    if (this.options.streamErrorOnInvalidHttpMessaging) {
      return this.#streamError(s, PROTOCOL_ERROR, details);
    }
    if (s.state !== CLOSED) {
      this.#close(s);
      this.#sendReset(s.id, PROTOCOL_ERROR);
      s.handler?.onResetStream("local reset", details);
    }
    return this.#connectionError(PROTOCOL_ERROR, details);
  }

  /** A connection error (§5.4.1): GOAWAY with `code`, then the owner closes. */
  #connectionError(code: number, details: string): boolean {
    if (this.#failed) return false;
    this.#sendGoAway(code, details);
    this.#fail(CODEC_PROTOCOL_ERROR, details);
    return false;
  }

  #sendGoAway(code: number, debug: string): void {
    if (this.#failed) return;
    const last = this.#lastPeerStream;
    if (this.#goAwaySent && last >= this.#goAwayLastStream && code === NO_ERROR) return;
    this.#goAwaySent = true;
    this.#goAwayLastStream = last;
    this.stats.goaway_sent.inc();
    this.#write(goawayFrame(last, code, code === NO_ERROR ? "" : debug), false);
  }

  /** Reports a codec error once and stops all processing. */
  #fail(status: CodecStatus, details: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#failStatus = status;
    this.#callbacks.onCodecError(status, details);
  }

  /**
   * Writes a frame, counting it against the outbound flood limits. `payload`: bytes of the
   * frame written separately right after it (a large DATA payload passed on as a view).
   */
  #write(frame: Uint8Array, control: boolean, data = false, payload = 0): void {
    if (this.#failed) return;
    const written = this.#written;
    this.#written += frame.length + payload;
    const flood = this.#constraints.trackOutbound(
      written - this.#transport.bufferedBytes,
      this.#written,
      control,
      data,
    );
    if (flood !== "") {
      this.#fail(CODEC_BUFFER_FLOOD, flood);
      return;
    }
    this.#transport.write(frame);
  }

  #open(s: Http2Stream): void {
    this.#streams.set(s.id, s);
    this.#active++;
    this.stats.streams_active.inc();
  }

  /** Closes `s` once both sides ended it. */
  #maybeClose(s: Http2Stream): void {
    if (s.localEnd && s.remoteEnd && s.state !== CLOSED) this.#close(s);
  }

  #close(s: Http2Stream): void {
    if (s.state === CLOSED) return;
    s.state = CLOSED;
    this.#streams.delete(s.id);
    this.#active--;
    this.stats.streams_active.dec();
    if (s.pendingBytes > 0) {
      this.stats.pending_send_bytes.dec(s.pendingBytes);
      s.pendingBytes = 0;
      s.pending.length = 0;
    }
    // Window the stream's unread data held on the connection is granted again.
    if (s.held > 0) {
      const n = s.held;
      s.held = 0;
      this.#giveBackConnection(n);
    }
  }
}

const EMPTY = new Uint8Array(0);

/**
 * The content-length of a header list: -1 when absent, -2 when invalid (not digits, or
 * several differing values).
 */
function contentLength(kv: readonly string[]): number {
  let out = -1;
  for (let i = 0; i < kv.length; i += 2) {
    if (kv[i] !== "content-length") continue;
    const v = kv[i + 1];
    if (v.length === 0 || v.length > 15) return -2;
    let n = 0;
    for (let j = 0; j < v.length; j++) {
      const c = v.charCodeAt(j) - 0x30;
      if (c < 0 || c > 9) return -2;
      n = n * 10 + c;
    }
    if (out >= 0 && out !== n) return -2;
    out = n;
  }
  return out;
}
