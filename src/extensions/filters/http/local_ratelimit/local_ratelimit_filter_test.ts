import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import { assertEquals, assertMatch } from "../../../../testing/assert.ts";
import { LocalRateLimitSchema } from "../../../../../proto/gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.ts";
import { FilterManager, type StreamSink } from "../../../../http/filter_manager.ts";
import type { LocalReplyOptions } from "../../../../http/filter.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import type { MatchedRoute } from "../../../../router/route_table.ts";
import { Store } from "../../../../stats/store.ts";
import { StreamInfo } from "../../../../stream_info/stream_info.ts";
import { newBucketMemory } from "../../common/local_ratelimit/bucket_memory.ts";
import {
  LOCAL_RATELIMIT_FILTER_NAME,
  localRateLimitFilterFactory,
} from "./local_ratelimit_filter.ts";

type Init = MessageInitShape<typeof LocalRateLimitSchema>;

const ON = { defaultValue: { numerator: 100 } };
const config = (init: Init) =>
  create(LocalRateLimitSchema, {
    statPrefix: "rl",
    tokenBucket: { maxTokens: 1, fillInterval: { seconds: 1000n } },
    filterEnabled: ON,
    filterEnforced: ON,
    ...init,
  } as Init);

/** A route with `perRoute` (an Any) as its local_ratelimit config, when given. */
function matchedRoute(perRoute?: Any): MatchedRoute {
  const own = perRoute ? { [LOCAL_RATELIMIT_FILTER_NAME]: perRoute } : {};
  const route = {
    action: "route",
    config: { typedPerFilterConfig: own },
    typedPerFilterConfig: new Map(Object.entries(own)),
    rateLimitPolicy: [],
    includeVhRateLimits: false,
  };
  const virtualHost = {
    name: "vh",
    routes: [route],
    config: { typedPerFilterConfig: {} },
    rateLimitPolicy: [],
  };
  return { route, virtualHost, clusterName: "backend" } as unknown as MatchedRoute;
}

/** One filter config serving requests; each `send` reports the response it produced. */
function harness(
  init: Init,
  route = matchedRoute(),
  where = { memory: newBucketMemory(16), placement: "test" },
) {
  const stats = new Store();
  const factory = localRateLimitFilterFactory(config(init), new Uint8Array([1]), {
    stats,
    localServiceCluster: "",
    memory: where.memory,
    placement: where.placement,
    filterName: LOCAL_RATELIMIT_FILTER_NAME,
    unpack: (any) => fromAny(any),
  });
  const conn = { id: 1, remoteAddress: "127.0.0.1:1", localAddress: "127.0.0.1:2" };
  const send = () => {
    let response: HeaderMap | undefined;
    let grpcStatus: number | undefined;
    let upstream = false;
    const si = new StreamInfo();
    const fm: FilterManager = new FilterManager({
      streamInfo: si,
      connection: conn,
      route: () => route,
      localReply(status: number, body: string, opts?: LocalReplyOptions) {
        const h = new HeaderMap([":status", String(status), "x-body", body]);
        grpcStatus = opts?.grpcStatus;
        opts?.modifyHeaders?.(h);
        fm.encodeHeaders(h, true);
      },
      writeHeaders: (h: HeaderMap) => void (response = h),
    } as unknown as StreamSink, [factory, () => ({
      decoder: { decodeHeaders: () => ((upstream = true), "continue") },
    })]);
    fm.decodeHeaders(new HeaderMap([":method", "GET", ":path", "/"]), true);
    if (upstream) fm.encodeHeaders(new HeaderMap([":status", "200"]), true);
    return { response: response!, grpcStatus, upstream, flags: si.responseFlags };
  };
  return { send, stats: (n: string) => stats.counter(`rl.http_local_rate_limit.${n}`).value };
}

/** The message an Any in these tests carries (they pack only LocalRateLimit). */
const packed = new Map<Any, Init>();
function pack(init: Init): Any {
  const any = anyPack(LocalRateLimitSchema, config(init));
  packed.set(any, init);
  return any;
}
const fromAny = (any: Any) => config(packed.get(any)!);

