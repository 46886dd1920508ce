/**
 * A compiled virtual host: its routes behind a path index, `require_tls`, its own header
 * mutations and per-filter config, the policies its routes inherit, and virtual clusters.
 */
import { compileRateLimitPolicy, type RateLimitPolicy } from "./rate_limit_policy.ts";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { HeaderMap } from "../http/header_map.ts";
import type {
  RouteAction_RequestMirrorPolicy,
  VirtualHost,
} from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import {
  type CompiledRetryPolicy,
  compileHedgePolicy,
  compileRetryPolicy,
} from "./retry_policy.ts";
import { HeaderParser } from "./header_mutation.ts";
import { validateMirrorPolicies } from "./shadow_writer.ts";
import { compileHeaderMatchers, type HeaderPredicate } from "./matchers.ts";
import { PathIndex } from "./path_index.ts";
import { pathEnd } from "./path_rewrite.ts";
import { CompiledRoute, mergePerFilterConfig } from "./route_entry.ts";
import type { MatchedRoute, RouteMatchContext } from "./route_table.ts";
import { CorsPolicy } from "./cors_policy.ts";

/** What the route configuration contributes to every virtual host and route in it. */
export interface RouteConfigLevel {
  readonly name: string;
  readonly requestHeaderParser?: HeaderParser;
  readonly responseHeaderParser?: HeaderParser;
  readonly mostSpecificHeaderMutationsWins: boolean;
  readonly typedPerFilterConfig: ReadonlyMap<string, Any>;
  readonly requestMirrorPolicies: readonly RouteAction_RequestMirrorPolicy[];
  readonly maxDirectResponseBodyBytes: number;
  /** `ignore_path_parameters_in_path_matching`: paths match up to their first `;`. */
  readonly ignorePathParameters: boolean;
  /** Rejects routes to unknown clusters when set (`validate_clusters`). */
  readonly clusterExists?: (name: string) => boolean;
}

// VirtualHost.TlsRequirementType values.
const TLS_NONE = 0;
const TLS_ALL = 2;

interface VirtualCluster {
  name: string;
  matches: HeaderPredicate;
}

/** A compiled virtual host. */
export class CompiledVirtualHost {
  readonly name: string;
  readonly config: VirtualHost;
  readonly routeConfig: RouteConfigLevel;
  readonly requestHeaderParser?: HeaderParser;
  readonly responseHeaderParser?: HeaderParser;
  /** Per-filter config by filter name: virtual host over route configuration. */
  readonly typedPerFilterConfig: ReadonlyMap<string, Any>;
  /** The deprecated `cors`, read by the CORS filter when no level has a typed policy. */
  readonly corsPolicy?: CorsPolicy;
  /** `retry_policy`, compiled; routes without their own use it. */
  readonly retryPolicy?: CompiledRetryPolicy;
  /** `rate_limits`, for the rate limit filters. */
  readonly rateLimitPolicy: RateLimitPolicy;
  /** `hedge_policy.hedge_on_per_try_timeout`, when a hedge policy is set. */
  readonly hedgeOnPerTryTimeout?: boolean;
  /** The virtual host's mirror policies, else the route configuration's. */
  readonly requestMirrorPolicies: readonly RouteAction_RequestMirrorPolicy[];
  readonly routes: readonly CompiledRoute[];

  readonly #index: PathIndex<CompiledRoute>;
  readonly #requireTls: number;
  readonly #tlsRedirect: MatchedRoute;
  /** Whether some route needs the path without its query as a string of its own. */
  readonly #hasRegex: boolean;
  readonly #virtualClusters: VirtualCluster[];

