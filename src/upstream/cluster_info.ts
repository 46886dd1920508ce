/**
 * A cluster's settings read from its `config.cluster.v3.Cluster`, with Envoy's defaults filled
 * in, and its configured endpoints — after the checks Envoy makes when it builds a cluster.
 * {@linkcode ClusterInfo} is plain data, so workers get it by message along with membership.
 *
 * @module
 */
import { isIP } from "../common/ip.ts";
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import type { LbEndpoint } from "../../proto/gen/envoy/config/endpoint/v3/endpoint_components_pb.ts";
import type { HttpProtocolOptions } from "../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.ts";
import type {
  Http1ProtocolOptions,
  Http2ProtocolOptions,
} from "../../proto/gen/envoy/config/core/v3/protocol_pb.ts";
import { unpackAny } from "../config/any.ts";
import type { Any } from "@bufbuild/protobuf/wkt";
import { statefulFormatterSettings } from "../extensions/http/header_formatters/preserve_case/config.ts";
import type { PreserveCaseSettings } from "../extensions/http/header_formatters/preserve_case/preserve_case_formatter.ts";
import type { DnsLookupFamily } from "./dns.ts";
import { healthFromStatus, type HostDescription } from "./host.ts";
import { type HealthCheckConfig, parseHealthCheck } from "./health_checker.ts";
import { type OutlierConfig, parseOutlierDetection } from "./outlier_detection.ts";
import type { LbSettings } from "./lb_base.ts";
import { ORIGINAL_DST_HOST_HEADER, type OriginalDstSettings } from "./original_dst_cluster.ts";
import { lbPolicyConfig } from "./lb_policy_config.ts";
import { DEFAULT_OVERPROVISIONING_FACTOR, type HostSetPolicy } from "./priority_set.ts";
import {
  limitsConnectionPools,
  parseCircuitBreakers,
  perHostMaxConnections,
  type Thresholds,
} from "./resource_manager.ts";
import {
  UPSTREAM_PROXY_PROTOCOL,
  type UpstreamProxyProtocol,
  upstreamProxyProtocolOf,
} from "../extensions/transport_sockets/proxy_protocol/upstream_proxy_protocol.ts";
import { durationMs } from "../common/duration.ts";
import { configSourceProblems } from "../xds/config_source.ts";
import { xdstpNameProblem } from "../xds/xdstp.ts";
import { EDS } from "../xds/resource_types.ts";
import type { Http2Options } from "../http/http2/connection.ts";
import { resolveHttp2Options } from "../http/http2/http2_options.ts";
import type { KeepaliveConfig } from "../http/http2/keepalive.ts";
import { type RawSocketOption, tcpKeepaliveOptions } from "../network/socket_options.ts";

/** The cluster types implemented, by Envoy's `Cluster.DiscoveryType` names. */
export type ClusterType = "STATIC" | "STRICT_DNS" | "LOGICAL_DNS" | "ORIGINAL_DST" | "EDS";

/** `UpstreamHttpProtocolOptions` of a cluster. */
export interface AutoSniSettings {
  /** auto_sni: the SNI is the header's host. */
  readonly sni: boolean;
  /** auto_san_validation: the server certificate must have the header's host as a DNS SAN. */
  readonly sanValidation: boolean;
  /** `:authority`, or override_auto_sni_header (lower case). */
  readonly header: string;
}

/** One entry of `transport_socket_matches`; no transportSocket means plaintext. */
export interface TransportSocketMatch {
  readonly name: string;
  readonly match: Readonly<Record<string, unknown>>;
  readonly transportSocket?: Any;
}

