/**
 * The codec interfaces, in Envoy's vocabulary (envoy/http/codec.h): what sits between the HTTP
 * connection manager (streams, filters, routing, timeouts, stats, access logs, local replies)
 * and a protocol's bytes. A server codec (`ServerConnection`) turns the downstream's bytes into
 * stream events (`RequestDecoder`, `StreamCallbacks`) and writes what the HCM encodes
 * (`ResponseEncoder`); the upstream side has the mirror image (`RequestEncoder` /
 * `ResponseDecoder`, in upstream/conn_pool.ts). HTTP/1.1 implements them in http1/; HTTP/2
 * plugs in beside it through `server_codecs.ts`.
 *
 * Every implementation is a long-lived object (a connection, a stream): no event allocates a
 * closure or a promise.
 */
import type { MetadataMap } from "./http2/metadata.ts";
import { HeaderMap } from "./header_map.ts";

/** A stream's protocol, as `%PROTOCOL%` prints it (Envoy's Http::Protocol). */
export type Protocol = "HTTP/1.0" | "HTTP/1.1" | "HTTP/2";

/** Why a codec stream ended early (Envoy's StreamResetReason, the ones the codecs raise). */
export type StreamResetReason =
  | "local_reset"
  | "remote_reset"
  /** HTTP/2: the upstream refused the stream (REFUSED_STREAM, or above a GOAWAY's last id). */
  | "remote_refused_stream_reset"
  | "connection_termination"
  | "protocol_error";

/**
 * `100 Continue`, as the HCM answers `Expect: 100-continue` itself: one shared map, never
 * changed, that a codec may recognise to write its precomputed bytes.
 */
export const CONTINUE_HEADERS: HeaderMap = new HeaderMap([":status", "100"]);

/**
 * What the codec learnt of a request besides its headers. HTTP/1's parser head satisfies it
 * as it is (no copy); an HTTP/2 codec fills one per stream.
 */
export interface RequestHead {
  /** `HTTP/1.0` for any HTTP/1 version other than 1.1, as Envoy reports it. */
  readonly version: Protocol;
  /** The connection may carry another request after this one (always on HTTP/2). */
  readonly keepAlive: boolean;
  /** The request leaves HTTP after its headers: an HTTP/1 Upgrade or CONNECT. */
  readonly upgrade: boolean;
  /** An HTTP/1.1 request with `Expect: 100-continue`. */
  readonly expectContinue: boolean;
  /** Wire bytes of the request's header block (%REQUEST_HEADERS_BYTES%). */
  readonly headersBytes: number;
}

/** A codec stream's events that are not request data (Envoy's StreamCallbacks). */
export interface StreamCallbacks {
  /** The stream is gone: the codec reset it (either side) or its connection closed under it. */
  onResetStream(reason: StreamResetReason, details: string): void;
  /** The stream's output may flow again (its connection's, or on HTTP/2 its window's). */
  onBelowWriteBufferLowWatermark(): void;
}

/** The request side of a downstream stream, implemented by the HCM (Envoy's RequestDecoder). */
export interface RequestDecoder {
  /** The request's headers; `endStream` when no body follows. */
  decodeHeaders(headers: HeaderMap, endStream: boolean, head: RequestHead): void;
  decodeData(data: Uint8Array, endStream: boolean): void;
  /** The request's trailers, which end it. */
  decodeTrailers(trailers: HeaderMap): void;
  /** A metadata map from an HTTP/2 downstream that allows metadata. */
  decodeMetadata?(metadata: MetadataMap): void;
  /**
   * The codec refused the request (malformed): the HCM answers `status` as Envoy's
   * sendLocalReply from the codec does (flag DPE) and the connection closes after it.
   */
  onCodecError(status: number, details: string): void;
}

/** What the HCM gives the codec for each stream: its request side and its stream events. */
export type ServerStream = RequestDecoder & StreamCallbacks;

