/** Factory of the gRPC statistics filter (`envoy.filters.http.grpc_stats`). */
import type { FilterConfig } from "../../../../../proto/gen/envoy/extensions/filters/http/grpc_stats/v3/config_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { GRPC_STATS_FILTER_NAME, grpcStatsFilterFactory } from "./grpc_stats_filter.ts";

/** Factory for the gRPC statistics filter. */
export const grpcStatsFactory: ExtensionFactory = {
  name: GRPC_STATS_FILTER_NAME,
  category: "envoy.filters.http",
  configTypes: ["envoy.extensions.filters.http.grpc_stats.v3.FilterConfig"],
  // enable_upstream_stats (upstream_rq_time) stays refused.
  fields: {
    implemented: {
      "envoy.extensions.filters.http.grpc_stats.v3.FilterConfig": [
        "emit_filter_state",
        "individual_method_stats_allowlist",
        "stats_for_all_methods",
        "replace_dots_in_grpc_service_name",
      ],
      "envoy.config.core.v3.GrpcMethodList": ["services"],
      "envoy.config.core.v3.GrpcMethodList.Service": ["name", "method_names"],
    },
  },
  createHttpFilter: (config, server) => {
    const c = config && unpackAny<FilterConfig>(config);
    const spec = c?.perMethodStatSpecifier;
    let allowlist: Map<string, Set<string>> | undefined;
    if (spec?.case === "individualMethodStatsAllowlist") {
      allowlist = new Map();
      for (const s of spec.value.services) {
        const methods = allowlist.get(s.name) ?? new Set<string>();
        for (const m of s.methodNames) methods.add(m);
        allowlist.set(s.name, methods);
      }
    }
    return grpcStatsFilterFactory({
      emitFilterState: c?.emitFilterState ?? false,
      allowlist,
      // Envoy's default: method names only from the allowlist.
      statsForAllMethods: spec?.case === "statsForAllMethods" ? spec.value.value : false,
      replaceDotsInGrpcServiceName: c?.replaceDotsInGrpcServiceName ?? false,
    }, server.stats);
  },
};
