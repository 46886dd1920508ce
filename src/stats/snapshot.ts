/**
 * A store's stats as plain data: what a worker posts to the main thread, and what the main
 * thread merges, renders on the admin endpoints and hands to sinks. Everything here is
 * structured-cloneable (no classes, no functions, no Maps).
 */
import {
  addHistogramData,
  emptyHistogramData,
  type HistogramData,
  type HistogramUnit,
} from "./histogram.ts";
import type { GaugeImportMode } from "./metrics.ts";

/** A counter at snapshot time. */
export interface CounterSnapshot {
  name: string;
  /** The count since start or the last `/reset_counters`. */
  value: number;
  /** The increase since the previous snapshot (what sinks report). */
  delta: number;
  used: boolean;
}

/** A gauge at snapshot time. */
export interface GaugeSnapshot {
  name: string;
  value: number;
  importMode: GaugeImportMode;
  used: boolean;
}

/** A histogram at snapshot time. */
export interface HistogramSnapshot {
  name: string;
  unit: HistogramUnit;
  /** Bucket upper bounds, ascending. */
  bounds: number[];
  /** Values recorded since the previous snapshot (Envoy's interval statistics). */
  interval: HistogramData;
  /** Values recorded since start, this interval included. */
  cumulative: HistogramData;
  used: boolean;
}

/** A text readout at snapshot time. */
export interface TextReadoutSnapshot {
  name: string;
  value: string;
  used: boolean;
}

/** Every stat of a store (or of several, merged). */
export interface StoreSnapshot {
  counters: CounterSnapshot[];
  gauges: GaugeSnapshot[];
  histograms: HistogramSnapshot[];
  textReadouts: TextReadoutSnapshot[];
}

/**
 * Merges the snapshots of the main thread and its workers into one, as Envoy's admin and
 * sinks see a single process: counters (values and deltas) and `Accumulate` gauges add up,
 * histograms add bucket by bucket, and `NeverImport` gauges and text readouts take the value of
 * the first snapshot that has them. Pass the main thread's own snapshot first, so those are
 * the main thread's when it has them.
 *
 * @throws {Error} when one histogram name has different bucket bounds in two snapshots.
 */
export function mergeSnapshots(snapshots: readonly StoreSnapshot[]): StoreSnapshot {
  const m = new SnapshotMerger();
  for (const s of snapshots) m.add(s, false);
  return m.result();
}

/**
 * Merges stats one by one, with `mergeSnapshots`' rules: from snapshots (`add`) and straight
 * from workers' packed values (`PackedStatsTable.mergeInto`), so that no intermediate objects
 * are built for stats that merge into existing ones.
 */
export class SnapshotMerger {
  readonly #counters = new Map<string, CounterSnapshot>();
  readonly #gauges = new Map<string, GaugeSnapshot>();
  readonly #histograms = new Map<string, HistogramSnapshot>();
  readonly #textReadouts = new Map<string, TextReadoutSnapshot>();

