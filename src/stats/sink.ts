/**
 * Stat sinks (Envoy's `Stats::Sink`): where stats go besides the admin. As in Envoy, a sink
 * gets two calls. `flush` runs on the main thread every `stats_flush_interval` with the
 * merged snapshot of every isolate (counters carry their increase since the previous flush);
 * `onHistogramComplete` runs in whichever isolate recorded a histogram value, at once, which
 * is how statsd sinks emit one timer per value. Each isolate builds its own instance of every
 * configured sink (Envoy's thread-local writers), so sockets are never shared across isolates.
 */
import type { HistogramUnit } from "./histogram.ts";
import type { StoreSnapshot } from "./snapshot.ts";
import type { Scope } from "./store.ts";
import type { TagProducer } from "./tag_extractor.ts";
import type { ClusterManager } from "../upstream/cluster_manager.ts";
import type { ClusterStatsCache } from "./data_path_stats.ts";

/** The histogram a value was recorded into. */
export interface SinkHistogram {
  readonly name: string;
  readonly unit: HistogramUnit;
}

/** One configured stat sink, in one isolate. */
export interface StatsSink {
  /** Sends the flushed snapshot (main thread only). Must not throw for network trouble. */
  flush(snapshot: StoreSnapshot): void;
  /**
   * Sends one recorded value: `value` is in the histogram's raw unit (a `Percent` histogram
   * passes the fraction times `PERCENT_SCALE`). Called on the request path: must be cheap and
   * must not throw.
   */
  onHistogramComplete(histogram: SinkHistogram, value: number): void;
  /** Releases the sink's sockets after writing what it can. */
  close(): Promise<void>;
}

/** What a stat sink is built with, in the isolate that builds it. */
export interface StatsSinkContext {
  clusterManager: ClusterManager;
  /** This isolate's stats root (sinks declare their own stats there, e.g. `statsd.cx_overflow`). */
  stats: Scope;
  /** This isolate's per-cluster stats, for the connections a sink opens to a cluster. */
  clusterStats: ClusterStatsCache;
  /** Tag extraction as configured by `stats_config`, for sinks that send tags. */
  tags: TagProducer;
  /** The node's id and cluster (bootstrap `node`, else `--service-node` / `--service-cluster`). */
  localInfo: { nodeId: string; clusterName: string };
}