/** Settings of one cluster, defaults applied. */
export interface ClusterInfo {
  readonly name: string;
  /** The name in stat names: `alt_stat_name`, else `name`. */
  readonly statName: string;
  readonly type: ClusterType;
  /** `connect_timeout`; 5 s by default. */
  readonly connectTimeoutMs: number;
  /** `per_connection_buffer_limit_bytes`; 1 MiB by default. */
  readonly perConnectionBufferLimitBytes: number;
  /**
   * `common_http_protocol_options.max_requests_per_connection` of the cluster's
   * `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`, else the deprecated cluster
   * field; 0 means unlimited.
   */
  readonly maxRequestsPerConnection: number;
  /** `health_checks[0]`, when set (main thread: the health checker). */
  readonly healthCheck?: HealthCheckConfig;
  /** `outlier_detection`, when set (main thread: the detector). */
  readonly outlierDetection?: OutlierConfig;
  /** Upstream `common_http_protocol_options.idle_timeout`; 1 h by default, 0 = none. */
  readonly idleTimeoutMs: number;
  /** Upstream `common_http_protocol_options.max_headers_count` (responses), when set. */
  readonly maxResponseHeadersCount?: number;
  /** Upstream `http_protocol_options.header_key_format.proper_case_words`, when set. */
  readonly properCaseHeaders?: boolean;
  /**
   * Upstream `header_key_format.stateful_formatter` (preserve_case), when set: response maps
   * carry the upstream's spelling (and reason phrase) to the client.
   */
  readonly preserveCase?: PreserveCaseSettings;
  /** Upstream `http_protocol_options.allow_chunked_length`, when set. */
  readonly allowChunkedLength?: boolean;
  /**
   * Upstream `http_protocol_options.enable_trailers`, when set: without it request trailers
   * are not sent and response trailers are ignored, as in Envoy's HTTP/1 client codec.
   */
  readonly enableTrailers?: boolean;
  /** Upstream `common_http_protocol_options.max_stream_duration`; 0 = none. */
  readonly maxStreamDurationMs: number;
  /**
   * The protocol upstream: HTTP/1.1 (the default), HTTP/2 (`explicit_http_config` or the
   * cluster's deprecated `http2_protocol_options`), or the downstream request's
   * (`use_downstream_protocol_config`), or per connection by ALPN (`auto_config`).
   */
  readonly upstreamProtocol?: "HTTP/2" | "downstream" | "auto";
  /** The HTTP/2 codec options of upstream HTTP/2 connections. */
  readonly http2Options?: Http2Options;
  /** `http2_protocol_options.connection_keepalive`. */
  readonly http2Keepalive?: KeepaliveConfig;
  /** `dns_refresh_rate`; 5 s by default. */
  readonly dnsRefreshRateMs: number;
  /** `dns_failure_refresh_rate`: backoff after failed resolutions; else `dnsRefreshRateMs`. */
  readonly dnsFailureRefreshRate?: { readonly baseMs: number; readonly maxMs: number };
  readonly dnsLookupFamily: DnsLookupFamily;
  /** `respect_dns_ttl`: re-resolve after the answer's TTL instead of `dnsRefreshRateMs`. */
  readonly respectDnsTtl: boolean;
  /** `wait_for_warm_on_init` (default true): initialization waits for the first resolution. */
  readonly waitForWarmOnInit: boolean;
  /** `lb_policy` by its Envoy enum name. */
  readonly lbPolicy: string;
  readonly lb: LbSettings;
  /** `load_assignment.policy`: how priority and locality health are computed. */
  readonly hostSetPolicy: Required<HostSetPolicy>;
  /** `metadata.filter_metadata` (`%CLUSTER_METADATA(...)%`), when the cluster has any. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** An ORIGINAL_DST cluster's `original_dst_lb_config` and `cleanup_interval`. */
  readonly originalDst?: OriginalDstSettings;
  /** `upstream_connection_options.tcp_keepalive` is set: upstream sockets use SO_KEEPALIVE. */
  readonly tcpKeepalive?: boolean;
  /** The keepalive timers of `tcp_keepalive`, when it sets any (setsockopt on each socket). */
  readonly upstreamSocketOptions?: readonly RawSocketOption[];
  /** `close_connections_on_host_health_failure`, when set. */
  readonly closeConnectionsOnHostHealthFailure?: boolean;
  /** `transport_socket` when not plaintext (TLS), its config unpacked. */
  readonly transportSocket?: Any;
  /**
   * `upstream_http_protocol_options`: upstream TLS takes its SNI (`auto_sni`) and checks the
   * server certificate's SANs (`auto_san_validation`) from a request header's host.
   */
  readonly autoSni?: AutoSniSettings;
  /** `transport_socket_matches`, in order (see ConnPoolManager.transportSocket). */
  readonly transportSocketMatches?: readonly TransportSocketMatch[];
  /** `transport_socket` is upstream_proxy_protocol: connections start with a PROXY header. */
  readonly upstreamProxyProtocol?: UpstreamProxyProtocol;
  /**
   * `ignore_health_on_host_removal`: a host that service discovery removed goes at once, even
   * while active health checking still finds it healthy.
   */
  readonly ignoreHealthOnHostRemoval?: boolean;
  /**
   * `common_lb_config.update_merge_window`, when set (Envoy's default is 1 s; 0 delivers every
   * update at once): membership updates that add or remove no host are merged over it.
   */
  readonly updateMergeWindowMs?: number;
  /** `circuit_breakers` thresholds, DEFAULT then HIGH, Envoy's defaults filled in. */
  readonly circuitBreakers: readonly [Thresholds, Thresholds];
  /** `circuit_breakers.per_host_thresholds` `max_connections`, when set. */
  readonly perHostMaxConnections?: number;
  /** Some priority sets `max_connection_pools`: pools are counted (conn_pool_limit.ts). */
  readonly connectionPoolsLimited?: boolean;
}

