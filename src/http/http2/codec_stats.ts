/**
 * The HTTP/2 codec's stats, named as Envoy names them: `http2.*` at the root scope for
 * downstream connections, `cluster.<name>.http2.*` for upstream ones.
 *
 * @module
 */
import type { Counter, Gauge } from "../../stats/metrics.ts";
import type { Scope } from "../../stats/store.ts";

/** Counter names of Envoy's ALL_HTTP2_CODEC_STATS. */
export const HTTP2_COUNTERS = [
  "dropped_headers_with_underscores",
  "goaway_sent",
  "goaway_graceful_sent",
  "header_overflow",
  "headers_cb_no_stream",
  "inbound_empty_frames_flood",
  "inbound_priority_frames_flood",
  "inbound_window_update_frames_flood",
  "keepalive_timeout",
  "metadata_empty_frames",
  "outbound_control_flood",
  "outbound_flood",
  "requests_rejected_with_underscores_in_headers",
  "rx_messaging_error",
  "rx_reset",
  "stream_refused_errors",
  "trailers",
  "tx_flush_timeout",
  "tx_reset",
] as const;

/** Gauge names of Envoy's ALL_HTTP2_CODEC_STATS (all Accumulate). */
export const HTTP2_GAUGES = [
  "streams_active",
  "pending_send_bytes",
  "deferred_stream_close",
  "outbound_frames_active",
  "outbound_control_frames_active",
] as const;

/** The codec's stats: one field per Envoy stat. */
export type Http2CodecStats =
  & { readonly [K in typeof HTTP2_COUNTERS[number]]: Counter }
  & { readonly [K in typeof HTTP2_GAUGES[number]]: Gauge };

/**
 * The stats `http2.<name>` in `scope` (the listener's or cluster's scope). Look them up once
 * per scope and share them between connections, as Envoy's CodecStats::atomicGet does.
 */
export function http2CodecStats(scope: Scope): Http2CodecStats {
  const http2 = scope.scope("http2");
  const out: Record<string, Counter | Gauge> = {};
  for (const name of HTTP2_COUNTERS) out[name] = http2.counter(name);
  for (const name of HTTP2_GAUGES) out[name] = http2.gauge(name, "Accumulate");
  return out as Http2CodecStats;
}
