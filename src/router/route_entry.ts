/**
 * One compiled route: its match conditions, and everything its action decides (cluster,
 * timeouts, rewrites, redirect, direct response, header mutations, per-filter config).
 * Match conditions are checked cheapest first; none of them allocates.
 */
import {
  compileRateLimitPolicy,
  EMPTY_RATE_LIMIT_POLICY,
  type RateLimitPolicy,
} from "./rate_limit_policy.ts";
import type { Any, Duration } from "@bufbuild/protobuf/wkt";
import type { HeaderMap } from "../http/header_map.ts";
import type { DataSource } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import { dataSourceBytes } from "../config/data_source.ts";
import type {
  Route,
  RouteAction,
  RouteAction_RequestMirrorPolicy,
  RouteAction_UpgradeConfig,
  RouteMatch,
  WeightedCluster,
  WeightedCluster_ClusterWeight,
} from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { HeaderParser } from "./header_mutation.ts";
import { validateMirrorPolicies } from "./shadow_writer.ts";
import { compileHashPolicy, type HashPolicy } from "./hash_policy.ts";
import { metadataMatchCriteria } from "./metadata_match.ts";
import type { MetadataMatchCriteria } from "../upstream/subset_lb.ts";
import {
  compileHeaderMatchers,
  compileQueryParameterMatcher,
  type HeaderPredicate,
  type QueryPredicate,
  regionEqualsIgnoreCase,
  toLowerAscii,
} from "./matchers.ts";
import { compileInternalRedirectPolicy, type InternalRedirectPolicy } from "./internal_redirect.ts";
import { type CompiledRedirect, compileRedirect, REQUIRE_TLS_REDIRECT } from "./redirect.ts";
import {
  type CompiledRegex,
  compileRegex,
  compileRegexRewrite,
  literalPrefix,
  maxProgramSize,
  type RegexRewrite,
} from "./regex.ts";
import type { MatchedRoute, RouteMatchContext } from "./route_table.ts";
import type { CompiledVirtualHost } from "./virtual_host.ts";
import { CorsPolicy } from "./cors_policy.ts";
import { runtimeSnapshot } from "../runtime/runtime.ts";
import {
  type CompiledRetryPolicy,
  compileHedgePolicy,
  compileRetryPolicy,
} from "./retry_policy.ts";
import type { FractionalPercent } from "../runtime/snapshot.ts";

/** What a matched route does. */
export type RouteActionKind = "route" | "redirect" | "direct_response";

/** A `direct_response` action, its body read at compile time. */
export interface DirectResponse {
  readonly status: number;
  /** The body (UTF-8 decoded); empty when none is configured. */
  readonly body: string;
}

/** One entry of `weighted_clusters`. */
export interface CompiledWeightedCluster {
  /** `name`; undefined when the cluster comes from `cluster_header`. */
  readonly name?: string;
  /** `cluster_header`, lower case. */
  readonly clusterHeader?: string;
  readonly weight: number;
  /** `<runtime_key_prefix>.<name>`: the runtime key that overrides `weight`, when a prefix is set. */
  readonly runtimeKey?: string;
  readonly hostRewriteLiteral?: string;
  /** Its `metadata_match` merged over the route's. */
  readonly metadataMatch?: MetadataMatchCriteria;
  readonly requestHeaderParser?: HeaderParser;
  readonly responseHeaderParser?: HeaderParser;
  /** Per-filter config, this entry's over the route's (most specific wins). */
  readonly typedPerFilterConfig: ReadonlyMap<string, Any>;
  readonly config: WeightedCluster_ClusterWeight;
}

/** Envoy's route timeout when `timeout` is not set. */
const DEFAULT_TIMEOUT_MS = 15_000;
/** RouteAction.ClusterNotFoundResponseCode values, in enum order. */
const CLUSTER_NOT_FOUND_CODES = [503, 404, 500];
/** FractionalPercent.DenominatorType values, in enum order. */
const DENOMINATORS = [100, 10_000, 1_000_000];
const utf8Decoder = new TextDecoder();

// Path specifier kinds.
const PREFIX = 0;
const EXACT = 1;
const REGEX = 2;
const SEPARATED_PREFIX = 3;
const CONNECT = 4;

/** A Duration in whole milliseconds, as Envoy reads timeouts. */
export function durationMs(d: Duration): number {
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1_000_000);
}

