import { assert, assertEquals, assertMatch } from "../../testing/assert.ts";
import { HeaderMap } from "../header_map.ts";
import {
  COALESCE_CHUNK_BYTES,
  encodeChunk,
  encodeLastChunk,
  encodeRequestHead,
  encodeResponseHead,
} from "./encoder.ts";
import { RequestParser, ResponseParser } from "./parser.ts";
import { bytes, concat, Recorder, text } from "./test_util.ts";

const map = (...kv: string[]) => new HeaderMap(kv);

function throws(f: () => unknown, re: RegExp): void {
  try {
    f();
  } catch (e) {
    assert(e instanceof TypeError);
    assertMatch(e.message, re);
    return;
  }
  throw new Error("expected a TypeError");
}

/** Flattens what encodeChunk returns into the bytes that go on the wire. */
function wire(parts: Uint8Array | Uint8Array[]): Uint8Array {
  return Array.isArray(parts) ? parts.reduce(concat, new Uint8Array(0)) : parts;
}

Deno.test("encodeRequestHead: request line, host from :authority, then headers in order", () => {
  const head = encodeRequestHead(
    map(
      ":method",
      "POST",
      ":scheme",
      "https",
      ":path",
      "/p?q=1",
      ":authority",
      "example.com",
      "content-type",
      "text/plain",
      "x-multi",
      "a",
      "x-multi",
      "b",
    ),
    false,
  );
  assertEquals(
    text(head),
    "POST /p?q=1 HTTP/1.1\r\nhost: example.com\r\ncontent-type: text/plain\r\n" +
      "x-multi: a\r\nx-multi: b\r\n\r\n",
  );
});

Deno.test("encodeRequestHead: chunked adds Transfer-Encoding; CONNECT targets the authority", () => {
  assertEquals(
    text(encodeRequestHead(map(":method", "GET", ":path", "/", ":authority", "h"), true)),
    "GET / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n",
  );
  assertEquals(
    text(encodeRequestHead(map(":method", "CONNECT", ":authority", "h:443"), false)),
    "CONNECT h:443 HTTP/1.1\r\nhost: h:443\r\n\r\n",
  );
  assertEquals(
    text(encodeRequestHead(map(":method", "GET", ":path", "/"), false)),
    "GET / HTTP/1.1\r\n\r\n",
  );
});

Deno.test("encodeRequestHead refuses what would break the framing", () => {
  throws(() => encodeRequestHead(map(":path", "/"), false), /needs :method/);
  throws(() => encodeRequestHead(map(":method", "GET"), false), /needs :method/);
  throws(() => encodeRequestHead(map(":method", "G T", ":path", "/"), false), /method/);
  throws(() => encodeRequestHead(map(":method", "GET", ":path", "/a b"), false), /target/);
  throws(
    () => encodeRequestHead(map(":method", "GET", ":path", "/", "x", "a\r\nevil: 1"), false),
    /header value/,
  );
  throws(() => encodeRequestHead(map(":method", "GET", ":path", "/", "x", "\0"), false), /value/);
  throws(() => encodeRequestHead(map(":method", "GET", ":path", "/", "a b", "1"), false), /name/);
  throws(() => encodeRequestHead(map(":method", "GET", ":path", "/", "", "1"), false), /name/);
  throws(
    () => encodeRequestHead(map(":method", "GET", ":path", "/", "x", "\u20ac"), false),
    /0x20ac/,
  );
  throws(
    () => encodeRequestHead(map(":method", "GET", ":path", "/", ":authority", "h\r\n"), false),
    /authority/,
  );
});

Deno.test("encodeResponseHead: status line with Envoy's reason phrase", () => {
  assertEquals(
    text(encodeResponseHead(map(":status", "200", "content-length", "0"), "HTTP/1.1", false)),
    "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
  );
  assertEquals(
    text(encodeResponseHead(map(":status", "503"), "HTTP/1.0", false)),
    "HTTP/1.0 503 Service Unavailable\r\n\r\n",
  );
  assertEquals(
    text(encodeResponseHead(map(":status", "299", "server", "envoy"), "HTTP/1.1", true)),
    "HTTP/1.1 299 Unknown\r\nserver: envoy\r\ntransfer-encoding: chunked\r\n\r\n",
  );
  for (const bad of ["", "20", "2000", "abc", "099"]) {
    throws(() => encodeResponseHead(map(":status", bad), "HTTP/1.1", false), /:status/);
  }
  throws(() => encodeResponseHead(map("x", "y"), "HTTP/1.1", false), /:status/);
});

