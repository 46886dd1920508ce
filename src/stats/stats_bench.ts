/**
 * The per-request cost of stats: `npx -y deno@2.9.6 bench src/stats/stats_bench.ts`.
 * Each iteration does 1000 updates, so the reported time divided by 1000 is the cost of one.
 */
import { TagProducer } from "./tag_extractor.ts";
import { Store } from "./store.ts";

const store = new Store();
const cluster = store.scope("cluster.service_a");
const rqTotal = cluster.counter("upstream_rq_total");
const cxActive = cluster.gauge("upstream_cx_active", "Accumulate");
const rqTime = cluster.histogram("upstream_rq_time", "Milliseconds");
const rejected = new Store({ accepts: () => false }).counter("cluster.service_a.upstream_rq_total");

// Latencies spread over the low and middle buckets, as request times are.
const latencies = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 3000);

Deno.bench("counter.inc x1000", { group: "hot path", baseline: true }, () => {
  for (let i = 0; i < 1000; i++) rqTotal.inc();
});

Deno.bench("gauge.inc + dec x1000", { group: "hot path" }, () => {
  for (let i = 0; i < 1000; i++) {
    cxActive.inc();
    cxActive.dec();
  }
});

Deno.bench("histogram.record x1000 (default buckets)", { group: "hot path" }, () => {
  for (let i = 0; i < 1000; i++) rqTime.record(latencies[i]);
});

Deno.bench("rejected counter.inc x1000", { group: "hot path" }, () => {
  for (let i = 0; i < 1000; i++) rejected.inc();
});

// A flush: snapshot of a worker with 100 clusters of 20 counters, 5 gauges and 3 histograms.
const big = new Store();
for (let c = 0; c < 100; c++) {
  const s = big.scope(`cluster.c${c}`);
  for (let i = 0; i < 20; i++) s.counter(`counter_${i}`).inc();
  for (let i = 0; i < 5; i++) s.gauge(`gauge_${i}`, "Accumulate").set(i);
  for (let i = 0; i < 3; i++) s.histogram(`histogram_${i}`, "Milliseconds").record(i);
}

Deno.bench("snapshot, 2800 stats", { group: "flush" }, () => {
  big.snapshot();
});

Deno.bench("structuredClone of that snapshot (postMessage)", { group: "flush" }, (b) => {
  const snap = big.snapshot();
  b.start();
  structuredClone(snap);
  b.end();
});

const names = Array.from({ length: 1000 }, (_, i) => `cluster.c${i}.upstream_rq_2xx`);
Deno.bench("tag extraction, 1000 new names", { group: "render" }, () => {
  const tags = new TagProducer();
  for (const n of names) tags.produceTags(n);
});
