import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import { assertEquals } from "../../../../testing/assert.ts";
import { messageSchema } from "../../../../config/api.ts";
import { StreamInfo } from "../../../../stream_info/stream_info.ts";
import { FilterManager, type StreamSink } from "../../../../http/filter_manager.ts";
import type { HttpFilterFactoryCb, LocalReplyOptions } from "../../../../http/filter.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { Snapshot } from "../../../../runtime/snapshot.ts";
import { entryFromString } from "../../../../runtime/entry.ts";
import { Store } from "../../../../stats/store.ts";
import type { HTTPFault } from "../../../../../proto/gen/envoy/extensions/filters/http/fault/v3/fault_pb.ts";
import { FakeTimers } from "../../../../testing/fake_timers.ts";
import { newActiveFaultMemory } from "./active_faults.ts";
import { compileFaultSettings } from "./fault_config.ts";
import { FAULT_FILTER_NAME, faultFilterFactory, FaultStats } from "./fault_filter.ts";

const HTTP_FAULT = "envoy.extensions.filters.http.fault.v3.HTTPFault";
const fault = (json: JsonObject) => fromJson(messageSchema<HTTPFault>(HTTP_FAULT), json);

interface Options {
  random?: number;
  runtime?: Record<string, string>;
  cluster?: string;
  perRoute?: JsonObject;
}

/** The fault filter before a terminal filter that records what reaches it, on fake time. */
function harness(config: JsonObject, opts: Options = {}) {
  const timers = new FakeTimers();
  const store = new Store();
  const stats = new FaultStats(store, "http.test", newActiveFaultMemory(1));
  const entries = Object.fromEntries(
    Object.entries(opts.runtime ?? {}).map(([k, v]) => [k, entryFromString(v)]),
  );
  const snapshot = new Snapshot({ layers: [{ name: "test", entries }] });
  const perRoute: Any | undefined = opts.perRoute
    ? anyPack(messageSchema(HTTP_FAULT), fault(opts.perRoute))
    : undefined;
  const factory = faultFilterFactory({
    name: FAULT_FILTER_NAME,
    settings: compileFaultSettings(fault(config)),
    stats,
    timers,
    random: () => opts.random ?? 0,
    runtime: () => snapshot,
  });
  const make = () => {
    const rec = {
      reached: false,
      local: undefined as { status: number; body: string; opts?: LocalReplyOptions } | undefined,
      data: [] as { bytes: number; end: boolean; at: number }[],
      trailersAt: -1,
      info: new StreamInfo(),
    };
    const sink: StreamSink = {
      streamInfo: rec.info,
      connection: { id: 1, remoteAddress: "127.0.0.1:1", localAddress: "127.0.0.1:2" },
      route: () => ({ clusterName: opts.cluster ?? "backend" }) as never,
      clearRouteCache: () => {},
      perFilterConfig: (name) => name === FAULT_FILTER_NAME ? perRoute : undefined,
      localReply: (status, body, o) => rec.local = { status, body, opts: o },
      writeHeaders: () => {},
      writeData: (d, end) => rec.data.push({ bytes: d.length, end, at: timers.time }),
      writeTrailers: () => rec.trailersAt = timers.time,
      reset: () => {},
      onBug: (e) => {
        throw e;
      },
      readDisable: () => {},
      writable: () => true,
      onWritable: () => {},
      bufferLimit: 1 << 20,
      recreateStream: () => {},
    };
    const terminal: HttpFilterFactoryCb = () => ({
      decoder: {
        decodeHeaders: () => {
          rec.reached = true;
          return "stop";
        },
      },
    });
    const fm = new FilterManager(sink, [factory, terminal]);
    return { rec, fm };
  };
  /** Sends a request with `headers`; returns what happened to it. */
  const request = (headers: Record<string, string> = {}) => {
    const s = make();
    const h = new HeaderMap([":method", "GET", ":path", "/", ":authority", "a"]);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    s.fm.decodeHeaders(h, true);
    return s;
  };
  const stat = (name: string) =>
    name === "active_faults"
      ? stats.activeFaults.value
      : store.counter(`http.test.fault.${name}`).value;
  return { request, timers, stat };
}

const ABORT_503 = { abort: { http_status: 503, percentage: { numerator: 100 } } };

Deno.test("fault: abort with 503 at 100%: local reply, FI, stats", () => {
  const { request, stat } = harness(ABORT_503);
  const { rec, fm } = request();
  assertEquals(rec.reached, false);
  assertEquals(rec.local?.status, 503);
  assertEquals(rec.local?.body, "fault filter abort");
  assertEquals(rec.local?.opts?.details, "fault_filter_abort");
  assertEquals(rec.info.hasFlag("FI"), true);
  assertEquals([stat("aborts_injected"), stat("active_faults")], [1, 1]);
  fm.destroy();
  assertEquals(stat("active_faults"), 0);
});

