/**
 * Envoy's `Http2ProtocolOptions` (envoy.config.core.v3) read into the codec's resolved options
 * (connection.ts) and the upstream pools' `connection_keepalive`, with the fields they
 * implement declared for the config's field check.
 */
import type {
  Http2ProtocolOptions,
  KeepaliveSettings,
} from "../../../proto/gen/envoy/config/core/v3/protocol_pb.ts";
import type { FieldTable } from "../../config/field_support.ts";
import { durationMs } from "../../common/duration.ts";
import type { Http2Options } from "./connection.ts";

const CORE = "envoy.config.core.v3";

/** The Http2ProtocolOptions fields the codec and the upstream pool implement. */
export const HTTP2_PROTOCOL_OPTIONS_FIELDS: FieldTable = {
  implemented: {
    [`${CORE}.Http2ProtocolOptions`]: [
      "hpack_table_size",
      "max_concurrent_streams",
      "initial_stream_window_size",
      "initial_connection_window_size",
      "allow_connect",
      "max_outbound_frames",
      "max_outbound_control_frames",
      "max_consecutive_inbound_frames_with_empty_payload",
      "max_inbound_priority_frames_per_stream",
      "max_inbound_window_update_frames_per_data_frame_sent",
      "stream_error_on_invalid_http_messaging",
      "override_stream_error_on_invalid_http_message",
      "connection_keepalive",
    ],
    [`${CORE}.KeepaliveSettings`]: ["interval", "timeout", "interval_jitter"],
  },
};

/** `connection_keepalive`, resolved (see Http2KeepaliveSettings in the upstream pool). */
export interface KeepaliveConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly jitterPercent: number;
}

/**
 * The codec options from `p` over `base` (Envoy's defaults with the listener's or cluster's
 * header limits). Values outside Envoy's ranges are added to `problems`.
 */
export function http2Options(
  p: Http2ProtocolOptions | undefined,
  base: Http2Options,
  problems: string[],
): Http2Options {
  if (!p) return base;
  const at = "http2_protocol_options";
  const range = (name: string, v: number | undefined, lo: number, hi: number) => {
    if (v !== undefined && (v < lo || v > hi)) {
      problems.push(`${at}.${name}: ${v} is outside [${lo}, ${hi}]`);
    }
  };
  range("max_concurrent_streams", p.maxConcurrentStreams, 1, 2147483647);
  range("initial_stream_window_size", p.initialStreamWindowSize, 65535, 2147483647);
  range("initial_connection_window_size", p.initialConnectionWindowSize, 65535, 2147483647);
  range("max_outbound_frames", p.maxOutboundFrames, 1, 0xffffffff);
  range("max_outbound_control_frames", p.maxOutboundControlFrames, 1, 0xffffffff);
  range(
    "max_inbound_window_update_frames_per_data_frame_sent",
    p.maxInboundWindowUpdateFramesPerDataFrameSent,
    1,
    0xffffffff,
  );
  return {
    ...base,
    hpackTableSize: p.hpackTableSize ?? base.hpackTableSize,
    maxConcurrentStreams: p.maxConcurrentStreams ?? base.maxConcurrentStreams,
    initialStreamWindowSize: p.initialStreamWindowSize ?? base.initialStreamWindowSize,
    initialConnectionWindowSize: p.initialConnectionWindowSize ??
      base.initialConnectionWindowSize,
    allowConnect: p.allowConnect,
    maxOutboundFrames: p.maxOutboundFrames ?? base.maxOutboundFrames,
    maxOutboundControlFrames: p.maxOutboundControlFrames ?? base.maxOutboundControlFrames,
    maxConsecutiveInboundFramesWithEmptyPayload: p.maxConsecutiveInboundFramesWithEmptyPayload ??
      base.maxConsecutiveInboundFramesWithEmptyPayload,
    maxInboundPriorityFramesPerStream: p.maxInboundPriorityFramesPerStream ??
      base.maxInboundPriorityFramesPerStream,
    maxInboundWindowUpdateFramesPerDataFrameSent: p.maxInboundWindowUpdateFramesPerDataFrameSent ??
      base.maxInboundWindowUpdateFramesPerDataFrameSent,
    streamErrorOnInvalidHttpMessaging: p.overrideStreamErrorOnInvalidHttpMessage ??
      p.streamErrorOnInvalidHttpMessaging,
  };
}

/** `connection_keepalive`, or undefined when not set. */
export function keepaliveConfig(
  k: KeepaliveSettings | undefined,
  problems: string[],
): KeepaliveConfig | undefined {
  if (!k) return undefined;
  const at = "http2_protocol_options.connection_keepalive";
  if (!k.timeout) problems.push(`${at}.timeout: value is required`);
  const timeoutMs = durationMs(k.timeout, 0);
  const intervalMs = durationMs(k.interval, 0);
  if (k.timeout && timeoutMs < 1) problems.push(`${at}.timeout: must be at least 1ms`);
  if (k.interval && intervalMs < 1) problems.push(`${at}.interval: must be at least 1ms`);
  return { intervalMs, timeoutMs, jitterPercent: k.intervalJitter?.value ?? 15 };
}
