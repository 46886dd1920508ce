/**
 * `/stats` (text) and `/stats?format=json` as Envoy renders them, from a merged snapshot:
 * text readouts first, then counters and gauges together, then histograms, each group sorted
 * by name; `usedonly`, `filter=` and `histogram_buckets=` behave as in Envoy.
 *
 * Histogram statistics come from bucket counts (see `histogram.ts`), so quantile values differ
 * from Envoy's sketch-based ones; the shapes and number formats are Envoy's. In `detailed`
 * mode the buckets listed are the configured buckets that hold values (Envoy lists its
 * sketch's bins); the bucket above the last bound ends at the largest value.
 */
import { compileRegex } from "../router/regex.ts";
import {
  computeQuantiles,
  cumulativeBucketCounts,
  type HistogramData,
  SUPPORTED_QUANTILES,
} from "./histogram.ts";
import { formatG, formatShortest } from "./number_format.ts";
import type { HistogramSnapshot, StoreSnapshot } from "./snapshot.ts";

/** `/stats?histogram_buckets=`: quantiles only (`none`, the default) or bucket views. */
export type HistogramBucketsMode = "none" | "cumulative" | "disjoint" | "detailed";

/** The `/stats` query parameters that shape the output. */
export interface StatsRenderOptions {
  /** `usedonly`: only stats that were ever updated. */
  usedOnly?: boolean;
  /** `filter=`: only stats whose full name passes (see `compileStatsFilter`). */
  filter?: (name: string) => boolean;
  /** `histogram_buckets=`. */
  histogramBuckets?: HistogramBucketsMode;
}

/**
 * Compiles `filter=` as Envoy does: an RE2 pattern matched anywhere in the stat name
 * (`filter=server` matches every name containing "server"; anchors make it whole-name).
 *
 * @throws {Error} when the pattern is not valid RE2, for a 400 response.
 */
export function compileStatsFilter(pattern: string): (name: string) => boolean {
  return compileRegex(pattern, "filter").partialMatch;
}

/** `/stats` in Envoy's text format. */
export function renderText(snapshot: StoreSnapshot, options: StatsRenderOptions = {}): string {
  const s = select(snapshot, options);
  let out = "";
  for (const t of s.textReadouts) out += `${t.name}: "${t.value}"\n`;
  for (const n of s.numbers) out += `${n.name}: ${n.value}\n`;
  for (const h of s.histograms) out += textHistogram(h, options.histogramBuckets ?? "none");
  return out;
}

/** `/stats?format=json` in Envoy's JSON shape. */
export function renderJson(snapshot: StoreSnapshot, options: StatsRenderOptions = {}): string {
  const s = select(snapshot, options);
  const stats: unknown[] = [
    ...s.textReadouts.map((t) => ({ name: t.name, value: t.value })),
    ...s.numbers.map((n) => ({ name: n.name, value: n.value })),
  ];
  if (s.histograms.length > 0) {
    stats.push({ histograms: jsonHistograms(s.histograms, options.histogramBuckets ?? "none") });
  }
  // JSON.stringify writes NaN (a quantile of no values) as null, as Envoy does.
  return JSON.stringify({ stats });
}

interface Selected {
  textReadouts: { name: string; value: string }[];
  numbers: { name: string; value: number }[];
  histograms: HistogramSnapshot[];
}

