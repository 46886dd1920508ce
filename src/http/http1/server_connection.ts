/**
 * The HTTP/1.1 server codec (Envoy's Http1::ServerConnectionImpl): parses requests off one
 * downstream connection with our parser and frames responses with our encoder, one stream at a
 * time. Pipelined requests wait, unparsed, until the HCM is done with the stream before them;
 * an upgraded stream's bytes pass through as its body.
 *
 * The connection object is also its streams' ResponseEncoder: HTTP/1 has one stream at a time,
 * so nothing is allocated per request.
 */
import type {
  Protocol,
  ResponseEncoder,
  ServerConnection,
  ServerConnectionCallbacks,
  ServerStream,
  StreamResetReason,
} from "../codec.ts";
import { CONTINUE_HEADERS } from "../codec.ts";
import type { HeaderMap } from "../header_map.ts";
import type { Connection } from "../../network/connection.ts";
import type { Http1CodecStats } from "../../stats/data_path_stats.ts";
import { encodeChunk, encodeLastChunk, encodeResponseHead } from "./encoder.ts";
import {
  Details,
  type MessageHead,
  type ParserCallbacks,
  RequestParser,
  type RequestParserOptions,
} from "./parser.ts";

const EMPTY = new Uint8Array(0);
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

/** What the HTTP/1 codec takes from the connection manager's config. */
export interface Http1ServerSettings {
  /** The request parser's limits and options (one object shared by every connection). */
  readonly parserOptions: Partial<RequestParserOptions>;
  /** `header_key_format.proper_case_words` for responses. */
  readonly properCaseHeaders: boolean;
  /** `http_protocol_options.enable_trailers`: trailers pass only with it. */
  readonly enableTrailers: boolean;
  readonly http1Stats: Http1CodecStats;
}

/** An HTTP/1.1 downstream connection's codec. */
export class Http1ServerConnection implements ServerConnection, ResponseEncoder, ParserCallbacks {
  readonly #parser: RequestParser;
  /** The current stream; kept after its response until the HCM resumes or stops dispatch. */
  #decoder: ServerStream | undefined;
  #protocol: Protocol = "HTTP/1.1";
  /** Bytes received while a response is still going out (pipelined requests). */
  #pending: Uint8Array[] = [];
  /** No more requests are read or parsed: the connection is closing. */
  #inputClosed = false;
  // The current stream's state.
  #headRequest = false;
  /** The request asked to leave HTTP (Upgrade, CONNECT): bytes after its head are its body. */
  #upgrade = false;
  #requestComplete = false;
  #responseStarted = false;
  #chunked = false;
  #noBody = false;
  /** Wire bytes of the latest response head. */
  responseHeadersBytes = 0;

  constructor(
    readonly conn: Connection,
    readonly callbacks: ServerConnectionCallbacks,
    readonly settings: Http1ServerSettings,
  ) {
    // The codec is its parser's callbacks: no closures per connection (they stay alive as long
    // as an idle keep-alive connection does).
    this.#parser = new RequestParser(this, settings.parserOptions);
  }

  get protocol(): Protocol {
    return this.#protocol;
  }

  // ---- ServerConnection ----

