/**
 * The parent's stats as the child of a hot restart sees them (Envoy's `StatMerger`): counters
 * continue across epochs (the parent's totals add to the child's, and keep adding after the
 * parent is gone), `Accumulate` gauges add up while the parent lives (a listener's
 * `downstream_cx_active` counts both processes' connections), and the parent's open connections
 * are `server.parent_connections`. The parent's `server.*` gauges describe the parent alone and
 * are not imported; histograms are not carried over, as in Envoy.
 *
 * @module
 */
import type { CounterSnapshot, GaugeSnapshot, StoreSnapshot } from "../stats/snapshot.ts";

/** The last stats received from the parent. */
export class ParentStats {
  /** The parent's counter totals, and the value at the last flush (for sink deltas). */
  readonly #counters = new Map<string, { value: number; flushed: number }>();
  #gauges: GaugeSnapshot[] = [];
  #connections = 0;

  /** Takes the parent's latest stats. The first value of a counter is already flushed. */
  update(s: StoreSnapshot): void {
    for (const c of s.counters) {
      const known = this.#counters.get(c.name);
      if (known) known.value = c.value;
      else this.#counters.set(c.name, { value: c.value, flushed: c.value });
    }
    this.#gauges = s.gauges.filter((g) =>
      g.importMode === "Accumulate" && !g.name.startsWith("server.")
    );
    this.#connections = s.gauges.find((g) => g.name === "server.total_connections")?.value ?? 0;
  }

  /** The parent exited: its gauges and connections are gone, its counters stay. */
  parentGone(): void {
    this.#gauges = [];
    this.#connections = 0;
  }

  /** The parent's open downstream connections (`server.parent_connections`). */
  get connections(): number {
    return this.#connections;
  }

  /**
   * The stats to merge into the child's. `latch` (the stats flush) ends the interval: the
   * counters' deltas restart from here.
   */
  snapshot(latch: boolean): StoreSnapshot {
    const counters: CounterSnapshot[] = [];
    for (const [name, c] of this.#counters) {
      counters.push({ name, value: c.value, delta: c.value - c.flushed, used: true });
      if (latch) c.flushed = c.value;
    }
    const total: GaugeSnapshot = {
      name: "server.total_connections",
      value: this.#connections,
      importMode: "Accumulate",
      used: true,
    };
    return { counters, gauges: [...this.#gauges, total], histograms: [], textReadouts: [] };
  }
}
