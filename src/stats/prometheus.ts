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
import type { Tag, TaggedName, TagProducer } from "./tag_extractor.ts";

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
  const numeric = (s: { value: number }, name: string, labels: string, out: string[]) => {
    out.push(`${name}{${labels}} ${s.value}\n`);
  };
  // Lines go into one array joined once at the end: appending to a string would build a rope
  // of hundreds of thousands of pieces that costs more to flatten and encode than to render.
  const out: string[] = [];
  family(snapshot.counters.filter(keep), "counter", tags, numeric, out);
  family(snapshot.gauges.filter(keep), "gauge", tags, numeric, out);
  if (options.textReadouts) {
    family(snapshot.textReadouts.filter(keep), "gauge", tags, (t, name, labels, o) => {
      const all = labels === "" ? "" : `${labels},`;
      o.push(`${name}{${all}text_value="${escapeLabelValue(t.value)}"} 0\n`);
    }, out);
  }
  family(snapshot.histograms.filter(keep), "histogram", tags, histogramSamples, out);
  return out.join("");
}

/**
 * Groups stats by tag-extracted name and writes each group under its `# TYPE` line, followed
 * by a blank line, as Envoy does.
 */
function family<S extends { name: string }>(
  stats: S[],
  type: string,
  tags: TagProducer,
  sample: (stat: S, metricName: string, labels: string, out: string[]) => void,
  out: string[],
): void {
  const groups = new Map<string, { stat: S; labels: string; key: string }[]>();
  for (const stat of stats) {
    const tagged = tags.produceTags(stat.name);
    let group = groups.get(tagged.tagExtractedName);
    if (group === undefined) groups.set(tagged.tagExtractedName, group = []);
    group.push({ stat, labels: labelsOf(tagged), key: statNameSortKey(stat.name) });
  }
  const names = [...groups.keys()].map((n) => [statNameSortKey(n), n] as const);
  names.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [, extracted] of names) {
    const metricName = `envoy_${sanitizePrometheusName(extracted)}`;
    out.push(`# TYPE ${metricName} ${type}\n`);
    const group = groups.get(extracted)!.sort((
      a,
      b,
    ) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const { stat, labels } of group) sample(stat, metricName, labels, out);
    out.push("\n");
  }
}

/** Bucket bounds as Prometheus `le` values (`%.32g`); few distinct bounds exist, so cached. */
const leText = new Map<number, string>();

function histogramSamples(h: HistogramSnapshot, name: string, labels: string, out: string[]) {
  const data = h.cumulative;
  const le = labels === "" ? "" : `${labels},`;
  const counts = cumulativeBucketCounts(data, h.bounds);
  const bounds = h.bounds;
  for (let i = 0; i < bounds.length; i++) {
    let text = leText.get(bounds[i]);
    if (text === undefined) {
      // Envoy prints bounds with 32 significant digits so they never switch to exponent form.
      leText.set(bounds[i], text = formatG(bounds[i], 32));
    }
    out.push(`${name}_bucket{${le}le="${text}"} ${counts[i]}\n`);
  }
  out.push(`${name}_bucket{${le}le="+Inf"} ${data.count}\n`);
  out.push(`${name}_sum{${labels}} ${formatG(data.sum, 32)}\n`);
  out.push(`${name}_count{${labels}} ${data.count}\n`);
}

/** The label text of a tagged name, computed once per name (names and tags are stable). */
const labelCache = new WeakMap<TaggedName, string>();

function labelsOf(tagged: TaggedName): string {
  let labels = labelCache.get(tagged);
  if (labels === undefined) labelCache.set(tagged, labels = formatLabels(tagged.tags));
  return labels;
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
  const x = statNameSortKey(a);
  const y = statNameSortKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * A string whose plain order is `compareStatNames`' order: the dots become a character below
 * any a name can contain, so a token sorts before its own extensions. Sorting by precomputed
 * keys spares splitting both names at every comparison.
 */
export function statNameSortKey(name: string): string {
  return name.replaceAll(".", "\x00");
}

/** Token-by-token comparison (the definition `statNameSortKey` implements). */
export function compareStatNamesByTokens(a: string, b: string): number {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < x.length && i < y.length; i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}
