/** Factory of the network local rate limit filter (`envoy.filters.network.local_ratelimit`). */
import type { LocalRateLimit } from "../../../../../proto/gen/envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { Store } from "../../../../stats/store.ts";
import { newBucketMemory } from "../../common/local_ratelimit/bucket_memory.ts";
import { reportCompileError } from "../../http/common/report_compile_error.ts";
import { TOKEN_BUCKET_FIELDS } from "../../common/local_ratelimit/token_bucket.ts";
import { NETWORK_LOCAL_RATELIMIT_NAME, networkLocalRateLimitFilter } from "./local_ratelimit.ts";

const CONFIG = "envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";

/** Factory for the network local rate limit filter (it runs before the chain's terminal filter). */
export const networkLocalRateLimitFactory: ExtensionFactory = {
  name: NETWORK_LOCAL_RATELIMIT_NAME,
  category: "envoy.filters.network",
  configTypes: [CONFIG],
  fields: {
    implemented: {
      [CONFIG]: ["stat_prefix", "token_bucket", "runtime_enabled", "share_key"],
      "envoy.config.core.v3.RuntimeFeatureFlag": ["default_value", "runtime_key"],
      ...TOKEN_BUCKET_FIELDS,
    },
  },
  validate(config, ctx) {
    // Built as a worker would build it (over memory of its own), for what Envoy refuses.
    reportCompileError(ctx, () =>
      networkLocalRateLimitFilter(config as LocalRateLimit, {
        stats: new Store(),
        placement: "validate",
        memory: newBucketMemory(1),
      }));
  },
  createNetworkFilter(config, server) {
    const c = config && unpackAny<LocalRateLimit>(config);
    if (!c) throw new Error(`${NETWORK_LOCAL_RATELIMIT_NAME}: a typed_config is required`);
    return networkLocalRateLimitFilter(c, {
      stats: server.stats,
      placement: server.placement ?? "",
    });
  },
};