Deno.test("header values keep their bytes: obs-text goes out as single bytes", () => {
  const head = encodeResponseHead(map(":status", "200", "x", "caf\xe9\x80\xff"), "HTTP/1.1", false);
  assertEquals(Array.from(head.subarray(20, 26)), [0x63, 0x61, 0x66, 0xe9, 0x80, 0xff]);
});

Deno.test("encodeChunk: nothing for empty data, one array when small, views when large", () => {
  assertEquals(encodeChunk(new Uint8Array(0)), new Uint8Array(0));
  assertEquals(text(wire(encodeChunk(bytes("hello")))), "5\r\nhello\r\n");
  const small = new Uint8Array(COALESCE_CHUNK_BYTES).fill(0x61);
  const one = encodeChunk(small);
  assert(!Array.isArray(one));
  assertEquals(text(one.subarray(0, 5)), "200\r\n");
  const big = new Uint8Array(COALESCE_CHUNK_BYTES + 1);
  const parts = encodeChunk(big);
  assert(Array.isArray(parts));
  assert(parts[1] === big, "the payload is the caller's array, not a copy");
  assertEquals(text(parts[0]), "201\r\n");
  assertEquals(text(parts[2]), "\r\n");
  assertEquals(text(wire(encodeChunk(new Uint8Array(0x1234)))).slice(0, 6), "1234\r\n");
});

Deno.test("encodeLastChunk: the zero chunk, trailers, and the blank line", () => {
  assertEquals(text(encodeLastChunk()), "0\r\n\r\n");
  assertEquals(text(encodeLastChunk(new HeaderMap())), "0\r\n\r\n");
  assertEquals(
    text(encodeLastChunk(map("grpc-status", "0", ":status", "200", "grpc-message", "ok"))),
    "0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n",
  );
  throws(() => encodeLastChunk(map("x", "a\nb")), /header value/);
});

Deno.test("round trip: chunked request with trailers, encoded then parsed", () => {
  const headers = map(
    ":method",
    "PUT",
    ":path",
    "/objects/1?v=2",
    ":authority",
    "store.example.com:8443",
    "content-type",
    "application/octet-stream",
    "x-meta",
    "\tvalue\x80\xfe with tab",
    "x-empty",
    "",
  );
  const big = new Uint8Array(5000).map((_, i) => i & 0xff);
  const pieces = [
    encodeRequestHead(headers, true),
    wire(encodeChunk(bytes("first"))),
    wire(encodeChunk(big)),
    wire(encodeChunk(new Uint8Array(0))),
    encodeLastChunk(map("x-checksum", "abc123")),
  ];
  const rec = new Recorder();
  const data = pieces.reduce(concat);
  assertEquals(new RequestParser(rec).execute(data), data.length);
  assertEquals(rec.heads[0], [
    [":method", "PUT"],
    [":path", "/objects/1?v=2"],
    [":authority", "store.example.com:8443"],
    ["content-type", "application/octet-stream"],
    // Leading whitespace is not part of a field value (RFC 9110 §5.5).
    ["x-meta", "value\x80\xfe with tab"],
    ["x-empty", ""],
    ["transfer-encoding", "chunked"],
  ]);
  assertEquals(rec.events.slice(1), [
    { body: "first" + text(big) },
    { complete: [["x-checksum", "abc123"]] },
  ]);
});

