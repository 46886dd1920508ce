/**
 * What happened to one request or TCP connection, as access logs, stats and tracing read it:
 * Envoy's StreamInfo. The connection manager, router and tcp_proxy fill it in as they go.
 */
import type { HeaderMap } from "../http/header_map.ts";

/**
 * Response flags (bit values), in Envoy's order, with the short and long names access logs
 * print (`%RESPONSE_FLAGS%`, `%RESPONSE_FLAGS_LONG%`).
 */
export const RESPONSE_FLAGS = [
  ["LH", "FailedLocalHealthCheck"],
  ["UH", "NoHealthyUpstream"],
  ["UT", "UpstreamRequestTimeout"],
  ["LR", "LocalReset"],
  ["UR", "UpstreamRemoteReset"],
  ["UF", "UpstreamConnectionFailure"],
  ["UC", "UpstreamConnectionTermination"],
  ["UO", "UpstreamOverflow"],
  ["NR", "NoRouteFound"],
  ["DI", "DelayInjected"],
  ["FI", "FaultInjected"],
  ["RL", "RateLimited"],
  ["UAEX", "UnauthorizedExternalService"],
  ["RLSE", "RateLimitServiceError"],
  ["DC", "DownstreamConnectionTermination"],
  ["URX", "UpstreamRetryLimitExceeded"],
  ["SI", "StreamIdleTimeout"],
  ["IH", "InvalidEnvoyRequestHeaders"],
  ["DPE", "DownstreamProtocolError"],
  ["UMSDR", "UpstreamMaxStreamDurationReached"],
  ["RFCF", "ResponseFromCacheFilter"],
  ["NFCF", "NoFilterConfigFound"],
  ["DT", "DurationTimeout"],
  ["UPE", "UpstreamProtocolError"],
  ["NC", "NoClusterFound"],
  ["OM", "OverloadManager"],
  ["DF", "DnsResolutionFailed"],
  ["DO", "DropOverLoad"],
  ["DR", "DownstreamRemoteReset"],
  ["UDO", "UnconditionalDropOverload"],
] as const;

/** A response flag's short name. */
export type ResponseFlagName = typeof RESPONSE_FLAGS[number][0];

const BIT = new Map<string, number>(RESPONSE_FLAGS.map(([s], i) => [s, 1 << i]));

/** The bit of a response flag. */
export function responseFlagBit(name: ResponseFlagName): number {
  return BIT.get(name)!;
}

/** Flags as Envoy prints them: short names joined by ",", or "-" when none is set. */
export function formatResponseFlags(bits: number, long = false): string {
  if (bits === 0) return "-";
  const out: string[] = [];
  for (let i = 0; i < RESPONSE_FLAGS.length; i++) {
    if (bits & (1 << i)) out.push(RESPONSE_FLAGS[i][long ? 1 : 0]);
  }
  return out.join(",");
}

/** Times of a stream's milestones, in ms since its start (`performance.now()` based). */
export interface StreamTimings {
  lastDownstreamRxByteReceived?: number;
  firstUpstreamTxByteSent?: number;
  lastUpstreamTxByteSent?: number;
  firstUpstreamRxByteReceived?: number;
  lastUpstreamRxByteReceived?: number;
  firstDownstreamTxByteSent?: number;
  lastDownstreamTxByteSent?: number;
}

/** One request's (or TCP connection's) record. */
export class StreamInfo {
  /** Wall clock start, ms since the epoch. */
  readonly startTime = Date.now();
  /** Monotonic start, for durations. */
  readonly startMonotonic = performance.now();
  /** End of the stream, ms since start; set when it completes. */
  duration?: number;
  readonly timings: StreamTimings = {};

  /** "HTTP/1.0", "HTTP/1.1", "HTTP/2"; undefined for TCP. */
  protocol?: string;
  upstreamProtocol?: string;
  responseCode?: number;
  responseCodeDetails?: string;
  connectionTerminationDetails?: string;
  /** The body of a locally generated reply, before body_format (`%LOCAL_REPLY_BODY%`). */
  localReplyBody?: string;
  responseFlags = 0;

  /** Body bytes received from / sent to downstream. */
  bytesReceived = 0;
  bytesSent = 0;
  /** Bytes on the upstream wire, headers included. */
  upstreamWireBytesSent = 0;
  upstreamWireBytesReceived = 0;
  requestHeadersBytes = 0;
  responseHeadersBytes = 0;

  upstreamHost?: string;
  upstreamCluster?: string;
  upstreamLocalAddress?: string;
  upstreamTransportFailureReason?: string;

  downstreamRemoteAddress = "";
  downstreamDirectRemoteAddress = "";
  downstreamLocalAddress = "";
  requestedServerName?: string;

  routeName?: string;
  virtualClusterName?: string;
  connectionId = 0;
  streamId?: string;

  requestHeaders?: HeaderMap;
  responseHeaders?: HeaderMap;
  responseTrailers?: HeaderMap;
  requestTrailers?: HeaderMap;

  /** Filter state objects by name (`%FILTER_STATE(...)%`). */
  readonly filterState = new Map<string, unknown>();
  /** Dynamic metadata by filter namespace (`%DYNAMIC_METADATA(...)%`). */
  readonly dynamicMetadata: Record<string, Record<string, unknown>> = {};

  /** Sets a response flag. */
  setFlag(name: ResponseFlagName): void {
    this.responseFlags |= BIT.get(name)!;
  }

  /** Whether a response flag is set. */
  hasFlag(name: ResponseFlagName): boolean {
    return (this.responseFlags & BIT.get(name)!) !== 0;
  }

  /** Milliseconds since the stream started. */
  elapsed(): number {
    return performance.now() - this.startMonotonic;
  }

  /** Records `key` in timings as now, the first time only. */
  mark(key: keyof StreamTimings): void {
    if (this.timings[key] === undefined) this.timings[key] = this.elapsed();
  }

  /** Records `key` as now, every time (the "last byte" milestones). */
  markLast(key: keyof StreamTimings): void {
    this.timings[key] = this.elapsed();
  }

  /** Marks the stream complete. */
  finish(): void {
    if (this.duration === undefined) this.duration = this.elapsed();
  }
}
