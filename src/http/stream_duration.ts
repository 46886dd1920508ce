/**
 * The stream duration limit of one request (Envoy's `refreshDurationTimeout`): the HCM's
 * `common_http_protocol_options.max_stream_duration`, overridden by the route's
 * `max_stream_duration`, or for gRPC requests the `grpc-timeout` header capped by
 * `grpc_timeout_header_max` and reduced by `grpc_timeout_header_offset`.
 */
import type { HeaderMap } from "./header_map.ts";
import type { MaxStreamDuration } from "../router/route_entry.ts";

/** gRPC timeouts have at most 8 digits. */
const MAX_GRPC_TIMEOUT_VALUE = 99_999_999;
const GRPC_UNITS_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** The `grpc-timeout` header in ms (sub-millisecond units rounded up); undefined if absent or bad. */
export function grpcTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2) return undefined;
  const digits = value.slice(0, -1);
  const unit = GRPC_UNITS_MS[value[value.length - 1]];
  if (unit === undefined || !/^\d{1,8}$/.test(digits)) return undefined;
  return Math.ceil(Number(digits) * unit);
}

/** Envoy's `toGrpcTimeout`: ms as a `grpc-timeout` value in the smallest unit that fits 8 digits. */
export function toGrpcTimeout(ms: number): string {
  let time = ms;
  const units = "mSMH";
  let u = 0;
  if (time > MAX_GRPC_TIMEOUT_VALUE) {
    time = Math.floor(time / 1000);
    u++;
  }
  while (time > MAX_GRPC_TIMEOUT_VALUE) {
    if (units[u] === "H") time = MAX_GRPC_TIMEOUT_VALUE;
    else {
      time = Math.floor(time / 60);
      u++;
    }
  }
  return `${time}${units[u]}`;
}

/** `content-type` says gRPC: exactly `application/grpc` or `application/grpc+...`. */
export function isGrpc(headers: HeaderMap): boolean {
  const ct = headers.get("content-type");
  return ct !== undefined && ct.startsWith("application/grpc") &&
    (ct.length === 16 || ct.charCodeAt(16) === 43);
}

/**
 * The stream's duration limit in ms from its start, once its route is known; undefined when the
 * stream has none. Also updates `grpc-timeout` as Envoy does for routes with
 * `max_stream_duration` (Envoy's "new timeouts"): set to the limit, or removed when a limit the
 * connection manager set is disabled by the route.
 *
 * @param route the route's `max_stream_duration`, if it has one.
 * @param hcmMs the connection manager's `max_stream_duration` (0: none).
 */
export function streamDurationMs(
  route: MaxStreamDuration | undefined,
  hcmMs: number,
  headers: HeaderMap,
): number | undefined {
  const grpc = grpcTimeoutMs(headers.get("grpc-timeout"));
  let timeout: number | undefined;
  if (grpc === undefined || route?.grpcTimeoutHeaderMaxMs === undefined) {
    if (route?.maxStreamDurationMs !== undefined) {
      // An explicit 0 means no limit.
      timeout = route.maxStreamDurationMs || undefined;
    } else timeout = hcmMs || undefined;
  } else {
    timeout = grpc;
    const max = route.grpcTimeoutHeaderMaxMs;
    if (max !== 0 && timeout > max) timeout = max;
    const offset = route.grpcTimeoutHeaderOffsetMs;
    if (timeout !== 0 && offset !== undefined) timeout = offset < timeout ? timeout - offset : 0;
  }
  if (route !== undefined && isGrpc(headers)) {
    if (timeout !== undefined) headers.set("grpc-timeout", toGrpcTimeout(timeout));
    else if (hcmMs > 0) headers.remove("grpc-timeout");
  }
  return timeout;
}