/** Overlays `own` on `parent`; shares `parent` when `own` is empty. */
export function mergePerFilterConfig(
  parent: ReadonlyMap<string, Any>,
  own: { [key: string]: Any },
): ReadonlyMap<string, Any> {
  const keys = Object.keys(own);
  if (keys.length === 0) return parent;
  const merged = new Map(parent);
  for (const k of keys) merged.set(k, own[k]);
  return merged;
}

/** `content-type` says gRPC: exactly `application/grpc` or `application/grpc+...`. */
function isGrpc(headers: HeaderMap): boolean {
  const ct = headers.get("content-type");
  return ct !== undefined && ct.startsWith("application/grpc") &&
    (ct.length === 16 || ct.charCodeAt(16) === 43);
}

function readDataSource(ds: DataSource | undefined, max: number, field: string): string {
  const bytes = dataSourceBytes(ds, field);
  if (!bytes) return "";
  if (bytes.length > max) {
    const what = ds?.specifier.case === "filename"
      ? `file ${ds.specifier.value} size`
      : "response body size";
    throw new Error(`${field}: ${what} is ${bytes.length} bytes; maximum is ${max}`);
  }
  return utf8Decoder.decode(bytes);
}

/** The fields of a route that come from its `route` action, besides the cluster. */
interface RouteSettings {
  timeoutMs: number;
  idleTimeoutMs?: number;
  maxGrpcTimeoutMs?: number;
  grpcTimeoutOffsetMs?: number;
  maxStreamDuration?: MaxStreamDuration;
  upgradeMap?: ReadonlyMap<string, boolean>;
  internalRedirectPolicy?: InternalRedirectPolicy;
  prefixRewrite?: string;
  regexRewrite?: RegexRewrite;
  hostRewriteLiteral?: string;
  autoHostRewrite: boolean;
  hostRewriteHeader?: string;
  hostRewritePathRegex?: RegexRewrite;
  appendXForwardedHost: boolean;
  clusterNotFoundResponseCode: number;
  retryPolicy?: CompiledRetryPolicy;
  hedgeOnPerTryTimeout: boolean;
  rateLimitPolicy: RateLimitPolicy;
  includeVhRateLimits: boolean;
  priority: number;
  hashPolicy?: HashPolicy;
  metadataMatch?: MetadataMatchCriteria;
  requestMirrorPolicies: readonly RouteAction_RequestMirrorPolicy[];
  corsPolicy?: CorsPolicy;
}

/** RouteAction.InternalRedirectAction.HANDLE_INTERNAL_REDIRECT (deprecated form of the policy). */
const HANDLE_INTERNAL_REDIRECT = 1;

/** `internal_redirect_policy`, or the deprecated `internal_redirect_action` it replaces. */
function compileRouteInternalRedirect(
  a: RouteAction,
  routeName: string,
  field: string,
): InternalRedirectPolicy | undefined {
  if (a.internalRedirectPolicy) {
    return compileInternalRedirectPolicy(
      a.internalRedirectPolicy,
      `${field}.internal_redirect_policy`,
      routeName,
    );
  }
  if (a.internalRedirectAction !== HANDLE_INTERNAL_REDIRECT) return undefined;
  return {
    redirectResponseCodes: new Set([302]),
    maxInternalRedirects: a.maxInternalRedirects ?? 1,
    allowCrossSchemeRedirect: false,
    predicates: [],
    responseHeadersToCopy: [],
  };
}

