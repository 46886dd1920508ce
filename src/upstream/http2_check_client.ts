/**
 * The HTTP/2 codec client of active health checks (Envoy's CodecClient of type HTTP2 inside an
 * HTTP or gRPC health check session): one connection to the host, one stream per check, the
 * client role of http/http2/connection.ts. The connection is read all the time, as Envoy's
 * event loop does, so a GOAWAY or a close that comes between checks is seen before the next
 * check and that check starts on a new connection.
 *
 * GOAWAY follows Envoy's health check sessions: NO_ERROR while a check is in flight lets the
 * check finish and retires the connection (graceful shutdown); any other code ends the check
 * in flight as a network failure; either way no new check starts on the connection.
 *
 * @module
 */
import type { HeaderMap } from "../http/header_map.ts";
import {
  DEFAULT_HTTP2_OPTIONS,
  Http2Connection,
  type Http2Stream,
} from "../http/http2/connection.ts";
import { type Http2CodecStats, http2CodecStats } from "../http/http2/codec_stats.ts";
import {
  CODEC_OK,
  type CodecStatus,
  type Http2ConnectionCallbacks,
  type Http2Transport,
  type StreamHandler,
  type StreamResetReason,
} from "../http/http2/codec_types.ts";
import { Store } from "../stats/store.ts";

/** What a check connection reads and writes: the socket, or the TLS stream over it. */
export type Http2CheckConn = Pick<Deno.Conn, "read" | "write" | "close">;

/** A complete response. */
export interface Http2CheckResponse {
  readonly headers: HeaderMap;
  /** The body, cut at the request's `maxBody`. */
  readonly body: Uint8Array;
  readonly trailers: HeaderMap | undefined;
}

/**
 * How a request ended: its response, or "reset" when the stream was reset, the host sent a
 * GOAWAY that is not a graceful one, or the connection broke before the response ended.
 */
export type Http2CheckOutcome = Http2CheckResponse | "reset";

/** HTTP/2 NO_ERROR: a GOAWAY that announces a graceful shutdown. */
const NO_ERROR = 0;

/** Stats of the health checkers' HTTP/2 codecs (not published: Envoy's are per codec client). */
let hcStats: Http2CodecStats | undefined;

/** One health check connection speaking HTTP/2 (see the module doc). */
export class Http2CheckClient implements Http2Transport, Http2ConnectionCallbacks, StreamHandler {
  readonly #h2: Http2Connection;
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #flushing = false;
  /** No new request may start here: the connection broke, or the host sent GOAWAY. */
  failed = false;
  /** Bytes read from the host since the latest request started (0: it never answered). */
  received = 0;
  #stream: Http2Stream | undefined;
  #settle: ((o: Http2CheckOutcome) => void) | undefined;
  #headers: HeaderMap | undefined;
  #body: Uint8Array[] = [];
  #bodyBytes = 0;
  #maxBody = 0;

  constructor(readonly conn: Http2CheckConn) {
    this.#h2 = new Http2Connection(
      "client",
      this,
      this,
      DEFAULT_HTTP2_OPTIONS,
      hcStats ??= http2CodecStats(new Store()),
    );
    // Never rejects: the request in flight ends as "reset" however the connection ends.
    this.#read().catch(() => {});
  }

  /**
   * Sends one request (`headers` with its pseudo-headers, then `body` if any) on a new stream
   * and resolves with how it ended; never rejects. `maxBody` bounds the body kept.
   */
  request(
    headers: HeaderMap,
    body: Uint8Array | undefined,
    maxBody: number,
  ): Promise<Http2CheckOutcome> {
    const stream = this.failed ? undefined : this.#h2.newStream(this);
    if (!stream) {
      this.failed = true;
      return Promise.resolve("reset");
    }
    this.#stream = stream;
    this.#headers = undefined;
    this.#body = [];
    this.#bodyBytes = 0;
    this.#maxBody = maxBody;
    this.received = 0;
    const done = new Promise<Http2CheckOutcome>((resolve) => this.#settle = resolve);
    stream.encodeHeaders(headers, body === undefined);
    if (body !== undefined) stream.encodeData(body, true);
    return done;
  }

  /** Reads the connection until it ends, feeding the codec. */
  async #read(): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        this.received += n;
        if (this.#h2.dispatch(buf.slice(0, n)) !== CODEC_OK) break;
      }
    } catch {
      // Closed under the read (the session closed it, or the host reset it).
    }
    this.failed = true;
    try {
      this.#h2.onConnectionClosed();
    } finally {
      this.#end("reset");
    }
  }

  #end(outcome: Http2CheckOutcome): void {
    const settle = this.#settle;
    if (!settle) return;
    this.#settle = undefined;
    this.#stream = undefined;
    settle(outcome);
  }

  #complete(trailers: HeaderMap | undefined): void {
    const body = new Uint8Array(this.#bodyBytes);
    let off = 0;
    for (const b of this.#body) {
      body.set(b, off);
      off += b.length;
    }
    this.#end({ headers: this.#headers!, body, trailers });
  }

  // ---- Http2Transport: frames leave in order, one write at a time ----
  write(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (!this.#flushing) this.#flush();
  }
  get bufferedBytes(): number {
    return this.#outBytes;
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#out.length > 0) {
        const out = this.#out;
        this.#out = [];
        this.#outBytes = 0;
        for (const b of out) {
          let off = 0;
          while (off < b.length) off += await this.conn.write(b.subarray(off));
        }
      }
    } catch {
      // The read side sees the broken connection and ends the request in flight.
      this.#out = [];
      this.#outBytes = 0;
      this.failed = true;
      try {
        this.conn.close();
      } catch { /* already closed */ }
    } finally {
      this.#flushing = false;
    }
  }

  // ---- Http2ConnectionCallbacks ----
  onGoAway(errorCode: number): void {
    this.failed = true;
    const stream = this.#stream;
    if (!stream || errorCode === NO_ERROR) return;
    this.#end("reset");
    stream.resetStream("local reset");
  }
  onCodecError(_status: CodecStatus, _details: string): void {
    this.failed = true;
    this.#end("reset");
  }

  // ---- StreamHandler ----
  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.#headers = headers;
    if (endStream) this.#complete(undefined);
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    const room = this.#maxBody - this.#bodyBytes;
    if (room > 0) {
      const kept = data.length <= room ? data : data.subarray(0, room);
      this.#body.push(kept);
      this.#bodyBytes += kept.length;
    }
    if (endStream) this.#complete(undefined);
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.#complete(trailers);
  }
  onResetStream(_reason: StreamResetReason, _details: string): void {
    this.#end("reset");
  }
  onAboveWriteBufferHighWatermark(): void {}
  onBelowWriteBufferLowWatermark(): void {}
}
