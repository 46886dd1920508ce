import { fromJson } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { SnapshotMerger } from "../stats/snapshot.ts";
import type { CircuitBreakers } from "../../proto/gen/envoy/config/cluster/v3/circuit_breaker_pb.ts";
import {
  allocateCircuitBreakerMemory,
  CircuitBreakerStats,
  ClusterResources,
  DEFAULT_THRESHOLDS,
  limitsConnectionPools,
  parseCircuitBreakers,
  perHostMaxConnections,
  releaseWorkerResources,
} from "./resource_manager.ts";

function cb(json: unknown): CircuitBreakers {
  return fromJson(
    messageSchema<CircuitBreakers>("envoy.config.cluster.v3.CircuitBreakers"),
    json as never,
    { registry: apiRegistry() },
  );
}

Deno.test("parseCircuitBreakers: defaults, priorities, refusals", () => {
  const problems: string[] = [];
  assertEquals(parseCircuitBreakers(undefined, problems), [DEFAULT_THRESHOLDS, DEFAULT_THRESHOLDS]);
  const [d, h] = parseCircuitBreakers(
    cb({
      thresholds: [{ maxRequests: 2 }, { priority: "HIGH", maxRetries: 7, trackRemaining: true }],
    }),
    problems,
  );
  assertEquals([d.maxRequests, d.maxConnections, d.maxRetries], [2, 1024, 3]);
  assertEquals([h.maxRetries, h.trackRemaining], [7, true]);
  assertEquals(problems, []);
  const pools = parseCircuitBreakers(
    cb({ thresholds: [{ maxConnectionPools: 1 }], perHostThresholds: [{ maxConnections: 1 }] }),
    problems,
  );
  assertEquals(problems, []);
  assertEquals([pools[0].maxConnectionPools, pools[1].maxConnectionPools], [1, 4294967295]);
  assert(limitsConnectionPools(pools));
  assert(!limitsConnectionPools([d, h]));
  const perHost: string[] = [];
  parseCircuitBreakers(cb({ perHostThresholds: [{ maxConnections: 1, maxRequests: 3 }] }), perHost);
  assertEquals(perHost, [
    "circuit_breakers.per_host_thresholds[0].max_requests: only max_connections applies per host",
  ]);
});

Deno.test("perHostMaxConnections: the last per-host max_connections; nothing else is read", () => {
  assertEquals(perHostMaxConnections(undefined), undefined);
  assertEquals(perHostMaxConnections(cb({ perHostThresholds: [{ maxRequests: 3 }] })), undefined);
  assertEquals(
    perHostMaxConnections(
      cb({ perHostThresholds: [{ maxConnections: 4 }, { priority: "HIGH", maxConnections: 2 }] }),
    ),
    2,
  );
});

Deno.test("ResourceManager: limits shared through the memory, taken atomically", () => {
  const memory = allocateCircuitBreakerMemory();
  const t = { ...DEFAULT_THRESHOLDS, maxRequests: 2 };
  // Two isolates' views of the same memory.
  const a = new ClusterResources([t, DEFAULT_THRESHOLDS], memory).forPriority(0);
  const b = new ClusterResources([t, DEFAULT_THRESHOLDS], memory).forPriority(0);
  assert(a.requests.tryCreate());
  assert(b.requests.tryCreate());
  assert(!a.requests.tryCreate(), "the second isolate's request counts");
  assertEquals(b.requests.count(), 2);
  a.requests.dec();
  assert(b.requests.canCreate());
  // HIGH has its own cells.
  assertEquals(new ClusterResources([t, t], memory).forPriority(1).requests.count(), 0);
});

Deno.test("RetryLimit: the budget is a share of active and pending requests", () => {
  const t = {
    ...DEFAULT_THRESHOLDS,
    retryBudget: { budgetPercent: 25, minRetryConcurrency: 2 },
  };
  const rm = new ClusterResources([t, t], allocateCircuitBreakerMemory()).forPriority(0);
  assertEquals(rm.retries.max(), 2, "never below min_retry_concurrency");
  for (let i = 0; i < 12; i++) rm.requests.inc();
  for (let i = 0; i < 4; i++) rm.pendingRequests.inc();
  assertEquals(rm.retries.max(), 4);
});