function compileRouteSettings(
  a: RouteAction,
  vhost: CompiledVirtualHost,
  routeName: string,
  field: string,
): RouteSettings {
  if (a.pathRewritePolicy) {
    throw new Error(`${field}.path_rewrite_policy: path rewrite policies are not supported`);
  }
  if (a.prefixRewrite !== "" && a.regexRewrite) {
    throw new Error(
      `${field}: Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy`,
    );
  }
  const exists = vhost.routeConfig.clusterExists;
  validateMirrorPolicies(a.requestMirrorPolicies, field, exists);
  const msd = a.maxStreamDuration;
  const s: RouteSettings = {
    timeoutMs: a.timeout ? durationMs(a.timeout) : DEFAULT_TIMEOUT_MS,
    idleTimeoutMs: a.idleTimeout ? durationMs(a.idleTimeout) : undefined,
    maxGrpcTimeoutMs: a.maxGrpcTimeout && durationMs(a.maxGrpcTimeout),
    grpcTimeoutOffsetMs: a.grpcTimeoutOffset && durationMs(a.grpcTimeoutOffset),
    maxStreamDuration: msd && {
      maxStreamDurationMs: msd.maxStreamDuration && durationMs(msd.maxStreamDuration),
      grpcTimeoutHeaderMaxMs: msd.grpcTimeoutHeaderMax && durationMs(msd.grpcTimeoutHeaderMax),
      grpcTimeoutHeaderOffsetMs: msd.grpcTimeoutHeaderOffset &&
        durationMs(msd.grpcTimeoutHeaderOffset),
    },
    upgradeMap: compileUpgradeConfigs(a.upgradeConfigs, `${field}.upgrade_configs`),
    corsPolicy: a.cors && new CorsPolicy(a.cors, `${field}.cors`),
    internalRedirectPolicy: compileRouteInternalRedirect(a, routeName, field),
    prefixRewrite: a.prefixRewrite || undefined,
    regexRewrite: a.regexRewrite
      ? compileRegexRewrite(
        a.regexRewrite.pattern?.regex ?? "",
        a.regexRewrite.substitution,
        `${field}.regex_rewrite`,
        maxProgramSize(a.regexRewrite.pattern),
      )
      : undefined,
    autoHostRewrite: false,
    appendXForwardedHost: a.appendXForwardedHost,
    clusterNotFoundResponseCode: CLUSTER_NOT_FOUND_CODES[a.clusterNotFoundResponseCode] ?? 503,
    retryPolicy: a.retryPolicy
      ? compileRetryPolicy(a.retryPolicy, `${field}.retry_policy`)
      : vhost.retryPolicy,
    hedgeOnPerTryTimeout: a.hedgePolicy
      ? compileHedgePolicy(a.hedgePolicy, `${field}.hedge_policy`)
      : vhost.hedgeOnPerTryTimeout ?? false,
    rateLimitPolicy: compileRateLimitPolicy(a.rateLimits, `${field}.rate_limits`),
    includeVhRateLimits: a.includeVhRateLimits ?? false,
    // core.v3.RoutingPriority: DEFAULT = 0, HIGH = 1.
    priority: a.priority,
    hashPolicy: compileHashPolicy(a.hashPolicy, `${field}.hash_policy`),
    metadataMatch: metadataMatchCriteria(a.metadataMatch),
    requestMirrorPolicies: a.requestMirrorPolicies.length > 0
      ? a.requestMirrorPolicies
      : vhost.requestMirrorPolicies,
  };
  const h = a.hostRewriteSpecifier;
  switch (h.case) {
    case "hostRewriteLiteral":
      s.hostRewriteLiteral = h.value || undefined;
      break;
    case "autoHostRewrite":
      s.autoHostRewrite = h.value.value;
      break;
    case "hostRewriteHeader":
      s.hostRewriteHeader = h.value.toLowerCase() || undefined;
      break;
    case "hostRewritePathRegex":
      s.hostRewritePathRegex = compileRegexRewrite(
        h.value.pattern?.regex ?? "",
        h.value.substitution,
        `${field}.host_rewrite_path_regex`,
        maxProgramSize(h.value.pattern),
      );
      break;
  }
  return s;
}

/** `RouteAction.MaxStreamDuration`, in ms; each field undefined when unset. */
export interface MaxStreamDuration {
  readonly maxStreamDurationMs?: number;
  readonly grpcTimeoutHeaderMaxMs?: number;
  readonly grpcTimeoutHeaderOffsetMs?: number;
}

/** Upgrade types CONNECT needs (connect_config, CONNECT termination), which denvoy lacks. */
const CONNECT_UPGRADES = new Set(["connect", "connect-udp"]);

/**
 * `upgrade_configs`: upgrade type (lower case) to enabled; undefined when there are none.
 *
 * @throws {Error} on a duplicate type, as Envoy does, and for CONNECT, which is not supported.
 */
export function compileUpgradeConfigs(
  configs: readonly RouteAction_UpgradeConfig[],
  field: string,
): ReadonlyMap<string, boolean> | undefined {
  if (configs.length === 0) return undefined;
  const map = new Map<string, boolean>();
  configs.forEach((u, i) => {
    const type = u.upgradeType.toLowerCase();
    if (map.has(type)) throw new Error(`${field}[${i}]: Duplicate upgrade ${u.upgradeType}`);
    if (u.connectConfig || (CONNECT_UPGRADES.has(type) && (u.enabled ?? true))) {
      throw new Error(`${field}[${i}]: CONNECT upgrades are not supported yet`);
    }
    map.set(type, u.enabled ?? true);
  });
  return map;
}

