import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { createProvider } from "./commands.ts";
import type { Command } from "./format_parser.ts";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

const requestHeaders = HeaderMap.from([
  [":method", "GET"],
  [":path", "/api/v1/locations"],
  ["x-envoy-original-path", "/orig?debug=1"],
  ["User-Agent", "curl/8.0"],
  ["x-dup", "first"],
  ["x-dup", "second"],
]);
const responseHeaders = HeaderMap.from([[":status", "200"], [
  "x-envoy-upstream-service-time",
  "7",
]]);
const responseTrailers = HeaderMap.from([["grpc-status", "0"]]);
const ctx = { streamInfo: new StreamInfo(), requestHeaders, responseHeaders, responseTrailers };

function text(command: Command): string | undefined {
  return createProvider(command).text(ctx);
}

Deno.test("%REQ(X)% reads a request header, whatever the case of its name", () => {
  assertEquals(text({ name: "REQ", arg: "USER-AGENT" }), "curl/8.0");
  assertEquals(text({ name: "REQ", arg: "user-agent" }), "curl/8.0");
  assertEquals(text({ name: "REQ", arg: "x-missing" }), undefined);
  assertEquals(text({ name: "REQ", arg: "X-DUP" }), "first");
});

Deno.test("%REQ(:METHOD)% reads pseudo-headers", () => {
  assertEquals(text({ name: "REQ", arg: ":METHOD" }), "GET");
});

Deno.test("%REQ(X?Y)% falls back to the alternative header", () => {
  assertEquals(text({ name: "REQ", arg: "X-MISSING?:PATH" }), "/api/v1/locations");
  assertEquals(text({ name: "REQ", arg: "X-ENVOY-ORIGINAL-PATH?:PATH" }), "/orig?debug=1");
  assertEquals(text({ name: "REQ", arg: "USER-AGENT?:PATH" }), "curl/8.0");
  assertEquals(text({ name: "REQ", arg: "X-A?X-B" }), undefined);
  assertEquals(text({ name: "REQ", arg: "USER-AGENT?" }), "curl/8.0");
});

Deno.test("%REQ(X):Z% truncates to Z characters", () => {
  assertEquals(text({ name: "REQ", arg: ":PATH", maxLength: 4 }), "/api");
  assertEquals(createProvider({ name: "REQ", arg: ":PATH", maxLength: 4 }).value(ctx), "/api");
});

Deno.test("%RESP(X)% reads a response header", () => {
  assertEquals(text({ name: "RESP", arg: "X-ENVOY-UPSTREAM-SERVICE-TIME" }), "7");
  assertEquals(text({ name: "RESP", arg: ":STATUS" }), "200");
});

Deno.test("%TRAILER(X)% reads a response trailer", () => {
  assertEquals(text({ name: "TRAILER", arg: "GRPC-STATUS" }), "0");
});

Deno.test("REQUEST_HEADER, RESPONSE_HEADER and RESPONSE_TRAILER are the long spellings", () => {
  assertEquals(text({ name: "REQUEST_HEADER", arg: "USER-AGENT" }), "curl/8.0");
  assertEquals(text({ name: "RESPONSE_HEADER", arg: ":STATUS" }), "200");
  assertEquals(text({ name: "RESPONSE_TRAILER", arg: "grpc-status", maxLength: 1 }), "0");
});

Deno.test("%REQ_WITHOUT_QUERY(X?Y):Z% drops the query string", () => {
  assertEquals(text({ name: "REQ_WITHOUT_QUERY", arg: "X-ENVOY-ORIGINAL-PATH?:PATH" }), "/orig");
  assertEquals(text({ name: "REQ_WITHOUT_QUERY", arg: ":PATH", maxLength: 4 }), "/api");
  assertEquals(text({ name: "REQ_WITHOUT_QUERY", arg: "x-missing" }), undefined);
});

Deno.test("%STREAM_INFO_REQ(X)% reads the headers StreamInfo kept", () => {
  const si = Object.assign(new StreamInfo(), { requestHeaders });
  const other = HeaderMap.from([[":method", "POST"]]);
  const p = createProvider({ name: "STREAM_INFO_REQ", arg: ":METHOD" });
  assertEquals(p.text({ streamInfo: si, requestHeaders: other }), "GET");
});

Deno.test("header byte sizes are the maps' names and values, 0 without a map", () => {
  const bytes = (name: string, c: typeof ctx | { streamInfo: StreamInfo }) =>
    createProvider({ name, arg: "" }).value(c);
  assertEquals(bytes("REQUEST_HEADERS_BYTES", ctx), requestHeaders.byteSize());
  assertEquals(bytes("RESPONSE_HEADERS_BYTES", ctx), 7 + 3 + 29 + 1);
  assertEquals(bytes("RESPONSE_TRAILERS_BYTES", ctx), 12);
  const tcp = { streamInfo: new StreamInfo() };
  for (const n of ["REQUEST_HEADERS_BYTES", "RESPONSE_HEADERS_BYTES", "RESPONSE_TRAILERS_BYTES"]) {
    assertEquals(bytes(n, tcp), 0);
  }
});

Deno.test("headers default to the ones StreamInfo carries, and are unset without any", () => {
  const si = Object.assign(new StreamInfo(), { requestHeaders });
  assertEquals(createProvider({ name: "REQ", arg: ":method" }).text({ streamInfo: si }), "GET");
  const none = { streamInfo: new StreamInfo() };
  assertEquals(createProvider({ name: "RESP", arg: "A?B" }).text(none), undefined);
});

Deno.test("bad header arguments are config errors", () => {
  assertEquals(
    errorOf(() => createProvider({ name: "REQ", arg: "A?B?C" })),
    "More than 1 alternative header specified in token: A?B?C",
  );
  assertEquals(
    errorOf(() => createProvider({ name: "REQ", arg: "bad name" })),
    "Invalid header configuration. Format string contains invalid characters: bad name",
  );
  assertEquals(
    errorOf(() => createProvider({ name: "RESP", arg: "" })),
    "RESP requires parameters",
  );
});
