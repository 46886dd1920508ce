/**
 * A store's stats as plain data: what a worker posts to the main thread, and what the main
 * thread merges, renders on the admin endpoints and hands to sinks. Everything here is
 * structured-cloneable (no classes, no functions, no Maps).
 */
import { addHistogramData, type HistogramData, type HistogramUnit } from "./histogram.ts";
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
  const counters = new Map<string, CounterSnapshot>();
  const gauges = new Map<string, GaugeSnapshot>();
  const histograms = new Map<string, HistogramSnapshot>();
  const textReadouts = new Map<string, TextReadoutSnapshot>();
  for (const s of snapshots) {
    for (const c of s.counters) {
      const m = counters.get(c.name);
      if (m === undefined) {
        counters.set(c.name, { ...c });
      } else {
        m.value += c.value;
        m.delta += c.delta;
        m.used ||= c.used;
      }
    }
    for (const g of s.gauges) {
      const m = gauges.get(g.name);
      if (m === undefined) {
        gauges.set(g.name, { ...g });
      } else if (m.importMode === "Accumulate") {
        m.value += g.value;
        m.used ||= g.used;
      }
    }
    for (const h of s.histograms) {
      const m = histograms.get(h.name);
      if (m === undefined) {
        histograms.set(h.name, cloneHistogram(h));
        continue;
      }
      if (!sameBounds(m.bounds, h.bounds)) {
        throw new Error(`histogram ${h.name}: snapshots disagree on its bucket bounds`);
      }
      addHistogramData(m.interval, h.interval);
      addHistogramData(m.cumulative, h.cumulative);
      m.used ||= h.used;
    }
    for (const t of s.textReadouts) {
      if (!textReadouts.has(t.name)) textReadouts.set(t.name, { ...t });
    }
  }
  return {
    counters: [...counters.values()],
    gauges: [...gauges.values()],
    histograms: [...histograms.values()],
    textReadouts: [...textReadouts.values()],
  };
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
