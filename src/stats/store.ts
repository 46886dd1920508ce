/**
 * Envoy's stats store and scopes. Each worker isolate has its own `Store`; the main thread
 * collects `snapshot()`s from them and merges them with its own (`mergeSnapshots`).
 *
 * Names are looked up only when code asks for a stat, at config time: asking again for the
 * same name returns the same object, so two filters (or two workers' copies of a config)
 * that declare `http.ingress.downstream_rq_total` count into one stat.
 */
import { DEFAULT_BUCKETS, type HistogramUnit, normalizeBuckets } from "./histogram.ts";
import {
  Counter,
  Gauge,
  type GaugeImportMode,
  Histogram,
  type HistogramValueCallback,
  NullCounter,
  NullGauge,
  NullHistogram,
  NullTextReadout,
  TextReadout,
} from "./metrics.ts";
import type { StoreSnapshot } from "./snapshot.ts";
import { histogramStride, type KnownStats, type PackedSnapshot } from "./packed_snapshot.ts";

/** Where stats are declared: the store itself, or a scope that prefixes every name. */
export interface Scope {
  /** The prefix this scope adds, without its trailing dot ("" for the store). */
  readonly prefix: string;
  /** The counter `<prefix>.<name>`, created on first use. */
  counter(name: string): Counter;
  /**
   * The gauge `<prefix>.<name>`, created on first use; a later call keeps the first
   * import mode.
   */
  gauge(name: string, importMode: GaugeImportMode): Gauge;
  /**
   * The histogram `<prefix>.<name>`, created on first use with the buckets that
   * `histogram_bucket_settings` gives its name, else `buckets`, else Envoy's defaults;
   * a later call keeps the first unit and buckets.
   */
  histogram(name: string, unit: HistogramUnit, buckets?: readonly number[]): Histogram;
  /** The text readout `<prefix>.<name>`, created on first use. */
  textReadout(name: string): TextReadout;
  /** A scope whose names start with `<this prefix>.<prefix>.`. */
  scope(prefix: string): Scope;
}

/** How a store decides which stats exist and how histograms bucket. */
export interface StoreOptions {
  /**
   * Whether a stat with this full name is created (`stats_config.stats_matcher`, see
   * `compileStatsMatcher`); a rejected stat is a null object. Default: all are.
   */
  accepts?: (name: string) => boolean;
  /**
   * The buckets for a histogram's full name, or undefined for the defaults
   * (`stats_config.histogram_bucket_settings`, see `compileHistogramBucketSettings`).
   */
  histogramBuckets?: (name: string) => readonly number[] | undefined;
  /** Sees every value any histogram records (the stat sinks' `onHistogramComplete`). */
  onHistogramValue?: HistogramValueCallback;
}

/** The root of a stats tree: owns every stat and takes snapshots of them. */
export class Store implements Scope {
  readonly prefix = "";
  readonly #accepts: (name: string) => boolean;
  readonly #histogramBuckets: (name: string) => readonly number[] | undefined;
  readonly #onHistogramValue: HistogramValueCallback | undefined;
  readonly #counters = new Map<string, Counter>();
  readonly #gauges = new Map<string, Gauge>();
  readonly #histograms = new Map<string, Histogram>();
  readonly #textReadouts = new Map<string, TextReadout>();
  readonly #nullCounter = new NullCounter("");
  readonly #nullGauge = new NullGauge("", "NeverImport");
  readonly #nullHistogram = new NullHistogram("", "Unspecified", DEFAULT_BUCKETS);
  readonly #nullTextReadout = new NullTextReadout("");

  /** A store with no stats yet. */
  constructor(options: StoreOptions = {}) {
    this.#accepts = options.accepts ?? (() => true);
    this.#histogramBuckets = options.histogramBuckets ?? (() => undefined);
    this.#onHistogramValue = options.onHistogramValue;
  }