/** A cluster's settings and its endpoints as configured. */
export interface ParsedCluster {
  readonly info: ClusterInfo;
  /**
   * One entry per `lb_endpoint`, in order. For DNS clusters `address` is the name to resolve
   * (or an IP literal) and the DNS cluster turns each into zero or more hosts.
   */
  readonly endpoints: readonly HostDescription[];
}

/** A cluster config Envoy would reject; lists every problem found. */
export class ClusterConfigError extends Error {
  constructor(readonly cluster: string, readonly problems: readonly string[]) {
    super(problems.map((p) => `cluster '${cluster}': ${p}`).join("\n"));
    this.name = "ClusterConfigError";
  }
}

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const GETADDRINFO_RESOLVER =
  "envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig";
const SUPPORTED_TYPES: readonly string[] = [
  "STATIC",
  "STRICT_DNS",
  "LOGICAL_DNS",
  "ORIGINAL_DST",
  "EDS",
];

/** Reads and checks a cluster config; throws {@linkcode ClusterConfigError}. */
export function parseCluster(config: ClusterConfig): ParsedCluster {
  const problems: string[] = [];
  const type = clusterType(config, problems);
  const isDns = type === "STRICT_DNS" || type === "LOGICAL_DNS";
  const lbPolicyName = enumName("envoy.config.cluster.v3.Cluster.LbPolicy", config.lbPolicy);
  const originalDst = type === "ORIGINAL_DST"
    ? originalDstSettings(config, lbPolicyName, problems)
    : undefined;
  // ORIGINAL_DST provides its own balancer (CLUSTER_PROVIDED).
  const { lbPolicy, lb } = lbPolicyConfig(
    config,
    lbPolicyName,
    problems,
    originalDst !== undefined,
  );
  const upstreamPp = upstreamProxyProtocolOf(config.transportSocket, problems);
  const http = httpProtocolOptions(config);
  const common = http?.commonHttpProtocolOptions ?? config.commonHttpProtocolOptions;
  const maxRequests = common?.maxRequestsPerConnection;
  if (maxRequests !== undefined && config.maxRequestsPerConnection !== undefined) {
    problems.push(
      "only one of max_requests_per_connection from Cluster or HttpProtocolOptions " +
        "can be specified",
    );
  }
  const unsupportedProtocol = upstreamProtocolProblem(http);
  if (unsupportedProtocol) problems.push(unsupportedProtocol);
  // As in Envoy, typed HttpProtocolOptions replace the deprecated cluster fields entirely.
  const http1 = http ? upstreamHttp1Options(http) : config.httpProtocolOptions;
  const preserveCase = preserveCaseOf(http1, problems);
  const h2 = upstreamHttp2(config, http, common?.maxHeadersCount, problems);
  if (isDns) checkDnsResolver(config, type, problems);
  const transportSocket = upstreamTransportSocket(config, problems);
  if (h2.upstreamProtocol === "auto") alpnProblem(config, transportSocket, problems);
  const uhpo = http?.upstreamHttpProtocolOptions;
  const autoSni: AutoSniSettings | undefined = uhpo && (uhpo.autoSni || uhpo.autoSanValidation)
    ? {
      sni: uhpo.autoSni,
      sanValidation: uhpo.autoSanValidation,
      header: uhpo.overrideAutoSniHeader.toLowerCase() || ":authority",
    }
    : undefined;
  const failure = config.dnsFailureRefreshRate;
  let dnsFailureRefreshRate: ClusterInfo["dnsFailureRefreshRate"];
  if (failure) {
    const baseMs = durationMs(failure.baseInterval, 0);
    const maxMs = durationMs(failure.maxInterval, baseMs * 10);
    if (maxMs < baseMs) {
      problems.push(
        "dns_failure_refresh_rate must have max_interval greater than or equal to " +
          "the base_interval",
      );
    }
    dnsFailureRefreshRate = { baseMs, maxMs };
  }
  if (config.healthChecks.length > 1) {
    problems.push("multiple health checks are not supported (as in Envoy)");
  }
  const parsedCheck = config.healthChecks.length === 1
    ? parseHealthCheck(config.healthChecks[0], "health_checks[0]", problems)
    : undefined;
  const healthCheck = parsedCheck && upstreamPp
    ? { ...parsedCheck, proxyProtocol: upstreamPp }
    : parsedCheck;
  const outlierDetection = config.outlierDetection
    ? parseOutlierDetection(config.outlierDetection, problems)
    : undefined;
  const policy = config.loadAssignment?.policy;
  const circuitBreakers = parseCircuitBreakers(config.circuitBreakers, problems);
  // Envoy keys the pools of an upstream_proxy_protocol cluster by each downstream connection's
  // PROXY protocol state; denvoy's HTTP pools are not kept per downstream connection.
  if (upstreamPp && limitsConnectionPools(circuitBreakers)) {
    problems.push(
      "circuit_breakers: max_connection_pools with an upstream_proxy_protocol transport socket " +
        "is not supported yet (Envoy keeps a pool per downstream connection there)",
    );
  }
  // The ALPN pool (auto_config) does not report when it goes idle, which limited pools need.
  if (h2.upstreamProtocol === "auto" && limitsConnectionPools(circuitBreakers)) {
    problems.push(
      "circuit_breakers: max_connection_pools with auto_config (ALPN) is not supported yet",
    );
  }
  const perHostMax = perHostMaxConnections(config.circuitBreakers);
  const metadata = config.metadata?.filterMetadata;
  const info: ClusterInfo = {
    name: config.name,
    statName: config.altStatName || config.name,
    type: type ?? "STATIC",
    connectTimeoutMs: durationMs(config.connectTimeout, 5000),
    perConnectionBufferLimitBytes: config.perConnectionBufferLimitBytes ?? 1024 * 1024,
    maxRequestsPerConnection: maxRequests ?? config.maxRequestsPerConnection ?? 0,
    idleTimeoutMs: durationMs(common?.idleTimeout, 3_600_000),
    ...(common?.maxHeadersCount !== undefined
      ? { maxResponseHeadersCount: common.maxHeadersCount }
      : {}),
    ...(http1?.headerKeyFormat?.headerFormat.case === "properCaseWords"
      ? { properCaseHeaders: true }
      : {}),
    ...(preserveCase ? { preserveCase } : {}),
    ...(http1?.allowChunkedLength ? { allowChunkedLength: true } : {}),
    ...(http1?.enableTrailers ? { enableTrailers: true } : {}),
    maxStreamDurationMs: durationMs(common?.maxStreamDuration, 0),
    ...h2,
    ...(healthCheck ? { healthCheck } : {}),
    ...(outlierDetection ? { outlierDetection } : {}),
    dnsRefreshRateMs: durationMs(config.dnsRefreshRate, 5000),
    dnsFailureRefreshRate,
    dnsLookupFamily: enumName(
      "envoy.config.cluster.v3.Cluster.DnsLookupFamily",
      config.dnsLookupFamily,
    ) as DnsLookupFamily,
    respectDnsTtl: config.respectDnsTtl,
    waitForWarmOnInit: config.waitForWarmOnInit ?? true,
    lbPolicy,
    lb,
    hostSetPolicy: {
      overprovisioningFactor: policy?.overprovisioningFactor ?? DEFAULT_OVERPROVISIONING_FACTOR,
      weightedPriorityHealth: policy?.weightedPriorityHealth ?? false,
    },
    ...(metadata && Object.keys(metadata).length > 0 ? { metadata } : {}),
    ...(originalDst ? { originalDst } : {}),
    ...upstreamConnectionOptions(config, problems),
    ...(config.closeConnectionsOnHostHealthFailure
      ? { closeConnectionsOnHostHealthFailure: true }
      : {}),
    ...(config.ignoreHealthOnHostRemoval ? { ignoreHealthOnHostRemoval: true } : {}),
    ...(transportSocket ? { transportSocket } : {}),
    ...(autoSni ? { autoSni } : {}),
    ...(config.transportSocketMatches.length > 0
      ? { transportSocketMatches: transportSocketMatches(config, problems) }
      : {}),
    ...(upstreamPp ? { upstreamProxyProtocol: upstreamPp } : {}),
    ...(config.commonLbConfig?.updateMergeWindow
      ? { updateMergeWindowMs: durationMs(config.commonLbConfig.updateMergeWindow, 0) }
      : {}),
    circuitBreakers,
    ...(perHostMax !== undefined ? { perHostMaxConnections: perHostMax } : {}),
    ...(limitsConnectionPools(circuitBreakers) ? { connectionPoolsLimited: true } : {}),
  };
  // An EDS cluster's endpoints come from its load assignments (xds/eds_cluster.ts).
  const endpoints = type && type !== "EDS" ? endpointsOf(config, type, problems) : [];
  if (type === "EDS") edsProblems(config, problems);
  if (problems.length > 0) throw new ClusterConfigError(config.name, problems);
  return { info, endpoints };
}

