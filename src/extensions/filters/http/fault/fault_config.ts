/**
 * The fault filter's settings (Envoy's `FaultSettings` and the common fault configs), compiled
 * once from an `HTTPFault` (the filter's config, or a route's `typed_per_filter_config`), and
 * the header controls a request may use: `x-envoy-fault-abort-request`,
 * `x-envoy-fault-abort-grpc-request`, `x-envoy-fault-delay-request` and
 * `x-envoy-fault-throughput-response`, each honoured only when its fault is configured with
 * `header_abort` / `header_delay` / `header_limit`, and each with a `-percentage` companion
 * that may lower the configured percentage (never raise it).
 *
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { HTTPFault } from "../../../../../proto/gen/envoy/extensions/filters/http/fault/v3/fault_pb.ts";
import type { FractionalPercent as FractionalPercentProto } from "../../../../../proto/gen/envoy/type/v3/percent_pb.ts";
import type { HeaderMap } from "../../../../http/header_map.ts";
import { durationMs } from "../../../../router/route_entry.ts";
import { compileHeaderMatchers, type HeaderPredicate } from "../../../../router/matchers.ts";
import { DENOMINATORS, type FractionalPercent } from "../../../../runtime/snapshot.ts";

/** The request headers that control header faults (Envoy's fault HeaderNames). */
export const FAULT_HEADERS = {
  abort: "x-envoy-fault-abort-request",
  abortGrpc: "x-envoy-fault-abort-grpc-request",
  abortPercentage: "x-envoy-fault-abort-request-percentage",
  delay: "x-envoy-fault-delay-request",
  delayPercentage: "x-envoy-fault-delay-request-percentage",
  throughput: "x-envoy-fault-throughput-response",
  throughputPercentage: "x-envoy-fault-throughput-response-percentage",
} as const;

/** Envoy's default runtime keys, used when the config names none. */
export const DEFAULT_RUNTIME_KEYS = {
  delayPercent: "fault.http.delay.fixed_delay_percent",
  abortPercent: "fault.http.abort.abort_percent",
  delayDuration: "fault.http.delay.fixed_duration_ms",
  abortHttpStatus: "fault.http.abort.http_status",
  abortGrpcStatus: "fault.http.abort.grpc_status",
  maxActiveFaults: "fault.http.max_active_faults",
  responseRateLimitPercent: "fault.http.rate_limit.response_percent",
} as const;

/** A fault's percentage: the configured one, or a lower one a request header asks for. */
export interface FaultPercentage {
  readonly configured: FractionalPercent;
  /** The request header that may lower it (header-controlled faults only). */
  readonly header: string | undefined;
}

/** `abort`: a fixed HTTP or gRPC status, or one the request's headers give. */
export interface AbortSettings {
  readonly httpStatus: number | undefined;
  readonly grpcStatus: number | undefined;
  /** `header_abort`: the statuses come from the request. */
  readonly fromHeaders: boolean;
  readonly percentage: FaultPercentage;
}

/** `delay`: a fixed duration, or one the request's header gives. */
export interface DelaySettings {
  /** undefined: `header_delay`. */
  readonly fixedMs: number | undefined;
  readonly percentage: FaultPercentage;
}

/** `response_rate_limit`: a fixed rate, or one the request's header gives. */
export interface RateLimitSettings {
  /** undefined: `header_limit`. */
  readonly fixedKbps: number | undefined;
  readonly percentage: FaultPercentage;
}

/** One `HTTPFault`, compiled. */
export interface FaultSettings {
  readonly abort: AbortSettings | undefined;
  readonly delay: DelaySettings | undefined;
  readonly responseRateLimit: RateLimitSettings | undefined;
  /** Faults only for requests routed to this cluster ("" for any). */
  readonly upstreamCluster: string;
  /** Faults only for requests whose headers all match; undefined for any. */
  readonly headers: HeaderPredicate | undefined;
  /** Faults only for these x-envoy-downstream-service-node values; undefined for any. */
  readonly downstreamNodes: ReadonlySet<string> | undefined;
  readonly maxActiveFaults: number | undefined;
  readonly runtime: { readonly [K in keyof typeof DEFAULT_RUNTIME_KEYS]: string };
  readonly disableDownstreamClusterStats: boolean;
  /** Set as the request's dynamic metadata (under the filter's name) when a fault is injected. */
  readonly filterMetadata: JsonObject | undefined;
}

const ZERO_PERCENT: FractionalPercent = { numerator: 0, denominator: 100 };

function fractionalPercent(p: FractionalPercentProto | undefined): FractionalPercent {
  // An unset percentage is the proto's zero value: 0%, so the fault never fires.
  if (!p) return ZERO_PERCENT;
  return { numerator: p.numerator, denominator: DENOMINATORS[p.denominator] ?? 100 };
}

