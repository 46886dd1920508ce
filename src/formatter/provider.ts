/**
 * What one command operator (`%RESPONSE_CODE%`, `%REQ(host)%`, ...) compiles to: a provider
 * that reads the value out of a request's context. Each provider renders two ways, as Envoy's
 * do: as text for format strings, and as a typed value for `json_format`, where numbers stay
 * numbers and metadata stays structured.
 */
import type { HeaderMap } from "../http/header_map.ts";
import type { StreamInfo } from "../stream_info/stream_info.ts";

/**
 * When an access log entry is written (`envoy.data.accesslog.v3.AccessLogType`), as
 * `%ACCESS_LOG_TYPE%` prints it and the `log_type_filter` matches it.
 */
export const ACCESS_LOG_TYPES = [
  "NotSet",
  "TcpUpstreamConnected",
  "TcpPeriodic",
  "TcpConnectionEnd",
  "DownstreamStart",
  "DownstreamPeriodic",
  "DownstreamEnd",
  "UpstreamPoolReady",
  "UpstreamPeriodic",
  "UpstreamEnd",
  "DownstreamTunnelSuccessfullyEstablished",
  "UdpTunnelUpstreamConnected",
  "UdpPeriodic",
  "UdpSessionEnd",
] as const;

/** An access log type's name; its enum number is its index in ACCESS_LOG_TYPES. */
export type AccessLogType = typeof ACCESS_LOG_TYPES[number];

/** Everything a format string can read. Headers default to the ones StreamInfo carries. */
export interface FormatContext {
  requestHeaders?: HeaderMap;
  responseHeaders?: HeaderMap;
  responseTrailers?: HeaderMap;
  streamInfo: StreamInfo;
  /** Why this entry is written; `NotSet` when absent. */
  accessLogType?: AccessLogType;
}

/** One compiled command operator. `undefined` means "not set" (printed `-`, or JSON null). */
export interface Provider {
  /** The value as text. */
  text(ctx: FormatContext): string | undefined;
  /** The value as JSON data: a string, number, boolean, object or array. */
  value(ctx: FormatContext): unknown;
}

/** A provider of a string value (same text and typed value). */
export function stringProvider(get: (ctx: FormatContext) => string | undefined): Provider {
  return { text: get, value: get };
}

/** A provider of a number: text is its decimal form, the typed value stays a number. */
export function numberProvider(get: (ctx: FormatContext) => number | undefined): Provider {
  return {
    text(ctx) {
      const n = get(ctx);
      return n === undefined ? undefined : String(n);
    },
    value: get,
  };
}

/**
 * Cuts text to `maxLength` characters (the `:Z` suffix). Typed strings are cut too; structured
 * typed values are not, as Envoy ignores the length for them.
 */
export function truncated(p: Provider, maxLength: number | undefined): Provider {
  if (maxLength === undefined) return p;
  return {
    text(ctx) {
      const s = p.text(ctx);
      return s === undefined || s.length <= maxLength ? s : s.slice(0, maxLength);
    },
    value(ctx) {
      const v = p.value(ctx);
      return typeof v === "string" && v.length > maxLength ? v.slice(0, maxLength) : v;
    },
  };
}
