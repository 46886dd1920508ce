/**
 * Resolves Envoy's `config.core.v3.Http2ProtocolOptions` (plus the connection manager's header
 * limits) into the codec's `Http2Options`, with Envoy's defaults and ranges. Fields the codec
 * does not implement are reported as problems, never ignored.
 *
 * @module
 */
import type { Http2ProtocolOptions } from "../../../proto/gen/envoy/config/core/v3/protocol_pb.ts";
import type { FieldTable } from "../../config/field_support.ts";
import { DEFAULT_HTTP2_OPTIONS, type Http2Options } from "./connection.ts";
import { type KeepaliveConfig, resolveKeepalive } from "./keepalive.ts";
import {
  MAX_MAX_FRAME_SIZE,
  MIN_MAX_FRAME_SIZE,
  SETTINGS_ENABLE_CONNECT_PROTOCOL,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
} from "./frame.ts";

/** The Http2ProtocolOptions fields the codec implements. */
export const HTTP2_PROTOCOL_OPTIONS_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.core.v3.Http2ProtocolOptions": [
      "hpack_table_size",
      "max_concurrent_streams",
      "initial_stream_window_size",
      "initial_connection_window_size",
      "allow_connect",
      // METADATA frames (http2/metadata.ts), passed through by the router.
      "allow_metadata",
      "max_outbound_frames",
      "max_outbound_control_frames",
      "max_consecutive_inbound_frames_with_empty_payload",
      "max_inbound_priority_frames_per_stream",
      "max_inbound_window_update_frames_per_data_frame_sent",
      "stream_error_on_invalid_http_messaging",
      "override_stream_error_on_invalid_http_message",
      "connection_keepalive",
      "custom_settings_parameters",
      // Chooses between Envoy's two codec libraries, which behave alike; denvoy has one.
      "use_oghttp2_codec",
    ],
    "envoy.config.core.v3.Http2ProtocolOptions.SettingsParameter": ["identifier", "value"],
    "envoy.config.core.v3.KeepaliveSettings": ["interval", "timeout", "interval_jitter"],
  },
};

/** What the connection manager (or cluster) adds to the HTTP/2 options. */
export interface Http2Context {
  /** `max_request_headers_kb` (HCM; 60 by default). */
  maxRequestHeadersKb?: number;
  /** `common_http_protocol_options.max_headers_count` (100 by default). */
  maxHeadersCount?: number;
  /** The HCM's `stream_error_on_invalid_http_message`, when set: wins over both H2 fields. */
  streamErrorOnInvalidHttpMessage?: boolean;
  /** `per_connection_buffer_limit_bytes` (1 MiB by default). */
  bufferLimitBytes?: number;
  /** `common_http_protocol_options.headers_with_underscores_action` (ALLOW by default). */
  headersWithUnderscoresAction?: Http2Options["headersWithUnderscoresAction"];
}

/** Options resolved, or the problems that keep them from being used. */
export interface ResolvedHttp2Options {
  options: Http2Options;
  /** `connection_keepalive`, when set (drive it with an `Http2Keepalive`). */
  keepalive: KeepaliveConfig | undefined;
  /** `field: reason` for each unsupported or out-of-range field. */
  problems: string[];
}

function range(
  problems: string[],
  name: string,
  v: number | undefined,
  min: number,
  max: number,
  dflt: number,
): number {
  if (v === undefined) return dflt;
  if (v < min || v > max) problems.push(`${name}: value must be in [${min}, ${max}]`);
  return v;
}

/**
 * `custom_settings_parameters` as Envoy validates them: one value per identifier, push never
 * enabled, extended CONNECT only through `allow_connect`, and no identifier also set by its
 * named field. Those the codec knows (table size, concurrency, window, frame size) are applied
 * like their named fields; the rest are sent as they are.
 */
function customSettings(
  p: Http2ProtocolOptions | undefined,
  problems: string[],
): { named: Map<number, number>; other: number[] } {
  const named = new Map<number, number>();
  const other: number[] = [];
  if (!p || p.customSettingsParameters.length === 0) return { named, other };
  const seen = new Map<number, number>();
  const inconsistent: string[] = [];
  const collisions: string[] = [];
  for (const param of p.customSettingsParameters) {
    const id = param.identifier ?? 0;
    const value = param.value ?? 0;
    const before = seen.get(id);
    if (before !== undefined) {
      if (before !== value) inconsistent.push(`0x${id.toString(16).padStart(2, "0")}`);
      continue;
    }
    seen.set(id, value);
    switch (id) {
      case SETTINGS_ENABLE_PUSH:
        if (value === 1) {
          problems.push(
            "custom_settings_parameters: server push is not supported by Envoy and can not be " +
              "enabled via a SETTINGS parameter.",
          );
        }
        break;
      case SETTINGS_ENABLE_CONNECT_PROTOCOL:
        problems.push(
          'custom_settings_parameters: the "allow_connect" SETTINGS parameter must only be ' +
            "configured through the named field",
        );
        break;
      case SETTINGS_HEADER_TABLE_SIZE:
        if (p.hpackTableSize !== undefined) collisions.push("hpack_table_size");
        named.set(id, value);
        break;
      case SETTINGS_MAX_CONCURRENT_STREAMS:
        if (p.maxConcurrentStreams !== undefined) collisions.push("max_concurrent_streams");
        named.set(id, value);
        break;
      case SETTINGS_INITIAL_WINDOW_SIZE:
        if (p.initialStreamWindowSize !== undefined) collisions.push("initial_stream_window_size");
        named.set(id, value);
        break;
      case SETTINGS_MAX_FRAME_SIZE:
        if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
          problems.push(
            `custom_settings_parameters: SETTINGS_MAX_FRAME_SIZE must be in [${MIN_MAX_FRAME_SIZE}, ${MAX_MAX_FRAME_SIZE}]`,
          );
        }
        named.set(id, value);
        break;
      default:
        other.push(id, value);
    }
  }
  if (inconsistent.length > 0) {
    problems.push(
      "custom_settings_parameters: inconsistent HTTP/2 custom SETTINGS parameter(s) detected; " +
        `identifiers = {${inconsistent.join(",")}}`,
    );
  }
  if (collisions.length > 0) {
    problems.push(
      `custom_settings_parameters: the {${collisions.join(",")}} HTTP/2 SETTINGS parameter(s) ` +
        "can not be configured through both named and custom parameters",
    );
  }
  return { named, other };
}

