/**
 * Micro-benchmarks of the HTTP/1 codec: `deno bench src/http/http1/parser_bench.ts`.
 *
 * @module
 */
import { HeaderMap } from "../header_map.ts";
import { encodeChunk, encodeRequestHead, encodeResponseHead } from "./encoder.ts";
import { type MessageHead, type ParserCallbacks, RequestParser, ResponseParser } from "./parser.ts";
import { bytes } from "./test_util.ts";

/** A Chrome navigation request, about 400 bytes on the wire. */
const BROWSER_REQUEST = bytes(
  "GET /products/list?page=2&sort=price HTTP/1.1\r\n" +
    "Host: shop.example.com\r\n" +
    "Connection: keep-alive\r\n" +
    "Upgrade-Insecure-Requests: 1\r\n" +
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " +
    "Chrome/120.0.0.0 Safari/537.36\r\n" +
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
    "Accept-Encoding: gzip, deflate, br\r\n" +
    "Accept-Language: en-US,en;q=0.9\r\n" +
    "Cookie: session=8c1f0e2a9b7d4c3e; theme=dark\r\n" +
    "\r\n",
);

const RESPONSE = bytes(
  "HTTP/1.1 200 OK\r\n" +
    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
    "Content-Type: application/json\r\n" +
    "Content-Length: 1024\r\n" +
    "Cache-Control: no-cache\r\n" +
    "X-Request-Id: 3b1f7d2e-4c5a-4f1b-9e8d-7a6b5c4d3e2f\r\n" +
    "\r\n" + "x".repeat(1024),
);

const CHUNKED_POST = bytes(
  "POST /api/upload HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/octet-stream\r\n" +
    "Transfer-Encoding: chunked\r\n\r\n" +
    ("400\r\n" + "y".repeat(1024) + "\r\n").repeat(4) + "0\r\n\r\n",
);

let sink = 0;
const callbacks: ParserCallbacks = {
  onHead(headers: HeaderMap, head: MessageHead) {
    sink += headers.size + head.headersBytes;
  },
  onBody(chunk: Uint8Array) {
    sink += chunk.length;
  },
  onMessageComplete() {
    sink++;
  },
  onError(status: number) {
    throw new Error(`benchmark input rejected: ${status}`);
  },
};

const keepAlive = new RequestParser(callbacks);
Deno.bench("parse 400-byte browser request (keep-alive parser)", () => {
  keepAlive.execute(BROWSER_REQUEST);
});

Deno.bench("parse 400-byte browser request (new parser)", () => {
  new RequestParser(callbacks).execute(BROWSER_REQUEST);
});

const half = BROWSER_REQUEST.length >> 1;
const split = new RequestParser(callbacks);
Deno.bench("parse 400-byte browser request split in two reads", () => {
  split.execute(BROWSER_REQUEST.subarray(0, half));
  split.execute(BROWSER_REQUEST.subarray(half));
});

const upstream = new ResponseParser(callbacks);
Deno.bench("parse 200 response with 1 KiB body", () => {
  upstream.execute(RESPONSE);
});

const chunked = new RequestParser(callbacks);
Deno.bench("parse chunked POST, 4 x 1 KiB chunks", () => {
  chunked.execute(CHUNKED_POST);
});

const requestHeaders = new HeaderMap([
  ":method",
  "GET",
  ":path",
  "/products/list?page=2&sort=price",
  ":authority",
  "shop.example.com",
  "user-agent",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0",
  "accept",
  "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "accept-encoding",
  "gzip, deflate, br",
  "accept-language",
  "en-US,en;q=0.9",
  "cookie",
  "session=8c1f0e2a9b7d4c3e; theme=dark",
  "x-forwarded-for",
  "10.0.0.1",
  "x-request-id",
  "3b1f7d2e-4c5a-4f1b-9e8d-7a6b5c4d3e2f",
]);
Deno.bench("encode request head (~400 bytes)", () => {
  sink += encodeRequestHead(requestHeaders, false).length;
});

const responseHeaders = new HeaderMap([
  ":status",
  "200",
  "date",
  "Mon, 01 Jan 2024 00:00:00 GMT",
  "content-type",
  "application/json",
  "content-length",
  "1024",
  "x-envoy-upstream-service-time",
  "3",
  "server",
  "envoy",
]);
Deno.bench("encode response head", () => {
  sink += encodeResponseHead(responseHeaders, "HTTP/1.1", false).length;
});

const data = new Uint8Array(16 * 1024);
Deno.bench("encode 16 KiB chunk (zero-copy)", () => {
  const parts = encodeChunk(data);
  sink += parts.length;
});