  counter(name: string): Counter {
    let c = this.#counters.get(name);
    if (c === undefined) {
      if (!this.#accepts(name)) return this.#nullCounter;
      c = new Counter(name);
      this.#counters.set(name, c);
    }
    return c;
  }

  gauge(name: string, importMode: GaugeImportMode): Gauge {
    let g = this.#gauges.get(name);
    if (g === undefined) {
      if (!this.#accepts(name)) return this.#nullGauge;
      g = new Gauge(name, importMode);
      this.#gauges.set(name, g);
    }
    return g;
  }

  histogram(name: string, unit: HistogramUnit, buckets?: readonly number[]): Histogram {
    let h = this.#histograms.get(name);
    if (h === undefined) {
      if (!this.#accepts(name)) return this.#nullHistogram;
      h = new Histogram(name, unit, this.bucketsFor(name, buckets), this.#onHistogramValue);
      this.#histograms.set(name, h);
    }
    return h;
  }

  /** Whether a stat of this full name would be created (`stats_config.stats_matcher`). */
  accepts(name: string): boolean {
    return this.#accepts(name);
  }

  /**
   * The bucket bounds a histogram of this full name gets: `histogram_bucket_settings`, else
   * `buckets`, else Envoy's defaults.
   */
  bucketsFor(name: string, buckets?: readonly number[]): readonly number[] {
    return this.#histogramBuckets(name) ??
      (buckets === undefined ? DEFAULT_BUCKETS : normalizeBuckets(buckets, name));
  }

  textReadout(name: string): TextReadout {
    let t = this.#textReadouts.get(name);
    if (t === undefined) {
      if (!this.#accepts(name)) return this.#nullTextReadout;
      t = new TextReadout(name);
      this.#textReadouts.set(name, t);
    }
    return t;
  }

  scope(prefix: string): Scope {
    return new PrefixScope(this, trimDot(prefix));
  }

  /**
   * Every stat as plain data. By default it ends the current interval: counter deltas and
   * histogram intervals in the next snapshot count from here, which only the stats flush
   * (Envoy's `stats_flush_interval`) may do. With `latch: false` (the admin's view) nothing
   * is ended: deltas and histogram intervals are those of the interval so far.
   */
  snapshot(options: { latch?: boolean } = {}): StoreSnapshot {
    const latch = options.latch ?? true;
    const s: StoreSnapshot = { counters: [], gauges: [], histograms: [], textReadouts: [] };
    for (const c of this.#counters.values()) {
      const delta = latch ? c.latch() : c.pendingDelta;
      s.counters.push({ name: c.name, value: c.value, delta, used: c.used });
    }
    for (const g of this.#gauges.values()) {
      s.gauges.push({ name: g.name, value: g.value, importMode: g.importMode, used: g.used });
    }
    for (const h of this.#histograms.values()) {
      const used = h.used;
      const { interval, cumulative } = latch ? h.latch() : h.peek();
      s.histograms.push({
        name: h.name,
        unit: h.unit,
        bounds: [...h.bounds],
        interval,
        cumulative,
        used,
      });
    }
    for (const t of this.#textReadouts.values()) {
      s.textReadouts.push({ name: t.name, value: t.value, used: t.used });
    }
    return s;
  }

  /**
   * `snapshot()` in the form a worker posts (see `packed_snapshot.ts`): values of every stat,
   * names only past what the receiver already `known`s.
   */
  pack(
    known: KnownStats,
    options: { latch?: boolean; latchCounters?: boolean } = {},
  ): PackedSnapshot {
    const latch = options.latch ?? true;
    const latchCounters = options.latchCounters ?? latch;
    const nc = this.#counters.size;
    const ng = this.#gauges.size;
    const nh = this.#histograms.size;
    const nt = this.#textReadouts.size;
    const used = new Uint8Array(nc + ng + nh + nt);
    let u = 0;
    const p: PackedSnapshot = {
      base: { ...known },
      newCounters: [],
      newGauges: [],
      newHistograms: [],
      newTextReadouts: [],
      counters: new Float64Array(2 * nc),
      gauges: new Float64Array(ng),
      histograms: new Float64Array(0),
      textValues: [],
      used,
    };
    let i = 0;
    for (const c of this.#counters.values()) {
      if (i >= known.counters) p.newCounters.push(c.name);
      p.counters[2 * i] = c.value;
      p.counters[2 * i + 1] = latchCounters ? c.latch() : c.pendingDelta;
      used[u++] = c.used ? 1 : 0;
      i++;
    }
    i = 0;
    for (const g of this.#gauges.values()) {
      if (i >= known.gauges) p.newGauges.push({ name: g.name, importMode: g.importMode });
      p.gauges[i++] = g.value;
      used[u++] = g.used ? 1 : 0;
    }
    let floats = 0;
    for (const h of this.#histograms.values()) floats += histogramStride(h.bounds.length);
    const f = p.histograms = new Float64Array(floats);
    let at = 0;
    i = 0;
    for (const h of this.#histograms.values()) {
      if (i++ >= known.histograms) {
        p.newHistograms.push({ name: h.name, unit: h.unit, bounds: [...h.bounds] });
      }
      used[u++] = h.used ? 1 : 0;
      const { interval, cumulative } = latch ? h.latch() : h.peek();
      f[at] = interval.sum;
      f[at + 1] = interval.count;
      f[at + 2] = interval.min;
      f[at + 3] = interval.max;
      f[at + 4] = cumulative.sum;
      f[at + 5] = cumulative.count;
      f[at + 6] = cumulative.min;
      f[at + 7] = cumulative.max;
      const n = h.bounds.length + 1;
      f.set(interval.counts, at + 8);
      f.set(cumulative.counts, at + 8 + n);
      at += histogramStride(h.bounds.length);
    }
    i = 0;
    for (const t of this.#textReadouts.values()) {
      if (i++ >= known.textReadouts) p.newTextReadouts.push(t.name);
      p.textValues.push(t.value);
      used[u++] = t.used ? 1 : 0;
    }
    return p;
  }

  /** Sets every counter to zero (`/reset_counters`); gauges and histograms are kept, as in Envoy. */
  reset(): void {
    for (const c of this.#counters.values()) c.reset();
  }
}

/** A view of the store that prefixes names. */
class PrefixScope implements Scope {
  readonly prefix: string;
  readonly #store: Store;

  constructor(store: Store, prefix: string) {
    this.#store = store;
    this.prefix = prefix;
  }

  counter(name: string): Counter {
    return this.#store.counter(this.#full(name));
  }

  gauge(name: string, importMode: GaugeImportMode): Gauge {
    return this.#store.gauge(this.#full(name), importMode);
  }

  histogram(name: string, unit: HistogramUnit, buckets?: readonly number[]): Histogram {
    return this.#store.histogram(this.#full(name), unit, buckets);
  }

  textReadout(name: string): TextReadout {
    return this.#store.textReadout(this.#full(name));
  }

  scope(prefix: string): Scope {
    return new PrefixScope(this.#store, this.#full(trimDot(prefix)));
  }

  #full(name: string): string {
    if (this.prefix === "") return name;
    return name === "" ? this.prefix : `${this.prefix}.${name}`;
  }
}

/** Envoy code passes scope prefixes with or without the trailing dot (`"cluster.foo."`). */
function trimDot(prefix: string): string {
  return prefix.endsWith(".") ? prefix.slice(0, -1) : prefix;
}
