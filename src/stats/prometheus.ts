/**
 * `/stats/prometheus` (and `/stats?format=prometheus`) as Envoy renders it: the Prometheus
 * text exposition format 0.0.4, one family per tag-extracted name (`envoy_` plus the name with
 * every character outside `[a-zA-Z0-9_]` turned into `_`), the tags as labels, families
 * sorted by name and samples by full stat name. Counters, then gauges, then (with
 * `text_readouts`) text readouts as gauges of value 0 with a `text_value` label, then
 * histograms as cumulative `_bucket{le=...}` series with `_sum` and `_count`.
 */
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
  return new TextDecoder().decode(renderPrometheusBytes(snapshot, tags, options));
}

/**
 * `renderPrometheus` as UTF-8 bytes, which the admin sends as they are. With a thousand
 * clusters the output has ~300,000 lines; each line's text up to its value is encoded once per
 * stat and kept (`prefixes`), so a scrape copies those bytes and writes the numbers.
 */
export function renderPrometheusBytes(
  snapshot: StoreSnapshot,
  tags: TagProducer,
  options: PrometheusOptions = {},
): Uint8Array {
  const out = new ByteWriter();
  // The plain scrape (no filter, no usedonly) reuses the layout and the text of families whose
  // values did not change since the previous scrape: with a thousand clusters most did not.
  const plain = !options.usedOnly && options.filter === undefined;
  const keep = (s: { name: string; used: boolean }) =>
    (!options.usedOnly || s.used) && (options.filter === undefined || options.filter(s.name));
  const pick = <S extends { name: string; used: boolean }>(stats: S[]) =>
    plain ? stats : stats.filter(keep);
  const all = cachesOf(tags);
  const caches = plain ? all : undefined;
  const numericPrefixes = all.numericPrefixes;
  const numeric = (s: { name: string; value: number }, metric: string, labels: string) => {
    let prefix = numericPrefixes.get(s.name);
    if (prefix === undefined) {
      numericPrefixes.set(s.name, prefix = encoder.encode(`${metric}{${labels}} `));
    }
    out.line(prefix, s.value);
  };
  const numericKey = (s: { value: number }, into: Float64Array, at: number) => {
    into[at] = s.value;
    return 1;
  };
  render(pick(snapshot.counters), "counter", tags, numeric, numericKey, out, caches?.counters);
  render(pick(snapshot.gauges), "gauge", tags, numeric, numericKey, out, caches?.gauges);
  if (options.textReadouts) {
    render(
      pick(snapshot.textReadouts),
      "gauge",
      tags,
      (t, name, labels) => {
        const all = labels === "" ? "" : `${labels},`;
        out.text(`${name}{${all}text_value="${escapeLabelValue(t.value)}"} 0\n`);
      },
      undefined,
      out,
      undefined,
    );
  }
  render(
    pick(snapshot.histograms),
    "histogram",
    tags,
    (h, metric, labels) => {
      const p = histogramPrefixes(all.histogramPrefixes, h, metric, labels);
      const data = h.cumulative;
      const counts = data.counts;
      let cumulative = 0;
      for (let i = 0; i < h.bounds.length; i++) {
        cumulative += counts[i];
        out.line(p.buckets[i], cumulative);
      }
      out.line(p.inf, data.count);
      out.bytes(p.sum);
      out.text(formatG(data.sum, 32));
      out.byte(NL);
      out.line(p.count, data.count);
    },
    (h, into, at) => {
      // Cumulative data only grows: an unchanged count and sum mean unchanged buckets.
      into[at] = h.cumulative.count;
      into[at + 1] = h.cumulative.sum;
      return 2;
    },
    out,
    caches?.histograms,
  );
  return out.result();
}

/** One `# TYPE` family: its header and its stats (indexes into the rendered list), sorted. */
interface Family {
  metric: string;
  header: Uint8Array;
  members: number[];
  labels: string[];
  /** The values its text was rendered from, and that text (plain scrapes only). */
  key?: Float64Array;
  bytes?: Uint8Array;
}

