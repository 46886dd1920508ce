/**
 * The HTTP connection manager's config, compiled once per filter chain from the
 * HttpConnectionManager proto: defaults filled in as Envoy documents them, durations in ms,
 * the route table built, HTTP filter factories resolved through the extension registry.
 */
import { type XfccConfig, xfccConfig } from "./xfcc.ts";
import type { HttpConnectionManager } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import type { ServerContext } from "../config/extensions.ts";
import {
  type AccessLogInstance,
  accessLogProblems,
  createAccessLogs,
} from "../extensions/access_loggers/access_log.ts";
import { create } from "@bufbuild/protobuf";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { messageSchema } from "../config/api.ts";
import { RouteTable } from "../router/route_table.ts";
import type { ScopedRouteSet } from "../router/scoped_routes.ts";
import { ecdsHttpFilter } from "./ecds_filter.ts";
import type { HttpFilterFactoryCb } from "./filter.ts";
import { LocalReplyRules } from "./local_reply.ts";
import { Http1CodecStats, HttpConnManagerStats } from "../stats/data_path_stats.ts";
import type { RequestParserOptions } from "./http1/parser.ts";
import { statefulFormatterSettings } from "../extensions/http/header_formatters/preserve_case/config.ts";
import { preserveCaseFormatterFactory } from "../extensions/http/header_formatters/preserve_case/preserve_case_formatter.ts";
import { durationMs } from "../common/duration.ts";
import type { CodecType } from "./server_codecs.ts";
import type { Http2Options } from "./http2/connection.ts";
import { resolveHttp2Options } from "./http2/http2_options.ts";
import type { KeepaliveConfig } from "./http2/keepalive.ts";
import { type Http2CodecStats, http2CodecStats } from "./http2/codec_stats.ts";

// Enum numbers of HttpConnectionManager, written out: importing the generated enums would load
// the generated module graph at run time (hundreds of files, ~250 ms per worker start).
const CODEC_TYPES: readonly CodecType[] = ["AUTO", "HTTP1", "HTTP2"];
const CODEC_HTTP3 = 3;
const SERVER_HEADER_APPEND_IF_ABSENT = 1;
const SERVER_HEADER_PASS_THROUGH = 2;
const ESCAPED_SLASHES = [
  "keep",
  "keep",
  "reject",
  "unescape_and_redirect",
  "unescape_and_forward",
] as const;

