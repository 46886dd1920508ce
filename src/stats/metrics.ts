/**
 * The four kinds of Envoy stat. Code obtains them once, at config time, from a `Store` or
 * `Scope`, and keeps them: on the request path `inc()` and `record()` only add to fields
 * (no name building, no map lookup).
 *
 * A stat rejected by `stats_config.stats_matcher` is a null object of the same class, so
 * callers never check: it ignores updates and is never reported.
 */
import {
  addHistogramData,
  emptyHistogramData,
  type HistogramData,
  type HistogramUnit,
  PERCENT_SCALE,
} from "./histogram.ts";

/** Envoy's `Gauge::ImportMode`: whether a hot-restart parent's (or a worker's) value adds in. */
export type GaugeImportMode = "Accumulate" | "NeverImport";

/** A monotonically increasing count (`upstream_rq_total`). */
export class Counter {
  /** The full stat name. */
  readonly name: string;
  #value = 0;
  #latched = 0;
  #used = false;

  /** Created by a `Store`; code gets counters from a `Store` or `Scope`. */
  constructor(name: string) {
    this.name = name;
  }

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.#value += n;
    this.#used = true;
  }

  /** The count since start (or since the last `/reset_counters`). */
  get value(): number {
    return this.#value;
  }

  /** Whether the counter was ever incremented (`/stats?usedonly`). */
  get used(): boolean {
    return this.#used;
  }

  /** The increase since the last `latch()`, without latching (the admin's view). */
  get pendingDelta(): number {
    return this.#value - this.#latched;
  }

  /**
   * The increase since the previous call, which sinks report (Envoy's `latch()`).
   * Called by the store when it takes a snapshot.
   */
  latch(): number {
    const delta = this.#value - this.#latched;
    this.#latched = this.#value;
    return delta;
  }

  /** Sets the count to zero (`/reset_counters`); the counter stays used. */
  reset(): void {
    this.#value = 0;
    this.#latched = 0;
  }
}

/** A value that goes up and down (`upstream_cx_active`). */
export class Gauge {
  /** The full stat name. */
  readonly name: string;
  /** How merging and hot restart treat the value. */
  readonly importMode: GaugeImportMode;
  #value = 0;
  #used = false;

  /** Created by a `Store`; code gets gauges from a `Store` or `Scope`. */
  constructor(name: string, importMode: GaugeImportMode) {
    this.name = name;
    this.importMode = importMode;
  }

  /** Sets the value. */
  set(v: number): void {
    this.#value = v;
    this.#used = true;
  }

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.#value += n;
    this.#used = true;
  }

  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.#value -= n;
    this.#used = true;
  }

  /** The current value. */
  get value(): number {
    return this.#value;
  }

  /** Whether the gauge was ever changed (`/stats?usedonly`). */
  get used(): boolean {
    return this.#used;
  }
}

/**
 * Called with every value a histogram records, in the histogram's raw unit (a `Percent`
 * histogram passes the fraction times `PERCENT_SCALE`): Envoy's `Sink::onHistogramComplete`,
 * which statsd sinks turn into one timer per value.
 */
export type HistogramValueCallback = (histogram: Histogram, value: number) => void;

const boundsCache = new WeakMap<readonly number[], Float64Array>();

/**
 * The bounds as a typed array, one per bounds list: every cluster has five histograms on the
 * same default buckets, in each isolate; a copy each cost ~0.4 KiB per histogram.
 */
function sharedBounds(bounds: readonly number[]): Float64Array {
  let b = boundsCache.get(bounds);
  if (!b) boundsCache.set(bounds, b = Float64Array.from(bounds));
  return b;
}

/**
 * A distribution of recorded values (`upstream_rq_time`). It keeps the values recorded since
 * the last snapshot (the interval) apart from the ones before (the cumulative part), as Envoy
 * reports both.
 */
export class Histogram {
  /** The full stat name. */
  readonly name: string;
  /** The unit of recorded values. */
  readonly unit: HistogramUnit;
  /** Bucket upper bounds, ascending. */
  readonly bounds: readonly number[];
  readonly #divisor: number;
  // Typed arrays keep bounds and counts unboxed and of one element kind whatever array the
  // caller passed (with the frozen DEFAULT_BUCKETS, record() was seven times slower).
  readonly #bounds: Float64Array;
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;
  #min = Infinity;
  #max = -Infinity;
  readonly #cumulative: HistogramData;
  readonly #onValue: HistogramValueCallback | undefined;