Deno.test("CircuitBreakerStats: open and remaining gauges from the shared counters", () => {
  const values = new Map<string, number>();
  const store = {
    gauge: (name: string) => ({ set: (v: number) => values.set(name, v) }),
  };
  const t = { ...DEFAULT_THRESHOLDS, maxRequests: 1, trackRemaining: true };
  const res = new ClusterResources([t, DEFAULT_THRESHOLDS], allocateCircuitBreakerMemory());
  const s = new CircuitBreakerStats(store, "c", res);
  const p = "cluster.c.circuit_breakers.";
  assertEquals(values.get(p + "default.rq_open"), 0);
  assertEquals(values.get(p + "default.remaining_rq"), 1);
  assertEquals(values.has(p + "high.remaining_rq"), false, "only with track_remaining");
  res.forPriority(0).requests.inc();
  s.update();
  assertEquals(values.get(p + "default.rq_open"), 1);
  assertEquals(values.get(p + "default.remaining_rq"), 0);
  // max_connection_pools: cx_pool_open and remaining_cx_pools (unlimited: UINT32_MAX).
  assertEquals(values.get(p + "default.remaining_cx_pools"), 4294967295);
  const limited = new ClusterResources(
    [{ ...t, maxConnectionPools: 2 }, DEFAULT_THRESHOLDS],
    allocateCircuitBreakerMemory(),
  );
  const ls = new CircuitBreakerStats(store, "l", limited);
  const q = "cluster.l.circuit_breakers.default.";
  assertEquals([values.get(q + "cx_pool_open"), values.get(q + "remaining_cx_pools")], [0, 2]);
  assert(limited.forPriority(0).connectionPools.tryCreate());
  assert(limited.forPriority(0).connectionPools.tryCreate());
  assert(!limited.forPriority(0).connectionPools.tryCreate());
  ls.update();
  assertEquals([values.get(q + "cx_pool_open"), values.get(q + "remaining_cx_pools")], [1, 0]);
  // A breaker that never opened has no gauge yet (unless its priority tracks remaining):
  // stats list it as an unused zero.
  assertEquals(values.has("cluster.l.circuit_breakers.high.cx_pool_open"), false);
  const m = new SnapshotMerger();
  ls.fill(m, { accepts: (name) => !name.endsWith(".rq_open") });
  const filled = m.result().gauges.map((g) => [g.name, g.value, g.used]);
  assertEquals(filled, [
    ["cluster.l.circuit_breakers.high.cx_open", 0, false],
    ["cluster.l.circuit_breakers.high.rq_pending_open", 0, false],
    ["cluster.l.circuit_breakers.high.rq_retry_open", 0, false],
    ["cluster.l.circuit_breakers.high.cx_pool_open", 0, false],
  ]);
  // Seen in use, the gauge is made (0 while under the limit) and kept.
  const high = limited.forPriority(1);
  high.requests.inc();
  ls.update();
  assertEquals(values.get("cluster.l.circuit_breakers.high.rq_open"), 0);
  assertEquals(values.has("cluster.l.circuit_breakers.high.cx_open"), false);
  for (let i = 0; i < 1024; i++) high.connections.inc();
  ls.update();
  assertEquals(values.get("cluster.l.circuit_breakers.high.cx_open"), 1);
  high.connections.dec();
  ls.update();
  assertEquals(values.get("cluster.l.circuit_breakers.high.cx_open"), 0);
});

Deno.test("releaseWorkerResources: what a dead worker held stops counting", () => {
  const memory = allocateCircuitBreakerMemory(2);
  const t = { ...DEFAULT_THRESHOLDS, maxRequests: 3 };
  const w0 = new ClusterResources([t, t], memory, 0).forPriority(0);
  const w1 = new ClusterResources([t, t], memory, 1).forPriority(1);
  assert(w0.requests.tryCreate());
  assert(w0.requests.tryCreate());
  w0.connections.inc();
  assert(w1.requests.tryCreate());
  assertEquals(w0.requests.count(), 2);
  releaseWorkerResources(memory, 0);
  assertEquals([w0.requests.count(), w0.connections.count()], [0, 0]);
  assertEquals(w1.requests.count(), 1, "the other worker's share stays");
});
