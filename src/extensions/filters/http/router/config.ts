/** The router filter (`envoy.filters.http.router`): forwards requests upstream; always last. */
import type { Router } from "../../../../../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { routerFilterFactory } from "../../../../router/router_filter.ts";

/** Factory for the router filter. */
export const routerFactory: ExtensionFactory = {
  name: "envoy.filters.http.router",
  aliases: ["envoy.router"],
  category: "envoy.filters.http",
  configTypes: ["envoy.extensions.filters.http.router.v3.Router"],
  terminal: true,
  // Upstream logs, dynamic stats switches and strict header checks are not implemented.
  fields: {
    implemented: {
      "envoy.extensions.filters.http.router.v3.Router": [
        "suppress_envoy_headers",
        "respect_expected_rq_timeout",
      ],
    },
  },
  createHttpFilter: (config, server, statPrefix) => {
    const c = config && unpackAny<Router>(config);
    return routerFilterFactory(server, statPrefix, {
      suppressEnvoyHeaders: c?.suppressEnvoyHeaders ?? false,
      respectExpectedRqTimeout: c?.respectExpectedRqTimeout ?? false,
    });
  },
};
