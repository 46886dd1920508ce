/** Factory of the CORS filter (`envoy.filters.http.cors`) and of its per-route `CorsPolicy`. */
import type { Message } from "@bufbuild/protobuf";
import type { CorsPolicy as CorsPolicyProto } from "../../../../../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { reportCompileError } from "../common/report_compile_error.ts";
import { CorsPolicy } from "../../../../router/cors_policy.ts";
import { CORS_FILTER_NAME, CORS_POLICY_TYPE, corsFilterFactory, CorsStats } from "./cors_filter.ts";

const POLICY_FIELDS = [
  "allow_origin_string_match",
  "allow_methods",
  "allow_headers",
  "expose_headers",
  "max_age",
  "allow_credentials",
  "shadow_enabled",
  "allow_private_network_access",
  "forward_not_matching_preflights",
  "filter_enabled",
];

/** Factory for the CORS filter. */
export const corsFactory: ExtensionFactory = {
  name: CORS_FILTER_NAME,
  category: "envoy.filters.http",
  configTypes: ["envoy.extensions.filters.http.cors.v3.Cors"],
  perRouteConfigTypes: [CORS_POLICY_TYPE],
  fields: {
    implemented: {
      "envoy.extensions.filters.http.cors.v3.Cors": [],
      [CORS_POLICY_TYPE]: POLICY_FIELDS,
      // The deprecated policies of the route configuration, which the filter reads when no
      // level has a typed one (compiled with the route table: router/cors_policy.ts).
      "envoy.config.route.v3.VirtualHost": ["cors"],
      "envoy.config.route.v3.RouteAction": ["cors"],
      "envoy.config.route.v3.CorsPolicy": POLICY_FIELDS,
    },
  },
  validate(config: Message, ctx) {
    if (config.$typeName !== CORS_POLICY_TYPE) return;
    reportCompileError(ctx, () => new CorsPolicy(config as CorsPolicyProto, ""));
  },
  createHttpFilter: (_config, server, statPrefix, filterName) =>
    corsFilterFactory(
      new CorsStats(server.stats.scope(statPrefix)),
      filterName ?? CORS_FILTER_NAME,
    ),
};
