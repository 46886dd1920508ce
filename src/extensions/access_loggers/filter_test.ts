import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../config/api.ts";
import { HeaderMap } from "../../http/header_map.ts";
import type { AccessLogType, FormatContext } from "../../formatter/provider.ts";
import { StreamInfo } from "../../stream_info/stream_info.ts";
import type { AccessLogFilter } from "../../../proto/gen/envoy/config/accesslog/v3/accesslog_pb.ts";
import { type AccessLogPredicate, compileAccessLogFilter } from "./filter.ts";

function filter(json: JsonValue): AccessLogPredicate {
  const f = fromJson(
    messageSchema<AccessLogFilter>("envoy.config.accesslog.v3.AccessLogFilter"),
    json,
    { registry: apiRegistry() },
  );
  return compileAccessLogFilter(f);
}

function errorOf(json: JsonValue): string {
  try {
    filter(json);
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

function ctx(
  fields: Partial<StreamInfo> = {},
  extra: Partial<FormatContext> = {},
): FormatContext {
  return { streamInfo: Object.assign(new StreamInfo(), fields), ...extra };
}

Deno.test("status_code_filter compares the status (0 without a response)", () => {
  const ge = filter({
    status_code_filter: {
      comparison: { op: "GE", value: { default_value: 400, runtime_key: "k" } },
    },
  });
  assertEquals([ge(ctx({ responseCode: 503 })), ge(ctx({ responseCode: 200 })), ge(ctx())], [
    true,
    false,
    false,
  ]);
  const eq = filter({
    status_code_filter: { comparison: { op: "EQ", value: { default_value: 0, runtime_key: "k" } } },
  });
  assert(eq(ctx()));
  const le = filter({
    status_code_filter: {
      comparison: { op: "LE", value: { default_value: 299, runtime_key: "k" } },
    },
  });
  assert(le(ctx({ responseCode: 204 })) && !le(ctx({ responseCode: 300 })));
});

Deno.test("duration_filter compares whole milliseconds", () => {
  const f = filter({
    duration_filter: { comparison: { op: "GE", value: { default_value: 100, runtime_key: "k" } } },
  });
  assert(f(ctx({ duration: 100.2 })) && !f(ctx({ duration: 99.9 })));
});

Deno.test("not_health_check_filter and traceable_filter", () => {
  const notHc = filter({ not_health_check_filter: {} });
  assert(notHc(ctx()) && !notHc(ctx({ healthCheck: true })));
  const traceable = filter({ traceable_filter: {} });
  assert(!traceable(ctx()));
  assert(!traceable(ctx({ traceReason: "Sampling" })));
  assert(traceable(ctx({ traceReason: "ServiceForced" })));
});

Deno.test("runtime_filter samples by x-request-id, or independently", () => {
  const f = filter({
    runtime_filter: {
      runtime_key: "k",
      percent_sampled: { numerator: 50, denominator: "HUNDRED" },
    },
  });
  const withId = (id: string) =>
    ctx({}, { requestHeaders: HeaderMap.from([["x-request-id", id]]) });
  // 0x00000031 % 100 = 49 < 50; 0x00000032 % 100 = 50.
  assert(f(withId("00000031-0000-4000-8000-000000000000")));
  assert(!f(withId("00000032-0000-4000-8000-000000000000")));
  // The same request decides the same way every time.
  const id = withId("a1b2c3d4-0000-4000-8000-000000000000");
  const first = f(id);
  for (let i = 0; i < 20; i++) assertEquals(f(id), first);
  const none = filter({ runtime_filter: { runtime_key: "k", percent_sampled: { numerator: 0 } } });
  assert(!none(withId("00000000-0000-4000-8000-000000000000")));
  const all = filter({
    runtime_filter: {
      runtime_key: "k",
      percent_sampled: { numerator: 100 },
      use_independent_randomness: true,
    },
  });
  assert(all(ctx()));
  // Runtime overrides (integer and fractional percent) are in filter_runtime_test.ts.
});

Deno.test("and_filter and or_filter combine", () => {
  const is5xx = {
    status_code_filter: {
      comparison: { op: "GE", value: { default_value: 500, runtime_key: "a" } },
    },
  };
  const fast = {
    duration_filter: { comparison: { op: "LE", value: { default_value: 10, runtime_key: "b" } } },
  };
  const and = filter({ and_filter: { filters: [is5xx, fast] } });
  const or = filter({ or_filter: { filters: [is5xx, fast] } });
  assertEquals([
    and(ctx({ responseCode: 503, duration: 5 })),
    and(ctx({ responseCode: 503, duration: 50 })),
  ], [true, false]);
  assertEquals([
    or(ctx({ responseCode: 200, duration: 5 })),
    or(ctx({ responseCode: 200, duration: 50 })),
  ], [true, false]);
});

Deno.test("header_filter matches request headers; TCP logs see no headers", () => {
  const present = filter({ header_filter: { header: { name: "x-debug", present_match: true } } });
  const absent = filter({
    header_filter: { header: { name: "x-debug", present_match: true, invert_match: true } },
  });
  const h = HeaderMap.from([[":method", "GET"], ["x-debug", "1"]]);
  assert(present(ctx({}, { requestHeaders: h })));
  assert(!present(ctx()));
  assert(absent(ctx()));
});

Deno.test("response_flag_filter: listed flags, or any flag", () => {
  const uf = filter({ response_flag_filter: { flags: ["UF", "UH"] } });
  const si = new StreamInfo();
  si.setFlag("UH");
  assert(uf({ streamInfo: si }) && !uf(ctx()));
  const any = filter({ response_flag_filter: {} });
  assert(any({ streamInfo: si }) && !any(ctx()));
});

Deno.test("grpc_status_filter: trailers, headers or HTTP status; exclude inverts", () => {
  const f = filter({ grpc_status_filter: { statuses: ["UNAVAILABLE", "INTERNAL"] } });
  const trailers = (code: string) =>
    ctx({ responseCode: 200 }, { responseTrailers: HeaderMap.from([["grpc-status", code]]) });
  assert(f(trailers("14")) && f(trailers("13")) && !f(trailers("0")));
  assert(f(ctx({ responseCode: 503 })));
  assert(!f(ctx({ responseCode: 200 })));
  const unknown = filter({ grpc_status_filter: { statuses: ["UNKNOWN"] } });
  // No response at all counts as Unknown; a user-defined code matches nothing.
  assert(unknown(ctx()));
  assert(!unknown(trailers("99")));
  const exclude = filter({ grpc_status_filter: { statuses: ["OK"], exclude: true } });
  assert(!exclude(trailers("0")) && exclude(trailers("2")));
});

Deno.test("metadata_filter matches dynamic metadata; a missing key decides by itself", () => {
  const withMeta = (v: unknown) => {
    const si = new StreamInfo();
    if (v !== undefined) si.dynamicMetadata["envoy.filters.http.rbac"] = { shadow: { result: v } };
    return { streamInfo: si };
  };
  const matcher = {
    filter: "envoy.filters.http.rbac",
    path: [{ key: "shadow" }, { key: "result" }],
    value: { string_match: { exact: "denied" } },
  };
  const f = filter({ metadata_filter: { matcher } });
  assert(f(withMeta("denied")) && !f(withMeta("allowed")));
  assert(f(withMeta(undefined)));
  const strict = filter({ metadata_filter: { matcher, match_if_key_not_found: false } });
  assert(!strict(withMeta(undefined)) && strict(withMeta("denied")));
});

Deno.test("log_type_filter matches why the entry is written", () => {
  const f = filter({ log_type_filter: { types: ["TcpConnectionEnd", "DownstreamEnd"] } });
  const typed = (t?: AccessLogType) => ctx({}, t ? { accessLogType: t } : {});
  assert(f(typed("DownstreamEnd")) && !f(typed("TcpPeriodic")) && !f(typed()));
  const not = filter({ log_type_filter: { types: ["TcpPeriodic"], exclude: true } });
  assert(not(typed("TcpConnectionEnd")) && !not(typed("TcpPeriodic")));
});

Deno.test("unsupported and bad filters are config errors naming the field", () => {
  assertMatch(
    errorOf({ extension_filter: { name: "my.filter" } }),
    /^filter\.extension_filter: access log filter extension 'my\.filter' is not supported/,
  );
  assertEquals(errorOf({}), "filter: access log filter needs a filter_specifier");
  assertMatch(
    errorOf({ response_flag_filter: { flags: ["XX"] } }),
    /unknown response flag 'XX'|XX/,
  );
});
