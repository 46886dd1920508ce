/**
 * `/stats/prometheus` (and `/stats?format=prometheus`) as Envoy renders it: the Prometheus
 * text exposition format 0.0.4, one family per tag-extracted name (`envoy_` plus the name with
 * every character outside `[a-zA-Z0-9_]` turned into `_`), the tags as labels, families
 * sorted by name and samples by full stat name. Counters, then gauges, then (with
 * `text_readouts`) text readouts as gauges of value 0 with a `text_value` label, then
 * histograms as cumulative `_bucket{le=...}` series with `_sum` and `_count`.
 */
import { cumulativeBucketCounts } from "./histogram.ts";
import { formatG } from "./number_format.ts";
import type { HistogramSnapshot, StoreSnapshot } from "./snapshot.ts";
import type { Tag, TagProducer } from "./tag_extractor.ts";

/** The `/stats/prometheus` query parameters that shape the output. */
export interface PrometheusOptions {
  /** `usedonly`: only stats that were ever updated. */
  usedOnly?: boolean;
  /** `filter=`: only stats whose full name passes (see `compileStatsFilter`). */
  filter?: (name: string) => boolean;
  /** `text_readouts`: include text readouts. */
  textReadouts?: boolean;
}

/** The metric or label name Prometheus accepts for `name`, as Envoy sanitizes it. */
export function sanitizePrometheusName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, "_");
}

/**
 * Renders a snapshot for Prometheus, naming and labelling each stat with `tags`.
 */
export function renderPrometheus(
  snapshot: StoreSnapshot,
  tags: TagProducer,
  options: PrometheusOptions = {},
): string {
  const keep = (s: { name: string; used: boolean }) =>
    (!options.usedOnly || s.used) && (options.filter === undefined || options.filter(s.name));
  const numeric = (s: { value: number }, name: string, labels: string) =>
    `${name}{${labels}} ${s.value}\n`;
  let out = family(snapshot.counters.filter(keep), "counter", tags, numeric);
  out += family(snapshot.gauges.filter(keep), "gauge", tags, numeric);
  if (options.textReadouts) {
    out += family(snapshot.textReadouts.filter(keep), "gauge", tags, (t, name, labels) => {
      const all = labels === "" ? "" : `${labels},`;
      return `${name}{${all}text_value="${escapeLabelValue(t.value)}"} 0\n`;
    });
  }
  out += family(snapshot.histograms.filter(keep), "histogram", tags, histogramSamples);
  return out;
}

/**
 * Groups stats by tag-extracted name and writes each group under its `# TYPE` line, followed
 * by a blank line, as Envoy does.
 */
function family<S extends { name: string }>(
  stats: S[],
  type: string,
  tags: TagProducer,
  sample: (stat: S, metricName: string, labels: string) => string,
): string {
  const groups = new Map<string, { stat: S; labels: string }[]>();
  for (const stat of stats) {
    const tagged = tags.produceTags(stat.name);
    let group = groups.get(tagged.tagExtractedName);
    if (group === undefined) groups.set(tagged.tagExtractedName, group = []);
    group.push({ stat, labels: formatLabels(tagged.tags) });
  }
  let out = "";
  for (const extracted of [...groups.keys()].sort(compareStatNames)) {
    const metricName = `envoy_${sanitizePrometheusName(extracted)}`;
    out += `# TYPE ${metricName} ${type}\n`;
    const group = groups.get(extracted)!.sort((a, b) => compareStatNames(a.stat.name, b.stat.name));
    for (const { stat, labels } of group) out += sample(stat, metricName, labels);
    out += "\n";
  }
  return out;
}

function histogramSamples(h: HistogramSnapshot, name: string, labels: string): string {
  const data = h.cumulative;
  const le = labels === "" ? "" : `${labels},`;
  const counts = cumulativeBucketCounts(data, h.bounds);
  let out = "";
  h.bounds.forEach((bound, i) => {
    // Envoy prints bounds with 32 significant digits so they never switch to exponent form.
    out += `${name}_bucket{${le}le="${formatG(bound, 32)}"} ${counts[i]}\n`;
  });
  out += `${name}_bucket{${le}le="+Inf"} ${data.count}\n`;
  out += `${name}_sum{${labels}} ${formatG(data.sum, 32)}\n`;
  out += `${name}_count{${labels}} ${data.count}\n`;
  return out;
}

function formatLabels(tags: readonly Tag[]): string {
  return tags.map((t) => `${sanitizePrometheusName(t.name)}="${escapeLabelValue(t.value)}"`)
    .join(",");
}

/**
 * The exposition format's label value escapes. Tag values cut from stat names rarely need
 * them, but one quote in a cluster name would otherwise make the whole scrape unparsable.
 */
function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/**
 * Envoy's order for stat names: token by token (so `a.b` sorts before `a-c`, as its symbol
 * table compares), a name before its own extensions.
 */
export function compareStatNames(a: string, b: string): number {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < x.length && i < y.length; i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}
