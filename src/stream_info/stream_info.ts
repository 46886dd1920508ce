/**
 * What happened to one request or TCP connection, as access logs, stats and tracing read it:
 * Envoy's StreamInfo. The connection manager, router and tcp_proxy fill it in as they go.
 */
import type { HeaderMap } from "../http/header_map.ts";
import type { MatchedRoute } from "../router/route_table.ts";
import { monotonicNow } from "../common/monotonic_time.ts";

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
  ["OM", "OverloadManagerTerminated"],
  ["DF", "DnsResolutionFailed"],
  ["DO", "DropOverload"],
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

/**
 * Times of a stream's milestones, in ms since its start (`performance.now()` based). Upstream
 * connection times belong to the connection, so on a reused connection they precede the
 * stream's start (negative), as Envoy repeats them for every request on a connection.
 */
export interface StreamTimings {
  lastDownstreamRxByteReceived?: number;
  upstreamConnectStart?: number;
  upstreamConnectComplete?: number;
  upstreamHandshakeComplete?: number;
  firstUpstreamTxByteSent?: number;
  lastUpstreamTxByteSent?: number;
  firstUpstreamRxByteReceived?: number;
  firstUpstreamRxBodyByteReceived?: number;
  lastUpstreamRxByteReceived?: number;
  firstDownstreamTxByteSent?: number;
  lastDownstreamTxByteSent?: number;
  downstreamHandshakeComplete?: number;
  /** How long the request waited for an upstream connection (a duration, not a time). */
  connectionPoolReadyLatency?: number;
}

/**
 * StreamTimings with every milestone present from the start: one object shape for every stream,
 * so marking a milestone is a plain field store rather than a change of shape.
 */
class Timings implements StreamTimings {
  lastDownstreamRxByteReceived?: number = undefined;
  upstreamConnectStart?: number = undefined;
  upstreamConnectComplete?: number = undefined;
  upstreamHandshakeComplete?: number = undefined;
  firstUpstreamTxByteSent?: number = undefined;
  lastUpstreamTxByteSent?: number = undefined;
  firstUpstreamRxByteReceived?: number = undefined;
  firstUpstreamRxBodyByteReceived?: number = undefined;
  lastUpstreamRxByteReceived?: number = undefined;
  firstDownstreamTxByteSent?: number = undefined;
  lastDownstreamTxByteSent?: number = undefined;
  downstreamHandshakeComplete?: number = undefined;
  connectionPoolReadyLatency?: number = undefined;
}