Deno.test("fault: percentage: random % denominator < numerator, denominators honoured", () => {
  const cfg = { abort: { http_status: 500, percentage: { numerator: 50 } } };
  assertEquals(harness(cfg, { random: 149 }).request().rec.local?.status, 500);
  assertEquals(harness(cfg, { random: 150 }).request().rec.reached, true);
  const tenK = {
    abort: { http_status: 500, percentage: { numerator: 1, denominator: "TEN_THOUSAND" } },
  };
  assertEquals(harness(tenK, { random: 10_000 }).request().rec.local?.status, 500);
  assertEquals(harness(tenK, { random: 1 }).request().rec.reached, true);
  // No percentage: the proto's zero value, 0%.
  assertEquals(harness({ abort: { http_status: 500 } }).request().rec.reached, true);
});

Deno.test("fault: header_abort takes [200,600) from the header; -percentage only lowers", () => {
  const { request } = harness({ abort: { header_abort: {}, percentage: { numerator: 50 } } });
  assertEquals(request().rec.reached, true);
  assertEquals(request({ "x-envoy-fault-abort-request": "429" }).rec.local?.status, 429);
  assertEquals(request({ "x-envoy-fault-abort-request": "600" }).rec.reached, true);
  assertEquals(request({ "x-envoy-fault-abort-request": "abc" }).rec.reached, true);
  const lowered = { "x-envoy-fault-abort-request": "429" };
  assertEquals(
    request({ ...lowered, "x-envoy-fault-abort-request-percentage": "0" }).rec.reached,
    true,
  );
  // 100 asked, capped at the configured 50: random 0 still passes.
  assertEquals(
    request({ ...lowered, "x-envoy-fault-abort-request-percentage": "100" }).rec.local?.status,
    429,
  );
  const g = request({ "x-envoy-fault-abort-grpc-request": "8" }).rec.local;
  assertEquals([g?.status, g?.opts?.grpcStatus], [200, 8]);
});

Deno.test("fault: grpc_status abort answers 200 with the gRPC status", () => {
  const { rec } = harness({ abort: { grpc_status: 14, percentage: { numerator: 100 } } })
    .request();
  assertEquals([rec.local?.status, rec.local?.opts?.grpcStatus], [200, 14]);
});

Deno.test("fault: fixed delay holds the request, then it goes on (DI, active while delayed)", () => {
  const { request, timers, stat } = harness({
    delay: { fixed_delay: "0.2s", percentage: { numerator: 100 } },
  });
  const { rec } = request();
  assertEquals(rec.reached, false);
  assertEquals(rec.info.hasFlag("DI"), true);
  assertEquals([stat("delays_injected"), stat("active_faults")], [1, 1]);
  timers.advance(199);
  assertEquals(rec.reached, false);
  timers.advance(200);
  assertEquals(rec.reached, true);
  assertEquals(stat("active_faults"), 0);
});

Deno.test("fault: a delay is followed by the abort", () => {
  const { request, timers, stat } = harness({
    delay: { fixed_delay: "0.1s", percentage: { numerator: 100 } },
    ...ABORT_503,
  });
  const { rec } = request();
  assertEquals(rec.local, undefined);
  timers.advance(100);
  assertEquals([rec.reached, rec.local?.status], [false, 503]);
  assertEquals([rec.info.hasFlag("DI"), rec.info.hasFlag("FI")], [true, true]);
  assertEquals([stat("delays_injected"), stat("aborts_injected")], [1, 1]);
});

Deno.test("fault: header_delay takes its milliseconds from the request", () => {
  const { request, timers } = harness({
    delay: { header_delay: {}, percentage: { numerator: 100 } },
  });
  assertEquals(request().rec.reached, true);
  assertEquals(request({ "x-envoy-fault-delay-request": "0" }).rec.reached, true);
  const { rec } = request({ "x-envoy-fault-delay-request": "50" });
  assertEquals(rec.reached, false);
  timers.advance(50);
  assertEquals(rec.reached, true);
});

Deno.test("fault: upstream_cluster, downstream_nodes and headers restrict the faults", () => {
  const cfg = { ...ABORT_503, upstream_cluster: "backend" };
  assertEquals(harness(cfg, { cluster: "other" }).request().rec.reached, true);
  assertEquals(harness(cfg).request().rec.local?.status, 503);
  const nodes = harness({ ...ABORT_503, downstream_nodes: ["n1"] });
  assertEquals(nodes.request().rec.reached, true);
  assertEquals(nodes.request({ "x-envoy-downstream-service-node": "n2" }).rec.reached, true);
  assertEquals(
    nodes.request({ "x-envoy-downstream-service-node": "n1" }).rec.local?.status,
    503,
  );
  const hdr = harness({ ...ABORT_503, headers: [{ name: "x-fault", exact_match: "yes" }] });
  assertEquals(hdr.request().rec.reached, true);
  assertEquals(hdr.request({ "x-fault": "yes" }).rec.local?.status, 503);
});

