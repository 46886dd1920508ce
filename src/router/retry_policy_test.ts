import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../testing/assert.ts";

/** The message `f` throws (fails when it does not throw). */
function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("did not throw");
}
import { apiRegistry, messageSchema } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import type { RetryPolicy } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import {
  compileHedgePolicy,
  compileRetryPolicy,
  DEFAULT_RETRY_POLICY,
  JitteredBackOff,
  lowerBoundBackOffMs,
  parseRetryGrpcOn,
  parseRetryOn,
  resetIntervalMs,
  RETRY_ON_5XX,
  RETRY_ON_CONNECT_FAILURE,
  RETRY_ON_GATEWAY_ERROR,
  RETRY_ON_GRPC_UNAVAILABLE,
  RetryState,
} from "./retry_policy.ts";

function policy(json: JsonValue): RetryPolicy {
  return fromJson(messageSchema<RetryPolicy>("envoy.config.route.v3.RetryPolicy"), json, {
    registry: apiRegistry(),
  });
}

function headers(kv: Record<string, string>): HeaderMap {
  const h = new HeaderMap();
  for (const [k, v] of Object.entries(kv)) h.add(k, v);
  return h;
}

Deno.test("parseRetryOn: names, blanks trimmed, unknown ignored", () => {
  assertEquals(parseRetryOn("5xx, connect-failure,bogus"), RETRY_ON_5XX | RETRY_ON_CONNECT_FAILURE);
  assertEquals(parseRetryGrpcOn("unavailable,5xx"), RETRY_ON_GRPC_UNAVAILABLE);
});

Deno.test("compileRetryPolicy: Envoy's defaults and checks", () => {
  const p = compileRetryPolicy(policy({ retryOn: "5xx,unavailable" }), "rp");
  assertEquals(p.retryOn, RETRY_ON_5XX | RETRY_ON_GRPC_UNAVAILABLE);
  assertEquals([p.numRetries, p.perTryTimeoutMs, p.hostSelectionMaxAttempts], [1, 0, 1]);
  assertEquals(p.resetMaxIntervalMs, 300_000);
  assert(
    thrown(() =>
      compileRetryPolicy(
        policy({ retryBackOff: { baseInterval: "1s", maxInterval: "0.5s" } }),
        "rp",
      )
    ).includes("max_interval must greater than or equal to the base_interval"),
  );
  assert(
    thrown(() => compileRetryPolicy(policy({ retryPriority: { name: "x" } }), "rp")).includes(
      "rp.retry_priority",
    ),
  );
  assertEquals(compileHedgePolicy({ hedgeOnPerTryTimeout: true } as never, "h"), true);
  assert(
    thrown(() => compileHedgePolicy({ initialRequests: 2 } as never, "h")).includes("initial"),
  );
});

Deno.test("JitteredBackOff: full jitter over base, 2·base, 4·base ... capped at max", () => {
  // random() just below 1 shows each interval's upper bound.
  const b = new JitteredBackOff(25, 250, () => 0.9999999);
  assertEquals([1, 2, 3, 4, 5, 6].map(() => b.nextBackOffMs()), [24, 49, 99, 199, 249, 249]);
  const zero = new JitteredBackOff(25, 250, () => 0);
  assertEquals(zero.nextBackOffMs(), 0);
  assertEquals(lowerBoundBackOffMs(1000, () => 0), 1000);
  assertEquals(lowerBoundBackOffMs(1000, () => 0.9999999), 1499);
});

Deno.test("resetIntervalMs: Retry-After in seconds, X-RateLimit-Reset as a Unix time", () => {
  const hs = [{ name: "retry-after", unixTimestamp: false }, {
    name: "x-ratelimit-reset",
    unixTimestamp: true,
  }];
  assertEquals(resetIntervalMs(hs, headers({ "retry-after": "2" }), 300_000), 2000);
  assertEquals(
    resetIntervalMs(hs, headers({ "x-ratelimit-reset": "1005" }), 300_000, 1_000_000),
    5000,
  );
  assertEquals(resetIntervalMs(hs, headers({ "retry-after": "400" }), 300_000), undefined);
  assertEquals(resetIntervalMs(hs, headers({ "retry-after": "soon" }), 300_000), undefined);
});