/** A compiled route of a virtual host. */
export class CompiledRoute {
  /** `name` (may be empty). */
  readonly name: string;
  readonly action: RouteActionKind;
  /** The route as configured; undefined for the virtual host's `require_tls` redirect. */
  readonly config?: Route;
  readonly virtualHost: CompiledVirtualHost;

  /** `route`: the action as configured (upgrade configs, rate limits, ... for later use). */
  readonly routeAction?: RouteAction;
  /** `route.timeout` in ms (15000 by default; 0 disables it). */
  readonly timeoutMs: number = DEFAULT_TIMEOUT_MS;
  /** `route.idle_timeout` in ms; undefined when unset (0 disables it). */
  readonly idleTimeoutMs?: number;
  /** Deprecated `max_grpc_timeout` in ms (0: no cap); gRPC requests' route timeout. */
  readonly maxGrpcTimeoutMs?: number;
  /** Deprecated `grpc_timeout_offset` in ms. */
  readonly grpcTimeoutOffsetMs?: number;
  /**
   * `route.max_stream_duration`; when set the route timeout does not apply (Envoy's "new
   * timeouts"), the connection manager's stream duration timer does.
   */
  readonly maxStreamDuration?: MaxStreamDuration;
  /** `route.upgrade_configs`: upgrade type (lower case) to enabled, over the HCM's. */
  readonly upgradeMap?: ReadonlyMap<string, boolean>;
  /** `route.internal_redirect_policy`: upstream 3xx responses the router follows itself. */
  readonly internalRedirectPolicy?: InternalRedirectPolicy;
  /**
   * The `prefix_rewrite` that applies to this route's `:path`: the route action's, or the
   * redirect's for a redirect route.
   */
  readonly prefixRewrite?: string;
  /** The `regex_rewrite` that applies to this route's `:path` (route's or redirect's). */
  readonly regexRewrite?: RegexRewrite;
  /** Characters of the path the route matched; -1 for the whole path (regex, CONNECT). */
  readonly matchedLength: number;
  readonly hostRewriteLiteral?: string;
  readonly autoHostRewrite: boolean = false;
  /** `host_rewrite_header`, lower case. */
  readonly hostRewriteHeader?: string;
  /** `host_rewrite_path_regex`, applied to the path without its query. */
  readonly hostRewritePathRegex?: RegexRewrite;
  readonly appendXForwardedHost: boolean = false;
  /** Status to answer with when the cluster does not exist (503 by default). */
  readonly clusterNotFoundResponseCode: number = 503;
  /** The route's retry policy, else the virtual host's (compiled). */
  readonly retryPolicy?: CompiledRetryPolicy;
  /** `rate_limits` of the route action, for the rate limit filters. */
  readonly rateLimitPolicy: RateLimitPolicy = EMPTY_RATE_LIMIT_POLICY;
  /** `include_vh_rate_limits`: the virtual host's rate limits apply too. */
  readonly includeVhRateLimits: boolean = false;
  /** `hedge_policy.hedge_on_per_try_timeout`, the route's, else the virtual host's. */
  readonly hedgeOnPerTryTimeout: boolean = false;
  /** `route.priority`: the circuit breakers of that priority apply (0 DEFAULT, 1 HIGH). */
  readonly priority: number = 0;
  /** `per_request_buffer_limit_bytes`, the route's, else the virtual host's. */
  readonly perRequestBufferLimitBytes?: number;
  /** The virtual host's `include_request_attempt_count`. */
  readonly includeRequestAttemptCount: boolean = false;
  /** The virtual host's `include_attempt_count_in_response`. */
  readonly includeAttemptCountInResponse: boolean = false;
  /** `route.hash_policy`: the hash key for consistent-hash load balancers. */
  readonly hashPolicy?: HashPolicy;
  /** `route.metadata_match` (`envoy.lb`): the subset load balancer's criteria. */
  readonly metadataMatch?: MetadataMatchCriteria;
  /** The route's mirror policies, else the virtual host's, else the route configuration's. */
  readonly requestMirrorPolicies: readonly RouteAction_RequestMirrorPolicy[] = [];
  /** The deprecated `route.cors`, read by the CORS filter when no level has a typed policy. */
  readonly corsPolicy?: CorsPolicy;
  /** `weighted_clusters` entries, in config order. */
  readonly weightedClusters?: readonly CompiledWeightedCluster[];