  dispatch(chunk: Uint8Array): void {
    if (this.#inputClosed) return;
    const d = this.#decoder;
    if (this.#upgrade && d !== undefined) {
      d.decodeData(chunk, false);
      return;
    }
    if (this.#parser.paused || this.#pending.length > 0) {
      this.#pending.push(chunk);
      // Stop reading until the current response is out: HTTP/1 pipelining flow control.
      this.conn.readDisable(true);
      return;
    }
    this.#feed(chunk);
  }

  #feed(chunk: Uint8Array): void {
    if (this.#decoder === undefined) this.callbacks.onMessageBegin();
    const parser = this.#parser;
    const used = parser.execute(chunk);
    if (used === chunk.length || this.#inputClosed) return;
    const rest = chunk.subarray(used);
    if (this.#upgrade && this.#decoder !== undefined) this.dispatch(rest);
    else if (parser.paused && !parser.stopped) {
      this.#pending.unshift(rest);
      this.conn.readDisable(true);
    } else {
      // A parser that gives input back without being paused is dead: feeding it again
      // would spin forever, so this connection reads nothing more.
      this.stopDispatch();
    }
  }

  resumeDispatch(): void {
    this.#decoder = undefined;
    this.#upgrade = false;
    this.#parser.resume();
    this.conn.readDisable(false);
    // Requests that arrived while the last one was being answered are parsed now.
    const pending = this.#pending;
    while (pending.length > 0 && !this.#parser.paused && !this.#inputClosed) {
      this.#feed(pending.shift()!);
    }
  }

  stopDispatch(): void {
    if (this.#inputClosed) return;
    this.#inputClosed = true;
    this.#parser.stop();
    this.#pending.length = 0;
    this.conn.readDisable(true);
  }

  /** HTTP/1 has no GOAWAY: the HCM ends the connection with `connection: close`. */
  goAway(): void {}

  /** HTTP/1 has no drain notice (see goAway). */
  shutdownNotice(): void {}

  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void {
    this.#decoder?.onBelowWriteBufferLowWatermark();
  }

  // ---- parser events (ParserCallbacks) ----

  /** A new stream for the request now starting. */
  #newStream(): ServerStream {
    this.#requestComplete = false;
    this.#responseStarted = false;
    this.#chunked = false;
    this.#noBody = false;
    this.#upgrade = false;
    this.#headRequest = false;
    return this.#decoder = this.callbacks.newStream(this);
  }

  /** ParserCallbacks: a request head was parsed. */
  onHead(headers: HeaderMap, head: MessageHead): void {
    this.#protocol = head.version;
    const d = this.#newStream();
    this.#headRequest = headers.get(":method") === "HEAD";
    this.#upgrade = head.upgrade;
    const endStream = head.endStream && !head.upgrade;
    this.#requestComplete = endStream;
    d.decodeHeaders(headers, endStream, head);
  }

  /** ParserCallbacks: request body bytes. */
  onBody(chunk: Uint8Array): void {
    this.#decoder?.decodeData(chunk, false);
  }

  /** ParserCallbacks: the request ended. */
  onMessageComplete(trailers: HeaderMap | undefined): void {
    const d = this.#decoder;
    // One request at a time: the next pipelined request waits for this response (unless the
    // response is already complete, e.g. a local reply sent from the request headers).
    if (d === undefined) return;
    this.#parser.pause();
    if (this.#upgrade || this.#requestComplete) return;
    this.#requestComplete = true;
    // HTTP/1 trailers pass only with http_protocol_options.enable_trailers, as in Envoy.
    if (trailers && this.settings.enableTrailers) d.decodeTrailers(trailers);
    else d.decodeData(EMPTY, true);
  }

  /** ParserCallbacks: the request is not valid HTTP/1. */
  onError(status: number, detail: string): void {
    this.stopDispatch();
    let d = this.#decoder;
    if (d !== undefined && (this.#responseStarted || this.#requestComplete)) {
      this.conn.close();
      return;
    }
    if (d === undefined) {
      // Envoy's codec opens a stream at a message's first byte: a request whose head never
      // completed is counted and logged like any other.
      this.#protocol = "HTTP/1.1";
      d = this.#newStream();
    }
    if (detail === Details.invalidUnderscore) {
      this.settings.http1Stats.requestsRejectedWithUnderscoresInHeaders.inc();
    }
    this.#requestComplete = true;
    d.onCodecError(status, detail);
  }

  // ---- ResponseEncoder ----

  encode1xxHeaders(h: HeaderMap): void {
    if (h === CONTINUE_HEADERS) {
      this.conn.write(CONTINUE);
      return;
    }
    // Hop-by-hop headers removed, never framed; the final response follows.
    h.remove("connection");
    h.remove("keep-alive");
    h.remove("transfer-encoding");
    h.remove("content-length");
    this.conn.write(encodeResponseHead(h, "HTTP/1.1", false, this.settings.properCaseHeaders));
  }

  encodeHeaders(h: HeaderMap, endStream: boolean): void {
    const status = Number(h.get(":status") ?? 200);
    this.#responseStarted = true;
    // A 101 to a request that did not upgrade is the whole response, without a body.
    this.#noBody = this.#headRequest || status === 204 || status === 304 ||
      (status === 101 && !this.#upgrade);
    h.remove("transfer-encoding");
    const http10 = this.#protocol === "HTTP/1.0";
    this.#chunked = false;
    if (status !== 101 && !this.#noBody && !h.has("content-length")) {
      // The HCM sets it first (keeping Envoy's header order); a codec frames what it sends.
      if (endStream) h.set("content-length", "0");
      // A body of unknown length is chunked; HTTP/1.0 has no chunked coding, so there the HCM
      // closes the connection after the body.
      else if (!http10) this.#chunked = true;
    }
    const bytes = encodeResponseHead(
      h,
      http10 ? "HTTP/1.0" : "HTTP/1.1",
      this.#chunked,
      this.settings.properCaseHeaders,
    );
    this.responseHeadersBytes = bytes.length;
    this.conn.write(bytes);
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    if (data.length > 0 && !this.#noBody) {
      if (this.#chunked) {
        const parts = encodeChunk(data);
        if (parts instanceof Uint8Array) this.conn.write(parts);
        else for (const p of parts) this.conn.write(p);
      } else this.conn.write(data);
    }
    if (endStream && this.#chunked) this.conn.write(encodeLastChunk());
  }

  encodeTrailers(trailers: HeaderMap): void {
    // HTTP/1 can carry trailers only in a chunked body; otherwise they are dropped, as in Envoy.
    if (!this.#chunked) return;
    const s = this.settings;
    this.conn.write(
      encodeLastChunk(s.enableTrailers ? trailers : undefined, s.properCaseHeaders),
    );
  }

  /** HTTP/1 has no metadata: the map is dropped and counted, as Envoy's HTTP/1 codec does. */
  encodeMetadata(): void {
    this.settings.http1Stats.metadataNotSupportedError.inc();
  }

  /** HTTP/1 can end a stream only by closing the connection. */
  resetStream(reason: StreamResetReason): void {
    this.stopDispatch();
    try {
      this.#decoder?.onResetStream(reason, "");
    } finally {
      // A tunnel's relayed bytes are delivered before the close (Envoy's flush-write close).
      if (this.#upgrade) this.conn.closeAfterFlush();
      else this.conn.close();
    }
  }

  readDisable(disable: boolean): void {
    this.conn.readDisable(disable);
  }

  get aboveHighWatermark(): boolean {
    return this.conn.aboveHighWatermark;
  }

  get bufferLimit(): number {
    return this.conn.highWatermark;
  }

  setRequestDecoder(decoder: ServerStream): void {
    this.#decoder = decoder;
  }
}
