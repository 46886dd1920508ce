/**
 * Internal redirects (`RouteAction.internal_redirect_policy`): the router follows an upstream
 * 3xx itself and replays the request, on a new stream, to the route its `Location` selects.
 * This module holds the compiled policy, its predicates, the per-request state that lives
 * across the replayed streams, and the pure steps of turning the request into the redirected
 * one; the router decides when, and the connection manager recreates the stream.
 */
import type { InternalRedirectPolicy as InternalRedirectPolicyProto } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { AllowListedRoutesConfig } from "../../proto/gen/envoy/extensions/internal_redirect/allow_listed_routes/v3/allow_listed_routes_config_pb.ts";
import { unpackAny } from "../config/any.ts";
import type { HeaderMap } from "../http/header_map.ts";

/** The 3xx codes a policy may name; others are ignored, as in Envoy. */
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

const PREVIOUS_ROUTES =
  "envoy.extensions.internal_redirect.previous_routes.v3.PreviousRoutesConfig";
const ALLOW_LISTED_ROUTES =
  "envoy.extensions.internal_redirect.allow_listed_routes.v3.AllowListedRoutesConfig";
const SAFE_CROSS_SCHEME =
  "envoy.extensions.internal_redirect.safe_cross_scheme.v3.SafeCrossSchemeConfig";

/** `StreamInfo.filterState` key of the state that follows a request across its redirects. */
export const INTERNAL_REDIRECT_STATE = "envoy.router.internal_redirect";

/** What one request has been through: how many redirects, and each predicate's memory. */
export interface InternalRedirectState {
  count: number;
  /** previous_routes: per route holding the predicate, the routes its redirects targeted. */
  previousRoutes: Map<string, Set<string>>;
}

/** One `envoy.internal_redirect_predicates` extension. */
export interface InternalRedirectPredicate {
  /** The extension's name, for logs. */
  readonly name: string;
  /** Whether a redirect to `targetRoute` may go ahead. */
  accept(
    state: InternalRedirectState,
    targetRoute: string,
    downstreamIsHttps: boolean,
    targetIsHttps: boolean,
  ): boolean;
}

/** A compiled `InternalRedirectPolicy`. */
export interface InternalRedirectPolicy {
  readonly redirectResponseCodes: ReadonlySet<number>;
  /** `max_internal_redirects` (1 by default). */
  readonly maxInternalRedirects: number;
  readonly allowCrossSchemeRedirect: boolean;
  readonly predicates: readonly InternalRedirectPredicate[];
  /** `response_headers_to_copy`, lower case. */
  readonly responseHeadersToCopy: readonly string[];
}

/**
 * Compiles a route's `internal_redirect_policy`.
 *
 * @param routeName the route's name (previous_routes remembers targets per source route).
 * @throws {Error} for a header Envoy refuses to copy and for predicates denvoy does not have.
 */
export function compileInternalRedirectPolicy(
  p: InternalRedirectPolicyProto,
  field: string,
  routeName = "",
): InternalRedirectPolicy {
  const codes = p.redirectResponseCodes.filter((c) => REDIRECT_CODES.has(c));
  const responseHeadersToCopy = p.responseHeadersToCopy.map((h, i) => {
    const name = h.toLowerCase();
    if (name.startsWith(":") || name === "host") {
      throw new Error(
        `${field}.response_headers_to_copy[${i}]: :-prefixed headers or Hosts may not be specified here.`,
      );
    }
    return name;
  });
  const predicates = p.predicates.map((tc, i): InternalRedirectPredicate => {
    const any = tc.typedConfig;
    const type = any?.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
    switch (type) {
      case PREVIOUS_ROUTES:
        return previousRoutesPredicate(tc.name, routeName);
      case ALLOW_LISTED_ROUTES: {
        const names = new Set(unpackAny<AllowListedRoutesConfig>(any!)?.allowedRouteNames ?? []);
        if (names.size === 0) {
          throw new Error(
            `${field}.predicates[${i}]: allowed_route_names: value must contain at least 1 item(s)`,
          );
        }
        return { name: tc.name, accept: (_s, target) => names.has(target) };
      }
      case SAFE_CROSS_SCHEME:
        // A request that came over HTTPS is never redirected to plain HTTP.
        return { name: tc.name, accept: (_s, _t, fromHttps, toHttps) => !fromHttps || toHttps };
      default:
        throw new Error(
          `${field}.predicates[${i}]: internal redirect predicate '${tc.name}'${
            type ? ` (${type})` : ""
          } is not supported`,
        );
    }
  });
  return {
    // Only 302 when none are listed; none at all when every listed code is invalid.
    redirectResponseCodes: new Set(p.redirectResponseCodes.length > 0 ? codes : [302]),
    maxInternalRedirects: p.maxInternalRedirects ?? 1,
    allowCrossSchemeRedirect: p.allowCrossSchemeRedirect,
    predicates,
    responseHeadersToCopy,
  };
}

/** previous_routes: a source route may redirect to each target route once per request. */
function previousRoutesPredicate(name: string, sourceRoute: string): InternalRedirectPredicate {
  return {
    name,
    accept(state, target) {
      let seen = state.previousRoutes.get(sourceRoute);
      if (!seen) state.previousRoutes.set(sourceRoute, seen = new Set());
      if (seen.has(target)) return false;
      seen.add(target);
      return true;
    },
  };
}

/** An absolute `Location`, split as the redirected request needs it. */
export interface RedirectTarget {
  /** Lower case. */
  readonly scheme: string;
  /** Host and port, without user info. */
  readonly authority: string;
  /** Path and query, without a fragment; "/" when the URL has no path. */
  readonly pathAndQuery: string;
}

/** Parses an absolute URL (`scheme://authority/path?query#fragment`); undefined if it is not one. */
export function parseRedirectLocation(location: string): RedirectTarget | undefined {
  // Whitespace and control characters make a URL invalid.
  for (let i = 0; i < location.length; i++) {
    const c = location.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return undefined;
  }
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(location);
  if (!m) return undefined;
  const authority = m[2].slice(m[2].lastIndexOf("@") + 1);
  if (authority === "" || authority.startsWith(":")) return undefined;
  let rest = m[3];
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  return {
    scheme: m[1].toLowerCase(),
    authority,
    pathAndQuery: rest.startsWith("/") ? rest : `/${rest}`,
  };
}

/**
 * Copies `names` from the redirect response into the request: present ones replace the
 * request's values, absent ones are removed from the request.
 */
export function copyResponseHeaders(
  names: readonly string[],
  response: HeaderMap,
  request: HeaderMap,
): void {
  for (const name of names) {
    const values = response.getAll(name);
    request.remove(name);
    for (const v of values) request.add(name, v);
  }
}
