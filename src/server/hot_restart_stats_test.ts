import { assertEquals } from "../testing/assert.ts";
import type { StoreSnapshot } from "../stats/snapshot.ts";
import { ParentStats } from "./hot_restart_stats.ts";

function parent(rq: number, active: number, connections: number): StoreSnapshot {
  return {
    counters: [{ name: "http.in.downstream_rq_total", value: rq, delta: 0, used: true }],
    gauges: [
      { name: "http.in.downstream_cx_active", value: active, importMode: "Accumulate", used: true },
      {
        name: "server.total_connections",
        value: connections,
        importMode: "Accumulate",
        used: true,
      },
      { name: "server.uptime", value: 99, importMode: "Accumulate", used: true },
      { name: "server.state", value: 1, importMode: "NeverImport", used: true },
    ],
    histograms: [],
    textReadouts: [],
  };
}

Deno.test("the parent's counters continue in the child, deltas from the hand-over on", () => {
  const p = new ParentStats();
  p.update(parent(100, 2, 2));
  let s = p.snapshot(true);
  assertEquals(s.counters, [{
    name: "http.in.downstream_rq_total",
    value: 100,
    delta: 0,
    used: true,
  }]);
  p.update(parent(130, 1, 1));
  s = p.snapshot(true);
  assertEquals(s.counters[0].value, 130);
  assertEquals(s.counters[0].delta, 30);
  assertEquals(p.snapshot(false).counters[0].delta, 0);
});

Deno.test("Accumulate gauges add while the parent lives; server.* gauges stay the parent's", () => {
  const p = new ParentStats();
  p.update(parent(1, 3, 3));
  assertEquals(p.connections, 3);
  const names = p.snapshot(false).gauges.map((g) => `${g.name}=${g.value}`);
  assertEquals(names, ["http.in.downstream_cx_active=3", "server.total_connections=3"]);
  p.parentGone();
  assertEquals(p.connections, 0);
  assertEquals(p.snapshot(false).gauges.map((g) => g.value), [0]);
  assertEquals(p.snapshot(false).counters[0].value, 1);
});
