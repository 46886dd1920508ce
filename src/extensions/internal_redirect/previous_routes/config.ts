/**
 * The internal redirect predicate `envoy.internal_redirect_predicates.previous_routes`: refuses a redirect whose target route was already visited by this request. Named in a route's
 * `internal_redirect_policy.predicates`; router/internal_redirect.ts compiles and applies it.
 */
import type { ExtensionFactory } from "../../../config/extensions.ts";

const CONFIG_TYPE = "envoy.extensions.internal_redirect.previous_routes.v3.PreviousRoutesConfig";

/** Factory for the `previous_routes` predicate (config only; the router builds the predicate). */
export const previousRoutesPredicateFactory: ExtensionFactory = {
  name: "envoy.internal_redirect_predicates.previous_routes",
  category: "envoy.internal_redirect_predicates",
  configTypes: [CONFIG_TYPE],
  fields: { implemented: { [CONFIG_TYPE]: [] } },
};
