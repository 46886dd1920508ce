import { assert, assertEquals } from "../testing/assert.ts";
import { ClusterStatsTemplate } from "./cluster_stats_template.ts";
import { ClusterStats } from "./data_path_stats.ts";
import { SnapshotMerger } from "./snapshot.ts";
import { Store } from "./store.ts";

Deno.test("cluster stats template: the suffixes ClusterStats declares, by kind", () => {
  const t = new ClusterStatsTemplate();
  assert(t.counters.includes("upstream_rq_total"));
  assert(t.counters.includes("internal.upstream_rq_completed"));
  assert(t.gauges.some(([n, mode]) => n === "upstream_cx_active" && mode === "Accumulate"));
  assert(
    t.histograms.some(([n, unit]) => n === "upstream_cx_connect_ms" && unit === "Milliseconds"),
  );
  // Exactly what one ClusterStats declares, no more.
  const store = new Store();
  new ClusterStats(store, "c");
  const s = store.snapshot({ latch: false });
  assertEquals(s.counters.length, t.counters.length);
  assertEquals(s.gauges.length, t.gauges.length);
  assertEquals(s.histograms.length, t.histograms.length);
});

Deno.test("cluster stats template: fill adds zeros only where no isolate had the stat", () => {
  const worker = new Store();
  const used = new ClusterStats(worker, "used");
  used.rqTotal.inc(5);
  used.rqActive.inc();
  const m = new SnapshotMerger();
  m.add(worker.snapshot({ latch: false }), false);
  const main = new Store({
    accepts: (n) => !n.endsWith(".upstream_cx_total"),
    histogramBuckets: (n) => n.endsWith("upstream_cx_connect_ms") ? [1, 2] : undefined,
  });
  new ClusterStatsTemplate().fill(m, ["used", "idle"], main);
  const r = m.result();
  const counter = (n: string) => r.counters.find((c) => c.name === n);
  assertEquals(counter("cluster.used.upstream_rq_total")?.value, 5);
  assertEquals(counter("cluster.used.upstream_rq_total")?.used, true);
  assertEquals(counter("cluster.idle.upstream_rq_total")?.value, 0);
  assertEquals(counter("cluster.idle.upstream_rq_total")?.used, false);
  assertEquals(r.gauges.find((g) => g.name === "cluster.used.upstream_rq_active")?.value, 1);
  assertEquals(r.gauges.find((g) => g.name === "cluster.idle.upstream_rq_active")?.value, 0);
  // A name the stats matcher rejects is not added for an idle cluster.
  assertEquals(counter("cluster.idle.upstream_cx_total"), undefined);
  // An idle cluster's histogram has the buckets the settings give its name, and no data.
  const h = r.histograms.find((h) => h.name === "cluster.idle.upstream_cx_connect_ms")!;
  assertEquals(h.bounds, [1, 2]);
  assertEquals(h.cumulative.count, 0);
  // Each stat once: the used cluster's are not duplicated.
  assertEquals(r.counters.filter((c) => c.name === "cluster.used.upstream_rq_total").length, 1);
});
