/**
 * A tiny HTTP/2 peer harness for the codec's interop tests: the server-role codec behind a
 * real TCP socket, answering each request as an echo, and a client-role helper that fetches
 * over a socket. Nothing of the proxy is involved: this proves the codec against real peers.
 *
 * Server behaviour per request path:
 * - `/size/N`: a body of N bytes ('a'..'z' repeating);
 * - otherwise: the request body echoed back;
 * - a path containing `trailers`: response trailers `x-trailer: done`, plus `x-echo-<name>`
 *   for every request trailer.
 * Response headers carry `x-method`, `x-path` and `x-request-bytes`.
 */
import { Connection } from "../src/network/connection.ts";
import { HeaderMap } from "../src/http/header_map.ts";
import { Store } from "../src/stats/store.ts";
import { type Http2CodecStats, http2CodecStats } from "../src/http/http2/codec_stats.ts";
import {
  CODEC_BUFFER_FLOOD,
  type Http2StreamEncoder,
  type StreamHandler,
} from "../src/http/http2/codec_types.ts";
import {
  DEFAULT_HTTP2_OPTIONS,
  Http2Connection,
  type Http2Options,
} from "../src/http/http2/connection.ts";

const CHUNK = new Uint8Array(65536);
for (let i = 0; i < CHUNK.length; i++) CHUNK[i] = 0x61 + (i % 26);

/** One request being answered. */
class EchoStream implements StreamHandler {
  headers: HeaderMap | undefined;
  body: Uint8Array[] = [];
  bytes = 0;
  trailers: HeaderMap | undefined;
  /** Bytes of a `/size/N` body still to produce, and whether the stream said to stop. */
  toProduce = 0;
  blocked = false;
  withTrailers = false;
  finished = false;
  constructor(readonly stream: Http2StreamEncoder) {}

  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.headers = headers;
    if (endStream) this.respond();
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.body.push(data);
    this.bytes += data.length;
    if (endStream) this.respond();
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.trailers = trailers;
    this.respond();
  }
  onResetStream(): void {
    this.toProduce = 0;
  }
  onAboveWriteBufferHighWatermark(): void {
    this.blocked = true;
  }
  onBelowWriteBufferLowWatermark(): void {
    this.blocked = false;
    this.produce();
  }

  /** Writes `/size/N` body chunks while the stream takes them (a producer that honours flow control). */
  produce(): void {
    while (this.toProduce > 0 && !this.blocked) {
      const len = Math.min(CHUNK.length, this.toProduce);
      this.toProduce -= len;
      this.stream.encodeData(CHUNK.subarray(0, len), false);
    }
    if (this.toProduce === 0 && !this.blocked) this.finish();
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.withTrailers) {
      const t = new HeaderMap(["x-trailer", "done"]);
      this.trailers?.forEach((k, v) => t.add(`x-echo-${k}`, v));
      this.stream.encodeTrailers(t);
    } else this.stream.encodeData(new Uint8Array(0), true);
  }

  respond(): void {
    const path = this.headers!.get(":path") ?? "";
    const sized = /^\/size\/(\d+)/.exec(path);
    const out = new HeaderMap([
      ":status",
      "200",
      "x-method",
      this.headers!.get(":method") ?? "",
      "x-path",
      path,
      "x-request-bytes",
      String(this.bytes),
    ]);
    this.withTrailers = path.includes("trailers");
    this.stream.encodeHeaders(out, false);
    if (sized) {
      this.toProduce = Number(sized[1]);
      this.produce();
      return;
    }
    for (const b of this.body) this.stream.encodeData(b, false);
    this.finish();
  }
}

/** A running echo server. */
export interface EchoServer {
  port: number;
  stats: Http2CodecStats;
  /** Connections closed by a codec error, with the error details. */
  codecErrors: string[];
  close(): void;
}

