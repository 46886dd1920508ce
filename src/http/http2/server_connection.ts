/**
 * The HTTP/2 server codec behind the connection manager's interfaces (codec.ts): the HTTP/2
 * connection (connection.ts) in the server role over one downstream connection, each of its
 * streams handed to the HCM as a request stream with a ResponseEncoder. h2c with prior
 * knowledge, `codec_type: HTTP2`, or `AUTO` by the client's preface (server_codecs.ts).
 */
import type { MetadataMap } from "./metadata.ts";
import type {
  Protocol,
  RequestHead,
  ResponseEncoder,
  ServerConnection,
  ServerConnectionCallbacks,
  ServerStream,
  StreamResetReason,
} from "../codec.ts";
import type { HeaderMap } from "../header_map.ts";
import type { Connection } from "../../network/connection.ts";
import { Http2Connection, type Http2Options } from "./connection.ts";
import { Http2Keepalive, type KeepaliveConfig } from "./keepalive.ts";
import type { BugScope } from "../../common/error_boundary.ts";
import type { Http2CodecStats } from "./codec_stats.ts";
import {
  CODEC_BUFFER_FLOOD,
  type CodecStatus,
  type Http2ConnectionCallbacks,
  type Http2StreamEncoder,
  type StreamHandler,
  type StreamResetReason as Http2ResetReason,
} from "./codec_types.ts";

/** What the HTTP/2 server codec takes from the connection manager's config. */
export interface Http2ServerSettings {
  /** Envoy's Http2ProtocolOptions, resolved, with the HCM's header limits. */
  readonly http2Options: Http2Options;
  /** `http2_protocol_options.connection_keepalive`, when set. */
  readonly http2Keepalive: KeepaliveConfig | undefined;
  /** The `http2.*` stats (looked up on the first HTTP/2 connection). */
  http2Stats(): Http2CodecStats;
}

/** The codec's reset reasons in the connection manager's words. */
function resetReason(r: Http2ResetReason): StreamResetReason {
  switch (r) {
    case "local reset":
    case "local refused stream reset":
      return "local_reset";
    case "remote reset":
    case "remote refused stream reset":
      return "remote_reset";
    case "connection termination":
      return "connection_termination";
    default:
      return "protocol_error";
  }
}

/** Uncompressed bytes of a header block, as Envoy's byteSize counts them. */
function headerBytes(h: HeaderMap): number {
  const kv = h.raw();
  let n = 0;
  for (let i = 0; i < kv.length; i++) n += kv[i].length;
  return n;
}

/** One HTTP/2 stream: the codec's events to the HCM, the HCM's response to the codec. */
class Http2ServerStream implements ResponseEncoder, StreamHandler {
  decoder!: ServerStream;
  responseHeadersBytes = 0;
  /** The stream's send queue is above its limit (flow control from the client's window). */
  #above = false;
  #readDisabled = false;

  constructor(readonly codec: Http2ServerConnection, readonly stream: Http2StreamEncoder) {}

