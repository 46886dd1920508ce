import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { createProvider } from "./commands.ts";
import type { FormatContext } from "./provider.ts";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

function render(name: string, ctx: FormatContext, arg = "", maxLength?: number) {
  const p = createProvider(maxLength === undefined ? { name, arg } : { name, arg, maxLength });
  return { text: p.text(ctx), value: p.value(ctx) };
}

const request = (path: string, extra: [string, string][] = []) =>
  HeaderMap.from([[":method", "GET"], [":path", path], ...extra]);

Deno.test("%PATH(X:Y):Z% picks the path with or without its query", () => {
  const ctx = {
    streamInfo: new StreamInfo(),
    requestHeaders: request("/new?a=1", [["x-envoy-original-path", "/orig?b=2"]]),
  };
  assertEquals(render("PATH", ctx).text, "/orig?b=2");
  assertEquals(render("PATH", ctx, "NQ").text, "/orig");
  assertEquals(render("PATH", ctx, "WQ:PATH").text, "/new?a=1");
  assertEquals(render("PATH", ctx, "NQ:PATH").text, "/new");
  assertEquals(render("PATH", ctx, "NQ:ORIG").text, "/orig");
  assertEquals(render("PATH", ctx, "", 3).text, "/or");
  const plain = { streamInfo: new StreamInfo(), requestHeaders: request("/p?q") };
  assertEquals(render("PATH", plain).text, "/p?q");
  assertEquals(render("PATH", plain, "WQ:ORIG").text, undefined);
  assertEquals(render("PATH", { streamInfo: new StreamInfo() }).text, undefined);
  assertEquals(
    errorOf(() => createProvider({ name: "PATH", arg: "XQ" })),
    "Invalid PATH option: 'XQ', only WQ/NQ:ORIG/PATH/ORIG_OR_PATH allowed",
  );
  assertEquals(
    errorOf(() => createProvider({ name: "PATH", arg: "NQ:HOST" })),
    "Invalid PATH option: 'NQ:HOST', only WQ/NQ:ORIG/PATH/ORIG_OR_PATH allowed",
  );
});

Deno.test("%QUERY_PARAM(X):Z% is the first value, percent-decoded", () => {
  const ctx = {
    streamInfo: new StreamInfo(),
    requestHeaders: request("/search?q=hello+world%21&q=second&flag&empty=&bad=%zz"),
  };
  assertEquals(render("QUERY_PARAM", ctx, "q").text, "hello world!");
  assertEquals(render("QUERY_PARAM", ctx, "q", 5).value, "hello");
  assertEquals(render("QUERY_PARAM", ctx, "flag").text, "");
  assertEquals(render("QUERY_PARAM", ctx, "empty").text, "");
  assertEquals(render("QUERY_PARAM", ctx, "bad").text, "%zz");
  assertEquals(render("QUERY_PARAM", ctx, "missing").text, undefined);
  assertEquals(render("QUERY_PARAM", { streamInfo: new StreamInfo() }, "q").text, undefined);
});

function grpc(
  opts: {
    status?: number;
    headers?: [string, string][];
    trailers?: [string, string][];
    grpcRequest?: boolean;
  },
): FormatContext {
  const si = Object.assign(new StreamInfo(), { responseCode: opts.status });
  return {
    streamInfo: si,
    requestHeaders: request("/svc/Method", [[
      "content-type",
      opts.grpcRequest === false ? "application/json" : "application/grpc",
    ]]),
    responseHeaders: HeaderMap.from([
      [":status", String(opts.status ?? 200)],
      ...(opts.headers ?? []),
    ]),
    responseTrailers: opts.trailers ? HeaderMap.from(opts.trailers) : undefined,
  };
}