/** The families of one kind of stat, for one exact list of names. */
interface Layout {
  names: string[];
  families: Family[];
}

/**
 * What renders of one TagProducer keep (the labels depend on it): encoded line starts per stat
 * name, and the plain scrape's layouts. Stats are never deleted while the process runs (as in
 * Envoy), so these hold one entry per stat ever scraped.
 */
interface Caches {
  numericPrefixes: Map<string, Uint8Array>;
  histogramPrefixes: Map<string, HistogramPrefixes>;
  counters: { layout?: Layout };
  gauges: { layout?: Layout };
  histograms: { layout?: Layout };
}

const cachesByTags = new WeakMap<TagProducer, Caches>();

function cachesOf(tags: TagProducer): Caches {
  let c = cachesByTags.get(tags);
  if (c === undefined) {
    cachesByTags.set(
      tags,
      c = {
        numericPrefixes: new Map(),
        histogramPrefixes: new Map(),
        counters: {},
        gauges: {},
        histograms: {},
      },
    );
  }
  return c;
}

/** Whether `stats` has exactly the names `names` in that order (names are shared strings). */
function sameNames(stats: readonly { name: string }[], names: readonly string[]): boolean {
  if (stats.length !== names.length) return false;
  for (let i = 0; i < names.length; i++) if (stats[i].name !== names[i]) return false;
  return true;
}

/**
 * Groups stats by tag-extracted name, families sorted by name and stats within by full name,
 * as Envoy orders them.
 */
function layoutOf(stats: readonly { name: string }[], type: string, tags: TagProducer): Layout {
  const groups = new Map<string, { index: number; labels: string; key: string }[]>();
  for (let i = 0; i < stats.length; i++) {
    const tagged = tags.produceTags(stats[i].name);
    let group = groups.get(tagged.tagExtractedName);
    if (group === undefined) groups.set(tagged.tagExtractedName, group = []);
    group.push({ index: i, labels: labelsOf(tagged), key: sortKey(stats[i].name) });
  }
  const names = [...groups.keys()].map((n) => [sortKey(n), n] as const);
  names.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const families = names.map(([, extracted]) => {
    const metric = `envoy_${sanitizePrometheusName(extracted)}`;
    const group = groups.get(extracted)!;
    if (group.length > 1) group.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return {
      metric,
      header: encoder.encode(`# TYPE ${metric} ${type}\n`),
      members: group.map((g) => g.index),
      labels: group.map((g) => g.labels),
    };
  });
  return { names: stats.map((s) => s.name), families };
}

/**
 * Writes each family under its `# TYPE` line, followed by a blank line, as Envoy does. With a
 * `cache`, a family whose stats' `key` values are those of the last render is copied as it was.
 */
function render<S extends { name: string }>(
  stats: S[],
  type: string,
  tags: TagProducer,
  sample: (stat: S, metricName: string, labels: string) => void,
  key: ((stat: S, into: Float64Array, at: number) => number) | undefined,
  out: ByteWriter,
  cache: { layout?: Layout } | undefined,
): void {
  let layout = cache?.layout;
  if (layout === undefined || !sameNames(stats, layout.names)) {
    layout = layoutOf(stats, type, tags);
    if (cache) cache.layout = layout;
  }
  for (const f of layout.families) {
    if (cache && key) {
      const width = f.members.length * 2;
      const k = f.key?.length === width ? f.key : new Float64Array(width);
      let changed = f.bytes === undefined || k !== f.key;
      let at = 0;
      for (const i of f.members) {
        const before0 = k[at], before1 = k[at + 1];
        const n = key(stats[i], k, at);
        if (k[at] !== before0 || (n > 1 && k[at + 1] !== before1)) changed = true;
        at += 2;
      }
      f.key = k;
      if (!changed) {
        out.bytes(f.bytes!);
        continue;
      }
      const start = out.length;
      writeFamily(f, stats, sample, out);
      f.bytes = out.copy(start);
      continue;
    }
    writeFamily(f, stats, sample, out);
  }
}