  // ---- StreamHandler (from the HTTP/2 connection) ----

  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.decoder.decodeHeaders(headers, endStream, this.codec.requestHead(headers, this.stream));
  }

  decodeData(data: Uint8Array, endStream: boolean): void {
    this.decoder.decodeData(data, endStream);
  }

  decodeTrailers(trailers: HeaderMap): void {
    this.decoder.decodeTrailers(trailers);
  }

  decodeMetadata(metadata: MetadataMap): void {
    this.decoder.decodeMetadata?.(metadata);
  }

  onResetStream(reason: Http2ResetReason, details: string): void {
    this.decoder.onResetStream(resetReason(reason), details);
  }

  onAboveWriteBufferHighWatermark(): void {
    this.#above = true;
  }

  onBelowWriteBufferLowWatermark(): void {
    this.#above = false;
    this.decoder.onBelowWriteBufferLowWatermark();
  }

  // ---- ResponseEncoder (from the HCM) ----

  encode1xxHeaders(headers: HeaderMap): void {
    this.stream.encodeHeaders(headers, false);
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.responseHeadersBytes = headerBytes(headers);
    this.stream.encodeHeaders(headers, endStream);
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    this.stream.encodeData(data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    this.stream.encodeTrailers(trailers);
  }

  encodeMetadata(metadata: MetadataMap): void {
    this.stream.encodeMetadata(metadata);
  }

  resetStream(_reason: StreamResetReason): void {
    this.stream.resetStream("local reset");
  }

  /** The codec counts read-disables; the HCM's callers switch a state: pass on changes only. */
  readDisable(disable: boolean): void {
    if (disable === this.#readDisabled) return;
    this.#readDisabled = disable;
    this.stream.readDisable(disable);
  }

  get aboveHighWatermark(): boolean {
    return this.#above || this.codec.conn.aboveHighWatermark;
  }

  get bufferLimit(): number {
    return this.codec.conn.highWatermark;
  }

  setRequestDecoder(decoder: ServerStream): void {
    this.decoder = decoder;
  }
}

/** An HTTP/2 downstream connection's codec. */
export class Http2ServerConnection implements ServerConnection, Http2ConnectionCallbacks {
  readonly protocol: Protocol = "HTTP/2";
  readonly #h2: Http2Connection;
  #stopped = false;
  readonly #keepalive: Http2Keepalive | undefined;
  /** Filled for each request's headers as the HCM reads it (synchronously): no allocation. */
  readonly #head = {
    version: "HTTP/2" as Protocol,
    keepAlive: true,
    upgrade: false,
    expectContinue: false,
    headersBytes: 0,
  };

  constructor(
    readonly conn: Connection,
    readonly callbacks: ServerConnectionCallbacks & BugScope,
    settings: Http2ServerSettings,
  ) {
    this.#h2 = new Http2Connection(
      "server",
      conn,
      this,
      settings.http2Options,
      settings.http2Stats(),
    );
    const keepalive = settings.http2Keepalive;
    if (keepalive !== undefined && keepalive.intervalMs > 0) {
      this.#keepalive = new Http2Keepalive(this.#h2, keepalive, callbacks);
    }
  }

  /** The RequestHead of a request whose headers are `headers`, on `stream`. */
  requestHead(headers: HeaderMap, stream: Http2StreamEncoder): RequestHead {
    const h = this.#head;
    // CONNECT leaves HTTP as an HTTP/1 upgrade does: the HCM applies the same rules to it. An
    // extended CONNECT (RFC 8441) arrives in its HTTP/1 form (GET, `upgrade`), marked here.
    h.upgrade = stream.upgradeType !== "" || headers.get(":method") === "CONNECT";
    h.expectContinue = headers.has("expect");
    h.headersBytes = headerBytes(headers);
    return h;
  }

  // ---- ServerConnection ----

  dispatch(data: Uint8Array): void {
    if (!this.#stopped) this.#h2.dispatch(data);
  }

  /** HTTP/2 never holds input back for a stream. */
  resumeDispatch(): void {}

  stopDispatch(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.conn.readDisable(true);
    this.#keepalive?.stop();
    // The streams still open end with the connection (their HCM streams are already gone).
    this.#h2.onConnectionClosed();
  }

  goAway(): void {
    this.#h2.goAway();
  }

  shutdownNotice(): void {
    this.#h2.shutdownNotice();
  }

  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void {
    this.#h2.onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }

  // ---- Http2ConnectionCallbacks ----

  newStream(stream: Http2StreamEncoder): StreamHandler {
    const s = new Http2ServerStream(this, stream);
    s.decoder = this.callbacks.newStream(s);
    return s;
  }

  /** connection_keepalive: the client answered our PING. */
  onPingAck(): void {
    this.#keepalive?.onPingAck();
  }

  /** The client's GOAWAY: it opens no more streams; those open finish. */
  onGoAway(_errorCode: number, _lastStreamId: number): void {}

  /** The connection broke (protocol error or flood): it closes, flushing the GOAWAY if any. */
  onCodecError(status: CodecStatus, _details: string): void {
    this.callbacks.onCodecProtocolError();
    if (status === CODEC_BUFFER_FLOOD) this.conn.close();
    // Envoy's handleCodecError: the GOAWAY goes out, then the delayed close.
    else this.conn.closeAfterFlushAndDelay();
  }
}
