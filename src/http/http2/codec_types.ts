/**
 * The interfaces of the HTTP/2 codec, shaped after Envoy's Http::Connection family
 * (ServerConnection / ClientConnection, RequestDecoder / ResponseDecoder, StreamCallbacks):
 * bytes in through `dispatch`, frames out through a transport's `write`, stream events out
 * through a per-stream handler.
 *
 * @module
 */
import type { MetadataMap } from "./metadata.ts";
import type { HeaderMap } from "../header_map.ts";

/** Where the codec writes frames: a network connection (src/network/connection.ts fits). */
export interface Http2Transport {
  /** Queues bytes for the socket; the array is not touched again by the codec. */
  write(bytes: Uint8Array): void;
  /**
   * Bytes written but not yet taken by the socket. When it is 0, every frame written so far
   * has left, which is how the outbound flood limits learn that frames were released.
   */
  readonly bufferedBytes: number;
}

/** Why a stream was reset (Envoy's StreamResetReason, as resetReasonToString spells it). */
export type StreamResetReason =
  | "local reset"
  | "local refused stream reset"
  | "remote reset"
  | "remote refused stream reset"
  | "connection termination";

/** Receives what the peer sent on one stream (Envoy's RequestDecoder / ResponseDecoder). */
export interface StreamDecoder {
  /** Request (server) or final response (client) headers; pseudo-headers first. */
  decodeHeaders(headers: HeaderMap, endStream: boolean): void;
  /** Body bytes; the array is the decoder's to keep. */
  decodeData(data: Uint8Array, endStream: boolean): void;
  /** Trailers (always the end of the stream). */
  decodeTrailers(trailers: HeaderMap): void;
  /** 1xx response headers (client role); dropped when absent. */
  decode1xxHeaders?(headers: HeaderMap): void;
  /** A METADATA map (allow_metadata); dropped when absent. */
  decodeMetadata?(metadata: MetadataMap): void;
}

/** Stream lifecycle and write-side flow control (Envoy's StreamCallbacks). */
export interface StreamCallbacks {
  /** The stream is gone; `details` is Envoy's response code detail (e.g. http2.remote_reset). */
  onResetStream(reason: StreamResetReason, details: string): void;
  /** Data queued for the peer went above the stream's limit: stop producing. */
  onAboveWriteBufferHighWatermark(): void;
  /** Queued data went back below half the limit: produce again. */
  onBelowWriteBufferLowWatermark(): void;
}

/** Everything the codec calls for one stream. */
export type StreamHandler = StreamDecoder & StreamCallbacks;

/** What `dispatch` returned (Envoy's codec Status). */
export type CodecStatus = 0 | 1 | 2;
/** All input was processed. */
export const CODEC_OK: CodecStatus = 0;
/** The peer broke the protocol: close the connection (a GOAWAY was written when possible). */
export const CODEC_PROTOCOL_ERROR: CodecStatus = 1;
/** A flood protection tripped: close the connection without flushing. */
export const CODEC_BUFFER_FLOOD: CodecStatus = 2;

/** Connection-level events (Envoy's ServerConnectionCallbacks / ConnectionCallbacks). */
export interface Http2ConnectionCallbacks {
  /**
   * Server role: the peer opened stream `stream`; return who decodes it. Called before its
   * request headers are delivered.
   */
  newStream?(stream: Http2StreamEncoder): StreamHandler;
  /** The peer sent GOAWAY: no new streams on this connection. */
  onGoAway(errorCode: number, lastStreamId: number): void;
  /**
   * The connection must close (called once, also for errors found outside `dispatch`, e.g. an
   * outbound flood while encoding). `status` says whether to flush first.
   */
  onCodecError(status: CodecStatus, details: string): void;
  /** A PING we sent was acknowledged (connection keepalive). */
  onPingAck?(): void;
  /** The peer's SETTINGS arrived (client pools learn MAX_CONCURRENT_STREAMS here). */
  onSettings?(): void;
}

/** The encoding side of a stream (Envoy's ResponseEncoder / RequestEncoder + Stream). */
export interface Http2StreamEncoder {
  /** The stream identifier. */
  readonly id: number;
  /**
   * The upgrade this stream carries as an extended CONNECT (e.g. `websocket`), "" for none.
   * Server role: set once the request's headers arrive; the connection manager sees them in
   * their HTTP/1 form (GET, `upgrade`, `connection: upgrade`) and its 101 goes out as 200.
   */
  readonly upgradeType: string;
  /** Sends headers (server: response with :status; client: request with pseudo-headers). */
  encodeHeaders(headers: HeaderMap, endStream: boolean): void;
  /** Sends body bytes, flow-controlled; the array must not change afterwards. */
  encodeData(data: Uint8Array, endStream: boolean): void;
  /** Sends trailers, ending the stream (no trailers: an empty DATA frame with END_STREAM). */
  encodeTrailers(trailers: HeaderMap): void;
  /** Sends METADATA frames (allow_metadata; dropped otherwise). */
  encodeMetadata(metadata: MetadataMap): void;
  /** Resets the stream (RST_STREAM: REFUSED_STREAM for a refused stream, else NO_ERROR). */
  resetStream(reason: StreamResetReason): void;
  /** Stops (true) or resumes (false) granting the peer window for this stream; counted. */
  readDisable(disable: boolean): void;
  /** Bytes queued for the peer, waiting for flow-control window. */
  readonly bufferedBytes: number;
}