  /**
   * Adds a snapshot. With `adopt`, its objects become the merged ones where they are first
   * (no copies): only for a snapshot made for this merge and not used after.
   */
  add(s: StoreSnapshot, adopt: boolean): void {
    for (const c of s.counters) {
      const m = this.#counters.get(c.name);
      if (m !== undefined) {
        m.value += c.value;
        m.delta += c.delta;
        m.used ||= c.used;
      } else {
        this.#counters.set(
          c.name,
          adopt ? c : { name: c.name, value: c.value, delta: c.delta, used: c.used },
        );
      }
    }
    for (const g of s.gauges) {
      this.gauge(g.name, g.value, g.importMode, g.used, adopt ? g : undefined);
    }
    for (const h of s.histograms) {
      const m = this.#histograms.get(h.name);
      if (m === undefined) {
        this.#histograms.set(h.name, adopt ? h : cloneHistogram(h));
        continue;
      }
      if (!sameBounds(m.bounds, h.bounds)) {
        throw new Error(`histogram ${h.name}: snapshots disagree on its bucket bounds`);
      }
      addHistogramData(m.interval, h.interval);
      addHistogramData(m.cumulative, h.cumulative);
      m.used ||= h.used;
    }
    for (const t of s.textReadouts) this.textReadout(t.name, t.value, t.used);
  }

  /** Adds one counter. */
  counter(name: string, value: number, delta: number, used: boolean): void {
    const m = this.#counters.get(name);
    if (m === undefined) this.#counters.set(name, { name, value, delta, used });
    else {
      m.value += value;
      m.delta += delta;
      m.used ||= used;
    }
  }

  /** Adds one gauge (`own`: an object the merger may keep as it is). */
  gauge(
    name: string,
    value: number,
    importMode: GaugeImportMode,
    used: boolean,
    own?: GaugeSnapshot,
  ): void {
    const m = this.#gauges.get(name);
    if (m === undefined) this.#gauges.set(name, own ?? { name, value, importMode, used });
    else if (m.importMode === "Accumulate") {
      m.value += value;
      m.used ||= used;
    }
  }

  /**
   * Adds one histogram whose data is packed in `f` from `at` (see `PackedSnapshot`).
   * @throws {Error} when the bounds differ from an earlier one of the same name.
   */
  packedHistogram(
    name: string,
    unit: HistogramUnit,
    bounds: number[],
    f: Float64Array,
    at: number,
    used: boolean,
    cumulativeOnly = false,
  ): void {
    const n = bounds.length + 1;
    const m = this.#histograms.get(name);
    if (m === undefined) {
      this.#histograms.set(name, {
        name,
        unit,
        bounds,
        interval: cumulativeOnly ? emptyHistogramData(bounds.length) : {
          sum: f[at],
          count: f[at + 1],
          min: f[at + 2],
          max: f[at + 3],
          counts: toArray(f, at + 8, n),
        },
        cumulative: {
          sum: f[at + 4],
          count: f[at + 5],
          min: f[at + 6],
          max: f[at + 7],
          counts: toArray(f, at + 8 + n, n),
        },
        used,
      });
      return;
    }
    if (!sameBounds(m.bounds, bounds)) {
      throw new Error(`histogram ${name}: snapshots disagree on its bucket bounds`);
    }
    if (!cumulativeOnly) addPacked(m.interval, f, at, at + 8, n);
    addPacked(m.cumulative, f, at + 4, at + 8 + n, n);
    m.used ||= used;
  }

  /** Adds a histogram with nothing recorded, unless one of that name is already merged. */
  emptyHistogram(name: string, unit: HistogramUnit, bounds: readonly number[]): void {
    if (this.#histograms.has(name)) return;
    this.#histograms.set(name, {
      name,
      unit,
      bounds: [...bounds],
      interval: emptyHistogramData(bounds.length),
      cumulative: emptyHistogramData(bounds.length),
      used: false,
    });
  }

  /** Adds one text readout (the first one of a name wins). */
  textReadout(name: string, value: string, used: boolean): void {
    if (!this.#textReadouts.has(name)) this.#textReadouts.set(name, { name, value, used });
  }

  /** The merged snapshot. */
  result(): StoreSnapshot {
    return {
      counters: [...this.#counters.values()],
      gauges: [...this.#gauges.values()],
      histograms: [...this.#histograms.values()],
      textReadouts: [...this.#textReadouts.values()],
    };
  }
}

function toArray(f: Float64Array, from: number, n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = f[from + i];
  return out;
}

/** Adds packed sum, count, min, max (at `s`) and bucket counts (at `c`) into `into`. */
function addPacked(into: HistogramData, f: Float64Array, s: number, c: number, n: number): void {
  if (into.counts.length !== n) {
    throw new Error(`cannot merge histograms with ${into.counts.length - 1} and ${n - 1} buckets`);
  }
  for (let i = 0; i < n; i++) into.counts[i] += f[c + i];
  into.sum += f[s];
  into.count += f[s + 1];
  if (f[s + 2] < into.min) into.min = f[s + 2];
  if (f[s + 3] > into.max) into.max = f[s + 3];
}

function cloneHistogram(h: HistogramSnapshot): HistogramSnapshot {
  return {
    ...h,
    bounds: [...h.bounds],
    interval: { ...h.interval, counts: [...h.interval.counts] },
    cumulative: { ...h.cumulative, counts: [...h.cumulative.counts] },
  };
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