/** Compiles an `HTTPFault`; `field` places errors (bad header matchers). */
export function compileFaultSettings(c: HTTPFault, field = ""): FaultSettings {
  const key = (set: string, name: keyof typeof DEFAULT_RUNTIME_KEYS) =>
    set || DEFAULT_RUNTIME_KEYS[name];
  let abort: AbortSettings | undefined;
  if (c.abort) {
    const t = c.abort.errorType;
    abort = {
      httpStatus: t.case === "httpStatus" ? t.value : undefined,
      grpcStatus: t.case === "grpcStatus" ? t.value : undefined,
      fromHeaders: t.case === "headerAbort",
      percentage: {
        configured: fractionalPercent(c.abort.percentage),
        header: t.case === "headerAbort" ? FAULT_HEADERS.abortPercentage : undefined,
      },
    };
  }
  let delay: DelaySettings | undefined;
  if (c.delay) {
    const s = c.delay.faultDelaySecifier;
    delay = {
      fixedMs: s.case === "fixedDelay" ? durationMs(s.value) : undefined,
      percentage: {
        configured: fractionalPercent(c.delay.percentage),
        header: s.case === "headerDelay" ? FAULT_HEADERS.delayPercentage : undefined,
      },
    };
  }
  let responseRateLimit: RateLimitSettings | undefined;
  if (c.responseRateLimit) {
    const l = c.responseRateLimit.limitType;
    responseRateLimit = {
      fixedKbps: l.case === "fixedLimit" ? Number(l.value.limitKbps) : undefined,
      percentage: {
        configured: fractionalPercent(c.responseRateLimit.percentage),
        header: l.case === "headerLimit" ? FAULT_HEADERS.throughputPercentage : undefined,
      },
    };
  }
  return {
    abort,
    delay,
    responseRateLimit,
    upstreamCluster: c.upstreamCluster,
    headers: compileHeaderMatchers(c.headers, `${field}headers`),
    downstreamNodes: c.downstreamNodes.length > 0 ? new Set(c.downstreamNodes) : undefined,
    maxActiveFaults: c.maxActiveFaults,
    runtime: {
      delayPercent: key(c.delayPercentRuntime, "delayPercent"),
      abortPercent: key(c.abortPercentRuntime, "abortPercent"),
      delayDuration: key(c.delayDurationRuntime, "delayDuration"),
      abortHttpStatus: key(c.abortHttpStatusRuntime, "abortHttpStatus"),
      abortGrpcStatus: key(c.abortGrpcStatusRuntime, "abortGrpcStatus"),
      maxActiveFaults: key(c.maxActiveFaultsRuntime, "maxActiveFaults"),
      responseRateLimitPercent: key(
        c.responseRateLimitPercentRuntime,
        "responseRateLimitPercent",
      ),
    },
    disableDownstreamClusterStats: c.disableDownstreamClusterStats,
    filterMetadata: c.filterMetadata,
  };
}

/** An unsigned decimal integer header value (absl::SimpleAtoi), or undefined. */
function parseUint(v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\+?\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n <= max ? n : undefined;
}

const UINT32_MAX = 0xffff_ffff;

/**
 * The fault's percentage for this request: a `-percentage` header lowers the numerator to its
 * value (over the configured denominator); the configured percentage is the ceiling.
 */
export function requestPercentage(p: FaultPercentage, headers: HeaderMap): FractionalPercent {
  if (p.header === undefined) return p.configured;
  const n = parseUint(headers.get(p.header), UINT32_MAX);
  if (n === undefined) return p.configured;
  return { numerator: Math.min(n, p.configured.numerator), denominator: p.configured.denominator };
}

/** The abort's HTTP status: fixed, or a valid [200, 600) header value; undefined for none. */
export function abortHttpStatus(a: AbortSettings, headers: HeaderMap): number | undefined {
  if (!a.fromHeaders) return a.httpStatus;
  const code = parseUint(headers.get(FAULT_HEADERS.abort), Number.MAX_SAFE_INTEGER);
  return code !== undefined && code >= 200 && code < 600 ? code : undefined;
}

/** The abort's gRPC status: fixed, or the header's value; undefined for none. */
export function abortGrpcStatus(a: AbortSettings, headers: HeaderMap): number | undefined {
  if (!a.fromHeaders) return a.grpcStatus;
  return parseUint(headers.get(FAULT_HEADERS.abortGrpc), Number.MAX_SAFE_INTEGER);
}

/** The delay in ms: fixed, or the header's value; undefined for none. */
export function delayMs(d: DelaySettings, headers: HeaderMap): number | undefined {
  if (d.fixedMs !== undefined) return d.fixedMs;
  return parseUint(headers.get(FAULT_HEADERS.delay), Number.MAX_SAFE_INTEGER);
}

/** The response rate in KiB/s: fixed, or the header's (non-zero) value; undefined for none. */
export function rateLimitKbps(r: RateLimitSettings, headers: HeaderMap): number | undefined {
  if (r.fixedKbps !== undefined) return r.fixedKbps;
  const v = parseUint(headers.get(FAULT_HEADERS.throughput), Number.MAX_SAFE_INTEGER);
  return v === 0 ? undefined : v;
}
