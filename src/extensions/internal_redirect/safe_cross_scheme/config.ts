/**
 * The internal redirect predicate `envoy.internal_redirect_predicates.safe_cross_scheme`: never follows an HTTPS request's redirect to plain HTTP. Named in a route's
 * `internal_redirect_policy.predicates`; router/internal_redirect.ts compiles and applies it.
 */
import type { ExtensionFactory } from "../../../config/extensions.ts";

const CONFIG_TYPE = "envoy.extensions.internal_redirect.safe_cross_scheme.v3.SafeCrossSchemeConfig";

/** Factory for the `safe_cross_scheme` predicate (config only; the router builds the predicate). */
export const safeCrossSchemePredicateFactory: ExtensionFactory = {
  name: "envoy.internal_redirect_predicates.safe_cross_scheme",
  category: "envoy.internal_redirect_predicates",
  configTypes: [CONFIG_TYPE],
  fields: { implemented: { [CONFIG_TYPE]: [] } },
};
