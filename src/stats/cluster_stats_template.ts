/**
 * The traffic stats every cluster has from the start: the ones `ClusterStats` declares, as
 * name suffixes. A worker creates a cluster's `ClusterStats` only when it first uses the
 * cluster (a pool, a load balancer), so idle clusters cost no stat objects in any worker; the
 * main thread adds the stats no isolate created as zeros when it merges a snapshot (`fill`),
 * so `/stats` and the sinks list every cluster's stats from the start, as Envoy's do.
 *
 * @module
 */
import type { HistogramUnit } from "./histogram.ts";
import type { GaugeImportMode } from "./metrics.ts";
import { ClusterStats } from "./data_path_stats.ts";
import type { SnapshotMerger } from "./snapshot.ts";
import { Store } from "./store.ts";

/** What a name needs to be checked against: `stats_matcher` and the bucket settings. */
export interface StatDeclarations {
  accepts(name: string): boolean;
  bucketsFor(name: string, buckets?: readonly number[]): readonly number[];
}

/** The suffixes of a cluster's initial traffic stats, by kind. */
export class ClusterStatsTemplate {
  readonly counters: readonly string[];
  readonly gauges: readonly (readonly [string, GaugeImportMode])[];
  readonly histograms: readonly (readonly [string, HistogramUnit, readonly number[]])[];

  /** Reads the suffixes off one `ClusterStats` built in a scratch store. */
  constructor() {
    const store = new Store();
    new ClusterStats(store, "_");
    const s = store.snapshot({ latch: false });
    const suffix = (name: string) => name.slice("cluster._.".length);
    this.counters = s.counters.map((c) => suffix(c.name));
    this.gauges = s.gauges.map((g) => [suffix(g.name), g.importMode] as const);
    this.histograms = s.histograms.map((h) => [suffix(h.name), h.unit, h.bounds] as const);
    if (s.textReadouts.length > 0) {
      throw new Error("ClusterStats declares text readouts: teach ClusterStatsTemplate them");
    }
  }

  /**
   * Adds every initial traffic stat of the clusters named `statNames` that `m` has not
   * merged yet, as a zero (unused) stat; a name `decl` does not accept is left out, and a
   * histogram gets the buckets `decl` gives its name.
   */
  fill(m: SnapshotMerger, statNames: Iterable<string>, decl: StatDeclarations): void {
    for (const statName of statNames) {
      const prefix = `cluster.${statName}.`;
      for (const c of this.counters) {
        const name = prefix + c;
        if (decl.accepts(name)) m.counter(name, 0, 0, false);
      }
      for (const [g, mode] of this.gauges) {
        const name = prefix + g;
        if (decl.accepts(name)) m.gauge(name, 0, mode, false);
      }
      for (const [h, unit, bounds] of this.histograms) {
        const name = prefix + h;
        if (decl.accepts(name)) m.emptyHistogram(name, unit, decl.bucketsFor(name, bounds));
      }
    }
  }
}

let template: ClusterStatsTemplate | undefined;

/** The template, built on first use. */
export function clusterStatsTemplate(): ClusterStatsTemplate {
  return template ??= new ClusterStatsTemplate();
}
