import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { HistogramBucketSettings } from "../../proto/gen/envoy/config/metrics/v3/stats_pb.ts";
import {
  addHistogramData,
  compileHistogramBucketSettings,
  computeQuantiles,
  cumulativeBucketCounts,
  DEFAULT_BUCKETS,
  emptyHistogramData,
  type HistogramData,
  normalizeBuckets,
  SUPPORTED_QUANTILES,
} from "./histogram.ts";

/** Data for `values` recorded into `bounds`, the way `Histogram.record` buckets them. */
function dataOf(bounds: readonly number[], values: number[]): HistogramData {
  const d = emptyHistogramData(bounds.length);
  for (const v of values) {
    let i = 0;
    while (i < bounds.length && v > bounds[i]) i++;
    d.counts[i]++;
    d.sum += v;
    d.count++;
    d.min = Math.min(d.min, v);
    d.max = Math.max(d.max, v);
  }
  return d;
}

function settings(json: JsonValue[]): HistogramBucketSettings[] {
  const schema = messageSchema<HistogramBucketSettings>(
    "envoy.config.metrics.v3.HistogramBucketSettings",
  );
  return json.map((j) => fromJson(schema, j, { registry: apiRegistry() }));
}

Deno.test("default buckets and quantiles are Envoy's", () => {
  assertEquals(DEFAULT_BUCKETS, [
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
  ]);
  assertEquals(SUPPORTED_QUANTILES.map((q) => q * 100), [
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
});

Deno.test("quantiles of nothing are NaN", () => {
  const q = computeQuantiles(emptyHistogramData(DEFAULT_BUCKETS.length), DEFAULT_BUCKETS);
  assertEquals(q.length, 10);
  assert(q.every(Number.isNaN));
});

Deno.test("quantiles interpolate linearly inside a bucket, narrowed to min and max", () => {
  // 100 values 11..110: 15 in (10,25], 25 in (25,50], 50 in (50,100], 10 in (100,250].
  const values = Array.from({ length: 100 }, (_, i) => i + 11);
  const d = dataOf(DEFAULT_BUCKETS, values);
  const [p0, p25, p50, p75, p90, p95, p99, p995, p999, p100] = computeQuantiles(
    d,
    DEFAULT_BUCKETS,
  );
  assertEquals(p0, 11);
  // Rank 25 is the 10th of 25 values in (25,50]: 25 + 25 * 10/25.
  assertEquals(p25, 35);
  // Rank 50 is the 10th of 50 values in (50,100]: 50 + 50 * 10/50.
  assertEquals(p50, 60);
  assertEquals(p75, 85);
  assertEquals(p90, 100);
  // Rank 95 is the 5th of 10 values in (100,250], narrowed to (100,110] by the maximum.
  assertEquals(p95, 105);
  assertEquals(p99, 109);
  assertEquals(p995, 109.5);
  assert(Math.abs(p999 - 109.9) < 1e-9);
  assertEquals(p100, 110);
});

Deno.test("values above the last bound are bounded by the maximum", () => {
  const d = dataOf([1, 2], [0.5, 3, 7]);
  assertEquals(d.counts, [1, 0, 2]);
  assertEquals(computeQuantiles(d, [1, 2], [0, 0.5, 1]), [0.5, 2 + 5 * 0.5 / 2, 7]);
});

Deno.test("a single value is every quantile", () => {
  const d = dataOf(DEFAULT_BUCKETS, [42]);
  assertEquals(computeQuantiles(d, DEFAULT_BUCKETS), new Array(10).fill(42));
});

Deno.test("cumulative bucket counts are Prometheus' le counts", () => {
  const d = dataOf([1, 5, 10], [0.5, 1, 3, 5, 9, 11]);
  assertEquals(d.counts, [2, 2, 1, 1]);
  assertEquals(cumulativeBucketCounts(d, [1, 5, 10]), [2, 4, 5]);
});

Deno.test("addHistogramData merges counts, sum, count, min and max", () => {
  const a = dataOf([1, 5], [0.5, 3]);
  const b = dataOf([1, 5], [4, 9]);
  addHistogramData(a, b);
  assertEquals(a, { counts: [1, 2, 1], sum: 16.5, count: 4, min: 0.5, max: 9 });
  addHistogramData(a, emptyHistogramData(2));
  assertEquals(a.min, 0.5);
  let err = "";
  try {
    addHistogramData(a, emptyHistogramData(3));
  } catch (e) {
    err = String(e);
  }
  assertMatch(err, /2 and 3 buckets/);
});

Deno.test("normalizeBuckets sorts, dedups and rejects non-positive bounds", () => {
  assertEquals(normalizeBuckets([10, 1, 5, 1], "b"), [1, 5, 10]);
  for (const bad of [[], [0], [-1, 2], [NaN]]) {
    let err = "";
    try {
      normalizeBuckets(bad, "stats_config.histogram_bucket_settings[0].buckets");
    } catch (e) {
      err = String(e);
    }
    assertMatch(err, /^Error: stats_config\.histogram_bucket_settings\[0\]\.buckets: /);
  }
});

Deno.test("histogram_bucket_settings: the first matching rule wins", () => {
  const buckets = compileHistogramBucketSettings(
    settings([
      { match: { prefix: "cluster.a." }, buckets: [5, 1, 10] },
      { match: { suffix: "_time" }, buckets: [100] },
    ]),
    "stats_config.histogram_bucket_settings",
  );
  assertEquals(buckets("cluster.a.upstream_rq_time"), [1, 5, 10]);
  assertEquals(buckets("cluster.b.upstream_rq_time"), [100]);
  assertEquals(buckets("cluster.b.upstream_cx_length_ms"), undefined);
});

Deno.test("histogram_bucket_settings errors name the rule", () => {
  let err = "";
  try {
    compileHistogramBucketSettings(
      settings([{ match: { prefix: "a" }, buckets: [1] }, {
        match: { safe_regex: { regex: "(" } },
        buckets: [1],
      }]),
      "stats_config.histogram_bucket_settings",
    );
  } catch (e) {
    err = String(e);
  }
  assertMatch(err, /stats_config\.histogram_bucket_settings\[1\]\.match\.safe_regex\.regex/);
});
