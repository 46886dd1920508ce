import { assert, assertEquals } from "../testing/assert.ts";
import { DEFAULT_BUCKETS, PERCENT_SCALE } from "./histogram.ts";
import {
  Counter,
  Gauge,
  Histogram,
  NullCounter,
  NullGauge,
  NullHistogram,
  NullTextReadout,
  TextReadout,
} from "./metrics.ts";

Deno.test("counter counts, latches deltas and resets", () => {
  const c = new Counter("cluster.a.upstream_rq_total");
  assertEquals([c.value, c.used], [0, false]);
  c.inc();
  c.inc(4);
  assertEquals([c.value, c.used], [5, true]);
  assertEquals(c.latch(), 5);
  c.inc(2);
  assertEquals(c.latch(), 2);
  assertEquals(c.latch(), 0);
  c.inc(3);
  c.reset();
  assertEquals([c.value, c.used], [0, true]);
  c.inc();
  assertEquals(c.latch(), 1);
});

Deno.test("gauge sets, increments and decrements", () => {
  const g = new Gauge("cluster.a.upstream_cx_active", "Accumulate");
  assertEquals([g.value, g.used, g.importMode], [0, false, "Accumulate"]);
  g.inc();
  g.inc(3);
  g.dec();
  assertEquals([g.value, g.used], [3, true]);
  g.set(10);
  g.dec(10);
  assertEquals(g.value, 0);
});

Deno.test("histogram keeps the interval apart from the cumulative data", () => {
  const h = new Histogram("cluster.a.upstream_rq_time", "Milliseconds", DEFAULT_BUCKETS);
  assert(!h.used);
  h.record(0.5);
  h.record(3);
  h.record(4000000);
  assert(h.used);
  const first = h.latch();
  assertEquals(first.interval.counts[0], 1);
  assertEquals(first.interval.counts[2], 1);
  assertEquals(first.interval.counts[DEFAULT_BUCKETS.length], 1);
  assertEquals(first.interval.sum, 4000003.5);
  assertEquals([first.interval.count, first.interval.min, first.interval.max], [3, 0.5, 4000000]);
  assertEquals(first.cumulative, first.interval);

  h.record(7);
  const second = h.latch();
  assertEquals([second.interval.count, second.interval.min, second.interval.max], [1, 7, 7]);
  assertEquals([second.cumulative.count, second.cumulative.sum], [4, 4000010.5]);
  assertEquals([second.cumulative.min, second.cumulative.max], [0.5, 4000000]);

  const third = h.latch();
  assertEquals([third.interval.count, third.interval.min, third.interval.max], [
    0,
    Infinity,
    -Infinity,
  ]);
  assertEquals(third.cumulative.count, 4);
  assert(h.used);
});

Deno.test("a snapshot's data does not change with later records", () => {
  const h = new Histogram("h", "Unspecified", [1, 2]);
  h.record(1);
  const { interval, cumulative } = h.latch();
  h.record(2);
  h.latch();
  assertEquals(interval.counts, [1, 0, 0]);
  assertEquals(cumulative.counts, [1, 0, 0]);
});

Deno.test("percent histograms record fractions scaled by PERCENT_SCALE, as Envoy", () => {
  const h = new Histogram("p", "Percent", [0.5, 1]);
  h.record(0.25 * PERCENT_SCALE);
  h.record(1 * PERCENT_SCALE);
  const { interval } = h.latch();
  assertEquals(interval.counts, [1, 1, 0]);
  assertEquals([interval.sum, interval.max], [1.25, 1]);
});

Deno.test("text readout holds a string", () => {
  const t = new TextReadout("control_plane.identifier");
  assertEquals([t.value, t.used], ["", false]);
  t.set("cp-1");
  assertEquals([t.value, t.used], ["cp-1", true]);
});

Deno.test("null stats ignore every update", () => {
  const c = new NullCounter("");
  c.inc(5);
  assertEquals([c.value, c.used], [0, false]);
  const g = new NullGauge("", "NeverImport");
  g.set(3);
  g.inc();
  g.dec(2);
  assertEquals([g.value, g.used], [0, false]);
  const h = new NullHistogram("", "Unspecified", DEFAULT_BUCKETS);
  h.record(1);
  assert(!h.used);
  const t = new NullTextReadout("");
  t.set("x");
  assertEquals([t.value, t.used], ["", false]);
});

Deno.test("histograms on one bounds list share its typed copy and still bucket on their own", () => {
  const bounds = [1, 10, 100];
  const a = new Histogram("a", "Milliseconds", bounds);
  const b = new Histogram("b", "Milliseconds", bounds);
  a.record(5);
  b.record(50);
  b.record(500);
  assertEquals(a.peek().interval.counts, [0, 1, 0, 0]);
  assertEquals(b.peek().interval.counts, [0, 0, 1, 1]);
});