function clusterType(config: ClusterConfig, problems: string[]): ClusterType | undefined {
  const t = config.clusterDiscoveryType;
  if (t.case === "clusterType") {
    problems.push(`cluster type ${t.value.name} is not supported yet`);
    return undefined;
  }
  // An unset `type` is STATIC, the enum's zero value.
  const name = enumName("envoy.config.cluster.v3.Cluster.DiscoveryType", t.value ?? 0);
  if (!SUPPORTED_TYPES.includes(name)) {
    problems.push(`cluster type ${name} is not supported yet`);
    return undefined;
  }
  return name as ClusterType;
}

/** An EDS cluster needs a config source it can use for its load assignments. */
function edsProblems(config: ClusterConfig, problems: string[]): void {
  const eds = config.edsClusterConfig?.edsConfig;
  if (!eds) {
    problems.push("eds_cluster_config.eds_config: an EDS cluster needs an EDS config source");
    return;
  }
  for (const p of configSourceProblems(eds, EDS)) {
    problems.push(`eds_cluster_config.eds_config${p.field ? `.${p.field}` : ""}: ${p.message}`);
  }
  const bad = xdstpNameProblem(config.edsClusterConfig!.serviceName);
  if (bad) problems.push(`eds_cluster_config.service_name: ${bad}`);
}

