/**
 * A worker's stats as it sends them to the main thread: values in typed arrays, names only for
 * stats the main thread has not seen yet.
 *
 * Why: with a thousand clusters a worker has ~30,000 stats. Posting them as objects (the
 * `StoreSnapshot` form) cost ~100 ms of structured-clone decoding per scrape on the main thread,
 * plus merging by freshly decoded (so unhashed) names, against the ≤ 100 ms Envoy operators
 * expect of `/stats/prometheus`. A store only ever appends stats, so the main thread keeps each
 * worker's name table (`PackedStatsTable`) and tells the worker how much of it it has.
 */
import type { HistogramUnit } from "./histogram.ts";
import type { GaugeImportMode } from "./metrics.ts";
import type { SnapshotMerger } from "./snapshot.ts";

/** How many stats of each kind the receiver already knows the names of. */
export interface KnownStats {
  counters: number;
  gauges: number;
  histograms: number;
  textReadouts: number;
}

/** A histogram's fixed facts, sent once. */
export interface HistogramDef {
  name: string;
  unit: HistogramUnit;
  bounds: number[];
}

/** The wire form. Arrays of values are in store order, for every stat. */
export interface PackedSnapshot {
  /** The `known` counts it was made for: `newCounters[0]` is counter number `base.counters`. */
  base: KnownStats;
  /** Stats past the receiver's `KnownStats`, in store order. */
  newCounters: string[];
  newGauges: { name: string; importMode: GaugeImportMode }[];
  newHistograms: HistogramDef[];
  newTextReadouts: string[];
  /** value, delta per counter. */
  counters: Float64Array;
  gauges: Float64Array;
  /**
   * Per histogram: interval sum, count, min, max; cumulative sum, count, min, max; then the
   * interval bucket counts and the cumulative ones (bounds + 1 each).
   */
  histograms: Float64Array;
  textValues: string[];
  /** `used` flags: counters, then gauges, then histograms, then text readouts. */
  used: Uint8Array;
}

/** Floats per histogram in `PackedSnapshot.histograms`. */
export function histogramStride(bounds: number): number {
  return 8 + 2 * (bounds + 1);
}

/** The main thread's copy of one worker's stat names; merges its packed snapshots. */
export class PackedStatsTable {
  /** Each counter's value at the last flush (see `mergeInto`). */
  readonly #flushed: number[] = [];

  /**
   * Learns the new names of `p`, which must answer a request made with this table's
   * `known()`; a reply that is then not used is harmless (values are always complete).
   * @throws {Error} when the counts do not add up (the table is then unusable).
   */
  /** The last snapshot learnt (a crashed worker's totals are kept from it). */
  lastPacked: PackedSnapshot | undefined;

  learn(p: PackedSnapshot): void {
    // Two requests may be in flight with the same `known` (an admin read during a flush): a
    // reply only adds the names the table does not have yet.
    const append = <T>(table: T[], from: number, names: readonly T[]) => {
      if (from > table.length) throw new Error("packed stats skip names the table lacks");
      for (let i = table.length - from; i < names.length; i++) table.push(names[i]);
    };
    append(this.#counters, p.base.counters, p.newCounters);
    append(this.#gauges, p.base.gauges, p.newGauges);
    append(this.#histograms, p.base.histograms, p.newHistograms);
    append(this.#textReadouts, p.base.textReadouts, p.newTextReadouts);
    let floats = 0;
    for (const h of this.#histograms) floats += histogramStride(h.bounds.length);
    const stats = this.#counters.length + this.#gauges.length + this.#histograms.length +
      this.#textReadouts.length;
    if (
      p.counters.length !== 2 * this.#counters.length ||
      p.gauges.length !== this.#gauges.length || p.histograms.length !== floats ||
      p.textValues.length !== this.#textReadouts.length || p.used.length !== stats
    ) throw new Error("packed stats do not match the worker's name table");
    this.lastPacked = p;
  }

  /**
   * Merges `p` (already `learn`ed) into `m`, without building per-stat objects first.
   *
   * Counter increases (what sinks get) are the value minus the value at the last flush
   * (`flush`), kept here: the worker does not reset anything, so a reply that arrived too
   * late for one flush is counted by the next one instead of lost. A value below the last
   * flushed one was reset (`/reset_counters`): all of it is new.
   */
  mergeInto(m: SnapshotMerger, p: PackedSnapshot, flush = false, retired = false): void {
    const used = p.used;
    let u = 0;
    const counters = this.#counters;
    const flushed = this.#flushed;
    for (let i = 0; i < counters.length; i++) {
      const value = p.counters[2 * i];
      const before = flushed[i] ?? 0;
      const delta = value >= before ? value - before : value;
      if (flush) flushed[i] = value;
      m.counter(counters[i], value, delta, used[u++] === 1);
    }
    const gauges = this.#gauges;
    for (let i = 0; i < gauges.length; i++) {
      // A crashed worker's gauges (its connections, its memory) went with it.
      if (!retired) m.gauge(gauges[i].name, p.gauges[i], gauges[i].importMode, used[u] === 1);
      u++;
    }
    let at = 0;
    for (const h of this.#histograms) {
      m.packedHistogram(h.name, h.unit, h.bounds, p.histograms, at, used[u++] === 1, retired);
      at += histogramStride(h.bounds.length);
    }
    if (retired) return;
    const texts = this.#textReadouts;
    for (let i = 0; i < texts.length; i++) {
      m.textReadout(texts[i], p.textValues[i], used[u++] === 1);
    }
  }

  readonly #counters: string[] = [];
  readonly #gauges: { name: string; importMode: GaugeImportMode }[] = [];
  readonly #histograms: HistogramDef[] = [];
  readonly #textReadouts: string[] = [];

  /** What to ask the worker for. */
  known(): KnownStats {
    return {
      counters: this.#counters.length,
      gauges: this.#gauges.length,
      histograms: this.#histograms.length,
      textReadouts: this.#textReadouts.length,
    };
  }
}
