/** Factory of the fault injection filter (`envoy.filters.http.fault`). */
import { create } from "@bufbuild/protobuf";
import type { HTTPFault } from "../../../../../proto/gen/envoy/extensions/filters/http/fault/v3/fault_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import { messageSchema } from "../../../../config/api.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { compileFaultSettings } from "./fault_config.ts";
import {
  FAULT_FILTER_NAME,
  faultFilterConfig,
  faultFilterFactory,
  FaultStats,
} from "./fault_filter.ts";

const HTTP_FAULT = "envoy.extensions.filters.http.fault.v3.HTTPFault";

/** Factory for the fault injection filter; its config is also its per-route config. */
export const faultFactory: ExtensionFactory = {
  name: FAULT_FILTER_NAME,
  category: "envoy.filters.http",
  configTypes: [HTTP_FAULT],
  fields: {
    implemented: {
      [HTTP_FAULT]: [
        "delay",
        "abort",
        "upstream_cluster",
        "headers",
        "downstream_nodes",
        "max_active_faults",
        "response_rate_limit",
        "delay_percent_runtime",
        "abort_percent_runtime",
        "delay_duration_runtime",
        "abort_http_status_runtime",
        "max_active_faults_runtime",
        "response_rate_limit_percent_runtime",
        "abort_grpc_status_runtime",
        "disable_downstream_cluster_stats",
        "filter_metadata",
      ],
      "envoy.extensions.filters.http.fault.v3.FaultAbort": [
        "http_status",
        "grpc_status",
        "header_abort",
        "percentage",
      ],
      "envoy.extensions.filters.http.fault.v3.FaultAbort.HeaderAbort": [],
      "envoy.extensions.filters.common.fault.v3.FaultDelay": [
        "fixed_delay",
        "header_delay",
        "percentage",
      ],
      "envoy.extensions.filters.common.fault.v3.FaultDelay.HeaderDelay": [],
      "envoy.extensions.filters.common.fault.v3.FaultRateLimit": [
        "fixed_limit",
        "header_limit",
        "percentage",
      ],
      "envoy.extensions.filters.common.fault.v3.FaultRateLimit.FixedLimit": ["limit_kbps"],
      "envoy.extensions.filters.common.fault.v3.FaultRateLimit.HeaderLimit": [],
    },
  },
  validate: (config, ctx) => {
    try {
      compileFaultSettings(config as HTTPFault);
    } catch (e) {
      ctx.report((e as Error).message);
    }
  },
  createHttpFilter: (config, server, statPrefix, filterName) => {
    const c = (config && unpackAny<HTTPFault>(config)) ??
      create(messageSchema<HTTPFault>(HTTP_FAULT));
    return faultFilterFactory(
      faultFilterConfig(
        compileFaultSettings(c),
        filterName ?? FAULT_FILTER_NAME,
        new FaultStats(server.stats, statPrefix),
      ),
    );
  },
};