function writeFamily<S>(
  f: Family,
  stats: S[],
  sample: (stat: S, metricName: string, labels: string) => void,
  out: ByteWriter,
): void {
  out.bytes(f.header);
  for (let j = 0; j < f.members.length; j++) sample(stats[f.members[j]], f.metric, f.labels[j]);
  out.byte(NL);
}

const NL = 0x0a;
const encoder = new TextEncoder();

interface HistogramPrefixes {
  buckets: Uint8Array[];
  inf: Uint8Array;
  sum: Uint8Array;
  count: Uint8Array;
}

function histogramPrefixes(
  histogramCache: Map<string, HistogramPrefixes>,
  h: HistogramSnapshot,
  metric: string,
  labels: string,
) {
  let p = histogramCache.get(h.name);
  if (p === undefined || p.buckets.length !== h.bounds.length) {
    const le = labels === "" ? "" : `${labels},`;
    p = {
      // Envoy prints bounds with 32 significant digits so they never switch to exponent form.
      buckets: h.bounds.map((b) =>
        encoder.encode(`${metric}_bucket{${le}le="${formatG(b, 32)}"} `)
      ),
      inf: encoder.encode(`${metric}_bucket{${le}le="+Inf"} `),
      sum: encoder.encode(`${metric}_sum{${labels}} `),
      count: encoder.encode(`${metric}_count{${labels}} `),
    };
    histogramCache.set(h.name, p);
  }
  return p;
}

/** An append-only byte buffer that doubles as it fills. */
class ByteWriter {
  /** The size of the last output: the next is most likely the same (no regrowing). */
  static lastSize = 64 * 1024;
  #buf = new Uint8Array(ByteWriter.lastSize + 4096);
  #len = 0;

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, this.#len));
    this.#buf = grown;
  }

  byte(b: number): void {
    this.#room(1);
    this.#buf[this.#len++] = b;
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#copy(b);
  }

  // Line starts are short: a plain loop beats TypedArray.prototype.set's call overhead.
  #copy(b: Uint8Array): void {
    const buf = this.#buf;
    let len = this.#len;
    if (b.length > 256) {
      buf.set(b, len);
      len += b.length;
    } else for (let i = 0; i < b.length; i++) buf[len++] = b[i];
    this.#len = len;
  }

  /** `prefix`, the number `v`, a newline: one sample line. */
  line(prefix: Uint8Array, v: number): void {
    this.#room(prefix.length + 32);
    this.#copy(prefix);
    this.#number(v);
    this.#buf[this.#len++] = NL;
  }

  /** Text; ASCII (names, numbers) is copied directly, anything else encoded as UTF-8. */
  text(s: string): void {
    this.#room(s.length * 3);
    const buf = this.#buf;
    let len = this.#len;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.#len += encoder.encodeInto(s, buf.subarray(this.#len)).written;
        return;
      }
      buf[len++] = c;
    }
    this.#len = len;
  }

  /** A number as JavaScript prints it (what the exposition format and Envoy's integers need). */
  #number(v: number): void {
    if (v >= 0 && v < 0x80000000 && Number.isInteger(v)) {
      // Non-negative small integers (almost every sample): digits written directly.
      const buf = this.#buf;
      if (v === 0) {
        buf[this.#len++] = 0x30;
        return;
      }
      let digits = 0;
      for (let x = v; x > 0; x = Math.floor(x / 10)) digits++;
      let at = this.#len + digits;
      this.#len = at;
      for (let x = v; x > 0; x = Math.floor(x / 10)) buf[--at] = 0x30 + (x % 10);
      return;
    }
    this.text(String(v));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  /** A copy of the bytes written from `start`. */
  copy(start: number): Uint8Array {
    return this.#buf.slice(start, this.#len);
  }

  result(): Uint8Array {
    ByteWriter.lastSize = this.#len;
    return this.#buf.subarray(0, this.#len);
  }
}

/** Sort keys of stat names, kept per name (see `prefixes` on why this is bounded). */
const sortKeys = new Map<string, string>();

function sortKey(name: string): string {
  let k = sortKeys.get(name);
  if (k === undefined) sortKeys.set(name, k = statNameSortKey(name));
  return k;
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