Deno.test("local_ratelimit filter: the limited request gets 429 local_rate_limited, x-envoy-ratelimited, RL", () => {
  const h = harness({
    responseHeadersToAdd: [{ header: { key: "x-local-rate-limit", value: "true" } }],
  });
  const first = h.send();
  assertEquals([first.upstream, first.response.get(":status")], [true, "200"]);
  assertEquals(first.response.get("x-local-rate-limit"), undefined);
  const second = h.send();
  assertEquals(second.upstream, false);
  assertEquals(second.response.get(":status"), "429");
  assertEquals(second.response.get("x-body"), "local_rate_limited");
  assertEquals(second.response.get("x-envoy-ratelimited"), "true");
  assertEquals(second.response.get("x-local-rate-limit"), "true");
  assertEquals(second.grpcStatus, undefined);
  assertEquals(second.flags !== 0, true);
  assertEquals(
    ["enabled", "ok", "rate_limited", "enforced"].map(h.stats),
    [2, 1, 1, 1],
  );
});

Deno.test("local_ratelimit filter: status below 400 is 429; rate_limited_as_resource_exhausted", () => {
  const low = harness({ status: { code: 302 } });
  low.send();
  assertEquals(low.send().response.get(":status"), "429");
  const custom = harness({ status: { code: 503 }, rateLimitedAsResourceExhausted: true });
  custom.send();
  const r = custom.send();
  assertEquals([r.response.get(":status"), r.grpcStatus], ["503", 8]);
});

Deno.test("local_ratelimit filter: disabled by default; enabled but not enforced counts and passes", () => {
  const off = harness({ filterEnabled: undefined });
  assertEquals([off.send().upstream, off.send().upstream], [true, true]);
  assertEquals(off.stats("enabled"), 0);
  const shadow = harness({ filterEnforced: undefined });
  assertEquals([shadow.send().upstream, shadow.send().upstream], [true, true]);
  assertEquals(["rate_limited", "enforced"].map(shadow.stats), [1, 0]);
});

Deno.test("local_ratelimit filter: x-ratelimit headers describe the bucket", () => {
  const h = harness({
    tokenBucket: { maxTokens: 3, fillInterval: { seconds: 60n } },
    enableXRatelimitHeaders: 1,
  });
  const r = h.send().response;
  assertEquals(
    [r.get("x-ratelimit-limit"), r.get("x-ratelimit-remaining")],
    ["3", "2"],
  );
  assertMatch(r.get("x-ratelimit-reset")!, /^(59|60)$/);
});

Deno.test("local_ratelimit filter: a route's config replaces the filter's, with a bucket of its own", () => {
  const route = matchedRoute(pack({
    statPrefix: "rl",
    tokenBucket: { maxTokens: 2, fillInterval: { seconds: 1000n } },
  }));
  const h = harness({}, route);
  assertEquals([h.send(), h.send(), h.send()].map((r) => r.upstream), [true, true, false]);
  // A route config without a token bucket is refused, as Envoy refuses it.
  const bad = harness({}, matchedRoute(pack({ tokenBucket: undefined })));
  let message = "";
  try {
    bad.send();
  } catch (e) {
    message = (e as Error).message;
  }
  assertMatch(message, /token bucket must be set for per filter configs/);
});

Deno.test("local_ratelimit filter: the same filter in two workers shares its bucket; another listener's does not", () => {
  const memory = newBucketMemory(16);
  const worker0 = harness({}, matchedRoute(), { memory, placement: "listener a" });
  const worker1 = harness({}, matchedRoute(), { memory, placement: "listener a" });
  const other = harness({}, matchedRoute(), { memory, placement: "listener b" });
  assertEquals([worker0.send().upstream, worker1.send().upstream], [true, false]);
  assertEquals(other.send().upstream, true);
});

Deno.test("local_ratelimit filter: a bad header to add is refused with its field", () => {
  let message = "";
  try {
    harness({ requestHeadersToAddWhenNotEnforced: [{ header: { key: ":path", value: "/x" } }] });
  } catch (e) {
    message = (e as Error).message;
  }
  assertMatch(message, /^request_headers_to_add_when_not_enforced\[0\]\.header\.key: /);
});
