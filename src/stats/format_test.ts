import { assertEquals, assertMatch } from "../testing/assert.ts";
import { compileStatsFilter, renderJson, renderText } from "./format.ts";
import type { StoreSnapshot } from "./snapshot.ts";
import { Store } from "./store.ts";

/**
 * A store after two flushes: the histogram saw 3, 7 and 120 in the first interval and 7 in
 * the second, so its interval quantiles are all 7 and its cumulative ones spread over
 * (1,5] (one value), (5,10] (two) and (10,1000] (one, narrowed to 120 by the maximum).
 */
function fixture(): StoreSnapshot {
  const s = new Store();
  s.counter("cluster.service_a.upstream_rq_2xx").inc(3);
  s.counter("cluster.service_a.upstream_rq_5xx");
  s.counter("http.ingress_http.downstream_rq_total").inc(4);
  s.gauge("server.live", "NeverImport").set(1);
  s.gauge("cluster.service_a.upstream_cx_active", "Accumulate").set(2);
  s.textReadout("control_plane.identifier").set("cp-1");
  const h = s.histogram("cluster.service_a.upstream_rq_time", "Milliseconds", [1, 5, 10, 1000]);
  s.histogram("http.ingress_http.downstream_rq_time", "Milliseconds", [1, 5, 10, 1000]);
  h.record(3);
  h.record(7);
  h.record(120);
  s.snapshot();
  h.record(7);
  return s.snapshot();
}

// Rank 3.6 (P90) is 0.6 into the (10,1000] bucket, narrowed to (10,120]: 10 + 110 * 0.6, with
// the rounding of doubles that Envoy's output shows too.
const CUMULATIVE = [3, 5, 7.5, 10, 76.00000000000001, 97.99999999999999, 115.6, 117.8, 119.56, 120];
const SUMMARY = "P0(7,3) P25(7,5) P50(7,7.5) P75(7,10) P90(7,76.00000000000001) " +
  "P95(7,97.99999999999999) P99(7,115.6) P99.5(7,117.8) P99.9(7,119.56) P100(7,120)";

Deno.test("text: readouts, then counters and gauges by name, then histograms", () => {
  assertEquals(
    renderText(fixture()),
    `control_plane.identifier: "cp-1"
cluster.service_a.upstream_cx_active: 2
cluster.service_a.upstream_rq_2xx: 3
cluster.service_a.upstream_rq_5xx: 0
http.ingress_http.downstream_rq_total: 4
server.live: 1
cluster.service_a.upstream_rq_time: ${SUMMARY}
http.ingress_http.downstream_rq_time: No recorded values
`,
  );
});

Deno.test("text: an empty interval prints nan, as Envoy", () => {
  const s = new Store();
  s.histogram("h", "Unspecified", [10]).record(4);
  s.snapshot();
  assertEquals(
    renderText(s.snapshot()),
    "h: P0(nan,4) P25(nan,4) P50(nan,4) P75(nan,4) P90(nan,4) P95(nan,4) P99(nan,4) " +
      "P99.5(nan,4) P99.9(nan,4) P100(nan,4)\n",
  );
});

Deno.test("text: usedonly and filter", () => {
  const s = fixture();
  assertEquals(
    renderText(s, { usedOnly: true, filter: compileStatsFilter("service_a") }),
    `cluster.service_a.upstream_cx_active: 2
cluster.service_a.upstream_rq_2xx: 3
cluster.service_a.upstream_rq_time: ${SUMMARY}
`,
  );
  assertEquals(renderText(s, { filter: compileStatsFilter("^server.live$") }), "server.live: 1\n");
  assertEquals(renderText(s, { filter: compileStatsFilter("nothing") }), "");
});

Deno.test("text: histogram_buckets=cumulative, disjoint and detailed", () => {
  const s = fixture();
  const only = compileStatsFilter("upstream_rq_time");
  assertEquals(
    renderText(s, { filter: only, histogramBuckets: "cumulative" }),
    "cluster.service_a.upstream_rq_time: B1(0,0) B5(0,1) B10(1,3) B1000(1,4)\n",
  );
  assertEquals(
    renderText(s, { filter: only, histogramBuckets: "disjoint" }),
    "cluster.service_a.upstream_rq_time: B1(0,0) B5(0,1) B10(1,2) B1000(0,1)\n",
  );
  assertEquals(
    renderText(s, { filter: only, histogramBuckets: "detailed" }),
    `cluster.service_a.upstream_rq_time:
  totals=1,4:1, 5,5:2, 10,990:1
  intervals=5,5:1
  summary=${SUMMARY}
`,
  );
});

