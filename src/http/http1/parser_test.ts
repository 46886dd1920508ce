import { assert, assertEquals, assertMatch } from "../../testing/assert.ts";
import {
  DEFAULT_MAX_HEADERS_COUNT,
  DEFAULT_MAX_REQUEST_HEADERS_BYTES,
  DEFAULT_MAX_RESPONSE_HEADERS_BYTES,
  RequestParser,
  type RequestParserOptions,
  ResponseParser,
} from "./parser.ts";
import { bytes, feed, type ParserEvent, Recorder, splits, text } from "./test_util.ts";

function request(wire: string, opts: Partial<RequestParserOptions> = {}) {
  const rec = new Recorder();
  const parser = new RequestParser(rec, opts);
  const data = bytes(wire);
  const consumed = parser.execute(data);
  return { rec, parser, consumed, data };
}

function response(wire: string, method = "GET") {
  const rec = new Recorder();
  const parser = new ResponseParser(rec);
  parser.setRequestMethod(method);
  const consumed = parser.execute(bytes(wire));
  return { rec, parser, consumed };
}

/** Asserts that parsing `wire` fails with `status` and `detail`, and the message matches. */
function rejects(wire: string, status: number, detail: string, message?: RegExp) {
  const { rec } = request(wire);
  const err = rec.error;
  assert(err !== undefined, `expected ${status} for ${JSON.stringify(wire)}`);
  assertEquals([err.error, err.detail], [status, detail], JSON.stringify(wire));
  if (message) assertMatch(err.message, message);
  // Nothing is reported after the error, and the parser stays dead.
  assertEquals(rec.events.at(-1), err);
}

function accepts(wire: string): Recorder {
  const { rec } = request(wire);
  assertEquals(rec.error, undefined, JSON.stringify(wire));
  return rec;
}

const GET = "GET /index.html?q=1 HTTP/1.1\r\n" +
  "Host: www.example.com\r\n" +
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
  "Accept: text/html,*/*;q=0.8\r\n" +
  "Accept-Encoding: gzip, deflate, br  \r\n" +
  "X-Custom-Thing:\tvalue with\ttabs\r\n" +
  "x-lower: v\r\n" +
  "Cookie: a=b; c=d\r\n" +
  "\r\n";

Deno.test("request: pseudo-headers first, names lower-cased, OWS trimmed", () => {
  const { rec, consumed, data } = request(GET);
  assertEquals(consumed, data.length);
  assertEquals(rec.heads, [[
    [":method", "GET"],
    [":path", "/index.html?q=1"],
    [":authority", "www.example.com"],
    ["user-agent", "Mozilla/5.0 (X11; Linux x86_64)"],
    ["accept", "text/html,*/*;q=0.8"],
    ["accept-encoding", "gzip, deflate, br"],
    ["x-custom-thing", "value with\ttabs"],
    ["x-lower", "v"],
    ["cookie", "a=b; c=d"],
  ]]);
  assertEquals(rec.infos[0], {
    version: "HTTP/1.1",
    keepAlive: true,
    chunked: false,
    contentLength: -1,
    upgrade: false,
    expectContinue: false,
    headersBytes: data.length,
    status: 0,
    endStream: true,
  });
  assertEquals(rec.events.at(-1), { complete: undefined });
});

Deno.test("request: empty header value and obs-text bytes survive as latin1", () => {
  const rec = accepts("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Bin: caf\xe9 \x80\xff\r\n\r\n");
  assertEquals(rec.heads[0].slice(3), [["x-empty", ""], ["x-bin", "caf\xe9 \x80\xff"]]);
});