/** Resolves `proto` (absent: all defaults) with the HCM's header limits. */
export function resolveHttp2Options(
  proto: Http2ProtocolOptions | undefined,
  ctx: Http2Context = {},
): ResolvedHttp2Options {
  const problems: string[] = [];
  const d = DEFAULT_HTTP2_OPTIONS;
  const p = proto;
  let keepalive: KeepaliveConfig | undefined;
  if (p?.connectionKeepalive) {
    const k = resolveKeepalive(p.connectionKeepalive);
    keepalive = k.config;
    for (const problem of k.problems) problems.push(`connection_keepalive.${problem}`);
  }
  // Precedence as in Envoy: override_stream_error_on_invalid_http_message, then the HCM's
  // stream_error_on_invalid_http_message, then the deprecated bool.
  const streamError = p?.overrideStreamErrorOnInvalidHttpMessage ??
    ctx.streamErrorOnInvalidHttpMessage ?? p?.streamErrorOnInvalidHttpMessaging ?? false;
  const custom = customSettings(p, problems);
  const options: Http2Options = {
    hpackTableSize: p?.hpackTableSize ?? custom.named.get(SETTINGS_HEADER_TABLE_SIZE) ??
      d.hpackTableSize,
    maxConcurrentStreams: range(
      problems,
      "max_concurrent_streams",
      p?.maxConcurrentStreams ?? custom.named.get(SETTINGS_MAX_CONCURRENT_STREAMS),
      1,
      2147483647,
      d.maxConcurrentStreams,
    ),
    initialStreamWindowSize: range(
      problems,
      "initial_stream_window_size",
      p?.initialStreamWindowSize ?? custom.named.get(SETTINGS_INITIAL_WINDOW_SIZE),
      65535,
      2147483647,
      d.initialStreamWindowSize,
    ),
    initialConnectionWindowSize: range(
      problems,
      "initial_connection_window_size",
      p?.initialConnectionWindowSize,
      65535,
      2147483647,
      d.initialConnectionWindowSize,
    ),
    allowConnect: p?.allowConnect ?? false,
    streamErrorOnInvalidHttpMessaging: streamError,
    maxOutboundFrames: range(
      problems,
      "max_outbound_frames",
      p?.maxOutboundFrames,
      1,
      0xffffffff,
      d.maxOutboundFrames,
    ),
    maxOutboundControlFrames: range(
      problems,
      "max_outbound_control_frames",
      p?.maxOutboundControlFrames,
      1,
      0xffffffff,
      d.maxOutboundControlFrames,
    ),
    maxConsecutiveInboundFramesWithEmptyPayload: p?.maxConsecutiveInboundFramesWithEmptyPayload ??
      d.maxConsecutiveInboundFramesWithEmptyPayload,
    maxInboundPriorityFramesPerStream: p?.maxInboundPriorityFramesPerStream ??
      d.maxInboundPriorityFramesPerStream,
    maxInboundWindowUpdateFramesPerDataFrameSent: range(
      problems,
      "max_inbound_window_update_frames_per_data_frame_sent",
      p?.maxInboundWindowUpdateFramesPerDataFrameSent,
      1,
      0xffffffff,
      d.maxInboundWindowUpdateFramesPerDataFrameSent,
    ),
    maxHeadersKb: ctx.maxRequestHeadersKb ?? d.maxHeadersKb,
    maxHeadersCount: ctx.maxHeadersCount ?? d.maxHeadersCount,
    headersWithUnderscoresAction: ctx.headersWithUnderscoresAction ??
      d.headersWithUnderscoresAction,
    streamBufferLimit: ctx.bufferLimitBytes ?? d.streamBufferLimit,
    maxFrameSize: custom.named.get(SETTINGS_MAX_FRAME_SIZE) ?? d.maxFrameSize,
    allowMetadata: p?.allowMetadata ?? false,
    customSettings: custom.other,
  };
  return { options, keepalive, problems };
}