/** The parts of an upstream cluster access logs read (`%UPSTREAM_CLUSTER%`, `%CLUSTER_METADATA%`). */
export interface UpstreamClusterDescription {
  readonly name: string;
  /** `alt_stat_name`, or the name: Envoy's observability name. */
  readonly statName: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** The parts of an upstream host access logs read (`%UPSTREAM_HOST_NAME%`, `%UPSTREAM_METADATA%`). */
export interface UpstreamHostDescription {
  readonly hostname: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/**
 * The listener and filter chain a connection came in through, built once per filter chain
 * (`%FILTER_CHAIN_NAME%`, `%METADATA(LISTENER:...)%`, `%METADATA(LISTENER_FILTER_CHAIN:...)%`).
 */
export interface FilterChainDescription {
  readonly name: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly listenerMetadata?: Readonly<Record<string, unknown>>;
}

/**
 * What a TLS handshake established, as the TLS transport socket reports it; the `%..._TLS_*%`,
 * `%..._PEER_*%` and `%..._SAN%` operators read it. Empty strings count as unset.
 */
export interface TlsConnectionInfo {
  readonly tlsVersion?: string;
  readonly cipherSuite?: string;
  readonly sessionId?: string;
  readonly localSubject?: string;
  readonly peerSubject?: string;
  readonly peerIssuer?: string;
  readonly peerSerial?: string;
  readonly peerFingerprint256?: string;
  readonly peerFingerprint1?: string;
  readonly peerChainFingerprints256?: readonly string[];
  readonly peerChainFingerprints1?: readonly string[];
  readonly peerChainSerials?: readonly string[];
  /** The peer certificate in PEM. */
  readonly peerCertificatePem?: string;
  /** Validity of the peer certificate, ms since the epoch. */
  readonly peerValidFrom?: number;
  readonly peerExpiration?: number;
  readonly localSans?: TlsSans;
  readonly peerSans?: TlsSans;
}

/** Subject alternative names of a certificate, by kind. */
export interface TlsSans {
  readonly uri?: readonly string[];
  readonly dns?: readonly string[];
  readonly ip?: readonly string[];
  readonly email?: readonly string[];
  readonly otherName?: readonly string[];
}

/** Envoy's tracing decision reasons (`Tracing::Reason`). */
export type TraceReason =
  | "NotTraceable"
  | "HealthCheck"
  | "Sampling"
  | "ServiceForced"
  | "ClientForced";

/** How a connection ended, as Envoy's `%DOWNSTREAM_DETECTED_CLOSE_TYPE%` names it. */
export type DetectedCloseType = "Normal" | "LocalReset" | "RemoteReset";

/** One request's (or TCP connection's) record. */
export class StreamInfo {
  /** Wall clock start, ms since the epoch. */
  startTime = Date.now();
  /** Monotonic start, for durations. */
  startMonotonic = monotonicNow();
  /** End of the stream, ms since start; set when it completes. */
  duration?: number;
  readonly timings: StreamTimings = new Timings();
  /** Milestones filters name themselves (`%COMMON_DURATION(key:...)%`), ms since start. */
  customTimings?: Map<string, number>;

  /** "HTTP/1.0", "HTTP/1.1", "HTTP/2"; undefined for TCP. */
  protocol?: string;
  upstreamProtocol?: string;
  responseCode?: number;
  responseCodeDetails?: string;
  connectionTerminationDetails?: string;
  /** The body of a locally generated reply, before body_format (`%LOCAL_REPLY_BODY%`). */
  localReplyBody?: string;
  responseFlags = 0;
  /** Flags filters set for their own events (`%CUSTOM_FLAGS%`), comma separated. */
  customFlags?: string;

  /** Body bytes received from / sent to downstream (all bytes for TCP). */
  bytesReceived = 0;
  bytesSent = 0;
  /** Bytes on the upstream wire, headers and framing included. */
  upstreamWireBytesSent = 0;
  upstreamWireBytesReceived = 0;
  /** Header bytes on the upstream wire (request head sent, response head received). */
  upstreamHeaderBytesSent = 0;
  upstreamHeaderBytesReceived = 0;
  /** Bytes on the downstream wire for this stream, headers and framing included. */
  downstreamWireBytesSent = 0;
  downstreamWireBytesReceived = 0;
  /** Header bytes on the downstream wire: the request head received, the response head sent. */
  requestHeadersBytes = 0;
  responseHeadersBytes = 0;

  /** The chosen host, `ip:port`. */
  upstreamHost?: string;
  upstreamHostDescription?: UpstreamHostDescription;
  upstreamCluster?: string;
  upstreamClusterDescription?: UpstreamClusterDescription;
  upstreamLocalAddress?: string;
  /** The peer of the upstream connection, once connected. */
  upstreamRemoteAddress?: string;
  upstreamConnectionId?: number;
  upstreamTransportFailureReason?: string;
  upstreamDetectedCloseType?: DetectedCloseType;
  upstreamLocalCloseReason?: string;
  /** Upstream requests (or TCP connect attempts) made for this stream. */
  attemptCount?: number;

