/** Protobuf Durations as the config reads them. */
import type { Duration } from "@bufbuild/protobuf/wkt";

/** Milliseconds of a Duration (truncated, as Envoy reads timeouts), or `dflt` when unset. */
export function durationMs<T extends number | undefined>(
  d: Duration | undefined,
  dflt: T,
): number | T {
  return d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : dflt;
}