Deno.test("RetryState: conditions from the policy and the request headers", () => {
  const p = compileRetryPolicy(policy({ retryOn: "gateway-error", numRetries: 2 }), "rp");
  const s = new RetryState(p, headers({ "x-envoy-retry-on": "retriable-4xx" }), true);
  const resp = (status: number, kv: Record<string, string> = {}) =>
    headers({ ":status": String(status), ...kv });
  assert(s.wouldRetryFromHeaders(resp(503), 503));
  assert(!s.wouldRetryFromHeaders(resp(500), 500));
  assert(s.wouldRetryFromHeaders(resp(409), 409), "x-envoy-retry-on adds retriable-4xx");
  assert(!s.wouldRetryFromHeaders(resp(503, { "x-envoy-ratelimited": "true" }), 503));
  assert(s.wouldRetryFromReset("connection_termination", true), "gateway-error retries resets");
  assert(!s.wouldRetryFromReset("overflow", false));
  // Two retries, then the limit.
  assertEquals([s.decide(true, () => true), s.decide(true, () => true)], ["yes", "yes"]);
  assertEquals(s.decide(true, () => true), "no_retry_limit_exceeded");
  assertEquals(s.decide(false, () => true), "no");
});

Deno.test("RetryState: max retries header, overflow, retriable request headers, gRPC", () => {
  const p = compileRetryPolicy(
    policy({ retryOn: "connect-failure,unavailable", retriableRequestHeaders: [{ name: "x-ok" }] }),
    "rp",
  );
  const off = new RetryState(p, headers({}), true);
  assertEquals(off.enabled, false, "no retriable request header matched");
  const s = new RetryState(p, headers({ "x-ok": "1", "x-envoy-max-retries": "5" }), true);
  assertEquals(s.retriesRemaining, 5);
  assertEquals(s.decide(true, () => false), "no_overflow");
  assertEquals(s.retriesRemaining, 4, "an overflow uses up a retry, as in Envoy");
  assert(s.wouldRetryFromReset("connect_failure", false));
  assert(!s.wouldRetryFromReset("connection_termination", true));
  assert(s.wouldRetryFromHeaders(headers({ "grpc-status": "14" }), 200));
  assert(!s.wouldRetryFromHeaders(headers({ "grpc-status": "2" }), 200));
  const untrusted = new RetryState(
    DEFAULT_RETRY_POLICY,
    headers({ "x-envoy-retry-on": "5xx" }),
    false,
  );
  assertEquals(untrusted.enabled, false);
});

Deno.test("RetryState: reset-before-request, retriable status codes and headers", () => {
  const p = compileRetryPolicy(
    policy({
      retryOn: "reset-before-request,retriable-status-codes,retriable-headers",
      retriableStatusCodes: [418],
      retriableHeaders: [{ name: "x-retry", stringMatch: { exact: "yes" } }],
    }),
    "rp",
  );
  const s = new RetryState(p, headers({ "x-envoy-retriable-status-codes": "429" }), true);
  assert(s.wouldRetryFromReset("connection_termination", false));
  assert(!s.wouldRetryFromReset("connection_termination", true));
  assert(s.wouldRetryFromHeaders(headers({}), 418));
  assert(s.wouldRetryFromHeaders(headers({}), 429));
  assert(s.wouldRetryFromHeaders(headers({ "x-retry": "yes" }), 200));
  assert(!s.wouldRetryFromHeaders(headers({ "x-retry": "no" }), 200));
  assertEquals(RETRY_ON_GATEWAY_ERROR & s.retryOn, 0);
});