  /**
   * @param field the virtual host's config path, e.g. `virtual_hosts[2]`, for errors.
   * @throws {Error} naming the field, for what Envoy rejects or denvoy does not implement.
   */
  constructor(config: VirtualHost, routeConfig: RouteConfigLevel, field: string) {
    this.name = config.name;
    this.config = config;
    this.routeConfig = routeConfig;
    if (config.matcher) throw new Error(`${field}.matcher: matcher trees are not supported`);
    this.requestHeaderParser = HeaderParser.compile(
      config.requestHeadersToAdd,
      config.requestHeadersToRemove,
      field,
      "request",
    );
    this.responseHeaderParser = HeaderParser.compile(
      config.responseHeadersToAdd,
      config.responseHeadersToRemove,
      field,
      "response",
    );
    this.typedPerFilterConfig = mergePerFilterConfig(
      routeConfig.typedPerFilterConfig,
      config.typedPerFilterConfig,
    );
    this.rateLimitPolicy = compileRateLimitPolicy(config.rateLimits, `${field}.rate_limits`);
    if (config.cors) this.corsPolicy = new CorsPolicy(config.cors, `${field}.cors`);
    if (config.retryPolicy) {
      this.retryPolicy = compileRetryPolicy(config.retryPolicy, `${field}.retry_policy`);
    }
    if (config.hedgePolicy) {
      this.hedgeOnPerTryTimeout = compileHedgePolicy(config.hedgePolicy, `${field}.hedge_policy`);
    }
    validateMirrorPolicies(config.requestMirrorPolicies, field, routeConfig.clusterExists);
    this.requestMirrorPolicies = config.requestMirrorPolicies.length > 0
      ? config.requestMirrorPolicies
      : routeConfig.requestMirrorPolicies;
    this.#requireTls = config.requireTls;
    this.#tlsRedirect = { route: new CompiledRoute(undefined, this, field), virtualHost: this };
    this.routes = config.routes.map((r, i) => new CompiledRoute(r, this, `${field}.routes[${i}]`));
    this.#index = new PathIndex(this.routes, (r) => r.pathLiteral);
    this.#hasRegex = config.routes.some((r) => r.match?.pathSpecifier.case === "safeRegex");
    this.#virtualClusters = config.virtualClusters.map((vc, i) => {
      const f = `${field}.virtual_clusters[${i}]`;
      const matches = compileHeaderMatchers(vc.headers, `${f}.headers`);
      if (!matches) throw new Error(`${f}: virtual clusters must define 'headers'`);
      return { name: vc.name, matches };
    });
  }

  /** The first route that matches the request, with its cluster resolved; undefined for 404. */
  route(ctx: RouteMatchContext): MatchedRoute | undefined {
    const headers = ctx.headers;
    if (this.#requireTls !== TLS_NONE) {
      // x-forwarded-proto (set by the connection manager) says whether the client used TLS.
      const proto = headers.get("x-forwarded-proto") ?? headers.get(":scheme");
      if (
        proto !== "https" &&
        (this.#requireTls === TLS_ALL || headers.get("x-envoy-internal") !== "true")
      ) {
        return this.#tlsRedirect;
      }
    }
    const path = headers.get(":path");
    let candidates = this.routes;
    let end = 0;
    let stripped = "";
    let queryStart = -1;
    if (path !== undefined) {
      end = pathEnd(path);
      if (this.routeConfig.ignorePathParameters) {
        const semi = path.indexOf(";");
        if (semi >= 0 && semi < end) end = semi;
      }
      queryStart = path.indexOf("?");
      // One slice per request at most, and only when a regex needs it.
      stripped = this.#hasRegex && end < path.length ? path.slice(0, end) : path;
      candidates = this.#index.candidates(path, end);
    }
    for (let i = 0; i < candidates.length; i++) {
      const r = candidates[i];
      if (!r.matches(ctx, path, end, stripped, queryStart)) continue;
      // A route whose runtime weights are all 0 resolves to nothing: the next one may match.
      const m = r.resolve(ctx);
      if (m !== undefined) return m;
    }
    return undefined;
  }

  /**
   * The virtual cluster a request counts under: the first whose headers match, else `other`
   * when the virtual host defines any; undefined when it defines none.
   */
  virtualClusterName(headers: HeaderMap): string | undefined {
    const vcs = this.#virtualClusters;
    if (vcs.length === 0) return undefined;
    for (let i = 0; i < vcs.length; i++) if (vcs[i].matches(headers)) return vcs[i].name;
    return "other";
  }
}
