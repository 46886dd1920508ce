/**
 * The parser under the protocol options that change how messages are read:
 * `allow_chunked_length` and `headers_with_underscores_action`.
 */
import { assert, assertEquals } from "../../testing/assert.ts";
import type { HeaderMap } from "../header_map.ts";
import {
  RequestParser,
  type RequestParserOptions,
  ResponseParser,
  UNDERSCORES_DROP_HEADER,
  UNDERSCORES_REJECT_REQUEST,
} from "./parser.ts";

import { bytes, Recorder, splits } from "./test_util.ts";

function request(wire: string, opts: Partial<RequestParserOptions> = {}): Recorder {
  const rec = new Recorder();
  new RequestParser(rec, opts).execute(bytes(wire));
  return rec;
}

const CL_AND_CHUNKED = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n" +
  "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";

Deno.test("allow_chunked_length: chunked wins and Content-Length is removed", () => {
  assertEquals(
    request(CL_AND_CHUNKED).error?.detail,
    "http1.content_length_and_chunked_not_allowed",
  );
  const rec = request(CL_AND_CHUNKED, { allowChunkedLength: true });
  assertEquals(rec.error, undefined);
  assertEquals(rec.heads[0].find(([k]) => k === "content-length"), undefined);
  assertEquals(rec.infos[0].contentLength, -1);
  assertEquals(rec.infos[0].chunked, true);
  assertEquals(rec.events.slice(1), [{ body: "abc" }, { complete: undefined }]);
});

Deno.test("allow_chunked_length: a coding other than chunked is still a 501", () => {
  const rec = request(
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    { allowChunkedLength: true },
  );
  assertEquals([rec.error?.error, rec.error?.detail], [501, "http1.invalid_transfer_encoding"]);
});

Deno.test("allow_chunked_length: responses too", () => {
  const wire = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "2\r\nok\r\n0\r\n\r\n";
  const strict = new Recorder();
  new ResponseParser(strict).execute(bytes(wire));
  assertEquals([strict.error?.error, strict.error?.detail], [
    502,
    "http1.content_length_and_chunked_not_allowed",
  ]);
  const rec = new Recorder();
  new ResponseParser(rec, { allowChunkedLength: true }).execute(bytes(wire));
  assertEquals(rec.heads, [[[":status", "200"], ["transfer-encoding", "chunked"]]]);
  assertEquals(rec.events.slice(1), [{ body: "ok" }, { complete: undefined }]);
});

const UNDERSCORED = "GET / HTTP/1.1\r\nHost: h\r\nX_Foo: 1\r\nx-ok: 2\r\nfoo_bar: 3\r\n\r\n";

Deno.test("headers_with_underscores_action: ALLOW (default) keeps the fields", () => {
  assertEquals(request(UNDERSCORED).heads[0].slice(3), [["x_foo", "1"], ["x-ok", "2"], [
    "foo_bar",
    "3",
  ]]);
});

Deno.test("headers_with_underscores_action: DROP_HEADER drops and counts each field", () => {
  for (const parts of splits(bytes(UNDERSCORED))) {
    let dropped = 0;
    const rec = new Recorder();
    const parser = new RequestParser(rec, {
      headersWithUnderscoresAction: UNDERSCORES_DROP_HEADER,
      onUnderscoreHeaderDropped: () => dropped++,
    });
    for (const p of parts) parser.execute(p);
    assertEquals(rec.heads[0], [[":method", "GET"], [":path", "/"], [":authority", "h"], [
      "x-ok",
      "2",
    ]]);
    assertEquals(dropped, 2);
  }
});

Deno.test("headers_with_underscores_action: REJECT_REQUEST is Envoy's 400", () => {
  const rec = request(UNDERSCORED, { headersWithUnderscoresAction: UNDERSCORES_REJECT_REQUEST });
  assertEquals(rec.heads, []);
  assertEquals(rec.error, {
    error: 400,
    detail: "http1.unexpected_underscore",
    message: "http/1.1 protocol error: header name contains underscores",
  });
});

Deno.test("headers_with_underscores_action: applies to request trailers", () => {
  const post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" +
    "a_b: 1\r\nc: 2\r\n\r\n";
  let dropped = 0;
  const rec = request(post, {
    headersWithUnderscoresAction: UNDERSCORES_DROP_HEADER,
    onUnderscoreHeaderDropped: () => dropped++,
  });
  assertEquals(rec.events.at(-1), { complete: [["c", "2"]] });
  assertEquals(dropped, 1);
  const rejected = request(post, { headersWithUnderscoresAction: UNDERSCORES_REJECT_REQUEST });
  assertEquals(rejected.error?.detail, "http1.unexpected_underscore");
});

Deno.test("headers_with_underscores_action: responses are not checked", () => {
  const rec = new Recorder();
  new ResponseParser(rec).execute(bytes("HTTP/1.1 200 OK\r\nx_up: 1\r\ncontent-length: 0\r\n\r\n"));
  assertEquals(rec.heads[0][1], ["x_up", "1"]);
});

Deno.test("enable_trailers off: the trailer section is checked, its fields ignored", () => {
  const post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n" +
    "x-t: 1\r\n\r\n";
  assertEquals(request(post).events.at(-1), { complete: [["x-t", "1"]] });
  const off = request(post, { enableTrailers: false });
  assertEquals(off.events.slice(1), [{ body: "a" }, { complete: undefined }]);
  // Ignored fields are not checked for underscores either, as in Envoy.
  const underscored = request(post.replace("x-t", "x_t"), {
    enableTrailers: false,
    headersWithUnderscoresAction: UNDERSCORES_REJECT_REQUEST,
  });
  assertEquals(underscored.error, undefined);
  assertEquals(
    request(post.replace("x-t: 1", "bad name: 1"), { enableTrailers: false }).error?.detail,
    "http1.codec_error",
  );
  const rec = new Recorder();
  new ResponseParser(rec, { enableTrailers: false }).execute(
    bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\ngrpc-status: 0\r\n\r\n"),
  );
  assertEquals(rec.events.at(-1), { complete: undefined });
});

Deno.test("stateful_formatter: each head gets a formatter that saw its names as sent", () => {
  const seen: string[][] = [];
  const statefulFormatter = {
    create() {
      const keys: string[] = [];
      seen.push(keys);
      let phrase = "";
      return {
        processKey: (k: string) => keys.push(k),
        format: (k: string) => k,
        setReasonPhrase: (p: string) => phrase = p,
        getReasonPhrase: () => phrase,
      };
    },
  };
  const heads: HeaderMap[] = [];
  const parser = new RequestParser({
    onHead: (h) => heads.push(h),
    onBody: () => {},
    onMessageComplete: () => {},
    onError: () => {},
  }, { statefulFormatter });
  parser.execute(bytes("GET / HTTP/1.1\r\nHost: h\r\nX-MiXeD: 1\r\nlower: 2\r\n\r\n"));
  assertEquals(seen, [["Host", "X-MiXeD", "lower"]]);
  assert(heads[0].formatter !== undefined);
  const responses: HeaderMap[] = [];
  new ResponseParser({
    onHead: (h) => responses.push(h),
    onBody: () => {},
    onMessageComplete: () => {},
    onError: () => {},
  }, { statefulFormatter }).execute(
    bytes("HTTP/1.1 200 Totally Fine\r\nContent-Length: 0\r\n\r\n"),
  );
  assertEquals(seen[1], ["Content-Length"]);
  assertEquals(responses[0].formatter?.getReasonPhrase(), "Totally Fine");
});