  downstreamRemoteAddress = "";
  downstreamDirectRemoteAddress = "";
  downstreamLocalAddress = "";
  /** The local address the socket really has, when a listener filter restored another. */
  downstreamDirectLocalAddress?: string;
  requestedServerName?: string;
  /** The ClientHello's fingerprints, when tls_inspector took them (a connection fact, as SNI). */
  ja3Hash?: string;
  ja4Hash?: string;
  filterChain?: FilterChainDescription;
  /** TLS facts of the downstream and upstream connections; unset on plain TCP. */
  downstreamTls?: TlsConnectionInfo;
  upstreamTls?: TlsConnectionInfo;
  downstreamTransportFailureReason?: string;
  downstreamDetectedCloseType?: DetectedCloseType;
  downstreamLocalCloseReason?: string;

  /** The route the request matched (`%ROUTE_NAME%`, `%METADATA(ROUTE:...)%`). */
  route?: MatchedRoute;
  virtualClusterName?: string;
  connectionId = 0;
  streamId?: string;
  /** Set by the health_check filter for requests it answers or passes as health checks. */
  healthCheck = false;
  /** Why the request is (or is not) traced; set by the connection manager's tracing. */
  traceReason?: TraceReason;
  /** The active span's trace id, when tracing is on (`%TRACE_ID%`). */
  traceId?: string;

  requestHeaders?: HeaderMap;
  responseHeaders?: HeaderMap;
  responseTrailers?: HeaderMap;
  requestTrailers?: HeaderMap;

  #filterState: Map<string, unknown> | undefined;
  /** Filter state objects by name (`%FILTER_STATE(...)%`); made on first use. */
  get filterState(): Map<string, unknown> {
    return this.#filterState ??= new Map();
  }
  /** Filter state of upstream components, for upstream logs (`%UPSTREAM_FILTER_STATE(...)%`). */
  upstreamFilterState?: ReadonlyMap<string, unknown>;
  #dynamicMetadata: Record<string, Record<string, unknown>> | undefined;
  /** Dynamic metadata by filter namespace (`%DYNAMIC_METADATA(...)%`); made on first use. */
  get dynamicMetadata(): Record<string, Record<string, unknown>> {
    return this.#dynamicMetadata ??= {};
  }

  /**
   * Envoy's `setFromForRecreateStream`: a stream that replays `other`'s request (internal
   * redirect) keeps its start, protocol, bytes received and downstream timings.
   */
  setFromForRecreateStream(other: StreamInfo): void {
    this.startTime = other.startTime;
    this.startMonotonic = other.startMonotonic;
    this.protocol = other.protocol;
    this.bytesReceived = other.bytesReceived;
    this.requestHeadersBytes = other.requestHeadersBytes;
    const t = other.timings;
    if (t.lastDownstreamRxByteReceived !== undefined) {
      this.timings.lastDownstreamRxByteReceived = t.lastDownstreamRxByteReceived;
    }
  }

  /** Sets a response flag. */
  setFlag(name: ResponseFlagName): void {
    this.responseFlags |= BIT.get(name)!;
  }

  /** Whether a response flag is set. */
  hasFlag(name: ResponseFlagName): boolean {
    return (this.responseFlags & BIT.get(name)!) !== 0;
  }

  /** Adds a custom flag (`%CUSTOM_FLAGS%`); a flag already set is not repeated. */
  addCustomFlag(flag: string): void {
    if (this.customFlags === undefined) this.customFlags = flag;
    else if (!this.customFlags.split(",").includes(flag)) this.customFlags += "," + flag;
  }

  /** Milliseconds since the stream started. */
  elapsed(): number {
    return monotonicNow() - this.startMonotonic;
  }

  /** Records `key` in timings as now, the first time only. */
  mark(key: keyof StreamTimings): void {
    if (this.timings[key] === undefined) this.timings[key] = this.elapsed();
  }

  /** Records `key` as now, every time (the "last byte" milestones). */
  markLast(key: keyof StreamTimings): void {
    this.timings[key] = this.elapsed();
  }

  /** Records a filter's own milestone as now. */
  markCustom(key: string): void {
    (this.customTimings ??= new Map()).set(key, this.elapsed());
  }

  /** Marks the stream complete. */
  finish(): void {
    if (this.duration === undefined) this.duration = this.elapsed();
  }
}
