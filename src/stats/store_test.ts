import { assert, assertEquals } from "../testing/assert.ts";
import { DEFAULT_BUCKETS } from "./histogram.ts";
import { NullCounter, NullGauge, NullHistogram, NullTextReadout } from "./metrics.ts";
import { Store } from "./store.ts";

Deno.test("stats are created once and returned again for the same name", () => {
  const store = new Store();
  const c = store.counter("server.total_connections");
  assert(store.counter("server.total_connections") === c);
  assert(store.gauge("server.live", "NeverImport") === store.gauge("server.live", "Accumulate"));
  assertEquals(store.gauge("server.live", "Accumulate").importMode, "NeverImport");
  const h = store.histogram("server.initialization_time_ms", "Milliseconds");
  assert(store.histogram("server.initialization_time_ms", "Unspecified", [1]) === h);
  assertEquals([h.unit, h.bounds], ["Milliseconds", DEFAULT_BUCKETS]);
  assert(store.textReadout("server.version") === store.textReadout("server.version"));
  // Each kind has its own names.
  assert((store.gauge("server.total_connections", "Accumulate") as unknown) !== c);
});

Deno.test("scopes prefix names with a dot and nest", () => {
  const store = new Store();
  const cluster = store.scope("cluster.service_a");
  const c = cluster.counter("upstream_rq_2xx");
  assertEquals(c.name, "cluster.service_a.upstream_rq_2xx");
  assert(store.counter("cluster.service_a.upstream_rq_2xx") === c);
  // Envoy code passes prefixes with the trailing dot; it is not doubled.
  assertEquals(store.scope("cluster.service_a.").prefix, "cluster.service_a");
  const circuit = cluster.scope("circuit_breakers.default.");
  assertEquals(circuit.prefix, "cluster.service_a.circuit_breakers.default");
  assertEquals(
    circuit.gauge("cx_open", "Accumulate").name,
    "cluster.service_a.circuit_breakers.default.cx_open",
  );
  assertEquals(
    cluster.histogram("upstream_rq_time", "Milliseconds").name,
    "cluster.service_a.upstream_rq_time",
  );
  assertEquals(cluster.textReadout("version_text").name, "cluster.service_a.version_text");
  assertEquals(store.scope("").counter("x").name, "x");
});

Deno.test("histogram buckets: settings, then the caller's list, then the defaults", () => {
  const store = new Store({
    histogramBuckets: (name) => name.startsWith("cluster.") ? [1, 2, 3] : undefined,
  });
  assertEquals(store.histogram("cluster.a.upstream_rq_time", "Milliseconds", [7]).bounds, [
    1,
    2,
    3,
  ]);
  assertEquals(store.histogram("http.a.downstream_rq_time", "Milliseconds", [9, 7, 7]).bounds, [
    7,
    9,
  ]);
  assertEquals(
    store.histogram("http.a.downstream_cx_length_ms", "Milliseconds").bounds,
    DEFAULT_BUCKETS,
  );
});

Deno.test("rejected names get null stats that are never reported", () => {
  const store = new Store({ accepts: (name) => !name.startsWith("cluster.") });
  const c = store.counter("cluster.a.upstream_rq_total");
  assert(c instanceof NullCounter);
  c.inc();
  assert(store.gauge("cluster.a.upstream_cx_active", "Accumulate") instanceof NullGauge);
  assert(store.histogram("cluster.a.upstream_rq_time", "Milliseconds") instanceof NullHistogram);
  assert(store.textReadout("cluster.a.version") instanceof NullTextReadout);
  store.counter("http.a.downstream_rq_total").inc();
  const s = store.snapshot();
  assertEquals(s.counters.map((x) => x.name), ["http.a.downstream_rq_total"]);
  assertEquals([s.gauges, s.histograms, s.textReadouts], [[], [], []]);
});