/**
 * `upstream_connection_options`: whether upstream sockets turn SO_KEEPALIVE on, and the
 * keepalive timers (TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL) to set through the socket's
 * descriptor when the config gives any (network/socket_options.ts).
 */
function upstreamConnectionOptions(
  config: ClusterConfig,
  problems: string[],
): Pick<ClusterInfo, "tcpKeepalive" | "upstreamSocketOptions"> {
  const o = config.upstreamConnectionOptions;
  if (!o) return {};
  if (o.setLocalInterfaceNameOnUpstreamConnections) {
    problems.push(
      "upstream_connection_options.set_local_interface_name_on_upstream_connections is not " +
        "supported",
    );
  }
  if (o.happyEyeballsConfig) {
    problems.push("upstream_connection_options.happy_eyeballs_config is not supported yet");
  }
  const k = o.tcpKeepalive;
  if (!k) return {};
  const opts = tcpKeepaliveOptions(k, "upstream_connection_options.tcp_keepalive", problems);
  return opts ? { tcpKeepalive: true, upstreamSocketOptions: opts } : { tcpKeepalive: true };
}

/** Envoy's OriginalDstClusterFactory checks and the cluster's settings. */
function originalDstSettings(
  config: ClusterConfig,
  lbPolicy: string,
  problems: string[],
): OriginalDstSettings {
  if (lbPolicy !== "CLUSTER_PROVIDED") {
    problems.push(
      `cluster: LB policy ${lbPolicy} is not valid for Cluster type ORIGINAL_DST. Only ` +
        "'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'",
    );
  }
  if (config.loadAssignment) {
    problems.push("ORIGINAL_DST clusters must have no load assignment configured");
  }
  const c = config.lbConfig.case === "originalDstLbConfig" ? config.lbConfig.value : undefined;
  if (c && !c.useHttpHeader && c.httpHeaderName !== "") {
    problems.push(
      `ORIGINAL_DST cluster: invalid config http_header_name=${c.httpHeaderName} and ` +
        "use_http_header is false. Set use_http_header to true if http_header_name is desired.",
    );
  }
  if (c?.metadataKey) problems.push("original_dst_lb_config.metadata_key is not supported yet");
  return {
    ...(c?.useHttpHeader
      ? { httpHeaderName: c.httpHeaderName.toLowerCase() || ORIGINAL_DST_HOST_HEADER }
      : {}),
    ...(c?.upstreamPortOverride !== undefined
      ? { upstreamPortOverride: c.upstreamPortOverride }
      : {}),
    cleanupIntervalMs: durationMs(config.cleanupInterval, 5000),
  };
}