Deno.test("round trip: responses, with Content-Length and chunked", () => {
  const rec = new Recorder();
  const parser = new ResponseParser(rec);
  const body = bytes('{"ok":true}');
  const data = [
    encodeResponseHead(map(":status", "100"), "HTTP/1.1", false),
    encodeResponseHead(
      map(
        ":status",
        "200",
        "content-type",
        "application/json",
        "content-length",
        String(body.length),
      ),
      "HTTP/1.1",
      false,
    ),
    body,
    encodeResponseHead(map(":status", "404", "server", "envoy"), "HTTP/1.1", true),
    wire(encodeChunk(bytes("not found"))),
    encodeLastChunk(),
  ].reduce(concat);
  assertEquals(parser.execute(data), data.length);
  assertEquals(rec.heads, [
    [[":status", "100"]],
    [[":status", "200"], ["content-type", "application/json"], ["content-length", "11"]],
    [[":status", "404"], ["server", "envoy"], ["transfer-encoding", "chunked"]],
  ]);
  assertEquals(rec.events.filter((e) => "body" in e), [{ body: '{"ok":true}' }, {
    body: "not found",
  }]);
});

Deno.test("round trip: a parsed request re-encodes to the same normalized bytes", () => {
  const original = "GET /a?b=c HTTP/1.1\r\nhost: h\r\naccept: */*\r\nx-y: z\r\n\r\n";
  const rec = new Recorder();
  new RequestParser(rec).execute(bytes(original));
  const headers = new HeaderMap(rec.heads[0].flat());
  assertEquals(text(encodeRequestHead(headers, false)), original);
});

Deno.test("proper_case_words: names as Envoy's formatter writes them, heads and trailers", () => {
  const h = map(
    ":method",
    "GET",
    ":path",
    "/",
    ":authority",
    "h",
    "content-type",
    "a",
    "x-foo_bar2baz",
    "b",
    "te",
    "trailers",
    "foo$b#$are",
    "c",
    "ALREADY-up",
    "d",
  );
  assertEquals(
    text(encodeRequestHead(h, true, true)),
    "GET / HTTP/1.1\r\nHost: h\r\nContent-Type: a\r\nX-Foo_Bar2baz: b\r\nTe: trailers\r\n" +
      "Foo$B#$Are: c\r\nALREADY-Up: d\r\nTransfer-Encoding: chunked\r\n\r\n",
  );
  assertEquals(
    text(
      encodeResponseHead(
        map(":status", "200", "x-envoy-upstream-service-time", "1"),
        "HTTP/1.1",
        true,
        true,
      ),
    ),
    "HTTP/1.1 200 OK\r\nX-Envoy-Upstream-Service-Time: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
  );
  assertEquals(text(encodeLastChunk(map("grpc-status", "0"), true)), "0\r\nGrpc-Status: 0\r\n\r\n");
  // The default stays lower case, and bad names are still refused.
  assertEquals(text(encodeLastChunk(map("grpc-status", "0"))), "0\r\ngrpc-status: 0\r\n\r\n");
  throws(
    () => encodeResponseHead(map(":status", "200", "a b", "x"), "HTTP/1.1", false, true),
    /header name/,
  );
});

Deno.test("a stateful formatter on the map spells names and the reason phrase", () => {
  const spelled: Record<string, string> = {
    host: "HOST",
    "x-a": "X-a",
    "transfer-encoding": "TRANSFER-encoding",
  };
  const formatter = {
    processKey() {},
    format: (k: string) => spelled[k] ?? k,
    setReasonPhrase() {},
    getReasonPhrase: () => "Totally Fine",
  };
  const req = map(":method", "GET", ":path", "/", ":authority", "h", "x-a", "1", "x-b", "2");
  req.formatter = formatter;
  // The map's formatter wins over the codec's proper case, as in Envoy.
  assertEquals(
    text(encodeRequestHead(req, true, true)),
    "GET / HTTP/1.1\r\nHOST: h\r\nX-a: 1\r\nx-b: 2\r\nTRANSFER-encoding: chunked\r\n\r\n",
  );
  const res = map(":status", "200", "x-a", "1");
  res.formatter = formatter;
  assertEquals(
    text(encodeResponseHead(res, "HTTP/1.1", false)),
    "HTTP/1.1 200 Totally Fine\r\nX-a: 1\r\n\r\n",
  );
});
