/**
 * Envoy's `LocalRateLimiterImpl`: the default token bucket plus one bucket per configured
 * descriptor. A request's descriptors (from the route's `rate_limits`) select the configured
 * descriptors they equal entry for entry (no partial match); every selected bucket gives a
 * token, the strictest first (fewest tokens per second), and the request is limited as soon as
 * one is empty. The default bucket gives one too when nothing matched, or always with
 * `always_consume_default_token_bucket` (the default).
 *
 * @module
 */
import type { LocalRateLimitDescriptor } from "../../../../../proto/gen/envoy/extensions/common/ratelimit/v3/ratelimit_pb.ts";
import type { RateLimitDescriptor } from "../../../../router/rate_limit_policy.ts";
import type { SharedTokenBucket, TokenBucketConfig } from "./token_bucket.ts";
import { tokenBucketConfig, tokenBucketProblem } from "./token_bucket.ts";

/** A descriptor's identity: its entries joined (keys and values cannot hold NUL). */
export function descriptorKey(entries: readonly (readonly [string, string])[]): string {
  let k = "";
  for (const [key, value] of entries) k += `${key}\0${value}\0`;
  return k;
}

/** A configured descriptor: its key and bucket settings. */
export interface DescriptorSpec {
  readonly key: string;
  readonly bucket: TokenBucketConfig;
}

/**
 * Reads `descriptors` against the default bucket `dflt`, checking what Envoy checks when it
 * builds the limiter. Returns them strictest first, with where each was configured.
 *
 * @throws {Error} naming the field, for a bad fill interval, one that is not a multiple of the
 *   default bucket's, or a descriptor listed twice.
 */
export function compileDescriptors(
  list: readonly LocalRateLimitDescriptor[],
  dflt: TokenBucketConfig,
  field: string,
): (DescriptorSpec & { index: number })[] {
  const seen = new Set<string>();
  const out = list.map((d, i) => {
    const at = `${field}[${i}]`;
    const bucket = tokenBucketConfig(d.tokenBucket);
    const bad = tokenBucketProblem(bucket, `${at}.token_bucket`);
    if (bad) throw new Error(bad);
    if (dflt.fillIntervalMs === 0 || bucket.fillIntervalMs % dflt.fillIntervalMs !== 0) {
      throw new Error(
        `${at}.token_bucket.fill_interval: local rate descriptor limit is not a multiple of ` +
          `token bucket fill timer`,
      );
    }
    const key = descriptorKey(d.entries.map((e) => [e.key, e.value] as const));
    if (seen.has(key)) {
      throw new Error(`${at}: duplicate descriptor in the local rate descriptor`);
    }
    seen.add(key);
    return { key, bucket, index: i };
  });
  // Envoy's order: tokens per fill over whole seconds of the interval (at least 1), a stable sort.
  const perSecond = (b: TokenBucketConfig) =>
    Math.trunc(b.tokensPerFill / (Math.trunc(b.fillIntervalMs / 1000) || 1));
  return out.sort((a, b) => perSecond(a.bucket) - perSecond(b.bucket));
}

/** The outcome of one request. */
export interface LimitResult {
  readonly allowed: boolean;
  /** The bucket the `x-ratelimit-*` headers describe: the first matched descriptor's, else the default. */
  readonly bucket: SharedTokenBucket;
}

/** The default bucket and the descriptors' buckets of one filter config (or one connection). */
export class LocalRateLimiter {
  /** The outcomes of requests that match no descriptor (made once: none per request). */
  readonly #allowed: LimitResult;
  readonly #limited: LimitResult;

  /**
   * @param descriptors strictest first (see compileDescriptors), each with its bucket.
   */
  constructor(
    readonly defaultBucket: SharedTokenBucket,
    readonly descriptors: readonly { key: string; bucket: SharedTokenBucket }[],
    readonly alwaysConsumeDefault: boolean,
  ) {
    this.#allowed = { allowed: true, bucket: defaultBucket };
    this.#limited = { allowed: false, bucket: defaultBucket };
  }

  /** Takes the request's tokens; `request` are the request's descriptors in order. */
  requestAllowed(request: readonly RateLimitDescriptor[]): LimitResult {
    let headerBucket: SharedTokenBucket | undefined;
    let matched = false;
    if (this.descriptors.length > 0 && request.length > 0) {
      const keys = request.map(descriptorKey);
      // The headers describe the first request descriptor that is configured.
      for (const k of keys) {
        headerBucket = this.descriptors.find((d) => d.key === k)?.bucket;
        if (headerBucket) break;
      }
      for (const d of this.descriptors) {
        if (!keys.includes(d.key)) continue;
        matched = true;
        if (!d.bucket.consume()) {
          return { allowed: false, bucket: headerBucket ?? this.defaultBucket };
        }
      }
    }
    if (!headerBucket) return this.defaultBucket.consume() ? this.#allowed : this.#limited;
    if (!matched || this.alwaysConsumeDefault) {
      return { allowed: this.defaultBucket.consume(), bucket: headerBucket };
    }
    return { allowed: true, bucket: headerBucket };
  }
}