/**
 * auto_config picks the protocol by ALPN, so every transport socket of the cluster must be TLS
 * (Envoy refuses the cluster otherwise, with these words).
 */
function alpnProblem(config: ClusterConfig, ts: Any | undefined, problems: string[]): void {
  if (ts === undefined) {
    problems.push(
      `ALPN configured for cluster ${config.name} which has a non-ALPN transport socket`,
    );
  } else if (config.transportSocketMatches.some((m) => !isTls(m.transportSocket))) {
    problems.push(
      `ALPN configured for cluster ${config.name} which has a non-ALPN transport socket matcher`,
    );
  }
}

/** Whether a transport socket is TLS (the one that negotiates ALPN). */
function isTls(ts: ClusterConfig["transportSocket"]): boolean {
  return ts?.configType.case === "typedConfig" &&
    ts.configType.value.typeUrl.endsWith(".UpstreamTlsContext");
}

/**
 * The cluster's transport socket config when it is not plaintext (raw_buffer is the default
 * and needs nothing); its factory is built where connections are made (ConnPoolManager).
 */
function upstreamTransportSocket(config: ClusterConfig, problems: string[]): Any | undefined {
  const ts = config.transportSocket;
  if (ts?.configType.case !== "typedConfig") return undefined;
  const any = ts.configType.value;
  const type = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  if (type === "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer") return undefined;
  // upstream_proxy_protocol (over raw_buffer) is read by upstreamProxyProtocolOf.
  if (type === UPSTREAM_PROXY_PROTOCOL) return undefined;
  if (type !== "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext") {
    problems.push(`transport_socket: a cluster takes an UpstreamTlsContext, not ${type}`);
  }
  return any;
}

/**
 * `transport_socket_matches`: an endpoint whose `envoy.transport_socket_match` metadata holds
 * every key of a match's `match` (equal values) uses that match's transport socket; the first
 * such match wins, and an endpoint matching none uses the cluster's `transport_socket`.
 */
function transportSocketMatches(
  config: ClusterConfig,
  problems: string[],
): TransportSocketMatch[] {
  return config.transportSocketMatches.map((m, i) => {
    const sub: string[] = [];
    const any = upstreamTransportSocket(
      { transportSocket: m.transportSocket } as ClusterConfig,
      sub,
    );
    for (const p of sub) problems.push(`transport_socket_matches[${i}].${p}`);
    return { name: m.name, match: m.match ?? {}, ...(any ? { transportSocket: any } : {}) };
  });
}

/**
 * Why the cluster's upstream protocol cannot be served yet, or undefined. Shared with the
 * config check so `--mode validate` reports the same.
 */
export function upstreamProtocolProblem(http: HttpProtocolOptions | undefined): string | undefined {
  const p = http?.upstreamProtocolOptions;
  if (p?.case === "explicitHttpConfig") {
    const c = p.value.protocolConfig.case;
    if (c === "http3ProtocolOptions") return "upstream HTTP/3 is not supported yet";
  } else if (p?.case === "autoConfig") {
    if (p.value.http3ProtocolOptions) return "upstream HTTP/3 is not supported yet";
    if (p.value.alternateProtocolsCacheOptions) {
      return "auto_config.alternate_protocols_cache_options (HTTP/3) is not supported yet";
    }
  } else if (p?.case === "useDownstreamProtocolConfig" && p.value.http3ProtocolOptions) {
    return "upstream HTTP/3 is not supported yet";
  }
  return undefined;
}

/**
 * The cluster's upstream HTTP/2 settings: from `explicit_http_config.http2_protocol_options`,
 * `use_downstream_protocol_config` (with its optional `http2_protocol_options`), or the
 * deprecated cluster field `http2_protocol_options` (which Envoy still reads when no typed
 * HttpProtocolOptions are given).
 */
