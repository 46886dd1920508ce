/**
 * `ApiConfigSource.rate_limit_settings`: a token bucket on the discovery requests a gRPC xDS
 * stream sends (Envoy's TokenBucketImpl in GrpcStream). The bucket starts full; a request takes
 * a token; one that finds none waits, counted in `control_plane.rate_limit_enforced`, until a
 * token fills in.
 *
 * @module
 */
import type { RateLimitSettings } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";

/** Envoy's defaults when `rate_limit_settings` is set without them. */
export const DEFAULT_MAX_TOKENS = 100;
export const DEFAULT_FILL_RATE = 10;

/** A token bucket refilled continuously at `fillRate` tokens per second, up to `maxTokens`. */
export class TokenBucket {
  #tokens: number;
  #lastMs: number;

  constructor(
    readonly maxTokens: number,
    readonly fillRate: number,
    readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = maxTokens;
    this.#lastMs = now();
  }

  #refill(): void {
    const t = this.now();
    this.#tokens = Math.min(
      this.maxTokens,
      this.#tokens + ((t - this.#lastMs) / 1000) * this.fillRate,
    );
    this.#lastMs = t;
  }

  /** Takes a token if there is one. */
  consume(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is there (0: one is). */
  nextTokenMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.fillRate) * 1000);
  }
}

/** The bucket `settings` ask for, or undefined when requests are not limited. */
export function requestLimiter(settings: RateLimitSettings | undefined): TokenBucket | undefined {
  if (!settings) return undefined;
  const fillRate = settings.fillRate ?? DEFAULT_FILL_RATE;
  // The API's validation: fill_rate > 0 (a bucket that never fills would stall the stream).
  if (!(fillRate > 0) || !Number.isFinite(fillRate)) {
    throw new Error(`rate_limit_settings.fill_rate: must be greater than 0, got ${fillRate}`);
  }
  return new TokenBucket(settings.maxTokens ?? DEFAULT_MAX_TOKENS, fillRate);
}