function select(snapshot: StoreSnapshot, options: StatsRenderOptions): Selected {
  const keep = (s: { name: string; used: boolean }) =>
    (!options.usedOnly || s.used) && (options.filter === undefined || options.filter(s.name));
  return {
    textReadouts: snapshot.textReadouts.filter(keep).sort(byName),
    numbers: [...snapshot.counters.filter(keep), ...snapshot.gauges.filter(keep)].sort(byName),
    histograms: snapshot.histograms.filter(keep).sort(byName),
  };
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Quantile labels: `P0`, `P25`, ..., `P99.5`, `P99.9`, `P100`. */
const QUANTILE_LABELS = SUPPORTED_QUANTILES.map((q) => `P${formatG(q * 100)}`);

function quantileSummary(h: HistogramSnapshot): string {
  const interval = computeQuantiles(h.interval, h.bounds);
  const cumulative = computeQuantiles(h.cumulative, h.bounds);
  return QUANTILE_LABELS.map((label, i) =>
    `${label}(${formatShortest(interval[i])},${formatShortest(cumulative[i])})`
  ).join(" ");
}

/** Per-bound counts: values at or below each bound, or only those above the previous one. */
function boundCounts(data: HistogramData, bounds: readonly number[], disjoint: boolean): number[] {
  return disjoint ? data.counts.slice(0, bounds.length) : cumulativeBucketCounts(data, bounds);
}

interface DetailedBucket {
  lower: number;
  width: number;
  count: number;
}

/** The buckets that hold values, as `lower_bound,width:count` entries. */
function detailedBuckets(data: HistogramData, bounds: readonly number[]): DetailedBucket[] {
  const out: DetailedBucket[] = [];
  data.counts.forEach((count, i) => {
    if (count === 0) return;
    const lower = i === 0 ? 0 : bounds[i - 1];
    const upper = i < bounds.length ? bounds[i] : data.max;
    out.push({ lower, width: upper - lower, count });
  });
  return out;
}

function textDetail(buckets: DetailedBucket[]): string {
  return buckets.map((b) => `${formatG(b.lower)},${formatG(b.width)}:${b.count}`).join(", ");
}

function textHistogram(h: HistogramSnapshot, mode: HistogramBucketsMode): string {
  if (!h.used) return `${h.name}: No recorded values\n`;
  switch (mode) {
    case "none":
      return `${h.name}: ${quantileSummary(h)}\n`;
    case "cumulative":
    case "disjoint": {
      const disjoint = mode === "disjoint";
      const interval = boundCounts(h.interval, h.bounds, disjoint);
      const cumulative = boundCounts(h.cumulative, h.bounds, disjoint);
      const buckets = h.bounds.map((b, i) => `B${formatG(b)}(${interval[i]},${cumulative[i]})`);
      return `${h.name}: ${buckets.join(" ")}\n`;
    }
    case "detailed":
      return `${h.name}:\n  totals=${textDetail(detailedBuckets(h.cumulative, h.bounds))}\n` +
        `  intervals=${textDetail(detailedBuckets(h.interval, h.bounds))}\n` +
        `  summary=${quantileSummary(h)}\n`;
  }
}

function jsonQuantiles(h: HistogramSnapshot): { cumulative: number; interval: number }[] {
  const interval = computeQuantiles(h.interval, h.bounds);
  return computeQuantiles(h.cumulative, h.bounds).map((cumulative, i) => ({
    cumulative,
    interval: interval[i],
  }));
}

function jsonDetail(buckets: DetailedBucket[]) {
  return buckets.map((b) => ({ lower_bound: b.lower, width: b.width, count: b.count }));
}

function jsonHistograms(histograms: HistogramSnapshot[], mode: HistogramBucketsMode): unknown {
  const percentiles = SUPPORTED_QUANTILES.map((q) => q * 100);
  switch (mode) {
    case "none":
      return {
        supported_quantiles: percentiles,
        computed_quantiles: histograms.map((h) => ({ name: h.name, values: jsonQuantiles(h) })),
      };
    case "cumulative":
    case "disjoint":
      return histograms.map((h) => {
        const disjoint = mode === "disjoint";
        const interval = boundCounts(h.interval, h.bounds, disjoint);
        const cumulative = boundCounts(h.cumulative, h.bounds, disjoint);
        return {
          name: h.name,
          buckets: h.bounds.map((upper_bound, i) => ({
            upper_bound,
            interval: interval[i],
            cumulative: cumulative[i],
          })),
        };
      });
    case "detailed":
      return {
        supported_percentiles: percentiles,
        details: histograms.map((h) => ({
          name: h.name,
          totals: jsonDetail(detailedBuckets(h.cumulative, h.bounds)),
          intervals: jsonDetail(detailedBuckets(h.interval, h.bounds)),
          percentiles: jsonQuantiles(h),
        })),
      };
  }
}
