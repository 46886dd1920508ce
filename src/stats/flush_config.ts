/**
 * When stats are flushed to sinks: every `stats_flush_interval` (default 5 s), or only when
 * the admin is asked for stats (`stats_flush_on_admin`), with the rules Envoy enforces on the
 * bootstrap when it builds its stats configuration.
 */
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";

/** Envoy's default `stats_flush_interval`. */
export const DEFAULT_FLUSH_INTERVAL_MS = 5000;

/** How the server flushes stats. */
export interface StatsFlushSettings {
  /** Time between flushes (unused when `onAdmin`). */
  intervalMs: number;
  /** Flush only when the admin serves stats; no timer. */
  onAdmin: boolean;
}

/** The flush settings of a checked bootstrap. */
export function statsFlushSettings(b: Pick<Bootstrap, "statsFlushInterval" | "statsFlush">) {
  const d = b.statsFlushInterval;
  const intervalMs = d === undefined
    ? DEFAULT_FLUSH_INTERVAL_MS
    : Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
  return { intervalMs, onAdmin: b.statsFlush.case === "statsFlushOnAdmin" };
}

/** A problem with the stats flush or sink settings, at a bootstrap field path. */
export interface StatsConfigProblem {
  path: string;
  message: string;
}

/**
 * What Envoy rejects about stats flushing and sinks beyond the schema: both flush settings at
 * once, `stats_flush_on_admin: false` (its rule is `const: true`), and a sink with no
 * `typed_config` (every sink's config has required fields).
 */
export function checkStatsConfig(
  b: Pick<Bootstrap, "statsFlushInterval" | "statsFlush" | "statsSinks">,
): StatsConfigProblem[] {
  const problems: StatsConfigProblem[] = [];
  if (b.statsFlush.case === "statsFlushOnAdmin") {
    if (b.statsFlushInterval !== undefined) {
      problems.push({
        path: "stats_flush_on_admin",
        message: "Only one of stats_flush_interval or stats_flush_on_admin should be set!",
      });
    } else if (!b.statsFlush.value) {
      problems.push({ path: "stats_flush_on_admin", message: "must be true (is false)" });
    }
  }
  b.statsSinks.forEach((s, i) => {
    if (s.configType.case !== "typedConfig") {
      problems.push({
        path: `stats_sinks[${i}]`,
        message: `stats sink '${s.name}': typed_config is required`,
      });
    }
  });
  return problems;
}