/** Everything a connection manager needs, resolved. */
export interface ConnectionManagerConfig {
  statPrefix: string;
  routeTable: RouteTable;
  /** `scoped_routes`: the scope of each request names its route table. */
  scopes: ScopedRouteSet | undefined;
  /** One factory per configured HTTP filter, in order (router last). */
  filterFactories: HttpFilterFactoryCb[];
  serverName: string;
  serverHeader: "overwrite" | "append_if_absent" | "pass_through";
  useRemoteAddress: boolean;
  /** forward_client_cert_details and set_current_client_cert_details (xfcc.ts). */
  xfcc: XfccConfig;
  xffNumTrustedHops: number;
  skipXffAppend: boolean;
  generateRequestId: boolean;
  preserveExternalRequestId: boolean;
  alwaysSetRequestIdInResponse: boolean;
  normalizePath: boolean;
  mergeSlashes: boolean;
  escapedSlashes: "keep" | "reject" | "unescape_and_redirect" | "unescape_and_forward";
  stripAnyHostPort: boolean;
  stripMatchingHostPort: boolean;
  /** `strip_trailing_host_dot`: `example.com.` (and `example.com.:80`) lose the dot. */
  stripTrailingHostDot: boolean;
  /**
   * `add_user_agent`: the local service cluster (`--service-cluster` / node.cluster), set as
   * x-envoy-downstream-service-cluster (and user-agent when absent); undefined when not set.
   */
  userAgent?: string;
  /** The local node (`--service-node` / node.id), as x-envoy-downstream-service-node. */
  serviceNode: string;
  /** `via`: appended to the via header of requests and responses; "" = none. */
  via: string;
  schemeToOverwrite?: string;
  requestTimeoutMs: number;
  requestHeadersTimeoutMs: number;
  streamIdleTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnectionDurationMs: number;
  /** `common_http_protocol_options.max_stream_duration` (0: none); routes may override it. */
  maxStreamDurationMs: number;
  drainTimeoutMs: number;
  /** `common_http_protocol_options.max_requests_per_connection`; 0 = unlimited. */
  maxRequestsPerConnection: number;
  /**
   * What every downstream connection's request parser is built with (one shared object):
   * the size limits, `allow_chunked_length`, `headers_with_underscores_action`.
   */
  parserOptions: Partial<RequestParserOptions>;
  /**
   * `http_protocol_options.header_key_format.proper_case_words` (responses downstream). A
   * `stateful_formatter` (preserve_case) is in `parserOptions`: request maps carry it.
   */
  properCaseHeaders: boolean;
  /** http_protocol_options.accept_http_10 and default_host_for_http_10. */
  acceptHttp10: boolean;
  /** http_protocol_options.enable_trailers: HTTP/1 trailers are dropped unless set. */
  enableTrailers: boolean;
  defaultHostForHttp10: string;
  /** proxy_100_continue: forward `Expect` and the upstream's 100 instead of answering 100. */
  proxy100Continue: boolean;
  /** Upgrade types (lower case) allowed, e.g. "websocket". */
  upgrades: Set<string>;
  accessLogs: AccessLogInstance[];
  /** `access_log_options`: also log when a request starts, periodically, and on tunnels. */
  accessLogOptions: {
    flushIntervalMs: number;
    onNewRequest: boolean;
    onTunnelEstablished: boolean;
  };
  localReply: LocalReplyRules;
  stats: HttpConnManagerStats;
  http1Stats: Http1CodecStats;
  /** `codec_type`: which server codec a connection gets (server_codecs.ts). */
  codecType: CodecType;
  /** The HTTP/2 codec's options: `http2_protocol_options` with this HCM's header limits. */
  http2Options: Http2Options;
  /** `http2_protocol_options.connection_keepalive`, when set. */
  http2Keepalive: KeepaliveConfig | undefined;
  /** The `http2.*` stats, looked up by the first HTTP/2 connection (as Envoy's atomicGet). */
  http2Stats(): Http2CodecStats;
}

/** `access_log_options`, or the deprecated top-level fields it replaces. */
function accessLogOptions(hcm: HttpConnectionManager): ConnectionManagerConfig["accessLogOptions"] {
  const o = hcm.accessLogOptions;
  const interval = o ? o.accessLogFlushInterval : hcm.accessLogFlushInterval;
  const flushIntervalMs = durationMs(interval, 0);
  if (interval && flushIntervalMs < 1) {
    throw new Error("access_log_flush_interval must be at least 1ms");
  }
  return {
    flushIntervalMs,
    onNewRequest: o ? o.flushAccessLogOnNewRequest : hcm.flushAccessLogOnNewRequest,
    onTunnelEstablished: o?.flushLogOnTunnelSuccessfullyEstablished ?? false,
  };
}

const UNDERSCORE_ACTIONS = ["allow", "reject_request", "drop_header"] as const;

/** `http2_protocol_options` resolved with the HCM's header limits (Envoy's defaults when unset). */
function http2Options(hcm: HttpConnectionManager) {
  const common = hcm.commonHttpProtocolOptions;
  return resolveHttp2Options(hcm.http2ProtocolOptions, {
    maxRequestHeadersKb: hcm.maxRequestHeadersKb ?? 60,
    maxHeadersCount: common?.maxHeadersCount ?? 100,
    streamErrorOnInvalidHttpMessage: hcm.streamErrorOnInvalidHttpMessage,
    headersWithUnderscoresAction: UNDERSCORE_ACTIONS[common?.headersWithUnderscoresAction ?? 0],
  });
}

/** A config problem found before building: its field (relative to the HCM) and message. */
export interface ConnectionManagerProblem {
  field: string;
  message: string;
  /** A feature denvoy lacks, rather than a bad config. */
  unsupported?: boolean;
}

/**
 * What compiling `hcm` refuses, found without a server (so `--mode validate` reports exactly
 * what serving would): values of implemented fields that denvoy does not support, bad access
 * log options, local reply rules and access log filters. The route table is compiled apart.
 */