Deno.test("request: Content-Length body is delivered as views, not copies", () => {
  const { rec, data } = request("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  assertEquals(rec.events.slice(1), [{ body: "hello" }, { complete: undefined }]);
  assertEquals(rec.infos[0].contentLength, 5);
  assertEquals(rec.infos[0].endStream, false);
  assert(rec.chunks.every((c) => c.buffer === data.buffer), "body must be a view of the input");
});

Deno.test("request: Content-Length 0 and no framing mean no body", () => {
  for (const extra of ["Content-Length: 0\r\n", ""]) {
    const rec = accepts(`POST / HTTP/1.1\r\nHost: h\r\n${extra}\r\n`);
    assertEquals(rec.infos[0].endStream, true);
    assertEquals(rec.events.at(-1), { complete: undefined });
  }
});

const CHUNKED = "POST /upload HTTP/1.1\r\n" +
  "Host: h\r\n" +
  "Transfer-Encoding: Chunked\r\n" +
  "\r\n" +
  "5;name=value\r\nhello\r\n" +
  "A ; ext\r\n, world!!!\r\n" +
  "0\r\n" +
  "X-Checksum: abc\r\n" +
  "Server-Timing: t;dur=1\r\n" +
  "\r\n";

Deno.test("request: chunked body, extensions ignored, trailers parsed", () => {
  const { rec, consumed, data } = request(CHUNKED);
  assertEquals(consumed, data.length);
  assertEquals(rec.infos[0].chunked, true);
  assertEquals(rec.infos[0].endStream, false);
  assertEquals(rec.events.slice(1), [
    { body: "hello, world!!!" },
    { complete: [["x-checksum", "abc"], ["server-timing", "t;dur=1"]] },
  ]);
  assert(rec.chunks.every((c) => c.buffer === data.buffer));
});

Deno.test("request: chunked body without trailers completes with undefined", () => {
  const rec = accepts("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  assertEquals(rec.events.slice(1), [{ complete: undefined }]);
});

const PIPELINE = GET +
  "\r\n" + // a stray CRLF between requests is ignored (RFC 9112 §2.2)
  "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
  CHUNKED +
  "GET /last HTTP/1.0\r\n\r\n";

const SAMPLES = [GET, CHUNKED, PIPELINE, "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"];

Deno.test("request: every split point and byte-by-byte give the same events", () => {
  for (const wire of SAMPLES) {
    const whole = request(wire).rec.events;
    assertEquals(whole.filter((e) => "error" in e), []);
    for (const pieces of splits(bytes(wire))) {
      const rec = new Recorder();
      const rest = feed(new RequestParser(rec), pieces);
      assertEquals(rest.length, 0);
      assertEquals(rec.events, whole, `split into ${pieces.length} pieces`);
    }
  }
});

Deno.test("request: pipelined requests are all parsed in one call", () => {
  const { rec, consumed, data } = request(PIPELINE);
  assertEquals(consumed, data.length);
  assertEquals(rec.heads.map((h) => h[1]), [
    [":path", "/index.html?q=1"],
    [":path", "/a"],
    [":path", "/upload"],
    [":path", "/last"],
  ]);
  assertEquals(rec.events.filter((e) => "complete" in e).length, 4);
});

Deno.test("request: pause() in onMessageComplete stops right after that message", () => {
  const rec = new Recorder();
  const parser = new RequestParser(rec);
  rec.after = (e) => {
    if ("complete" in e) parser.pause();
  };
  const data = bytes(PIPELINE);
  const n1 = parser.execute(data);
  assertEquals(n1, bytes(GET).length);
  assert(parser.paused);
  assertEquals(parser.execute(data.subarray(n1)), 0, "paused: nothing consumed");
  assertEquals(rec.heads.length, 1);
  parser.resume();
  const n2 = parser.execute(data.subarray(n1));
  assertEquals(rec.heads.length, 2);
  assertEquals(text(data.subarray(n1, n1 + n2)).endsWith("abc"), true);
});

Deno.test("request: pause() in onHead lets the message finish, then stops", () => {
  const rec = new Recorder();
  const parser = new RequestParser(rec);
  rec.after = (e) => {
    if ("head" in e) parser.pause();
  };
  const two = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi" + GET;
  const n = parser.execute(bytes(two));
  assertEquals(n, two.length - GET.length);
  assertEquals(rec.events.slice(1), [{ body: "hi" }, { complete: undefined }]);
});

Deno.test("request: WebSocket upgrade stops after the head; the rest is tunnel data", () => {
  const head = "GET /chat HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n" +
    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const { rec, parser, consumed } = request(head + "\x81\x05hello");
  assertEquals(consumed, head.length);
  assertEquals(rec.infos[0].upgrade, true);
  assertEquals(rec.infos[0].endStream, false);
  assertEquals(rec.events.length, 1, "no onMessageComplete for an upgrade");
  assertEquals(parser.execute(bytes("more")), 0);
});

Deno.test("request: Upgrade without Connection: upgrade is not an upgrade", () => {
  const rec = accepts("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
  assertEquals(rec.infos[0].upgrade, false);
});

Deno.test("request: h2c upgrade offers are stripped, as Envoy does", () => {
  const rec = accepts(
    "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings, te\r\n" +
      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
  );
  assertEquals(rec.infos[0].upgrade, false);
  assertEquals(rec.heads[0].slice(3), [["connection", "te"]]);
  assertEquals(rec.events.at(-1), { complete: undefined });
});

Deno.test("request: CONNECT uses authority-form, has no :path, and tunnels", () => {
  const head = "CONNECT example.com:443 HTTP/1.1\r\nHost: ignored:1\r\n\r\n";
  const { rec, consumed } = request(head + "\x16\x03\x01");
  assertEquals(consumed, head.length);
  assertEquals(rec.heads, [[[":method", "CONNECT"], [":authority", "example.com:443"]]]);
  assertEquals(rec.infos[0].upgrade, true);
});

Deno.test("request: CONNECT framing follows Envoy", () => {
  rejects(
    "CONNECT h:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
    400,
    "http1.body_disallowed",
  );
  rejects(
    "CONNECT h:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    501,
    "http1.invalid_transfer_encoding",
  );
  const rec = accepts("CONNECT h:443 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  assertEquals(rec.heads[0], [[":method", "CONNECT"], [":authority", "h:443"]]);
  rejects("CONNECT /path HTTP/1.1\r\n\r\n", 400, "http1.invalid_url");
});

Deno.test("request: absolute-form sets :scheme, :path and :authority; Host is ignored", () => {
  const rec = accepts("GET http://host:8080/p?q HTTP/1.1\r\nHost: other\r\nAccept: */*\r\n\r\n");
  assertEquals(rec.heads[0], [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/p?q"],
    [":authority", "host:8080"],
    ["accept", "*/*"],
  ]);
  assertEquals(accepts("GET HTTPS://h HTTP/1.1\r\n\r\n").heads[0].slice(1), [
    [":scheme", "https"],
    [":path", "/"],
    [":authority", "h"],
  ]);
  assertEquals(accepts("GET http://h?x=1 HTTP/1.1\r\n\r\n").heads[0][2], [":path", "/?x=1"]);
  rejects("GET ftp://h/ HTTP/1.1\r\n\r\n", 400, "http1.invalid_scheme");
  rejects("GET h/p HTTP/1.1\r\n\r\n", 400, "http1.invalid_url");
  rejects("GET http:///p HTTP/1.1\r\n\r\n", 400, "http1.invalid_url");
  rejects("GET http://user@h/p HTTP/1.1\r\n\r\n", 400, "http1.invalid_url");
});

Deno.test("request: OPTIONS * keeps * as the path; * is invalid for other methods", () => {
  const rec = accepts("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  assertEquals(rec.heads[0].slice(0, 3), [[":method", "OPTIONS"], [":path", "*"], [
    ":authority",
    "h",
  ]]);
  rejects("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "http1.invalid_url");
});

Deno.test("request: missing Host leaves no :authority; two Hosts are rejected", () => {
  const rec = accepts("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
  assertEquals(rec.heads[0], [[":method", "GET"], [":path", "/"], ["accept", "*/*"]]);
  rejects("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "http1.codec_error");
});

Deno.test("request: keep-alive follows the version and Connection tokens", () => {
  const keepAlive = (version: string, conn: string) =>
    accepts(`GET / ${version}\r\nHost: h\r\n${conn}\r\n`).infos[0].keepAlive;
  assertEquals(keepAlive("HTTP/1.1", ""), true);
  assertEquals(keepAlive("HTTP/1.1", "Connection: close\r\n"), false);
  assertEquals(keepAlive("HTTP/1.1", "Connection: foo, CLOSE\r\n"), false);
  assertEquals(keepAlive("HTTP/1.1", "Connection: te\r\nConnection: close\r\n"), false);
  assertEquals(keepAlive("HTTP/1.0", ""), false);
  assertEquals(keepAlive("HTTP/1.0", "Connection: Keep-Alive\r\n"), true);
  assertEquals(keepAlive("HTTP/1.0", "Connection: keep-alive, close\r\n"), false);
});

Deno.test("request: Expect: 100-continue is flagged on HTTP/1.1 only", () => {
  const expect = (version: string, value: string) =>
    accepts(`POST / ${version}\r\nHost: h\r\nExpect: ${value}\r\nContent-Length: 1\r\n\r\n`)
      .infos[0].expectContinue;
  assertEquals(expect("HTTP/1.1", "100-continue"), true);
  assertEquals(expect("HTTP/1.1", "100-Continue"), true);
  assertEquals(expect("HTTP/1.1", "something"), false);
  assertEquals(expect("HTTP/1.0", "100-continue"), false);
});

Deno.test("request: versions other than 1.0/1.1 are treated as HTTP/1.0, as Envoy does", () => {
  for (const v of ["HTTP/1.0", "HTTP/0.9", "HTTP/1.2", "HTTP/2.0"]) {
    assertEquals(accepts(`GET / ${v}\r\nHost: h\r\n\r\n`).infos[0].version, "HTTP/1.0", v);
  }
  for (const v of ["HTTP/1.10", "HTTP/x.1", "HTTPS/1.1", "http/1.1", "HTTP/11", "HTTP/1.1 "]) {
    rejects(`GET / ${v}\r\nHost: h\r\n\r\n`, 400, "http1.codec_error", /HPE_INVALID_VERSION/);
  }
  rejects("GET /\r\nHost: h\r\n\r\n", 400, "http1.codec_error");
});

Deno.test("request: Content-Length together with Transfer-Encoding is a 400", () => {
  rejects(
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
    "http1.content_length_and_chunked_not_allowed",
  );
  rejects(
    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
    400,
    "http1.content_length_and_chunked_not_allowed",
  );
});

Deno.test("request: any transfer coding but exactly chunked is a 501", () => {
  for (
    const te of [
      "Transfer-Encoding: gzip, chunked\r\n",
      "Transfer-Encoding: chunked, gzip\r\n",
      "Transfer-Encoding: xchunked\r\n",
      "Transfer-Encoding: chunked;q=1\r\n",
      "Transfer-Encoding: identity\r\n",
      "Transfer-Encoding:\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ]
  ) {
    rejects(
      `POST / HTTP/1.1\r\nHost: h\r\n${te}\r\n`,
      501,
      "http1.invalid_transfer_encoding",
      /unsupported transfer encoding/,
    );
  }
  assertEquals(
    accepts("POST / HTTP/1.1\r\nTransfer-Encoding:  CHUNKED \r\n\r\n0\r\n\r\n").infos[0].chunked,
    true,
  );
});

Deno.test("request: bad chunk framing is a 400", () => {
  const post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (
    const body of [
      "zz\r\n", // not hex
      "\r\n", // empty size
      ";ext\r\n", // extension without size
      "-5\r\n",
      "0x5\r\n",
      "20000000000000\r\n", // 2^53: beyond exact counting
      "ffffffffffffffffff\r\n",
      "5 \r\nhello\r\n", // whitespace is allowed only before an extension
      "5\nhello\r\n", // bare LF after the size
      "5\rhello\r\n", // bare CR
      "5\r\nhelloX\r\n", // data not followed by CRLF
      "5\r\nhello\n0\r\n\r\n",
      "5;a=\x00\r\nhello\r\n", // control character hidden in an extension
      "5;a\nb\r\nhello\r\n",
    ]
  ) {
    const { rec } = request(post + body);
    assertEquals(rec.error?.error, 400, JSON.stringify(body));
    assertEquals(rec.error?.message, "http/1.1 protocol error: HPE_INVALID_CHUNK_SIZE");
  }
  const ok = accepts(post + "1fffffffffffff\r\n"); // 2^53-1: fine, just long
  assertEquals(ok.error, undefined);
  assertEquals(accepts(post + "005 ;a=b;c\r\nhello\r\n0\r\n\r\n").events[1], { body: "hello" });
});

Deno.test("request: invalid header names are a 400", () => {
  for (
    const line of [
      "Fo o: x",
      "Foo@: x",
      "Foo(: x",
      "Fo\x00o: x",
      "F\xe9o: x",
      ": x",
      "Foo",
      'Fo"o: x',
    ]
  ) {
    rejects(`GET / HTTP/1.1\r\nHost: h\r\n${line}\r\n\r\n`, 400, "http1.codec_error");
  }
});

Deno.test("request: space before the colon is a 400", () => {
  rejects(
    "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    400,
    "http1.codec_error",
    /HPE_INVALID_HEADER_TOKEN/,
  );
  rejects("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400, "http1.codec_error");
});

Deno.test("request: control characters in values are a 400 (HTAB and obs-text are fine)", () => {
  for (const ch of ["\x00", "\x01", "\x1f", "\x7f", "\x0b"]) {
    rejects(`GET / HTTP/1.1\r\nHost: h\r\nX: a${ch}b\r\n\r\n`, 400, "http1.invalid_characters");
  }
  rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400, "http1.codec_error");
  rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n", 400, "http1.codec_error");
  accepts("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\x80\xff\r\n\r\n");
});

Deno.test("request: obs-fold (continuation lines) is a 400", () => {
  rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400, "http1.codec_error");
  rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400, "http1.codec_error");
  rejects("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, "http1.codec_error");
});

Deno.test("request: bare LF line endings are a 400, however they arrive", () => {
  const wire = "GET / HTTP/1.1\nHost: h\n\n";
  rejects(wire, 400, "http1.codec_error", /HPE_CR_EXPECTED/);
  rejects("GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "http1.codec_error", /HPE_CR_EXPECTED/);
  rejects("GET / HTTP/1.1\r\nHost: h\r\n\n", 400, "http1.codec_error");
  for (const pieces of splits(bytes(wire))) {
    const rec = new Recorder();
    feed(new RequestParser(rec), pieces);
    assertEquals(rec.error?.error, 400);
  }
});

Deno.test("request: one Content-Length with one number (Envoy's balsa refuses duplicates)", () => {
  const cl = (...values: string[]) =>
    `POST / HTTP/1.1\r\nHost: h\r\n${
      values.map((v) => `Content-Length: ${v}\r\n`).join("")
    }\r\nhello`;
  assertEquals(accepts(cl("005")).infos[0].contentLength, 5);
  rejects(cl("5", "5"), 400, "http1.codec_error", /HPE_UNEXPECTED_CONTENT_LENGTH/);
  rejects(cl("5", "6"), 400, "http1.codec_error", /HPE_UNEXPECTED_CONTENT_LENGTH/);
  rejects(cl("5", "5, 6"), 400, "http1.codec_error", /HPE_UNEXPECTED_CONTENT_LENGTH/);
  for (
    const bad of ["", "abc", "-1", "+5", "5a", "1 2", "5,", ",5", "0x10", "9007199254740992"]
      .concat(["5, 5", "1, 2"])
  ) {
    rejects(cl(bad), 400, "http1.codec_error", /HPE_INVALID_CONTENT_LENGTH/);
  }
});

Deno.test("request: methods must be known tokens unless custom methods are allowed", () => {
  rejects("G(ET / HTTP/1.1\r\n\r\n", 400, "http1.codec_error", /HPE_INVALID_METHOD/);
  rejects(" GET / HTTP/1.1\r\n\r\n", 400, "http1.codec_error", /HPE_INVALID_METHOD/);
  rejects("get / HTTP/1.1\r\n\r\n", 400, "http1.codec_error", /HPE_INVALID_METHOD/);
  rejects("FOO / HTTP/1.1\r\n\r\n", 400, "http1.codec_error", /HPE_INVALID_METHOD/);
  const { rec } = request("FOO-BAR / HTTP/1.1\r\nHost: h\r\n\r\n", { allowCustomMethods: true });
  assertEquals(rec.heads[0][0], [":method", "FOO-BAR"]);
  for (const m of ["PATCH", "PURGE", "M-SEARCH", "PROPFIND", "UNSUBSCRIBE"]) {
    assertEquals(accepts(`${m} / HTTP/1.1\r\n\r\n`).heads[0][0], [":method", m]);
  }
});

Deno.test("request: a TLS handshake on a plaintext port fails on its first byte", () => {
  const rec = new Recorder();
  new RequestParser(rec).execute(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00]));
  assertEquals(rec.error?.message, "http/1.1 protocol error: HPE_INVALID_METHOD");
});

Deno.test("request: request-targets with spaces or control characters are a 400", () => {
  rejects("GET /a\x01b HTTP/1.1\r\n\r\n", 400, "http1.codec_error", /HPE_INVALID_URL/);
  rejects("GET /a\x7f HTTP/1.1\r\n\r\n", 400, "http1.codec_error", /HPE_INVALID_URL/);
  rejects("GET /caf\xe9 HTTP/1.1\r\n\r\n", 400, "http1.codec_error", /HPE_INVALID_URL/);
  rejects("GET  / HTTP/1.1\r\n\r\n", 400, "http1.codec_error", /HPE_INVALID_URL/);
  rejects("GET /a b HTTP/1.1\r\n\r\n", 400, "http1.codec_error");
  rejects("GET /a\tb HTTP/1.1\r\n\r\n", 400, "http1.codec_error");
});

Deno.test("request: heads over maxHeadersBytes are a 431", () => {
  const limit = 1024;
  const head = (pad: number) => `GET / HTTP/1.1\r\nX: ${"a".repeat(pad)}\r\n\r\n`;
  const fits = head(limit - head(0).length);
  assertEquals(fits.length, limit);
  assertEquals(request(fits, { maxHeadersBytes: limit }).rec.error, undefined);
  const { rec } = request(head(limit - head(0).length + 1), { maxHeadersBytes: limit });
  assertEquals([rec.error?.error, rec.error?.detail], [431, "http1.headers_too_large"]);
  const longLine = request(`GET /${"a".repeat(limit)} HTTP/1.1\r\n\r\n`, {
    maxHeadersBytes: limit,
  });
  assertEquals(longLine.rec.error?.error, 431);
  assertEquals(DEFAULT_MAX_REQUEST_HEADERS_BYTES, 60 * 1024);
  const big = request(`GET / HTTP/1.1\r\nX: ${"a".repeat(60 * 1024)}\r\n\r\n`);
  assertEquals(big.rec.error?.error, 431);
});

Deno.test("request: an endless head is refused once it passes the limit, byte by byte too", () => {
  const rec = new Recorder();
  const parser = new RequestParser(rec, { maxHeadersBytes: 100 });
  const line = bytes("X-Drip: aaaaaaaa\r\n");
  parser.execute(bytes("GET / HTTP/1.1\r\n"));
  for (let i = 0; i < 10 && rec.error === undefined; i++) {
    for (const b of line) parser.execute(new Uint8Array([b]));
  }
  assertEquals([rec.error?.error, rec.error?.detail], [431, "http1.headers_too_large"]);
});

Deno.test("request: more than maxHeadersCount headers is a 431", () => {
  const wire = (n: number) =>
    "GET / HTTP/1.1\r\n" + Array.from({ length: n }, (_, i) => `x-h${i}: v\r\n`).join("") +
    "\r\n";
  assertEquals(DEFAULT_MAX_HEADERS_COUNT, 100);
  assertEquals(accepts(wire(100)).heads[0].length, 102);
  rejects(wire(101), 431, "http1.too_many_headers");
  assertEquals(request(wire(3), { maxHeadersCount: 2 }).rec.error?.error, 431);
});

Deno.test("request: trailers follow the header rules", () => {
  const post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n";
  rejects(post + "Bad Name: x\r\n\r\n", 400, "http1.codec_error");
  rejects(post + "X: a\x00b\r\n\r\n", 400, "http1.invalid_characters");
  rejects(post + "X: a\r\n b\r\n\r\n", 400, "http1.codec_error");
  const { rec } = request(post + `X: ${"a".repeat(200)}\r\n\r\n`, { maxHeadersBytes: 100 });
  assertEquals([rec.error?.error, rec.error?.detail], [431, "http1.headers_too_large"]);
  assertMatch(rec.error?.message, /trailers size exceeds limit/);
});

Deno.test("request: EOF is an error only in the middle of a message", () => {
  const eof = (wire: string) => {
    const rec = new Recorder();
    const parser = new RequestParser(rec);
    parser.execute(bytes(wire));
    const mid = parser.midMessage;
    parser.onEof();
    return { mid, error: rec.error };
  };
  assertEquals(eof(""), { mid: false, error: undefined });
  assertEquals(eof(GET), { mid: false, error: undefined });
  assertEquals(eof("\r\n"), { mid: false, error: undefined });
  assertEquals(eof("\r"), { mid: false, error: undefined });
  for (
    const partial of [
      "G",
      "GET / HTTP/1.1\r\nHost: h\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
    ]
  ) {
    const r = eof(partial);
    assertEquals(r.mid, true, partial);
    assertEquals(r.error?.message, "http/1.1 protocol error: HPE_INVALID_EOF_STATE");
  }
});

Deno.test("request: a dead parser consumes nothing more", () => {
  const { rec, parser } = request("BAD\x00 / HTTP/1.1\r\n\r\n");
  assertEquals(rec.events.length, 1);
  parser.execute(bytes(GET));
  parser.onEof();
  assertEquals(rec.events.length, 1);
});

// ---- responses ---------------------------------------------------------------------------

Deno.test("response: status, headers (Host is a plain header), Content-Length body", () => {
  const { rec } = response("HTTP/1.1 200 OK\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi");
  assertEquals(rec.heads, [[[":status", "200"], ["host", "h"], ["content-length", "2"]]]);
  assertEquals(rec.infos[0].status, 200);
  assertEquals(rec.events.slice(1), [{ body: "hi" }, { complete: undefined }]);
});

Deno.test("response: 100 Continue is reported without completing, then the final response", () => {
  const { rec, parser } = response(
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n" +
      "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    "POST",
  );
  assertEquals(rec.events.map((e) => Object.keys(e)[0]), ["head", "head", "head", "complete"]);
  assertEquals(rec.infos.map((i) => [i.status, i.endStream]), [
    [100, false],
    [103, false],
    [201, true],
  ]);
  assertEquals(parser.midMessage, false);
});

Deno.test("response: EOF after a 1xx is mid-message", () => {
  const { rec, parser } = response("HTTP/1.1 100 Continue\r\n\r\n");
  assertEquals(parser.midMessage, true);
  parser.onEof();
  assertEquals(rec.error?.error, 502);
});

Deno.test("response: 101 Switching Protocols stops the parser for the tunnel", () => {
  const head =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  const { rec, consumed } = response(head + "\x81\x00");
  assertEquals(consumed, head.length);
  assertEquals(rec.infos[0].upgrade, true);
  assertEquals(rec.events.length, 1);
});

Deno.test("response: CONNECT 2xx is a tunnel; a refused CONNECT is a normal response", () => {
  const ok = response("HTTP/1.1 200 Connection established\r\n\r\ntunnel", "CONNECT");
  assertEquals([ok.consumed, ok.rec.infos[0].upgrade], [39, true]);
  const no = response("HTTP/1.1 407 Auth\r\nContent-Length: 1\r\n\r\nx", "CONNECT");
  assertEquals(no.rec.infos[0].upgrade, false);
  assertEquals(no.rec.events.at(-1), { complete: undefined });
});

Deno.test("response: HEAD, 204 and 304 have no body whatever the headers say", () => {
  const next = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz";
  const cases: [string, string][] = [
    ["HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"],
    ["HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"],
    ["GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"],
    ["GET", "HTTP/1.1 204 No Content\r\n\r\n"],
  ];
  for (const [method, head] of cases) {
    const rec = new Recorder();
    const parser = new ResponseParser(rec);
    parser.setRequestMethod(method);
    const n = parser.execute(bytes(head + next));
    assertEquals(n, head.length + next.length, head);
    assertEquals(rec.infos[0].endStream, true);
    assertEquals(rec.events.slice(1), [
      { complete: undefined },
      rec.events[2],
      { body: "z" },
      { complete: undefined },
    ]);
  }
});

Deno.test("response: setRequestMethod lasts for one response", () => {
  const rec = new Recorder();
  const parser = new ResponseParser(rec);
  parser.setRequestMethod("HEAD");
  const wire = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n";
  parser.execute(bytes(wire + wire + "x"));
  assertEquals(rec.events.map((e) => Object.keys(e)[0]), [
    "head",
    "complete",
    "head",
    "body",
    "complete",
  ]);
});

Deno.test("response: framing on 1xx/204 is rejected as Envoy does, except a zero length", () => {
  const err = (wire: string) => response(wire).rec.error;
  assertEquals(
    err("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n")?.detail,
    "http1.transfer_encoding_not_allowed",
  );
  assertEquals(
    err("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n")?.detail,
    "http1.content_length_not_allowed",
  );
  assertEquals(err("HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n")?.error, 502);
  const { rec } = response("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX: y\r\n\r\n");
  assertEquals(rec.heads[0], [[":status", "204"], ["x", "y"]]);
});

Deno.test("response: without length or chunking the body runs to EOF", () => {
  const { rec, parser } = response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome");
  assertEquals(rec.infos[0].keepAlive, false);
  parser.execute(bytes(" more"));
  assertEquals(rec.events.at(-1), { body: "some more" });
  parser.onEof();
  assertEquals(rec.events.at(-1), { complete: undefined });
  assertEquals(rec.error, undefined);
});

Deno.test("response: chunked body with trailers", () => {
  const { rec } = response(
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nGrpc-Status: 0\r\n\r\n",
  );
  assertEquals(rec.events.slice(1), [{ body: "abc" }, { complete: [["grpc-status", "0"]] }]);
});

Deno.test("response: keep-alive follows the version and Connection", () => {
  const ka = (wire: string) => response(wire).rec.infos[0].keepAlive;
  assertEquals(ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), true);
  assertEquals(ka("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"), false);
  assertEquals(ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), false);
  assertEquals(ka("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"), true);
});

Deno.test("response: status lines", () => {
  assertEquals(response("HTTP/1.1 200\r\n\r\n").rec.infos[0].status, 200);
  assertEquals(response("HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n").rec.infos[0].status, 599);
  for (
    const bad of [
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 099 OK\r\n\r\n",
      "HTTP/1.1  200 OK\r\n\r\n",
      "HTTP/1.1 200 O\x00K\r\n\r\n",
      "HTTP/1.1 200 OK\n\r\n",
      "ICY 200 OK\r\n\r\n",
    ]
  ) {
    const err = response(bad).rec.error;
    assertEquals([err?.error, err?.detail], [502, "http1.codec_error"], JSON.stringify(bad));
  }
});

Deno.test("response: protocol errors are 502s", () => {
  const err = (wire: string) => response(wire).rec.error;
  assertEquals(
    err("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")?.error,
    502,
  );
  assertEquals(
    err("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")?.error,
    502,
  );
  assertEquals(err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")?.error, 502);
  const big = `HTTP/1.1 200 OK\r\nX: ${"a".repeat(DEFAULT_MAX_RESPONSE_HEADERS_BYTES)}\r\n\r\n`;
  assertEquals([err(big)?.error, err(big)?.detail], [502, "http1.headers_too_large"]);
  const fine = `HTTP/1.1 200 OK\r\nX: ${"a".repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`;
  assertEquals(err(fine), undefined);
});

Deno.test("response: EOF inside a length-delimited body is an error", () => {
  const { rec, parser } = response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
  parser.onEof();
  assertEquals(rec.error?.error, 502);
  assertMatch(rec.error?.message, /HPE_INVALID_EOF_STATE/);
});

const RESPONSES = [
  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\nabc",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10;x=y\r\n0123456789abcdef\r\n" +
  "0\r\nX-T: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
];

Deno.test("response: every split point and byte-by-byte give the same events", () => {
  for (const wire of RESPONSES) {
    const whole = response(wire).rec.events;
    assertEquals(whole.filter((e: ParserEvent) => "error" in e), []);
    for (const pieces of splits(bytes(wire))) {
      const rec = new Recorder();
      const parser = new ResponseParser(rec);
      parser.setRequestMethod("GET");
      assertEquals(feed(parser, pieces).length, 0);
      assertEquals(rec.events, whole);
    }
  }
});

Deno.test("split feeding keeps the unconsumed tunnel bytes", () => {
  const head = "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n";
  const wire = bytes(head + "TUNNEL");
  for (const pieces of splits(wire)) {
    const rec = new Recorder();
    const rest = feed(new RequestParser(rec), pieces);
    assertEquals(text(rest), "TUNNEL");
    assertEquals(rec.events.length, 1);
  }
});

/** A small deterministic PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPieces(data: Uint8Array, rnd: () => number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < data.length;) {
    const n = 1 + Math.floor(rnd() * 40);
    pieces.push(data.subarray(i, i + n));
    i += n;
  }
  return pieces;
}

Deno.test("mutated messages never throw, and split feeding agrees with whole feeding", () => {
  const rnd = prng(42);
  const alphabet = bytes("\r\n \t:;,0aAzZ-\x00\x7f\x80\xff");
  for (const sample of [...SAMPLES, ...RESPONSES]) {
    const isResponse = sample.startsWith("HTTP/");
    const make = (rec: Recorder) => isResponse ? new ResponseParser(rec) : new RequestParser(rec);
    for (let round = 0; round < 300; round++) {
      const data = bytes(sample);
      for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
        data[Math.floor(rnd() * data.length)] = alphabet[Math.floor(rnd() * alphabet.length)];
      }
      const whole = new Recorder();
      const wholeParser = make(whole);
      const wholeRest = feed(wholeParser, [data]);
      wholeParser.onEof();
      const split = new Recorder();
      const splitParser = make(split);
      const splitRest = feed(splitParser, randomPieces(data, rnd));
      splitParser.onEof();
      if (whole.error === undefined) {
        assertEquals(split.events, whole.events, JSON.stringify(text(data)));
        assertEquals(text(splitRest), text(wholeRest));
      } else {
        // With several faults, which one is reported first may depend on the split.
        assert(split.error !== undefined, JSON.stringify(text(data)));
      }
    }
  }
});

Deno.test("random bytes never throw", () => {
  const rnd = prng(7);
  for (let round = 0; round < 2000; round++) {
    const data = Uint8Array.from(
      { length: 1 + Math.floor(rnd() * 64) },
      () => Math.floor(rnd() * 256),
    );
    for (const parser of [new RequestParser(new Recorder()), new ResponseParser(new Recorder())]) {
      feed(parser, randomPieces(data, rnd));
      parser.onEof();
    }
  }
});

Deno.test("Host: characters Envoy's authority check refuses are a 400 http.invalid_authority", () => {
  for (const host of ["a b", "a\tb", 'a"b', "a/b", "a?b", "a#b", "a{b}", "a\\b", "a<b>", "a\xe9"]) {
    rejects(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 400, "http.invalid_authority");
  }
  for (const host of ["a.example:8080", "[::1]:80", "user@host", "a-b_c~d!$&'()*+,;=%41"]) {
    accepts(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  }
});

Deno.test("stop() from a callback: nothing more is reported or consumed, in any split", () => {
  const wire = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
    "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  for (const at of ["head", "body", "complete"] as const) {
    for (const pieces of splits(bytes(wire))) {
      const rec = new Recorder();
      const p = new RequestParser(rec);
      rec.after = (e) => {
        if (at === "head" && "head" in e) p.stop();
        if (at === "body" && "body" in e) p.stop();
        if (at === "complete" && "complete" in e) p.stop();
      };
      const rest = feed(p, pieces);
      assert(p.stopped);
      const last = rec.events.at(-1)!;
      assert(at in last, `${at}: ${JSON.stringify(rec.events)}`);
      assertEquals(rec.heads.length, 1);
      assert(rest.length > 0, "the rest is left unconsumed");
      assertEquals(p.execute(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")), 0);
    }
  }
});

Deno.test("a response parser paused at each message end gives back what follows the response", () => {
  const rec = new Recorder();
  const p = new ResponseParser(rec);
  p.setRequestMethod("GET");
  rec.after = (e) => {
    if ("complete" in e) p.pause();
  };
  const wire = bytes("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 302 Found\r\n");
  assertEquals(p.execute(wire), wire.length - "HTTP/1.1 302 Found\r\n".length);
  assertEquals(rec.heads.length, 1);
});
