/**
 * The internal redirect predicate `envoy.internal_redirect_predicates.allow_listed_routes`: follows a redirect only to the routes it names. Named in a route's
 * `internal_redirect_policy.predicates`; router/internal_redirect.ts compiles and applies it.
 */
import type { ExtensionFactory } from "../../../config/extensions.ts";

const CONFIG_TYPE =
  "envoy.extensions.internal_redirect.allow_listed_routes.v3.AllowListedRoutesConfig";

/** Factory for the `allow_listed_routes` predicate (config only; the router builds the predicate). */
export const allowListedRoutesPredicateFactory: ExtensionFactory = {
  name: "envoy.internal_redirect_predicates.allow_listed_routes",
  category: "envoy.internal_redirect_predicates",
  configTypes: [CONFIG_TYPE],
  fields: { implemented: { [CONFIG_TYPE]: ["allowed_route_names"] } },
};