export function connectionManagerProblems(hcm: HttpConnectionManager): ConnectionManagerProblem[] {
  const out: ConnectionManagerProblem[] = [];
  if (hcm.codecType === CODEC_HTTP3) {
    out.push({
      field: "codec_type",
      message: "codec_type HTTP3 is not supported yet",
      unsupported: true,
    });
  }
  const problem = (field: string, f: () => unknown) => {
    try {
      f();
    } catch (e) {
      out.push({ field, message: (e as Error).message });
    }
  };
  problem("access_log_options", () => accessLogOptions(hcm));
  for (const p of http2Options(hcm).problems) {
    const colon = p.indexOf(": ");
    out.push({
      field: `http2_protocol_options.${p.slice(0, colon)}`,
      message: p.slice(colon + 2),
      unsupported: p.endsWith("not supported yet"),
    });
  }
  problem("local_reply_config", () => new LocalReplyRules(hcm.localReplyConfig));
  hcm.accessLog.forEach((log, i) => {
    for (const p of accessLogProblems(log)) {
      out.push({ field: `access_log[${i}]${p.field}`, message: p.message });
    }
  });
  return out;
}

/** Compiles the HCM proto; throws an Error naming the problem for what is not supported. */
export function compileConnectionManager(
  hcm: HttpConnectionManager,
  server: ServerContext,
): ConnectionManagerConfig {
  const { extensions, clusterManager } = server;
  const clusterExists = (name: string) => clusterManager.get(name) !== undefined;
  const unsupported = connectionManagerProblems(hcm).find((p) => p.unsupported);
  if (unsupported) throw new Error(unsupported.message);
  const spec = hcm.routeSpecifier;
  const dynamic = spec.case === "rds" && server.routeConfigs ||
    spec.case === "scopedRoutes" && server.scopedRoutes;
  if (spec.case !== "routeConfig" && !dynamic) {
    throw new Error(
      `route_specifier ${spec.case ?? "(none)"} is not supported ` +
        `yet: use an inline route_config`,
    );
  }
  // RDS: the table arrives (and changes) through the isolate's route config providers.
  // Scoped routes: each request's scope picks the table (an empty one stands in here).
  const routeTable = spec.case === "routeConfig"
    ? new RouteTable(spec.value, { clusterExists })
    : spec.case === "rds"
    ? server.routeConfigs!.table(spec.value.routeConfigName)
    // (From the registry, not the generated schema: see `RouteConfigProviders.table`.)
    : new RouteTable(
      create(messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration"), {}),
    );
  const scopes = spec.case === "scopedRoutes" ? server.scopedRoutes!.build(spec.value) : undefined;
  const filterFactories: HttpFilterFactoryCb[] = [];
  for (const f of hcm.httpFilters) {
    if (f.configType.case === "configDiscovery") {
      filterFactories.push(
        ecdsHttpFilter(f.name, f.configType.value, server, `http.${hcm.statPrefix}`),
      );
      continue;
    }
    const typeUrl = f.configType.case === "typedConfig" ? f.configType.value.typeUrl : undefined;
    const factory = typeUrl ? extensions.byTypeUrl(typeUrl) : extensions.byName(f.name);
    if (!factory?.createHttpFilter) {
      if (f.isOptional) continue;
      throw new Error(`HTTP filter '${f.name}' has no implementation`);
    }
    filterFactories.push(
      factory.createHttpFilter(
        f.configType.case === "typedConfig" ? f.configType.value : undefined,
        server,
        // Envoy hands HTTP filters their connection manager's stats prefix.
        `http.${hcm.statPrefix}`,
        f.name,
      ),
    );
  }
  const common = hcm.commonHttpProtocolOptions;
  const serverHeader = hcm.serverHeaderTransformation === SERVER_HEADER_APPEND_IF_ABSENT
    ? "append_if_absent"
    : hcm.serverHeaderTransformation === SERVER_HEADER_PASS_THROUGH
    ? "pass_through"
    : "overwrite";
  const sht = hcm.schemeHeaderTransformation?.transformation;
  const h1 = hcm.httpProtocolOptions;
  const keyFormat = h1?.headerKeyFormat?.headerFormat;
  const http1Stats = new Http1CodecStats(server.stats);
  const dropped = http1Stats.droppedHeadersWithUnderscores;
  let h2Stats: Http2CodecStats | undefined;
  const h2 = http2Options(hcm);
  const cfg: ConnectionManagerConfig = {
    statPrefix: hcm.statPrefix,
    routeTable,
    scopes,
    filterFactories,
    serverName: hcm.serverName || "envoy",
    serverHeader,
    useRemoteAddress: hcm.useRemoteAddress ?? false,
    xfcc: xfccConfig(hcm),
    xffNumTrustedHops: hcm.xffNumTrustedHops,
    skipXffAppend: hcm.skipXffAppend,
    generateRequestId: hcm.generateRequestId ?? true,
    preserveExternalRequestId: hcm.preserveExternalRequestId,
    alwaysSetRequestIdInResponse: hcm.alwaysSetRequestIdInResponse,
    normalizePath: hcm.normalizePath ?? false,
    mergeSlashes: hcm.mergeSlashes,
    escapedSlashes: ESCAPED_SLASHES[hcm.pathWithEscapedSlashesAction] ?? "keep",
    stripAnyHostPort: hcm.stripPortMode.case === "stripAnyHostPort" && hcm.stripPortMode.value,
    stripMatchingHostPort: hcm.stripMatchingHostPort,
    stripTrailingHostDot: hcm.stripTrailingHostDot,
    via: hcm.via,
    userAgent: hcm.addUserAgent ? server.localInfo?.clusterName ?? "" : undefined,
    serviceNode: server.localInfo?.nodeId ?? "",
    schemeToOverwrite: sht?.case === "schemeToOverwrite" ? sht.value : undefined,
    requestTimeoutMs: durationMs(hcm.requestTimeout, 0),
    requestHeadersTimeoutMs: durationMs(hcm.requestHeadersTimeout, 0),
    streamIdleTimeoutMs: durationMs(hcm.streamIdleTimeout, 300_000),
    idleTimeoutMs: durationMs(common?.idleTimeout, 3_600_000),
    maxConnectionDurationMs: durationMs(common?.maxConnectionDuration, 0),
    maxStreamDurationMs: durationMs(common?.maxStreamDuration, 0),
    drainTimeoutMs: durationMs(hcm.drainTimeout, 5000),
    maxRequestsPerConnection: common?.maxRequestsPerConnection ?? 0,
    parserOptions: {
      maxHeadersBytes: (hcm.maxRequestHeadersKb ?? 60) * 1024,
      maxHeadersCount: common?.maxHeadersCount ?? 100,
      allowChunkedLength: h1?.allowChunkedLength ?? false,
      headersWithUnderscoresAction: common?.headersWithUnderscoresAction ?? 0,
      onUnderscoreHeaderDropped: () => dropped.inc(),
      enableTrailers: h1?.enableTrailers ?? false,
      ...(keyFormat?.case === "statefulFormatter"
        ? {
          statefulFormatter: preserveCaseFormatterFactory(
            statefulFormatterSettings(keyFormat.value),
          ),
        }
        : {}),
    },
    properCaseHeaders: keyFormat?.case === "properCaseWords",
    acceptHttp10: h1?.acceptHttp10 ?? false,
    enableTrailers: h1?.enableTrailers ?? false,
    defaultHostForHttp10: h1?.defaultHostForHttp10 ?? "",
    proxy100Continue: hcm.proxy100Continue,
    upgrades: new Set(
      hcm.upgradeConfigs.filter((u) => u.enabled ?? true).map((u) => u.upgradeType.toLowerCase()),
    ),
    accessLogs: createAccessLogs(hcm.accessLog),
    accessLogOptions: accessLogOptions(hcm),
    localReply: new LocalReplyRules(hcm.localReplyConfig),
    stats: new HttpConnManagerStats(server.stats, hcm.statPrefix),
    http1Stats,
    codecType: CODEC_TYPES[hcm.codecType] ?? "AUTO",
    http2Options: h2.options,
    http2Keepalive: h2.keepalive,
    http2Stats: () => h2Stats ??= http2CodecStats(server.stats),
  };
  if (spec.case === "rds") server.routeConfigs!.track(spec.value.routeConfigName, cfg);
  return cfg;
}