Deno.test("snapshot reports values, counter deltas and histogram intervals", () => {
  const store = new Store();
  const rq = store.counter("http.ingress.downstream_rq_total");
  const unused = store.counter("http.ingress.downstream_rq_5xx");
  const active = store.gauge("http.ingress.downstream_rq_active", "Accumulate");
  const time = store.histogram("http.ingress.downstream_rq_time", "Milliseconds", [1, 10]);
  const version = store.textReadout("server.version_text");
  rq.inc(3);
  active.inc(2);
  time.record(5);
  version.set("1.0");
  const first = store.snapshot();
  assertEquals(first.counters, [
    { name: "http.ingress.downstream_rq_total", value: 3, delta: 3, used: true },
    { name: "http.ingress.downstream_rq_5xx", value: 0, delta: 0, used: false },
  ]);
  assertEquals(first.gauges, [
    { name: "http.ingress.downstream_rq_active", value: 2, importMode: "Accumulate", used: true },
  ]);
  assertEquals(first.textReadouts, [{ name: "server.version_text", value: "1.0", used: true }]);
  const [h] = first.histograms;
  assertEquals([h.name, h.unit, h.bounds, h.used], [
    "http.ingress.downstream_rq_time",
    "Milliseconds",
    [1, 10],
    true,
  ]);
  assertEquals(h.interval, { counts: [0, 1, 0], sum: 5, count: 1, min: 5, max: 5 });

  rq.inc();
  unused.inc(0);
  const second = store.snapshot();
  assertEquals(second.counters.map((c) => [c.value, c.delta, c.used]), [[4, 1, true], [
    0,
    0,
    true,
  ]]);
  assertEquals(second.histograms[0].interval.count, 0);
  assertEquals(second.histograms[0].cumulative.count, 1);
  // Snapshots are plain data that postMessage can carry.
  assertEquals(structuredClone(second), second);
});

Deno.test("reset zeroes counters only", () => {
  const store = new Store();
  const c = store.counter("c");
  const g = store.gauge("g", "Accumulate");
  c.inc(5);
  g.set(5);
  store.snapshot();
  store.reset();
  assertEquals([c.value, g.value], [0, 5]);
  c.inc(2);
  assertEquals(store.snapshot().counters[0], { name: "c", value: 2, delta: 2, used: true });
});

Deno.test("snapshot({ latch: false }) shows the interval so far without ending it", () => {
  const store = new Store();
  const c = store.counter("cluster.a.upstream_rq_total");
  const h = store.histogram("cluster.a.upstream_rq_time", "Milliseconds");
  c.inc(3);
  h.record(7);
  const peek = store.snapshot({ latch: false });
  assertEquals(peek.counters[0].delta, 3);
  assertEquals([peek.histograms[0].interval.count, peek.histograms[0].cumulative.count], [1, 1]);
  // The admin looked; the flush still gets everything since the previous flush.
  c.inc();
  h.record(9);
  const flushed = store.snapshot();
  assertEquals([flushed.counters[0].value, flushed.counters[0].delta], [4, 4]);
  assertEquals([flushed.histograms[0].interval.count, flushed.histograms[0].cumulative.count], [
    2,
    2,
  ]);
  c.inc();
  const after = store.snapshot({ latch: false });
  assertEquals([after.counters[0].value, after.counters[0].delta], [5, 1]);
  assertEquals([after.histograms[0].interval.count, after.histograms[0].cumulative.count], [0, 2]);
});

Deno.test("onHistogramValue sees every recorded value, raw, but not rejected histograms", () => {
  const seen: [string, number][] = [];
  const store = new Store({
    accepts: (n) => !n.startsWith("rejected."),
    onHistogramValue: (h, v) => seen.push([h.name, v]),
  });
  store.histogram("cluster.a.upstream_rq_time", "Milliseconds").record(12.5);
  store.histogram("x.ratio", "Percent").record(250_000);
  store.histogram("rejected.time", "Milliseconds").record(1);
  assertEquals(seen, [["cluster.a.upstream_rq_time", 12.5], ["x.ratio", 250_000]]);
});