Deno.test("%GRPC_STATUS(X)% reads trailers, then headers, then maps the HTTP status", () => {
  const fromTrailers = grpc({ status: 200, trailers: [["grpc-status", "3"]] });
  assertEquals(render("GRPC_STATUS", fromTrailers).text, "InvalidArgument");
  assertEquals(render("GRPC_STATUS", fromTrailers, "CAMEL_STRING").text, "InvalidArgument");
  assertEquals(render("GRPC_STATUS", fromTrailers, "SNAKE_STRING").text, "INVALID_ARGUMENT");
  assertEquals(render("GRPC_STATUS", fromTrailers, "NUMBER"), { text: "3", value: 3 });
  assertEquals(render("GRPC_STATUS_NUMBER", fromTrailers), { text: "3", value: 3 });
  const trailersOnly = grpc({ status: 200, headers: [["grpc-status", "0"]] });
  assertEquals(render("GRPC_STATUS", trailersOnly).text, "OK");
  assertEquals(render("GRPC_STATUS", grpc({ status: 503 })).text, "Unavailable");
  assertEquals(render("GRPC_STATUS", grpc({ status: 404 }), "SNAKE_STRING").text, "UNIMPLEMENTED");
  assertEquals(render("GRPC_STATUS", grpc({ status: 200 })).text, "Unknown");
  assertEquals(render("GRPC_STATUS", grpc({ status: 1 })).text, "Unknown");
  assertEquals(render("GRPC_STATUS", grpc({ status: 401 }), "NUMBER").value, 16);
  // User-defined codes print as numbers; 1 is Canceled in Envoy's spelling.
  const custom = grpc({ status: 200, trailers: [["grpc-status", "42"]] });
  assertEquals(render("GRPC_STATUS", custom).text, "42");
  assertEquals(render("GRPC_STATUS", custom, "SNAKE_STRING").text, "42");
  assertEquals(
    render("GRPC_STATUS", grpc({ status: 200, trailers: [["grpc-status", "1"]] })).text,
    "Canceled",
  );
});

Deno.test("%GRPC_STATUS% is unset for requests that are not gRPC, or never answered", () => {
  assertEquals(render("GRPC_STATUS", grpc({ status: 503, grpcRequest: false })).value, undefined);
  const web = grpc({ status: 200, trailers: [["grpc-status", "0"]] });
  web.requestHeaders = request("/x", [["content-type", "application/grpc-web"]]);
  assertEquals(render("GRPC_STATUS", web).text, undefined);
  const plus = grpc({ status: 200, trailers: [["grpc-status", "0"]] });
  plus.requestHeaders = request("/x", [["content-type", "application/grpc+proto"]]);
  assertEquals(render("GRPC_STATUS", plus).text, "OK");
  const unanswered = grpc({});
  unanswered.responseHeaders = undefined;
  assertEquals(render("GRPC_STATUS", unanswered).text, undefined);
  assertEquals(
    errorOf(() => createProvider({ name: "GRPC_STATUS", arg: "LOWER" })),
    "GrpcStatusFormatter only supports CAMEL_STRING, SNAKE_STRING or NUMBER.",
  );
});

Deno.test("%ACCESS_LOG_TYPE% names why the entry was written", () => {
  const si = new StreamInfo();
  assertEquals(render("ACCESS_LOG_TYPE", { streamInfo: si }).text, "NotSet");
  assertEquals(
    render("ACCESS_LOG_TYPE", { streamInfo: si, accessLogType: "TcpConnectionEnd" }).value,
    "TcpConnectionEnd",
  );
});

Deno.test("%LOCAL_REPLY_BODY% is the local reply's body, empty otherwise", () => {
  const si = Object.assign(new StreamInfo(), { localReplyBody: "no healthy upstream" });
  assertEquals(render("LOCAL_REPLY_BODY", { streamInfo: si }).text, "no healthy upstream");
  assertEquals(render("LOCAL_REPLY_BODY", { streamInfo: new StreamInfo() }).text, "");
});

Deno.test("%TRACE_ID% is the span's trace id, unset without tracing", () => {
  assertEquals(render("TRACE_ID", { streamInfo: new StreamInfo() }).text, undefined);
  const si = Object.assign(new StreamInfo(), { traceId: "4bf92f3577b34da6a3ce929d0e0e4736" });
  assertEquals(render("TRACE_ID", { streamInfo: si }).text, "4bf92f3577b34da6a3ce929d0e0e4736");
});
