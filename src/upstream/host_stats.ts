/**
 * Per-host stats (Envoy's `ALL_HOST_STATS`): kept by each worker's connection pool and router
 * for the hosts it talks to, and summed over the workers for `/clusters`. Like Envoy's, they
 * are plain counters on the host rather than entries in the stats store, so `/stats` does not
 * list them.
 *
 * @module
 */

/** One host's stats. */
export class HostStats {
  cx_connect_fail = 0;
  cx_total = 0;
  rq_error = 0;
  rq_success = 0;
  rq_timeout = 0;
  rq_total = 0;
  cx_active = 0;
  rq_active = 0;
}

/** The stats of a host as plain data, by stat name. */
export type HostStatsValues = { [K in keyof HostStats]: number };

/** Every host's stats by cluster name, then by `ip:port`. */
export type HostStatsSnapshot = Record<string, Record<string, HostStatsValues>>;

/** A zeroed set of values. */
export function emptyHostStats(): HostStatsValues {
  return { ...new HostStats() };
}

/** Adds snapshots together (gauges and counters alike, as Envoy's `Accumulate` gauges). */
export function mergeHostStats(all: readonly HostStatsSnapshot[]): HostStatsSnapshot {
  const out: HostStatsSnapshot = {};
  for (const snap of all) {
    for (const [cluster, hosts] of Object.entries(snap)) {
      const c = out[cluster] ??= {};
      for (const [host, values] of Object.entries(hosts)) {
        const h = c[host] ??= emptyHostStats();
        for (const k of Object.keys(values) as (keyof HostStatsValues)[]) h[k] += values[k];
      }
    }
  }
  return out;
}