Deno.test("fault: max_active_faults overflows; runtime overrides it", () => {
  const cfg = { delay: { fixed_delay: "1s", percentage: { numerator: 100 } } };
  const { request, stat } = harness({ ...cfg, max_active_faults: 1 });
  assertEquals(request().rec.reached, false);
  assertEquals(request().rec.reached, true);
  assertEquals([stat("faults_overflow"), stat("active_faults")], [1, 1]);
  const rt = harness({ ...cfg, max_active_faults: 1 }, {
    runtime: { "fault.http.max_active_faults": "2" },
  });
  assertEquals([rt.request().rec.reached, rt.request().rec.reached], [false, false]);
});

Deno.test("fault: runtime keys, custom keys and the downstream cluster's keys", () => {
  const off = harness(ABORT_503, { runtime: { "fault.http.abort.abort_percent": "0" } });
  assertEquals(off.request().rec.reached, true);
  const status = harness(ABORT_503, { runtime: { "fault.http.abort.http_status": "502" } });
  assertEquals(status.request().rec.local?.status, 502);
  const custom = harness({ ...ABORT_503, abort_percent_runtime: "my.abort" }, {
    runtime: { "my.abort": "0", "fault.http.abort.abort_percent": "100" },
  });
  assertEquals(custom.request().rec.reached, true);
  // A downstream cluster is looked up under its own keys only.
  const dc = harness(ABORT_503, {
    runtime: {
      "fault.http.abort.abort_percent": "0",
      "fault.http.web.abort.http_status": "504",
    },
  });
  const { rec } = dc.request({ "x-envoy-downstream-service-cluster": "web" });
  assertEquals(rec.local?.status, 504);
  assertEquals(dc.request({ "x-envoy-downstream-service-cluster": "api" }).rec.local?.status, 503);
});

Deno.test("fault: downstream cluster stats, unless disabled", () => {
  const h = harness(ABORT_503);
  h.request({ "x-envoy-downstream-service-cluster": "web" });
  assertEquals([h.stat("web.aborts_injected"), h.stat("aborts_injected")], [1, 1]);
  const off = harness({ ...ABORT_503, disable_downstream_cluster_stats: true });
  off.request({ "x-envoy-downstream-service-cluster": "web" });
  assertEquals([off.stat("web.aborts_injected"), off.stat("aborts_injected")], [0, 1]);
});

Deno.test("fault: a route's typed_per_filter_config replaces the filter's settings", () => {
  const { request } = harness(ABORT_503, {
    perRoute: { abort: { http_status: 418, percentage: { numerator: 100 } } },
  });
  assertEquals(request().rec.local?.status, 418);
});

Deno.test("fault: filter_metadata goes to the dynamic metadata when a fault fires", () => {
  const { rec } = harness({ ...ABORT_503, filter_metadata: { reason: "test" } }).request();
  assertEquals(rec.info.dynamicMetadata[FAULT_FILTER_NAME], { reason: "test" });
});

Deno.test("fault: response_rate_limit paces the body and holds trailers until it is out", () => {
  const { request, timers, stat } = harness({
    response_rate_limit: { fixed_limit: { limit_kbps: 1 }, percentage: { numerator: 100 } },
  });
  const { rec, fm } = request();
  assertEquals([rec.reached, stat("response_rl_injected")], [true, 1]);
  fm.encodeHeaders(new HeaderMap([":status", "200"]), false);
  fm.encodeData(new Uint8Array(128), false);
  fm.encodeTrailers(new HeaderMap(["grpc-status", "0"]));
  assertEquals(rec.data.length, 0);
  timers.advance(1000);
  assertEquals(rec.data.map((d) => [d.bytes, d.end]), [[64, false], [64, false]]);
  assertEquals(rec.trailersAt, rec.data[1].at);
  fm.destroy();
  assertEquals(stat("active_faults"), 0);
});

Deno.test("fault: header_limit rate from x-envoy-fault-throughput-response", () => {
  const { request, stat } = harness({
    response_rate_limit: { header_limit: {}, percentage: { numerator: 100 } },
  });
  request();
  request({ "x-envoy-fault-throughput-response": "0" });
  assertEquals(stat("response_rl_injected"), 0);
  request({ "x-envoy-fault-throughput-response": "10" });
  assertEquals(stat("response_rl_injected"), 1);
});