  readonly directResponse?: DirectResponse;
  readonly redirect?: CompiledRedirect;

  /** Per-filter config by filter name: route over virtual host over route configuration. */
  readonly typedPerFilterConfig: ReadonlyMap<string, Any>;
  /** Request header levels in the order they apply (route, virtual host, configuration). */
  readonly requestHeaderParsers: readonly HeaderParser[] = [];
  readonly responseHeaderParsers: readonly HeaderParser[] = [];

  /**
   * The literal every matching path starts with (case-sensitive prefix, path or
   * path_separated_prefix, or a regex's literal start), for the path index; undefined when
   * any path may match.
   */
  readonly pathLiteral?: string;

  #pathKind = PREFIX;
  /** Prefix, path or separated prefix; lower case when matching ignores case. */
  #literal = "";
  #caseSensitive = true;
  #regex: CompiledRegex | undefined;
  /** `match.runtime_fraction`: its default and runtime key; undefined when the route has none. */
  #runtimeFraction: { key: string; dflt: FractionalPercent } | undefined;
  #grpc = false;
  #headers: HeaderPredicate | undefined;
  #query: QueryPredicate[] = [];
  #tlsPresented: boolean | undefined;
  #tlsValidated: boolean | undefined;
  /** The answer when it does not depend on the request (fixed cluster, redirect, response). */
  #fixed: MatchedRoute | undefined;
  #clusterHeader: string | undefined;
  #totalWeight = 0;
  /** `weighted_clusters.runtime_key_prefix` is set: weights are read per request. */
  #runtimeWeights = false;
  #randomHeader: string | undefined;
  #weightedMatches: (MatchedRoute | undefined)[] = [];

