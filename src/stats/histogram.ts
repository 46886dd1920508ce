/**
 * Histogram data as plain, mergeable numbers, and the statistics Envoy reports from it.
 *
 * Envoy records every value into a log-linear sketch (circllhist, about 90 bins per power of
 * ten) and reads quantiles and bucket counts from that. denvoy keeps only the counts of the
 * configured buckets (Envoy's defaults unless `histogram_bucket_settings` says otherwise) plus
 * the sum, count, minimum and maximum: recording is one short scan and four stores, and a
 * snapshot is a few small arrays that `postMessage` copies cheaply and that merge by adding.
 *
 * The price is quantile precision. A quantile is found by linear interpolation inside the
 * bucket that holds its rank, with the bucket's edges narrowed to the observed minimum and
 * maximum, so P0 and P100 are exact and the others are exact only when the values are spread
 * evenly inside their bucket. With the default buckets a P99 of 1200 ms may read as anything
 * between 1000 and 2500 ms; Envoy's sketch is within about 5%. Bucket counts (what Prometheus
 * scrapes) are exact, where Envoy's are approximated from its sketch.
 */
import type { HistogramBucketSettings } from "../../proto/gen/envoy/config/metrics/v3/stats_pb.ts";
import { compileStringMatcher } from "../router/matchers.ts";

/** Envoy's default histogram bucket upper bounds (`stats_config.histogram_bucket_settings`). */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
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

/** The quantiles Envoy reports for every histogram, as fractions (P0 ... P100). */
export const SUPPORTED_QUANTILES: readonly number[] = Object.freeze([
  0,
  0.25,
  0.5,
  0.75,
  0.9,
  0.95,
  0.99,
  0.995,
  0.999,
  1,
]);

/**
 * Envoy's `Histogram::PercentScale`: a `Percent` histogram records fractions multiplied by this
 * (so 1% is 10000), and reports them divided by it again.
 */
export const PERCENT_SCALE = 1_000_000;

/** Envoy's `Histogram::Unit`; sinks use it (statsd `ms` or `h`). */
export type HistogramUnit = "Unspecified" | "Bytes" | "Microseconds" | "Milliseconds" | "Percent";

/**
 * Values recorded by one histogram over some period. Plain data: structured-cloneable, so it
 * can cross from a worker in a snapshot.
 */
export interface HistogramData {
  /**
   * `counts[i]` is the number of values `v` with `bounds[i-1] < v <= bounds[i]`; one extra last
   * entry counts values above the last bound. Disjoint, unlike Prometheus' `le` buckets.
   */
  counts: number[];
  /** Sum of the values. */
  sum: number;
  /** Number of values. */
  count: number;
  /** Smallest value (`Infinity` when there is none). */
  min: number;
  /** Largest value (`-Infinity` when there is none). */
  max: number;
}

/** A `HistogramData` with nothing recorded, for `bucketCount` bounds. */
export function emptyHistogramData(bucketCount: number): HistogramData {
  return {
    counts: new Array(bucketCount + 1).fill(0),
    sum: 0,
    count: 0,
    min: Infinity,
    max: -Infinity,
  };
}

/** Adds `from` into `into`; both must be for the same bounds. */
export function addHistogramData(into: HistogramData, from: HistogramData): void {
  if (into.counts.length !== from.counts.length) {
    throw new Error(
      `cannot merge histograms with ${into.counts.length - 1} and ${
        from.counts.length - 1
      } buckets`,
    );
  }
  for (let i = 0; i < from.counts.length; i++) into.counts[i] += from.counts[i];
  into.sum += from.sum;
  into.count += from.count;
  if (from.min < into.min) into.min = from.min;
  if (from.max > into.max) into.max = from.max;
}

/**
 * The value at each quantile (fractions in 0..1), interpolated within buckets as the module
 * documentation describes; `NaN` for every quantile when nothing was recorded (Envoy's `nan`
 * in `/stats`, `null` in JSON).
 */
export function computeQuantiles(
  data: HistogramData,
  bounds: readonly number[],
  quantiles: readonly number[] = SUPPORTED_QUANTILES,
): number[] {
  return quantiles.map((q) => quantile(data, bounds, q));
}

function quantile(data: HistogramData, bounds: readonly number[], q: number): number {
  if (data.count === 0) return NaN;
  const rank = q * data.count;
  let below = 0;
  for (let i = 0; i < data.counts.length; i++) {
    const n = data.counts[i];
    if (n === 0) continue;
    if (below + n >= rank) {
      const lo = Math.max(i === 0 ? 0 : bounds[i - 1], data.min);
      const hi = Math.min(i < bounds.length ? bounds[i] : data.max, data.max);
      return lo + (hi - lo) * Math.max(0, rank - below) / n;
    }
    below += n;
  }
  return data.max;
}

/**
 * How many values were at or below each bound (Prometheus' `le` buckets; Envoy's
 * `computedBuckets`), one entry per bound; the `+Inf` bucket is `data.count`.
 */
export function cumulativeBucketCounts(data: HistogramData, bounds: readonly number[]): number[] {
  const out = new Array<number>(bounds.length);
  let running = 0;
  for (let i = 0; i < bounds.length; i++) {
    running += data.counts[i];
    out[i] = running;
  }
  return out;
}

/**
 * Checks a configured bucket list and returns it sorted without duplicates, as Envoy uses it.
 *
 * @throws {Error} naming `field` when the list is empty or holds a bound that is not a
 *   positive finite number (the proto's `min_items: 1`, `gt: 0`).
 */
export function normalizeBuckets(buckets: readonly number[], field: string): number[] {
  if (buckets.length === 0) throw new Error(`${field}: at least one bucket is required`);
  for (const b of buckets) {
    if (!(b > 0) || !Number.isFinite(b)) {
      throw new Error(`${field}: bucket ${b} is not a positive number`);
    }
  }
  return [...new Set(buckets)].sort((a, b) => a - b);
}

/**
 * Compiles `stats_config.histogram_bucket_settings`: the buckets of the first rule whose
 * matcher matches a histogram's full name, or undefined (the defaults) when none does.
 *
 * @throws {Error} for a bad matcher or bucket list, naming its place under `field`.
 */
export function compileHistogramBucketSettings(
  settings: readonly HistogramBucketSettings[],
  field: string,
): (name: string) => readonly number[] | undefined {
  const rules = settings.map((s, i) => {
    const at = `${field}[${i}]`;
    if (s.match === undefined) throw new Error(`${at}.match: a matcher is required`);
    return {
      matches: compileStringMatcher(s.match, `${at}.match`),
      buckets: Object.freeze(normalizeBuckets(s.buckets, `${at}.buckets`)),
    };
  });
  return (name) => rules.find((r) => r.matches(name))?.buckets;
}