Deno.test("text: default bucket bounds print as %g, like B3.6e+06", () => {
  const s = new Store();
  s.histogram("h", "Milliseconds").record(1);
  assertEquals(
    renderText(s.snapshot(), { histogramBuckets: "cumulative" }),
    "h: B0.5(0,0) B1(1,1) B5(1,1) B10(1,1) B25(1,1) B50(1,1) B100(1,1) B250(1,1) B500(1,1) " +
      "B1000(1,1) B2500(1,1) B5000(1,1) B10000(1,1) B30000(1,1) B60000(1,1) B300000(1,1) " +
      "B600000(1,1) B1.8e+06(1,1) B3.6e+06(1,1)\n",
  );
});

Deno.test("json: stats array with the histograms object last", () => {
  const values = (c: number[]) => c.map((cumulative) => ({ cumulative, interval: 7 }));
  const nulls = new Array(10).fill({ cumulative: null, interval: null });
  assertEquals(JSON.parse(renderJson(fixture())), {
    stats: [
      { name: "control_plane.identifier", value: "cp-1" },
      { name: "cluster.service_a.upstream_cx_active", value: 2 },
      { name: "cluster.service_a.upstream_rq_2xx", value: 3 },
      { name: "cluster.service_a.upstream_rq_5xx", value: 0 },
      { name: "http.ingress_http.downstream_rq_total", value: 4 },
      { name: "server.live", value: 1 },
      {
        histograms: {
          supported_quantiles: [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100],
          computed_quantiles: [
            {
              name: "cluster.service_a.upstream_rq_time",
              values: values(CUMULATIVE),
            },
            { name: "http.ingress_http.downstream_rq_time", values: nulls },
          ],
        },
      },
    ],
  });
});

Deno.test("json: exact text, compact like Envoy's streamer", () => {
  const s = new Store();
  s.counter("a").inc();
  assertEquals(renderJson(s.snapshot()), '{"stats":[{"name":"a","value":1}]}');
  assertEquals(renderJson(new Store().snapshot()), '{"stats":[]}');
  const h = new Store();
  h.histogram("h", "Unspecified", [10]).record(4);
  assertEquals(
    renderJson(h.snapshot(), { histogramBuckets: "cumulative" }),
    '{"stats":[{"histograms":[{"name":"h","buckets":[{"upper_bound":10,"interval":1,"cumulative":1}]}]}]}',
  );
});

Deno.test("json: histogram_buckets=disjoint and detailed", () => {
  const only = compileStatsFilter("service_a.upstream_rq_time");
  const disjoint = JSON.parse(
    renderJson(fixture(), { filter: only, histogramBuckets: "disjoint" }),
  );
  assertEquals(disjoint.stats, [{
    histograms: [{
      name: "cluster.service_a.upstream_rq_time",
      buckets: [
        { upper_bound: 1, interval: 0, cumulative: 0 },
        { upper_bound: 5, interval: 0, cumulative: 1 },
        { upper_bound: 10, interval: 1, cumulative: 2 },
        { upper_bound: 1000, interval: 0, cumulative: 1 },
      ],
    }],
  }]);
  const detailed = JSON.parse(
    renderJson(fixture(), { filter: only, histogramBuckets: "detailed" }),
  );
  const [entry] = detailed.stats;
  assertEquals(entry.histograms.supported_percentiles, [
    0,
    25,
    50,
    75,
    90,
    95,
    99,
    99.5,
    99.9,
    100,
  ]);
  assertEquals(entry.histograms.details[0].name, "cluster.service_a.upstream_rq_time");
  assertEquals(entry.histograms.details[0].totals, [
    { lower_bound: 1, width: 4, count: 1 },
    { lower_bound: 5, width: 5, count: 2 },
    { lower_bound: 10, width: 990, count: 1 },
  ]);
  assertEquals(entry.histograms.details[0].intervals, [{ lower_bound: 5, width: 5, count: 1 }]);
  assertEquals(entry.histograms.details[0].percentiles[0], { cumulative: 3, interval: 7 });
});

Deno.test("json: names and text values are escaped", () => {
  const s = new Store();
  s.textReadout('a"b').set('x\n"y"');
  assertEquals(
    renderJson(s.snapshot()),
    String.raw`{"stats":[{"name":"a\"b","value":"x\n\"y\""}]}`,
  );
});

Deno.test("filter is RE2 matched anywhere in the name", () => {
  const f = compileStatsFilter("rq_[0-9]xx");
  assertEquals(["cluster.a.upstream_rq_2xx", "cluster.a.upstream_rq_total"].map(f), [true, false]);
  assertEquals(compileStatsFilter("(?i)SERVER")("server.live"), true);
  assertEquals(compileStatsFilter("a|b")("xbx"), true);
  assertEquals(compileStatsFilter("^server")("listener.server"), false);
  let err = "";
  try {
    compileStatsFilter("(");
  } catch (e) {
    err = String(e);
  }
  assertMatch(err, /filter: invalid regex/);
});
