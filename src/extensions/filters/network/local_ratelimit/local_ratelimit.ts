/**
 * The network local rate limit filter (`envoy.filters.network.local_ratelimit`): each new
 * connection of its filter chain takes a token from its bucket; without one the connection is
 * closed at once (nothing flushed), counted in `local_rate_limit.<stat_prefix>.rate_limited`,
 * with response flag URX and termination details `local_ratelimit_close_over_limit` for the
 * listener's access logs. `runtime_enabled` (on by default) switches it off.
 *
 * The bucket is the process's (every worker takes from it, shared memory). Filters whose
 * `share_key` and `token_bucket` are both equal share one bucket, as Envoy's do; without a
 * `share_key` each filter has its own.
 *
 * @module
 */
import type { LocalRateLimit } from "../../../../../proto/gen/envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit_pb.ts";
import type { NetworkFilterFactoryCb } from "../../../../network/filter.ts";
import { runtimeSnapshot } from "../../../../runtime/runtime.ts";
import type { Store } from "../../../../stats/store.ts";
import {
  type BucketMemory,
  localRateLimitMemory,
  sharedBucket,
} from "../../common/local_ratelimit/bucket_memory.ts";
import {
  tokenBucketConfig,
  tokenBucketProblem,
} from "../../common/local_ratelimit/token_bucket.ts";

/** The filter's well-known name. */
export const NETWORK_LOCAL_RATELIMIT_NAME = "envoy.filters.network.local_ratelimit";

/** What the filter is built with besides its config. */
export interface NetworkLocalRateLimitContext {
  stats: Store;
  /** Where the filter is configured (listener, chain, filter): its bucket without `share_key`. */
  placement: string;
  /** Where shared buckets live; the process's by default. */
  memory?: BucketMemory;
}

/**
 * Builds the filter: the per-connection callback that admits or closes each connection.
 *
 * @throws {Error} naming the field, for a config Envoy rejects.
 */
export function networkLocalRateLimitFilter(
  c: LocalRateLimit,
  ctx: NetworkLocalRateLimitContext,
): NetworkFilterFactoryCb {
  const bucketConfig = tokenBucketConfig(c.tokenBucket);
  const bad = tokenBucketProblem(bucketConfig, "token_bucket");
  if (bad) throw new Error(bad);
  const b = bucketConfig;
  const tokenBucket = `${b.maxTokens}/${b.tokensPerFill}/${b.fillIntervalMs}`;
  const key = c.shareKey === ""
    ? `network|${ctx.placement}|${c.statPrefix}|${tokenBucket}`
    : `network_share|${c.shareKey}|${tokenBucket}`;
  const bucket = sharedBucket(ctx.memory ?? localRateLimitMemory(), key, bucketConfig);
  const rateLimited = ctx.stats.counter(`local_rate_limit.${c.statPrefix}.rate_limited`);
  const flag = c.runtimeEnabled;
  const runtimeKey = flag?.runtimeKey ?? "";
  const enabledByDefault = flag?.defaultValue ?? true;
  return (conn, cctx) => {
    if (!runtimeSnapshot().getBoolean(runtimeKey, enabledByDefault)) return "continue";
    if (bucket.consume()) return "continue";
    rateLimited.inc();
    const si = cctx.streamInfo;
    if (si) {
      si.setFlag("URX");
      si.connectionTerminationDetails = "local_ratelimit_close_over_limit";
    }
    conn.close();
    return "stop";
  };
}