/** Starts the server-role codec on an ephemeral port. */
export function startEchoServer(options: Partial<Http2Options> = {}): EchoServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const stats = http2CodecStats(new Store());
  const codecErrors: string[] = [];
  const conns = new Set<Connection>();
  const opts = { ...DEFAULT_HTTP2_OPTIONS, ...options };
  (async () => {
    try {
      for await (const raw of listener) {
        const c = new Connection(raw);
        conns.add(c);
        const codec = new Http2Connection(
          "server",
          c,
          {
            newStream: (s) => new EchoStream(s),
            onGoAway() {},
            onCodecError(status, details) {
              codecErrors.push(details);
              if (status === CODEC_BUFFER_FLOOD) c.close();
              else c.closeAfterFlush();
            },
          },
          opts,
          stats,
        );
        c.start({
          onData: (chunk) => void codec.dispatch(chunk),
          onEnd: () => c.closeAfterFlush(),
          onClose: () => {
            conns.delete(c);
            codec.onConnectionClosed();
          },
          onWritable: () => codec.onUnderlyingConnectionBelowWriteBufferLowWatermark(),
        });
      }
    } catch {
      // listener closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    stats,
    codecErrors,
    close() {
      listener.close();
      for (const c of conns) c.close();
    },
  };
}

/** A response fetched by the client-role codec. */
export interface FetchedResponse {
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap | undefined;
}

/** A request for `fetchAll`: a path to GET, or a method, path and body. */
export type FetchRequest = string | { method: string; path: string; body: Uint8Array };

/**
 * Fetches `requests` concurrently over one HTTP/2 connection (prior knowledge) with the
 * client-role codec.
 */
export async function fetchAll(
  port: number,
  authority: string,
  requests: FetchRequest[],
): Promise<FetchedResponse[]> {
  const raw = await Deno.connect({ hostname: "127.0.0.1", port });
  const c = new Connection(raw);
  const results: Promise<FetchedResponse>[] = [];
  const failures: ((e: Error) => void)[] = [];
  const codec = new Http2Connection(
    "client",
    c,
    {
      onGoAway() {},
      onCodecError(_s, details) {
        for (const f of failures) f(new Error(details));
        c.close();
      },
    },
    DEFAULT_HTTP2_OPTIONS,
    http2CodecStats(new Store()),
  );
  c.start({
    onData: (chunk) => void codec.dispatch(chunk),
    onEnd: () => c.close(),
    onClose: () => codec.onConnectionClosed(),
  });
  for (const req of requests) {
    const { method, path, body: upload } = typeof req === "string"
      ? { method: "GET", path: req, body: undefined }
      : req;
    results.push(
      new Promise<FetchedResponse>((resolve, reject) => {
        failures.push(reject);
        const body: Uint8Array[] = [];
        let headers: HeaderMap | undefined;
        let trailers: HeaderMap | undefined;
        const done = () => {
          const n = body.reduce((a, b) => a + b.length, 0);
          const out = new Uint8Array(n);
          let o = 0;
          for (const b of body) {
            out.set(b, o);
            o += b.length;
          }
          resolve({ headers: headers!, body: out, trailers });
        };
        const stream = codec.newStream({
          decodeHeaders(h, end) {
            headers = h;
            if (end) done();
          },
          decodeData(d, end) {
            body.push(d);
            if (end) done();
          },
          decodeTrailers(t) {
            trailers = t;
            done();
          },
          onResetStream(reason) {
            reject(new Error(reason));
          },
          onAboveWriteBufferHighWatermark() {},
          onBelowWriteBufferLowWatermark() {},
        });
        if (!stream) {
          reject(new Error("no stream"));
          return;
        }
        stream.encodeHeaders(
          new HeaderMap([
            ":method",
            method,
            ":scheme",
            "http",
            ":path",
            path,
            ":authority",
            authority,
          ]),
          upload === undefined,
        );
        if (upload !== undefined) stream.encodeData(upload, true);
      }),
    );
  }
  try {
    return await Promise.all(results);
  } finally {
    c.close();
  }
}
