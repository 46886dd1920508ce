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
  assertEquals(text({ name: "REQ", arg: "X-ENVOY-ORIGINAL-PATH?:PATH" }), "/api/v1/locations");
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
