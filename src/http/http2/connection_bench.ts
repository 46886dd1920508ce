/**
 * Micro-benchmarks of the HTTP/2 codec: `deno bench src/http/http2/connection_bench.ts`.
 * The server role answers h2load-like requests (16 streams per read) with 1 KiB bodies, in
 * memory, so the numbers are the codec's own cost per request.
 *
 * @module
 */
import { HeaderMap } from "../header_map.ts";
import {
  DATA,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  frame,
  HEADERS,
  PREFACE,
  settingsFrame,
} from "./frame.ts";
import { HpackDecoder, HpackEncoder } from "./hpack.ts";
import { side } from "./test_util.ts";

const BODY = new Uint8Array(1024).fill(0x61);
const REQUEST = [
  ":method",
  "GET",
  ":scheme",
  "http",
  ":path",
  "/index.html",
  ":authority",
  "127.0.0.1:8080",
  "user-agent",
  "h2load nghttp2/1.52.0",
  "accept-encoding",
  "gzip, deflate",
];

const server = side("server", {}, (h) => {
  h.onEvent = (r) => {
    r.stream!.encodeHeaders(
      new HeaderMap([":status", "200", "content-type", "text/html", "content-length", "1024"]),
      false,
    );
    r.stream!.encodeData(BODY, true);
  };
});
const client = new HpackEncoder();
server.conn.dispatch(PREFACE);
server.conn.dispatch(settingsFrame([]));
let nextId = 1;

/** 16 request HEADERS frames, as one read. */
function batch(): Uint8Array {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 16; i++) {
    const block = new Uint8Array(client.bound(REQUEST));
    const n = client.encode(REQUEST, block, 0);
    frames.push(frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, nextId, block.subarray(0, n)));
    nextId += 2;
  }
  const out = new Uint8Array(frames.reduce((a, f) => a + f.length, 0));
  let o = 0;
  for (const f of frames) {
    out.set(f, o);
    o += f.length;
  }
  return out;
}

Deno.bench("h2 server: 16 requests + 16 responses of 1 KiB", () => {
  server.conn.dispatch(batch());
  server.transport.take();
  server.handlers.length = 0;
});

const encoder = new HpackEncoder();
const warm = new Uint8Array(encoder.bound(REQUEST));
const decoder = new HpackDecoder();
const first = warm.subarray(0, encoder.encode(REQUEST, warm, 0));
decoder.decode(first, 0, first.length, [], 1 << 16, 100);
const indexed = new Uint8Array(encoder.bound(REQUEST));
const repeat = indexed.subarray(0, encoder.encode(REQUEST, indexed, 0));

Deno.bench("hpack: decode a repeated request block (all indexed)", () => {
  decoder.decode(repeat, 0, repeat.length, [], 1 << 16, 100);
});

Deno.bench("hpack: encode a request block", () => {
  encoder.encode(REQUEST, indexed, 0);
});

// ---- client role: the upstream HTTP/2 pool's codec ----

/** A request as the router sends it upstream for an HTTP/1.1 downstream request. */
function upstreamRequest(i: number): HeaderMap {
  return new HeaderMap([
    ":method",
    "GET",
    ":path",
    "/1k",
    "host",
    "127.0.0.1:10000",
    "user-agent",
    "wrk",
    "x-forwarded-proto",
    "http",
    "x-request-id",
    `9c5f3a9e-1d2b-4c8e-9f7a-${String(i).padStart(12, "0")}`,
    "x-envoy-expected-rq-timeout-ms",
    "60000",
  ]);
}

/** nginx's answer for a static 1 KiB file. */
const NGINX_RESPONSE = [
  ":status",
  "200",
  "server",
  "nginx/1.22.1",
  "date",
  "Wed, 02 Dec 2026 12:00:00 GMT",
  "content-type",
  "application/octet-stream",
  "content-length",
  "1024",
  "last-modified",
  "Wed, 02 Dec 2026 11:59:00 GMT",
  "etag",
  '"692ed1d4-400"',
  "accept-ranges",
  "bytes",
];

const upstream = side("client");
const origin = new HpackEncoder();
upstream.conn.dispatch(settingsFrame([]));
upstream.transport.take();
const ignore = {
  decodeHeaders() {},
  decodeData() {},
  decodeTrailers() {},
  onResetStream() {},
  onAboveWriteBufferHighWatermark() {},
  onBelowWriteBufferLowWatermark() {},
};

/** 16 responses (HEADERS, then 1 KiB of DATA with END_STREAM) for streams from `id`, as one read. */
function responses(id: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 16; i++) {
    const block = new Uint8Array(origin.bound(NGINX_RESPONSE));
    const n = origin.encode(NGINX_RESPONSE, block, 0);
    parts.push(frame(HEADERS, FLAG_END_HEADERS, id + 2 * i, block.subarray(0, n)));
    parts.push(frame(DATA, FLAG_END_STREAM, id + 2 * i, BODY));
  }
  const out = new Uint8Array(parts.reduce((a, f) => a + f.length, 0));
  let o = 0;
  for (const f of parts) {
    out.set(f, o);
    o += f.length;
  }
  return out;
}

let clientRequests = 0;
Deno.bench("h2 client: 16 upstream requests + 16 responses of 1 KiB", () => {
  let first = 0;
  for (let i = 0; i < 16; i++) {
    const s = upstream.conn.newStream(ignore)!;
    if (i === 0) first = s.id;
    s.encodeHeaders(upstreamRequest(clientRequests++), true);
  }
  upstream.transport.take();
  upstream.conn.dispatch(responses(first));
  upstream.transport.take();
});
