import { assertEquals, assertMatch } from "../testing/assert.ts";
import { mergeSnapshots, type StoreSnapshot } from "./snapshot.ts";
import { Store } from "./store.ts";

/** A store as a main thread or a worker would fill it. */
function isolate(fill: (s: Store) => void): StoreSnapshot {
  const store = new Store();
  fill(store);
  return store.snapshot();
}

Deno.test("counters and Accumulate gauges add up across isolates", () => {
  const main = isolate((s) => {
    s.counter("cluster_manager.cluster_added").inc(2);
    s.gauge("cluster_manager.active_clusters", "Accumulate").set(2);
  });
  const w0 = isolate((s) => {
    s.counter("http.ingress.downstream_rq_total").inc(5);
    s.gauge("http.ingress.downstream_rq_active", "Accumulate").set(1);
  });
  const w1 = isolate((s) => {
    s.counter("http.ingress.downstream_rq_total").inc(7);
    s.counter("http.ingress.downstream_rq_5xx");
    s.gauge("http.ingress.downstream_rq_active", "Accumulate").set(3);
  });
  const m = mergeSnapshots([main, w0, w1]);
  assertEquals(m.counters, [
    { name: "cluster_manager.cluster_added", value: 2, delta: 2, used: true },
    { name: "http.ingress.downstream_rq_total", value: 12, delta: 12, used: true },
    { name: "http.ingress.downstream_rq_5xx", value: 0, delta: 0, used: false },
  ]);
  assertEquals(m.gauges.map((g) => [g.name, g.value]), [
    ["cluster_manager.active_clusters", 2],
    ["http.ingress.downstream_rq_active", 4],
  ]);
});

Deno.test("NeverImport gauges and text readouts take the main thread's value", () => {
  const main = isolate((s) => {
    s.gauge("server.uptime", "NeverImport").set(100);
    s.textReadout("server.version_text").set("main");
  });
  const worker = isolate((s) => {
    s.gauge("server.uptime", "NeverImport").set(7);
    s.gauge("listener.worker_only", "NeverImport").set(9);
    s.textReadout("server.version_text").set("worker");
  });
  const m = mergeSnapshots([main, worker]);
  assertEquals(m.gauges.map((g) => [g.name, g.value]), [["server.uptime", 100], [
    "listener.worker_only",
    9,
  ]]);
  assertEquals(m.textReadouts.map((t) => t.value), ["main"]);
});

Deno.test("histograms merge interval and cumulative bucket counts", () => {
  const stores = [new Store(), new Store()];
  const [a, b] = stores.map((s) =>
    s.histogram("cluster.a.upstream_rq_time", "Milliseconds", [10, 100])
  );
  a.record(5);
  b.record(50);
  b.record(500);
  stores.forEach((s) => s.snapshot());
  a.record(1);
  const m = mergeSnapshots(stores.map((s) => s.snapshot()));
  const [h] = m.histograms;
  assertEquals(h.interval, { counts: [1, 0, 0], sum: 1, count: 1, min: 1, max: 1 });
  assertEquals(h.cumulative, { counts: [2, 1, 1], sum: 556, count: 4, min: 1, max: 500 });
  assertEquals(h.used, true);
});

Deno.test("merging copies: the inputs are left alone", () => {
  const w = isolate((s) => {
    s.counter("c").inc();
    s.histogram("h", "Unspecified", [1]).record(1);
  });
  const before = structuredClone(w);
  mergeSnapshots([w, w]);
  assertEquals(w, before);
  assertEquals(mergeSnapshots([w, w]).histograms[0].cumulative.counts, [2, 0]);
});

Deno.test("histograms with different bounds do not merge", () => {
  const a = isolate((s) => s.histogram("h", "Unspecified", [1]));
  const b = isolate((s) => s.histogram("h", "Unspecified", [2]));
  let err = "";
  try {
    mergeSnapshots([a, b]);
  } catch (e) {
    err = String(e);
  }
  assertMatch(err, /histogram h: snapshots disagree on its bucket bounds/);
});

Deno.test("merging nothing gives an empty snapshot", () => {
  assertEquals(mergeSnapshots([]), { counters: [], gauges: [], histograms: [], textReadouts: [] });
});
