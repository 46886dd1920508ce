/**
 * The CORS filter (`envoy.filters.http.cors`). Its policies come from the route:
 * `CorsPolicy` in `typed_per_filter_config` at any level (route configuration, virtual host,
 * route, weighted cluster), or, when no level has one, the deprecated `cors` of the route
 * action and of the virtual host. Each setting is taken from the most specific policy that
 * sets it; `filter_enabled` and `shadow_enabled` from the most specific policy alone.
 *
 * A request with an `Origin` is counted `cors.origin_valid` or `cors.origin_invalid`. While
 * enforced, a preflight (OPTIONS with `Access-Control-Request-Method`) is answered here with
 * 200 and the `access-control-allow-*` headers (an origin that does not match is forwarded
 * upstream unless `forward_not_matching_preflights` is false); other responses to a matching
 * origin get `access-control-allow-origin`, `-allow-credentials` and `-expose-headers`.
 *
 * `filter_enabled` and `shadow_enabled` are drawn once per request, where Envoy draws again
 * at each check; with 0% or 100% (and runtime keys) the two agree.
 *
 * @module
 */
import type { CorsPolicy as CorsPolicyProto } from "../../../../../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.ts";
import type {
  FilterHeadersStatus,
  HttpFilterFactoryCb,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { CorsPolicy } from "../../../../router/cors_policy.ts";
import type { MatchedRoute } from "../../../../router/route_table.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import { allPerFilterConfigs, compiledPerRouteConfig } from "../common/per_filter_config.ts";

/** Envoy's name of the filter. */
export const CORS_FILTER_NAME = "envoy.filters.http.cors";
/** The per-route policy's type. */
export const CORS_POLICY_TYPE = "envoy.extensions.filters.http.cors.v3.CorsPolicy";

/** `<stat_prefix>cors.*`. */
export class CorsStats {
  readonly originValid: Counter;
  readonly originInvalid: Counter;

  constructor(scope: Scope) {
    this.originValid = scope.counter("cors.origin_valid");
    this.originInvalid = scope.counter("cors.origin_invalid");
  }
}

const compiledPolicy = compiledPerRouteConfig(
  CORS_POLICY_TYPE,
  (p: CorsPolicyProto) => new CorsPolicy(p, "typed_per_filter_config"),
);

/** The route's policies, most specific first (Envoy's CorsFilter::initializeCorsPolicies). */
function corsPolicies(m: MatchedRoute, configName: string): CorsPolicy[] {
  const out: CorsPolicy[] = [];
  const typed = allPerFilterConfigs(m, configName, CORS_FILTER_NAME);
  for (let i = typed.length - 1; i >= 0; i--) {
    const p = compiledPolicy(typed[i]);
    if (p) out.push(p);
  }
  if (out.length > 0) return out;
  if (m.route.corsPolicy) out.push(m.route.corsPolicy);
  if (m.virtualHost.corsPolicy) out.push(m.virtualHost.corsPolicy);
  return out;
}

/** The first of `policies` that sets the string setting, or "". */
function firstString(
  policies: readonly CorsPolicy[],
  key: "allowMethods" | "allowHeaders" | "exposeHeaders" | "maxAge",
): string {
  for (const p of policies) if (p[key] !== "") return p[key];
  return "";
}

/** The first of `policies` that sets the boolean setting, or `dflt`. */
function firstBool(
  policies: readonly CorsPolicy[],
  key: "allowCredentials" | "allowPrivateNetworkAccess" | "forwardNotMatchingPreflights",
  dflt: boolean,
): boolean {
  for (const p of policies) {
    const v = p[key];
    if (v !== undefined) return v;
  }
  return dflt;
}

function originAllowed(policies: readonly CorsPolicy[], origin: string): boolean {
  for (const p of policies) {
    if (p.allowOrigins.length === 0) continue;
    // A matcher that matches "*" itself allows every origin, as in Envoy.
    return p.allowOrigins.some((m) => m("*") || m(origin));
  }
  return false;
}

class CorsFilter {
  #policies: readonly CorsPolicy[] = [];
  /** The request's origin when it is allowed and the policy enforced. */
  #origin: string | undefined;

  constructor(
    readonly cb: StreamFilterCallbacks,
    readonly stats: CorsStats,
    readonly policiesOf: (m: MatchedRoute) => readonly CorsPolicy[],
  ) {}

  decodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const m = this.cb.route();
    // Redirects and direct responses have no route entry: Envoy's filter leaves them alone.
    if (m === undefined || m.route.action !== "route") return "continue";
    const policies = this.#policies = this.policiesOf(m);
    if (policies.length === 0) return "continue";
    const enabled = policies[0].enabled();
    const shadow = policies[0].shadowEnabled();
    if (!enabled && !shadow) return "continue";
    const origin = headers.get("origin");
    if (!origin) return "continue";
    const allowed = originAllowed(policies, origin);
    (allowed ? this.stats.originValid : this.stats.originInvalid).inc();
    if (!enabled) return "continue";
    if (allowed) this.#origin = origin;
    if (headers.get(":method") !== "OPTIONS") return "continue";
    const requestMethod = headers.get("access-control-request-method");
    if (!requestMethod) return "continue";
    if (!allowed && firstBool(policies, "forwardNotMatchingPreflights", true)) return "continue";
    this.#answerPreflight(headers, policies, allowed ? origin : undefined, requestMethod);
    return "stop";
  }

  #answerPreflight(
    request: HeaderMap,
    policies: readonly CorsPolicy[],
    origin: string | undefined,
    requestMethod: string,
  ): void {
    const h = new HeaderMap([":status", "200"]);
    if (origin !== undefined) h.set("access-control-allow-origin", origin);
    if (firstBool(policies, "allowCredentials", false)) {
      h.set("access-control-allow-credentials", "true");
    }
    const methods = firstString(policies, "allowMethods");
    // "*" echoes what the preflight asks for.
    if (methods !== "") {
      h.set("access-control-allow-methods", methods === "*" ? requestMethod : methods);
    }
    const allowHeaders = firstString(policies, "allowHeaders");
    if (allowHeaders !== "") {
      const value = allowHeaders === "*"
        ? request.get("access-control-request-headers") ?? ""
        : allowHeaders;
      h.set("access-control-allow-headers", value);
    }
    const maxAge = firstString(policies, "maxAge");
    if (maxAge !== "") h.set("access-control-max-age", maxAge);
    if (
      firstBool(policies, "allowPrivateNetworkAccess", false) &&
      request.get("access-control-request-private-network") === "true"
    ) {
      h.set("access-control-allow-private-network", "true");
    }
    this.cb.streamInfo.responseCodeDetails = "cors_response";
    this.cb.encodeHeaders(h, true);
  }

  encodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const origin = this.#origin;
    if (origin === undefined) return "continue";
    headers.set("access-control-allow-origin", origin);
    if (firstBool(this.#policies, "allowCredentials", false)) {
      headers.set("access-control-allow-credentials", "true");
    }
    const expose = firstString(this.#policies, "exposeHeaders");
    if (expose !== "") headers.set("access-control-expose-headers", expose);
    return "continue";
  }
}

/**
 * The filter of each stream. `configName` is the filter's name in its chain, under which
 * `typed_per_filter_config` holds its policies (else under `envoy.filters.http.cors`).
 */
export function corsFilterFactory(stats: CorsStats, configName: string): HttpFilterFactoryCb {
  // A route's policies are fixed for the life of its route table: resolved once per route
  // (or weighted cluster), not per request.
  const resolved = new WeakMap<object, readonly CorsPolicy[]>();
  const policiesOf = (m: MatchedRoute) => {
    const key = m.weightedCluster ?? m.route;
    let p = resolved.get(key);
    if (p === undefined) resolved.set(key, p = corsPolicies(m, configName));
    return p;
  };
  return (cb) => {
    const f = new CorsFilter(cb, stats, policiesOf);
    return { decoder: f, encoder: f };
  };
}
