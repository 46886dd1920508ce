/** Factory of the HTTP local rate limit filter (`envoy.filters.http.local_ratelimit`). */
import type { LocalRateLimit } from "../../../../../proto/gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { TOKEN_BUCKET_FIELDS } from "../../common/local_ratelimit/token_bucket.ts";
import { newBucketMemory } from "../../common/local_ratelimit/bucket_memory.ts";
import { reportCompileError } from "../common/report_compile_error.ts";
import {
  LOCAL_RATELIMIT_FILTER_NAME,
  LocalRateLimitConfig,
  localRateLimitFilterFactory,
} from "./local_ratelimit_filter.ts";
import { Store } from "../../../../stats/store.ts";

const CONFIG = "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

/** Factory for the HTTP local rate limit filter; its per-route config is the same message. */
export const localRateLimitFactory: ExtensionFactory = {
  name: LOCAL_RATELIMIT_FILTER_NAME,
  category: "envoy.filters.http",
  configTypes: [CONFIG],
  // local_cluster_rate_limit (shares by local cluster membership) stays refused.
  fields: {
    implemented: {
      [CONFIG]: [
        "stat_prefix",
        "status",
        "token_bucket",
        "filter_enabled",
        "filter_enforced",
        "request_headers_to_add_when_not_enforced",
        "response_headers_to_add",
        "descriptors",
        "stage",
        "local_rate_limit_per_downstream_connection",
        "enable_x_ratelimit_headers",
        "vh_rate_limits",
        "always_consume_default_token_bucket",
        "rate_limited_as_resource_exhausted",
      ],
      "envoy.type.v3.HttpStatus": ["code"],
      "envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor": ["entries", "token_bucket"],
      "envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.Entry": ["key", "value"],
      ...TOKEN_BUCKET_FIELDS,
    },
  },
  validate(config, ctx) {
    // Built as a worker would build it (over memory of its own), for what Envoy refuses.
    const c = config as LocalRateLimit;
    reportCompileError(ctx, () =>
      new LocalRateLimitConfig(c, new Uint8Array(), "validate", {
        stats: new Store(),
        localServiceCluster: "",
        memory: newBucketMemory(1 + c.descriptors.length),
      }, ctx.perRoute ?? false));
  },
  // `filterName` (the filter's name in its chain) keys its per-route configs, as in Envoy,
  // where the connection manager passes it; else the well-known name does.
  createHttpFilter: (config, server, statPrefix, filterName = LOCAL_RATELIMIT_FILTER_NAME) => {
    const c = config && unpackAny<LocalRateLimit>(config);
    if (!c) throw new Error(`${LOCAL_RATELIMIT_FILTER_NAME}: a typed_config is required`);
    return localRateLimitFilterFactory(c, config.value, {
      stats: server.stats,
      localServiceCluster: server.localInfo?.clusterName ?? "",
      placement: `${server.placement ?? ""}|${statPrefix}`,
      filterName,
      unpack: (any) => unpackAny<LocalRateLimit>(any),
    });
  },
};
