/**
 * Test helpers for the HTTP/2 codec: an in-memory transport, a frame log reader, a recording
 * stream handler and a client/server pair wired back to back.
 *
 * @module
 */
import { HeaderMap } from "../header_map.ts";
import { Store } from "../../stats/store.ts";
import { type Http2CodecStats, http2CodecStats } from "./codec_stats.ts";
import type { CodecStatus, Http2StreamEncoder, StreamHandler } from "./codec_types.ts";
import { DEFAULT_HTTP2_OPTIONS, Http2Connection, type Http2Options } from "./connection.ts";
import { FrameReader, PREFACE, u32 } from "./frame.ts";

/** A transport that keeps what is written; `bufferedBytes` is what nobody took yet. */
export class MemoryTransport {
  chunks: Uint8Array[] = [];
  /** When false, taken bytes still count as buffered (a peer that never reads). */
  drains = true;
  #taken = 0;
  #written = 0;

  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
    this.#written += bytes.length;
  }

  /** Bytes taken but not yet "sent" (a socket still writing them). */
  unsent = 0;

  get bufferedBytes(): number {
    return this.drains ? this.#written - this.#taken + this.unsent : this.#written;
  }

  /** Everything written since the last take, as one array. */
  take(): Uint8Array {
    const n = this.chunks.reduce((a, c) => a + c.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    this.chunks = [];
    this.#taken += n;
    this.unsent = 0;
    return out;
  }
}

/** A parsed frame. */
export interface LoggedFrame {
  type: number;
  flags: number;
  id: number;
  payload: Uint8Array;
}

/** Cuts `bytes` into frames (skipping a client preface at the start). */
export function frames(bytes: Uint8Array): LoggedFrame[] {
  const out: LoggedFrame[] = [];
  let start = 0;
  if (bytes.length >= PREFACE.length && PREFACE.every((b, i) => bytes[i] === b)) {
    start = PREFACE.length;
  }
  const r = new FrameReader({
    onFrame(type, flags, id, buf, s, e) {
      out.push({ type, flags, id, payload: buf.slice(s, e) });
      return true;
    },
  });
  r.maxFrameSize = 1 << 24;
  r.feed(bytes, start);
  return out;
}

/** Error code of a GOAWAY or RST_STREAM frame. */
export function errorCode(f: LoggedFrame): number {
  return u32(f.payload, f.payload.length === 4 ? 0 : 4);
}

/** Records every event of a stream. */
export class RecordingHandler implements StreamHandler {
  events: string[] = [];
  headers: HeaderMap | undefined;
  trailers: HeaderMap | undefined;
  body: Uint8Array[] = [];
  ended = false;
  reset = "";
  resetDetails = "";
  above = 0;
  below = 0;
  stream: Http2StreamEncoder | undefined;
  /** Called after each decode event (to answer from inside dispatch). */
  onEvent: ((h: RecordingHandler) => void) | undefined;

  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.headers = headers;
    this.ended ||= endStream;
    this.events.push(`headers${endStream ? " end" : ""}`);
    this.onEvent?.(this);
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.body.push(data);
    this.ended ||= endStream;
    this.events.push(`data ${data.length}${endStream ? " end" : ""}`);
    this.onEvent?.(this);
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.trailers = trailers;
    this.ended = true;
    this.events.push("trailers");
    this.onEvent?.(this);
  }
  decode1xxHeaders(headers: HeaderMap): void {
    this.events.push(`1xx ${headers.get(":status")}`);
  }
  decodeMetadata(metadata: Map<string, string>): void {
    this.events.push(`metadata ${JSON.stringify([...metadata])}`);
  }
  onResetStream(reason: string, details: string): void {
    this.reset = reason;
    this.resetDetails = details;
    this.events.push(`reset ${reason}`);
  }
  onAboveWriteBufferHighWatermark(): void {
    this.above++;
  }
  onBelowWriteBufferLowWatermark(): void {
    this.below++;
  }

  /** Body bytes received so far. */
  bodyLength(): number {
    return this.body.reduce((a, b) => a + b.length, 0);
  }
}

/** One side of a pair: its connection, transport, stats and what it reported. */
export interface Side {
  conn: Http2Connection;
  transport: MemoryTransport;
  stats: Http2CodecStats;
  store: Store;
  handlers: RecordingHandler[];
  errors: [CodecStatus, string][];
  goaways: [number, number][];
}

/** A connection in `role` over a memory transport, recording everything. */
export function side(
  role: "server" | "client",
  options: Partial<Http2Options> = {},
  onStream?: (h: RecordingHandler) => void,
): Side {
  const store = new Store();
  const stats = http2CodecStats(store);
  const transport = new MemoryTransport();
  const handlers: RecordingHandler[] = [];
  const errors: [CodecStatus, string][] = [];
  const goaways: [number, number][] = [];
  const conn = new Http2Connection(
    role,
    transport,
    {
      newStream(stream) {
        const h = new RecordingHandler();
        h.stream = stream;
        handlers.push(h);
        onStream?.(h);
        return h;
      },
      onGoAway(code, last) {
        goaways.push([code, last]);
      },
      onCodecError(status, details) {
        errors.push([status, details]);
      },
    },
    { ...DEFAULT_HTTP2_OPTIONS, ...options },
    stats,
  );
  return { conn, transport, stats, store, handlers, errors, goaways };
}

/** Moves bytes between two sides until both are quiet. */
export function pump(a: Side, b: Side, rounds = 1000): void {
  for (let i = 0; i < rounds; i++) {
    const ab = a.transport.take();
    const ba = b.transport.take();
    if (ab.length === 0 && ba.length === 0) return;
    if (ab.length > 0) b.conn.dispatch(ab);
    if (ba.length > 0) a.conn.dispatch(ba);
  }
}

/** Request headers. */
export function request(path = "/", method = "GET", extra: string[] = []): HeaderMap {
  return new HeaderMap([
    ":method",
    method,
    ":scheme",
    "http",
    ":path",
    path,
    ":authority",
    "example.com",
    ...extra,
  ]);
}

/** Response headers. */
export function response(status = "200", extra: string[] = []): HeaderMap {
  return new HeaderMap([":status", status, ...extra]);
}