function upstreamHttp2(
  config: ClusterConfig,
  http: HttpProtocolOptions | undefined,
  maxHeadersCount: number | undefined,
  problems: string[],
): Pick<ClusterInfo, "upstreamProtocol" | "http2Options" | "http2Keepalive"> {
  const p = http?.upstreamProtocolOptions;
  let protocol: "HTTP/2" | "downstream" | "auto" | undefined;
  let options: Http2ProtocolOptions | undefined;
  if (http) {
    if (config.http2ProtocolOptions) {
      problems.push(
        "cannot specify both the deprecated http2_protocol_options and " +
          "typed_extension_protocol_options HttpProtocolOptions",
      );
    }
    if (
      p?.case === "explicitHttpConfig" && p.value.protocolConfig.case === "http2ProtocolOptions"
    ) {
      protocol = "HTTP/2";
      options = p.value.protocolConfig.value;
    } else if (p?.case === "useDownstreamProtocolConfig") {
      protocol = "downstream";
      options = p.value.http2ProtocolOptions;
    } else if (p?.case === "autoConfig") {
      protocol = "auto";
      options = p.value.http2ProtocolOptions;
    }
  } else if (config.http2ProtocolOptions) {
    protocol = "HTTP/2";
    options = config.http2ProtocolOptions;
  }
  if (!protocol) return {};
  const resolved = resolveHttp2Options(options, {
    ...(maxHeadersCount !== undefined ? { maxHeadersCount } : {}),
    ...(config.perConnectionBufferLimitBytes !== undefined
      ? { bufferLimitBytes: config.perConnectionBufferLimitBytes }
      : {}),
  });
  for (const p of resolved.problems) problems.push(`http2_protocol_options.${p}`);
  return {
    upstreamProtocol: protocol,
    http2Options: resolved.options,
    ...(resolved.keepalive ? { http2Keepalive: resolved.keepalive } : {}),
  };
}

/** The preserve_case settings of upstream HTTP/1 options, if they name that formatter. */
function preserveCaseOf(
  h1: Http1ProtocolOptions | undefined,
  problems: string[],
): PreserveCaseSettings | undefined {
  const format = h1?.headerKeyFormat?.headerFormat;
  if (format?.case !== "statefulFormatter") return undefined;
  try {
    return statefulFormatterSettings(format.value);
  } catch (e) {
    problems.push((e as Error).message);
    return undefined;
  }
}

/** The HTTP/1 options of whichever upstream protocol config is set. */
function upstreamHttp1Options(http: HttpProtocolOptions): Http1ProtocolOptions | undefined {
  const p = http.upstreamProtocolOptions;
  if (p.case === "explicitHttpConfig") {
    return p.value.protocolConfig.case === "httpProtocolOptions"
      ? p.value.protocolConfig.value
      : undefined;
  }
  return p.value?.httpProtocolOptions;
}

/** The cluster's `HttpProtocolOptions`, found by the type of its typed config. */
function httpProtocolOptions(config: ClusterConfig): HttpProtocolOptions | undefined {
  for (const any of Object.values(config.typedExtensionProtocolOptions)) {
    if (any.typeUrl.endsWith(`/${HTTP_PROTOCOL_OPTIONS}`)) {
      return unpackAny<HttpProtocolOptions>(any);
    }
  }
  return undefined;
}

/** DNS clusters use the system resolver; other resolver settings would be silently ignored. */
function checkDnsResolver(config: ClusterConfig, type: ClusterType, problems: string[]): void {
  const typed = config.typedDnsResolverConfig?.typedConfig?.typeUrl;
  if (typed && !typed.endsWith(`/${GETADDRINFO_RESOLVER}`)) {
    problems.push(
      `typed_dns_resolver_config ${typed.slice(typed.lastIndexOf("/") + 1)} is not supported yet` +
        " (only the getaddrinfo resolver is)",
    );
  }
  if (config.dnsResolvers.length > 0 || config.dnsResolutionConfig) {
    problems.push(`custom DNS resolvers are not supported yet for ${type} clusters`);
  }
  if (config.useTcpForDnsLookups) problems.push("use_tcp_for_dns_lookups is not supported yet");
}

function endpointsOf(
  config: ClusterConfig,
  type: ClusterType,
  problems: string[],
): HostDescription[] {
  const groups = config.loadAssignment?.endpoints ?? [];
  if (
    type === "LOGICAL_DNS" && (groups.length !== 1 || groups[0].lbEndpoints.length !== 1)
  ) {
    problems.push(
      "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint",
    );
    return [];
  }
  const hosts: HostDescription[] = [];
  groups.forEach((group, i) => {
    const path = `load_assignment.endpoints[${i}]`;
    if (group.lbConfig.case) {
      problems.push(`${path}: load_balancer_endpoints and LEDS are not supported yet`);
    }
    group.lbEndpoints.forEach((lbe, j) => {
      const host = endpointOf(lbe, type, `${path}.lb_endpoints[${j}]`, problems);
      if (!host) return;
      hosts.push({
        ...host,
        // Envoy puts a logical DNS cluster's single host at P=0 whatever the config says.
        priority: type === "LOGICAL_DNS" ? 0 : group.priority,
        locality: {
          region: group.locality?.region ?? "",
          zone: group.locality?.zone ?? "",
          subZone: group.locality?.subZone ?? "",
        },
        ...(group.loadBalancingWeight !== undefined
          ? { localityWeight: group.loadBalancingWeight }
          : {}),
      });
    });
  });
  return hosts;
}