  /**
   * @param config the route; undefined builds the virtual host's `require_tls` redirect.
   * @param field the route's config path, e.g. `virtual_hosts[0].routes[3]`, for errors.
   * @throws {Error} naming the field, for what Envoy rejects or denvoy does not implement.
   */
  constructor(config: Route | undefined, vhost: CompiledVirtualHost, field: string) {
    this.virtualHost = vhost;
    this.typedPerFilterConfig = vhost.typedPerFilterConfig;
    this.matchedLength = -1;
    if (config === undefined) {
      this.name = "";
      this.action = "redirect";
      this.redirect = REQUIRE_TLS_REDIRECT;
      this.#fixed = { route: this, virtualHost: vhost };
      return;
    }
    this.config = config;
    this.name = config.name;
    this.perRequestBufferLimitBytes = config.perRequestBufferLimitBytes ??
      vhost.config.perRequestBufferLimitBytes;
    this.includeRequestAttemptCount = vhost.config.includeRequestAttemptCount;
    this.includeAttemptCountInResponse = vhost.config.includeAttemptCountInResponse;
    this.typedPerFilterConfig = mergePerFilterConfig(
      vhost.typedPerFilterConfig,
      config.typedPerFilterConfig,
    );
    const match = config.match;
    if (!match) throw new Error(`${field}.match: is required`);
    this.matchedLength = this.#compileMatch(match, `${field}.match`);
    if (this.#pathKind === REGEX) {
      this.pathLiteral = literalPrefix(this.#regex!.pattern) || undefined;
    } else if (this.#pathKind !== CONNECT && this.#caseSensitive) {
      this.pathLiteral = this.#literal;
    }
    const a = config.action;
    switch (a.case) {
      case "route":
        this.action = "route";
        this.routeAction = a.value;
        this.weightedClusters = this.#compileClusterSpecifier(a.value, `${field}.route`);
        // The settings are built apart so that they can stay readonly fields of the route.
        Object.assign(this, compileRouteSettings(a.value, vhost, config.name, `${field}.route`));
        break;
      case "redirect":
        this.action = "redirect";
        this.redirect = compileRedirect(a.value, `${field}.redirect`);
        this.prefixRewrite = this.redirect.prefixRewrite;
        this.regexRewrite = this.redirect.regexRewrite;
        this.#fixed = { route: this, virtualHost: vhost };
        break;
      case "directResponse":
        this.action = "direct_response";
        this.directResponse = {
          status: a.value.status,
          body: readDataSource(
            a.value.body,
            vhost.routeConfig.maxDirectResponseBodyBytes,
            `${field}.direct_response.body`,
          ),
        };
        this.#fixed = { route: this, virtualHost: vhost };
        break;
      case "filterAction":
      case "nonForwardingAction":
        throw new Error(
          `${field}: ${
            a.case === "filterAction" ? "filter_action" : "non_forwarding_action"
          } is not supported`,
        );
      default:
        throw new Error(`${field}: one of route, redirect or direct_response is required`);
    }
    const own = {
      request: HeaderParser.compile(
        config.requestHeadersToAdd,
        config.requestHeadersToRemove,
        field,
        "request",
      ),
      response: HeaderParser.compile(
        config.responseHeadersToAdd,
        config.responseHeadersToRemove,
        field,
        "response",
      ),
    };
    const rc = vhost.routeConfig;
    const order = (route?: HeaderParser, vh?: HeaderParser, global?: HeaderParser) =>
      (rc.mostSpecificHeaderMutationsWins ? [global, vh, route] : [route, vh, global])
        .filter((p): p is HeaderParser => p !== undefined);
    this.requestHeaderParsers = order(
      own.request,
      vhost.requestHeaderParser,
      rc.requestHeaderParser,
    );
    this.responseHeaderParsers = order(
      own.response,
      vhost.responseHeaderParser,
      rc.responseHeaderParser,
    );
  }

  /** Compiles the match; returns how many path characters a prefix rewrite replaces. */
  #compileMatch(m: RouteMatch, field: string): number {
    this.#caseSensitive = m.caseSensitive ?? true;
    const fold = (s: string) => (this.#caseSensitive ? s : toLowerAscii(s));
    const p = m.pathSpecifier;
    let matched = -1;
    switch (p.case) {
      case "prefix":
        this.#pathKind = PREFIX;
        this.#literal = fold(p.value);
        matched = p.value.length;
        break;
      case "path":
        this.#pathKind = EXACT;
        this.#literal = fold(p.value);
        matched = p.value.length;
        break;
      case "pathSeparatedPrefix":
        this.#pathKind = SEPARATED_PREFIX;
        this.#literal = fold(p.value);
        matched = p.value.length;
        break;
      case "safeRegex":
        this.#pathKind = REGEX;
        this.#regex = compileRegex(
          p.value.regex,
          `${field}.safe_regex.regex`,
          maxProgramSize(p.value),
        );
        break;
      case "connectMatcher":
        this.#pathKind = CONNECT;
        break;
      case "pathMatchPolicy":
        throw new Error(`${field}.path_match_policy: path match policies are not supported`);
      default:
        throw new Error(
          `${field}: one of prefix, path, safe_regex, connect_matcher or path_separated_prefix is required`,
        );
    }
    const rf = m.runtimeFraction;
    if (rf) {
      this.#runtimeFraction = {
        key: rf.runtimeKey,
        dflt: {
          numerator: rf.defaultValue?.numerator ?? 0,
          denominator: DENOMINATORS[rf.defaultValue?.denominator ?? 0] ?? 100,
        },
      };
    }
    this.#grpc = m.grpc !== undefined;
    this.#headers = compileHeaderMatchers(m.headers, `${field}.headers`);
    this.#query = m.queryParameters.map((q, i) =>
      compileQueryParameterMatcher(q, `${field}.query_parameters[${i}]`)
    );
    this.#tlsPresented = m.tlsContext?.presented;
    this.#tlsValidated = m.tlsContext?.validated;
    if (m.dynamicMetadata.length > 0) {
      throw new Error(
        `${field}.dynamic_metadata: dynamic metadata route matching is not supported`,
      );
    }
    return matched;
  }

  /** Compiles the cluster specifier; returns the weighted clusters, if that is the kind. */
  #compileClusterSpecifier(
    a: RouteAction,
    field: string,
  ): readonly CompiledWeightedCluster[] | undefined {
    const vhost = this.virtualHost;
    const exists = vhost.routeConfig.clusterExists;
    const spec = a.clusterSpecifier;
    switch (spec.case) {
      case "cluster":
        if (exists && !exists(spec.value)) {
          throw new Error(`${field}.cluster: unknown cluster '${spec.value}'`);
        }
        this.#fixed = { route: this, virtualHost: vhost, clusterName: spec.value };
        return undefined;
      case "clusterHeader":
        this.#clusterHeader = spec.value.toLowerCase();
        return undefined;
      case "weightedClusters":
        return this.#compileWeightedClusters(spec.value, `${field}.weighted_clusters`);
      case "clusterSpecifierPlugin":
      case "inlineClusterSpecifierPlugin":
        throw new Error(`${field}: cluster specifier plugins are not supported`);
      default:
        throw new Error(
          `${field}: one of cluster, cluster_header or weighted_clusters is required`,
        );
    }
  }

  #compileWeightedClusters(w: WeightedCluster, field: string): CompiledWeightedCluster[] {
    const exists = this.virtualHost.routeConfig.clusterExists;
    const prefix = w.runtimeKeyPrefix;
    const clusters = w.clusters.map((c, i): CompiledWeightedCluster => {
      const f = `${field}.clusters[${i}]`;
      if ((c.name === "") === (c.clusterHeader === "")) {
        throw new Error(
          c.name === ""
            ? `${f}: At least one of name or cluster_header need to be specified`
            : `${f}: Only one of name or cluster_header can be specified`,
        );
      }
      if (c.name !== "" && exists && !exists(c.name)) {
        throw new Error(`${f}.name: unknown weighted cluster '${c.name}'`);
      }
      return {
        name: c.name || undefined,
        clusterHeader: c.clusterHeader ? c.clusterHeader.toLowerCase() : undefined,
        weight: c.weight ?? 0,
        runtimeKey: prefix === "" ? undefined : `${prefix}.${c.name}`,
        hostRewriteLiteral: c.hostRewriteSpecifier.value || undefined,
        metadataMatch: metadataMatchCriteria(
          c.metadataMatch,
          metadataMatchCriteria(this.routeAction?.metadataMatch),
        ),
        requestHeaderParser: HeaderParser.compile(
          c.requestHeadersToAdd,
          c.requestHeadersToRemove,
          f,
          "request",
        ),
        responseHeaderParser: HeaderParser.compile(
          c.responseHeadersToAdd,
          c.responseHeadersToRemove,
          f,
          "response",
        ),
        typedPerFilterConfig: mergePerFilterConfig(
          this.typedPerFilterConfig,
          c.typedPerFilterConfig,
        ),
        config: c,
      };
    });
    // total_weight is deprecated: Envoy uses the sum of the weights.
    const total = clusters.reduce((sum, c) => sum + c.weight, 0);
    if (total === 0) {
      throw new Error(`${field}: Sum of weights in the weighted_cluster must be greater than 0.`);
    }
    if (total > 0xffffffff) {
      throw new Error(
        `${field}: The sum of weights of all weighted clusters of route ${this.name} exceeds 4294967295`,
      );
    }
    this.#totalWeight = total;
    this.#runtimeWeights = prefix !== "";
    this.#randomHeader = w.randomValueSpecifier.case === "headerName"
      ? w.randomValueSpecifier.value.toLowerCase()
      : undefined;
    this.#weightedMatches = clusters.map((c) =>
      c.name === undefined
        ? undefined
        : { route: this, virtualHost: this.virtualHost, clusterName: c.name, weightedCluster: c }
    );
    return clusters;
  }

  /**
   * Whether the request matches this route.
   *
   * @param path the `:path`, if any.
   * @param end where the matchable part of the path ends (query, fragment, path parameters).
   * @param stripped `path` up to `end` (only read by regex routes).
   * @param queryStart index of the `?` in `path`, or -1.
   */
  matches(
    ctx: RouteMatchContext,
    path: string | undefined,
    end: number,
    stripped: string,
    queryStart: number,
  ): boolean {
    const headers = ctx.headers;
    if (this.#pathKind === CONNECT) {
      if (headers.get(":method") !== "CONNECT") return false;
    } else if (path === undefined || !this.#matchPath(path, end, stripped)) {
      return false;
    }
    const rf = this.#runtimeFraction;
    // The live snapshot, so `/runtime_modify` and disk layer swaps apply to the next request.
    if (rf !== undefined && !runtimeSnapshot().featureEnabled(rf.key, rf.dflt, ctx.random)) {
      return false;
    }
    if (this.#grpc && (path === undefined || !isGrpc(headers))) return false;
    if (this.#headers !== undefined && !this.#headers(headers)) return false;
    const query = this.#query;
    for (let i = 0; i < query.length; i++) {
      if (path === undefined || !query[i](path, queryStart)) return false;
    }
    if (this.#tlsPresented !== undefined && (ctx.tls?.presented ?? false) !== this.#tlsPresented) {
      return false;
    }
    if (this.#tlsValidated !== undefined && (ctx.tls?.validated ?? false) !== this.#tlsValidated) {
      return false;
    }
    return true;
  }

  #matchPath(path: string, end: number, stripped: string): boolean {
    const lit = this.#literal;
    switch (this.#pathKind) {
      case PREFIX:
        return end >= lit.length && this.#startsWith(path);
      case EXACT:
        return end === lit.length && this.#startsWith(path);
      case SEPARATED_PREFIX:
        return end >= lit.length && (end === lit.length || path.charCodeAt(lit.length) === 47) &&
          this.#startsWith(path);
      default:
        return this.#regex!.fullMatch(stripped);
    }
  }

  #startsWith(path: string): boolean {
    return this.#caseSensitive
      ? path.startsWith(this.#literal)
      : regionEqualsIgnoreCase(path, 0, this.#literal);
  }

  /**
   * The match result for a request this route matched: resolves the cluster. Undefined only when
   * runtime overrides set every weighted cluster's weight to 0 (Envoy then has no route).
   */
  resolve(ctx: RouteMatchContext): MatchedRoute | undefined {
    if (this.#fixed !== undefined) return this.#fixed;
    const headers = ctx.headers;
    if (this.#clusterHeader !== undefined) {
      // Only the first value counts: the header is untrusted input.
      const name = headers.get(this.#clusterHeader) || undefined;
      return { route: this, virtualHost: this.virtualHost, clusterName: name };
    }
    const clusters = this.weightedClusters!;
    let i = 0;
    if (this.#runtimeWeights) {
      const picked = pickRuntimeWeighted(
        clusters,
        runtimeSnapshot(),
        (total) => this.#selectionValue(ctx, total),
      );
      // Every runtime weight 0: Envoy finds no route.
      if (picked < 0) return undefined;
      i = picked;
    } else {
      let v = this.#selectionValue(ctx, this.#totalWeight);
      for (; i < clusters.length - 1; i++) {
        if (v < clusters[i].weight) break;
        v -= clusters[i].weight;
      }
    }
    const fixed = this.#weightedMatches[i];
    if (fixed !== undefined) return fixed;
    const wc = clusters[i];
    return {
      route: this,
      virtualHost: this.virtualHost,
      clusterName: headers.get(wc.clusterHeader!) || undefined,
      weightedCluster: wc,
    };
  }

  /** `random` (or the header's value) modulo `total`. */
  #selectionValue(ctx: RouteMatchContext, total: number): number {
    const h = this.#randomHeader;
    if (h !== undefined) {
      const kv = ctx.headers.raw();
      let value: string | undefined;
      let count = 0;
      for (let i = 0; i < kv.length; i += 2) {
        if (kv[i] === h) {
          value = kv[i + 1];
          count++;
        }
      }
      // A repeated header could pick differently per hop, so Envoy ignores it then.
      if (count === 1 && /^\d+$/.test(value!)) {
        return value!.length <= 15 ? Number(value) % total : Number(BigInt(value!) % BigInt(total));
      }
    }
    return ctx.random % total;
  }
}

/** Weights above this sum overflow Envoy's 32-bit total: it then finds no route. */
const MAX_TOTAL_WEIGHT = 0xffffffff;

/**
 * Picks a weighted cluster with each weight read from the runtime (`<prefix>.<name>`, falling
 * back to the configured weight), as Envoy does when `runtime_key_prefix` is set.
 *
 * @param select maps the runtime total to the selection value (`random % total`).
 * @returns the index of the picked cluster, or -1 when the weights sum to 0 or overflow.
 */
export function pickRuntimeWeighted(
  clusters: readonly CompiledWeightedCluster[],
  runtime: { getInteger(key: string, dflt: number): number },
  select: (total: number) => number,
): number {
  let total = 0;
  const weights: number[] = [];
  for (const c of clusters) {
    const w = c.runtimeKey === undefined ? c.weight : runtime.getInteger(c.runtimeKey, c.weight);
    weights.push(w);
    total += w;
  }
  if (total === 0 || total > MAX_TOTAL_WEIGHT) return -1;
  let v = select(total);
  for (let i = 0; i < weights.length; i++) {
    if (v < weights[i]) return i;
    v -= weights[i];
  }
  return weights.length - 1;
}
