/** Access log filters that read the runtime: comparison runtime keys and the runtime filter. */
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import type { AccessLogFilter } from "../../../proto/gen/envoy/config/accesslog/v3/accesslog_pb.ts";
import { apiRegistry, messageSchema } from "../../config/api.ts";
import { HeaderMap } from "../../http/header_map.ts";
import { runtimeSnapshot, setRuntimeSnapshot } from "../../runtime/runtime.ts";
import type { RuntimeEntry } from "../../runtime/snapshot.ts";
import { StreamInfo } from "../../stream_info/stream_info.ts";
import { assert, assertEquals } from "../../testing/assert.ts";
import { compileAccessLogFilter } from "./filter.ts";

function filter(json: JsonValue) {
  const schema = messageSchema<AccessLogFilter>("envoy.config.accesslog.v3.AccessLogFilter");
  return compileAccessLogFilter(fromJson(schema, json, { registry: apiRegistry() }));
}

function withRuntime(entries: Record<string, RuntimeEntry>, fn: () => void): void {
  const before = runtimeSnapshot();
  try {
    setRuntimeSnapshot({ layers: [{ name: "admin", entries }] });
    fn();
  } finally {
    setRuntimeSnapshot(before);
  }
}

const status = (code: number) => ({
  streamInfo: Object.assign(new StreamInfo(), { responseCode: code }),
});

Deno.test("status_code_filter reads its runtime key from the live snapshot", () => {
  const f = filter({
    status_code_filter: {
      comparison: { op: "GE", value: { default_value: 500, runtime_key: "log.min_status" } },
    },
  });
  assert(!f(status(404)));
  withRuntime({ "log.min_status": { raw: "400", uint: 400 } }, () => assert(f(status(404))));
  // Not a number: the default applies.
  withRuntime({ "log.min_status": { raw: "x" } }, () => assert(!f(status(404))));
});

Deno.test("runtime_filter samples by its runtime key, from the request id unless independent", () => {
  const withId = (id: string) => {
    const si = new StreamInfo();
    si.streamId = id;
    return { streamInfo: si, requestHeaders: HeaderMap.from([["x-request-id", id]]) };
  };
  // 0x00000005 % 100 = 5; 0x00000063 % 100 = 99.
  const low = withId("00000005-0000-4000-8000-000000000000");
  const high = withId("00000063-0000-4000-8000-000000000000");
  const f = filter({
    runtime_filter: { runtime_key: "log.sample", percent_sampled: { numerator: 10 } },
  });
  assertEquals([f(low), f(high)], [true, false]);
  withRuntime({ "log.sample": { raw: "100", uint: 100 } }, () => {
    assertEquals([f(low), f(high)], [true, true]);
  });
  withRuntime({ "log.sample": { raw: "0", uint: 0 } }, () => {
    assertEquals([f(low), f(high)], [false, false]);
  });
  // A fractional percent value: 1/10000.
  withRuntime({
    "log.sample": { raw: "", fractionalPercent: { numerator: 1, denominator: 10_000 } },
  }, () => {
    assertEquals([
      f(withId("00002710-0000-4000-8000-000000000000")),
      f(withId("00002711-0000-4000-8000-000000000000")),
    ], [true, false]);
  });
  // Unset percent_sampled is 0%.
  const none = filter({ runtime_filter: { runtime_key: "unset" } });
  assert(!none(low));
  const independent = filter({
    runtime_filter: {
      runtime_key: "k",
      percent_sampled: { numerator: 100 },
      use_independent_randomness: true,
    },
  });
  assert(independent(high));
});
