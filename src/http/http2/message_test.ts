import { assertEquals } from "../../testing/assert.ts";
import { validateRequestHeaders, validateResponseHeaders, validateTrailers } from "./message.ts";

const H = "http2.invalid.header.field";
const M = "http2.violation.of.messaging.rule";
const GET = [":method", "GET", ":scheme", "https", ":path", "/a", ":authority", "h"];

Deno.test("message: request pseudo-headers", () => {
  const cases: [string[], boolean, string][] = [
    [GET, false, ""],
    [[":method", "GET", ":scheme", "https", ":path", "/"], false, ""],
    [[":method", "OPTIONS", ":scheme", "https", ":path", "*"], false, ""],
    [[":method", "GET", ":scheme", "https", ":path", "*"], false, M],
    [[":method", "GET", ":scheme", "https", ":path", "http://x/"], false, M],
    [[":method", "GET", ":scheme", "https"], false, M],
    [[":method", "GET", ":path", "/"], false, M],
    [[":scheme", "https", ":path", "/"], false, M],
    [[":method", "GET", ":method", "GET", ":scheme", "https", ":path", "/"], false, H],
    [[":method", "GET", ":scheme", "https", ":path", "/", ":status", "200"], false, H],
    [[":method", "GET", ":scheme", "https", "x", "1", ":path", "/"], false, H],
    [[":method", "GET", ":scheme", "https", ":path", "/", ":foo", "1"], false, H],
    [[":method", "G ET", ":scheme", "https", ":path", "/"], false, H],
    [[":method", "GET", ":scheme", "ht tp", ":path", "/"], false, H],
    [[":method", "GET", ":scheme", "1http", ":path", "/"], false, H],
    [[":method", "GET", ":scheme", "coap+tcp", ":path", "/"], false, ""],
    [[":method", "GET", ":scheme", "https", ":path", "/a b"], false, H],
    [[":method", "GET", ":scheme", "https", ":path", "/\u00e9"], false, H],
    [[":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a b"], false, H],
    [[":method", "GET", ":scheme", "https", ":path", "/", ":authority", "u@h:80"], false, ""],
    [[":method", "CONNECT", ":authority", "h:443"], false, ""],
    [[":method", "CONNECT", ":authority", "h:443", ":path", "/"], false, M],
    [[":method", "CONNECT"], false, M],
    [
      [
        ":method",
        "CONNECT",
        ":protocol",
        "websocket",
        ":scheme",
        "https",
        ":path",
        "/",
        ":authority",
        "h",
      ],
      true,
      "",
    ],
    [
      [
        ":method",
        "CONNECT",
        ":protocol",
        "websocket",
        ":scheme",
        "https",
        ":path",
        "/",
        ":authority",
        "h",
      ],
      false,
      H,
    ],
    [[":method", "CONNECT", ":protocol", "websocket", ":path", "/", ":authority", "h"], true, M],
    [
      [
        ":method",
        "GET",
        ":protocol",
        "websocket",
        ":scheme",
        "https",
        ":path",
        "/",
        ":authority",
        "h",
      ],
      true,
      M,
    ],
  ];
  for (const [kv, allowConnect, want] of cases) {
    assertEquals(validateRequestHeaders(kv, allowConnect), want, kv.join(" "));
  }
});

Deno.test("message: connection-specific headers and te", () => {
  for (
    const name of ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]
  ) {
    assertEquals(validateRequestHeaders([...GET, name, "x"], false), H, name);
  }
  assertEquals(validateRequestHeaders([...GET, "te", "trailers"], false), "");
  assertEquals(validateRequestHeaders([...GET, "te", "gzip"], false), H);
});

Deno.test("message: responses and trailers", () => {
  assertEquals(validateResponseHeaders([":status", "204", "x", "1"]), "");
  assertEquals(validateResponseHeaders(["x", "1"]), M);
  assertEquals(validateResponseHeaders([":status", "20"]), M);
  assertEquals(validateResponseHeaders([":status", "2x0"]), M);
  assertEquals(validateResponseHeaders([":status", "200", ":status", "200"]), H);
  assertEquals(validateResponseHeaders([":status", "200", ":path", "/"]), H);
  assertEquals(validateTrailers(["grpc-status", "0"]), "");
  assertEquals(validateTrailers([":status", "200"]), H);
  assertEquals(validateTrailers(["connection", "close"]), H);
});