function endpointOf(
  lbe: LbEndpoint,
  type: ClusterType,
  path: string,
  problems: string[],
): Omit<HostDescription, "priority" | "locality"> | undefined {
  if (lbe.hostIdentifier.case !== "endpoint") {
    problems.push(`${path}: endpoint_name is not supported; give an endpoint`);
    return undefined;
  }
  const endpoint = lbe.hostIdentifier.value;
  const addr = endpoint.address?.address;
  if (addr?.case !== "socketAddress") {
    const what = addr?.case === "pipe"
      ? "pipe (unix socket) endpoints are"
      : addr?.case === "envoyInternalAddress"
      ? "envoy_internal_address endpoints are"
      : "an endpoint without a socket address is";
    problems.push(`${path}.endpoint.address: ${what} not supported yet`);
    return undefined;
  }
  const sa = addr.value;
  const at = `${path}.endpoint.address.socket_address`;
  if (sa.resolverName) {
    problems.push(`${at}.resolver_name: custom resolvers are not supported yet`);
  }
  if (sa.portSpecifier.case === "namedPort") {
    problems.push(`${at}.named_port: named ports are not supported; use port_value`);
    return undefined;
  }
  if (type === "STATIC" && !isIP(sa.address)) {
    problems.push(
      `${at}.address: '${sa.address}' is not an IP address; STATIC clusters take IP addresses ` +
        "(use STRICT_DNS or LOGICAL_DNS for host names)",
    );
    return undefined;
  }
  const { healthy, degraded } = healthFromStatus(lbe.healthStatus);
  const metadata = lbe.metadata?.filterMetadata;
  const hc = endpoint.healthCheckConfig;
  let hcAddress: string | undefined;
  let hcPort = hc?.portValue || undefined;
  if (hc?.address) {
    const a = hc.address.address;
    if (a.case !== "socketAddress" || a.value.portSpecifier.case !== "portValue") {
      problems.push(
        `${path}.endpoint.health_check_config.address: only a socket address with port_value`,
      );
    } else {
      hcAddress = a.value.address;
      hcPort ??= a.value.portSpecifier.value;
    }
  }
  return {
    address: sa.address,
    port: sa.portSpecifier.value ?? 0,
    weight: lbe.loadBalancingWeight ?? 1,
    hostname: endpoint.hostname || (type === "STATIC" ? "" : sa.address),
    healthy,
    ...(degraded ? { degraded } : {}),
    ...(metadata && Object.keys(metadata).length > 0 ? { metadata } : {}),
    ...(hcAddress !== undefined ? { healthCheckAddress: hcAddress } : {}),
    ...(hcPort ? { healthCheckPort: hcPort } : {}),
    ...(hc?.hostname ? { healthCheckHostname: hc.hostname } : {}),
  };
}

/**
 * Names of the Cluster enums used here, by number. Written out rather than read from the
 * API registry: workers build clusters and should not have to decode the whole API to do so.
 */
const ENUM_NAMES: Record<string, readonly (string | undefined)[]> = {
  "envoy.config.cluster.v3.Cluster.LbPolicy": [
    "ROUND_ROBIN",
    "LEAST_REQUEST",
    "RING_HASH",
    "RANDOM",
    undefined,
    "MAGLEV",
    "CLUSTER_PROVIDED",
    "LOAD_BALANCING_POLICY_CONFIG",
  ],
  "envoy.config.cluster.v3.Cluster.DiscoveryType": [
    "STATIC",
    "STRICT_DNS",
    "LOGICAL_DNS",
    "EDS",
    "ORIGINAL_DST",
  ],
  "envoy.config.cluster.v3.Cluster.DnsLookupFamily": [
    "AUTO",
    "V4_ONLY",
    "V6_ONLY",
    "V4_PREFERRED",
    "ALL",
  ],
};

/** The name of an enum value of the Envoy API (`ROUND_ROBIN` for LbPolicy 0). */
function enumName(typeName: string, value: number): string {
  return ENUM_NAMES[typeName]?.[value] ?? String(value);
}