  /**
   * Created by a `Store`; code gets histograms from a `Store` or `Scope`. `onValue` (the
   * store's stat sinks) sees every recorded value.
   */
  constructor(
    name: string,
    unit: HistogramUnit,
    bounds: readonly number[],
    onValue?: HistogramValueCallback,
  ) {
    this.name = name;
    this.unit = unit;
    this.bounds = bounds;
    // Dividing (not multiplying by 1e-6) keeps 100000 / 1e6 exactly 0.1, on a bucket bound.
    this.#divisor = unit === "Percent" ? PERCENT_SCALE : 1;
    this.#bounds = sharedBounds(bounds);
    this.#counts = new Float64Array(bounds.length + 1);
    this.#cumulative = emptyHistogramData(bounds.length);
    this.#onValue = onValue;
  }

  /**
   * Records one value, in the histogram's unit; a `Percent` histogram takes the fraction times
   * `PERCENT_SCALE`, as in Envoy.
   */
  record(value: number): void {
    const v = value / this.#divisor;
    const bounds = this.#bounds;
    const n = bounds.length;
    let i = 0;
    // Most values (latencies, sizes) sit in the low buckets, so a forward scan beats bisection.
    while (i < n && v > bounds[i]) i++;
    this.#counts[i]++;
    this.#sum += v;
    this.#count++;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
    if (this.#onValue !== undefined) this.#onValue(this, value);
  }

  /** Whether a value was ever recorded (`/stats?usedonly`). */
  get used(): boolean {
    return this.#count > 0 || this.#cumulative.count > 0;
  }

  /**
   * The current interval so far and the cumulative data including it, without ending the
   * interval (the admin's view, which must not disturb what sinks get at the next flush).
   */
  peek(): { interval: HistogramData; cumulative: HistogramData } {
    const interval = this.#currentInterval();
    const cumulative = { ...this.#cumulative, counts: [...this.#cumulative.counts] };
    addHistogramData(cumulative, interval);
    return { interval, cumulative };
  }

  /**
   * Ends the current interval: returns what it recorded, folds it into the cumulative data and
   * starts a new, empty interval. Called by the store when it takes a snapshot.
   */
  latch(): { interval: HistogramData; cumulative: HistogramData } {
    const interval = this.#currentInterval();
    const c = this.#cumulative;
    addHistogramData(c, interval);
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
    this.#min = Infinity;
    this.#max = -Infinity;
    return { interval, cumulative: { ...c, counts: [...c.counts] } };
  }

  #currentInterval(): HistogramData {
    return {
      counts: Array.from(this.#counts),
      sum: this.#sum,
      count: this.#count,
      min: this.#min,
      max: this.#max,
    };
  }
}

/** A string value (`server.version`-like readouts, `control_plane.identifier`). */
export class TextReadout {
  /** The full stat name. */
  readonly name: string;
  #value = "";
  #used = false;

  /** Created by a `Store`; code gets text readouts from a `Store` or `Scope`. */
  constructor(name: string) {
    this.name = name;
  }

  /** Sets the value. */
  set(v: string): void {
    this.#value = v;
    this.#used = true;
  }

  /** The current value ("" until set). */
  get value(): string {
    return this.#value;
  }

  /** Whether the value was ever set (`/stats?usedonly`). */
  get used(): boolean {
    return this.#used;
  }
}

/** The counter handed out for rejected names: ignores updates, always 0. */
export class NullCounter extends Counter {
  override inc(_n?: number): void {}
}

/** The gauge handed out for rejected names: ignores updates, always 0. */
export class NullGauge extends Gauge {
  override set(_v: number): void {}
  override inc(_n?: number): void {}
  override dec(_n?: number): void {}
}

/** The histogram handed out for rejected names: ignores values. */
export class NullHistogram extends Histogram {
  override record(_value: number): void {}
}

/** The text readout handed out for rejected names: ignores updates, always "". */
export class NullTextReadout extends TextReadout {
  override set(_v: string): void {}
}