/** A codec stream's controls (Envoy's Http::Stream). */
export interface Stream {
  /** Ends the stream (HTTP/1: the connection closes with it); `onResetStream` follows. */
  resetStream(reason: StreamResetReason): void;
  /** Stops (true) or resumes (false) reading this stream's input: flow control. */
  readDisable(disable: boolean): void;
  /** Whether the stream's output is above its high watermark (the caller should wait). */
  readonly aboveHighWatermark: boolean;
  /** Bytes a stream may buffer (the listener's per_connection_buffer_limit_bytes). */
  readonly bufferLimit: number;
}

/** The response side of a downstream stream, implemented by the codec (Envoy's ResponseEncoder). */
export interface ResponseEncoder extends Stream {
  /** A 1xx other than 101; the final response follows. */
  encode1xxHeaders(headers: HeaderMap): void;
  encodeHeaders(headers: HeaderMap, endStream: boolean): void;
  encodeData(data: Uint8Array, endStream: boolean): void;
  /** Trailers, which end the response. */
  encodeTrailers(trailers: HeaderMap): void;
  /** A metadata map (HTTP/2 with allow_metadata; a codec without it drops metadata). */
  encodeMetadata?(metadata: MetadataMap): void;
  /** Wire bytes of the latest response header block (%RESPONSE_HEADERS_BYTES%). */
  readonly responseHeadersBytes: number;
  /** The stream's events go to `decoder` from now on (Envoy's recreateStream). */
  setRequestDecoder(decoder: ServerStream): void;
}

/** The HCM's side of a server codec (Envoy's ServerConnectionCallbacks). */
export interface ServerConnectionCallbacks {
  /** A request stream begins: the HCM returns its decoder and stream callbacks. */
  newStream(encoder: ResponseEncoder): ServerStream;
  /**
   * HTTP/1: the first byte of a request arrived while no stream is open. Envoy's stream begins
   * there; the HCM starts `request_headers_timeout`.
   */
  onMessageBegin(): void;
  /**
   * The connection broke the protocol as a whole (HTTP/2: a connection error or a flood): the
   * codec closes it; the HCM counts downstream_cx_protocol_error.
   */
  onCodecProtocolError(): void;
}

/** A server codec over one downstream connection (Envoy's ServerConnection). */
export interface ServerConnection {
  /** The protocol of the connection (HTTP/1: of the latest request). */
  readonly protocol: Protocol;
  /** Bytes from the downstream; stream events follow through the callbacks. */
  dispatch(data: Uint8Array): void;
  /**
   * The HCM is done with a stream whose response was complete and keeps the connection: a
   * codec that held input back for it (HTTP/1 pipelining) goes on.
   */
  resumeDispatch(): void;
  /** The connection is closing: nothing more is read or parsed (RFC 9112 §9.6). */
  stopDispatch(): void;
  /** No new streams after those open (HTTP/2: the final GOAWAY; HTTP/1: nothing to send). */
  goAway(): void;
  /** The connection will drain (HTTP/2: the first, graceful GOAWAY; HTTP/1: nothing). */
  shutdownNotice(): void;
  /** The connection's write buffer drained below its low watermark. */
  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void;
}

/** The response side of an upstream stream, implemented by its user (Envoy's ResponseDecoder). */
export interface ResponseDecoder {
  /**
   * The response's headers, 1xx ones included (`endStream` false; the final headers follow).
   * `endStream` when no body follows.
   */
  decodeHeaders(headers: HeaderMap, endStream: boolean): void;
  decodeData(data: Uint8Array, endStream: boolean): void;
  /** The response's trailers, which end it. */
  decodeTrailers(trailers: HeaderMap): void;
  /** A metadata map from an HTTP/2 upstream that allows metadata. */
  decodeMetadata?(metadata: MetadataMap): void;
}

/** The request side of an upstream stream, implemented by the codec (Envoy's RequestEncoder). */
export interface RequestEncoder extends Stream {
  /** The request's headers; `endStream` when no body follows. */
  encodeHeaders(headers: HeaderMap, endStream: boolean): void;
  encodeData(data: Uint8Array, endStream: boolean): void;
  /** Trailers, which end the request. */
  encodeTrailers(trailers: HeaderMap): void;
  /** A metadata map (HTTP/2 with allow_metadata; a codec without it drops metadata). */
  encodeMetadata?(metadata: MetadataMap): void;
}
