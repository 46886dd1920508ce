/**
 * The token buckets of the local rate limit filters (HTTP and network), as Envoy's
 * `LocalRateLimiterImpl` keeps them: a bucket starts full with `max_tokens`, every
 * `fill_interval` it gains `tokens_per_fill` (never above `max_tokens`), and each request or
 * connection takes one token or is limited.
 *
 * Envoy refills on a main-thread timer and its buckets are shared by every worker. Workers here
 * are isolates, so a bucket's cells live in shared memory (bucket_memory.ts) and the refill is
 * lazy: whoever takes or reads a token first after a fill boundary adds the fills that are due,
 * counted from the bucket's origin. The bucket holds the same tokens at every instant as with
 * Envoy's timer, without a timer per bucket.
 *
 * @module
 */
import { monotonicNow } from "../../../../common/monotonic_time.ts";
import type { TokenBucket as TokenBucketProto } from "../../../../../proto/gen/envoy/type/v3/token_bucket_pb.ts";

/** A token bucket's settings (`type.v3.TokenBucket`). */
export interface TokenBucketConfig {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  /** 0: the bucket is never refilled (no `token_bucket` configured). */
  readonly fillIntervalMs: number;
}

/** Envoy refuses faster refills: "local rate limit token bucket fill timer must be >= 50ms". */
export const MIN_FILL_INTERVAL_MS = 50;

/** Tokens a bucket can hold: its cell is an Int32 (2^31 - 1 tokens are as good as unlimited). */
const MAX_TOKENS = 0x7fffffff;

/** Reads a `token_bucket` (Envoy's defaults: one token per fill); undefined gives an empty one. */
export function tokenBucketConfig(tb: TokenBucketProto | undefined): TokenBucketConfig {
  const fi = tb?.fillInterval;
  return {
    maxTokens: Math.min(tb?.maxTokens ?? 0, MAX_TOKENS),
    tokensPerFill: tb?.tokensPerFill ?? 1,
    fillIntervalMs: fi ? Number(fi.seconds) * 1000 + Math.floor(fi.nanos / 1_000_000) : 0,
  };
}

/** The fields of `type.v3.TokenBucket`, all implemented. */
export const TOKEN_BUCKET_FIELDS = {
  "envoy.type.v3.TokenBucket": ["max_tokens", "tokens_per_fill", "fill_interval"],
} as const;

/**
 * Why a configured bucket `c` cannot be used, or undefined; `field` (the bucket's path) starts
 * the message. (The API's rules on `max_tokens` and `tokens_per_fill` are the loader's; its
 * `fill_interval` is checked here.)
 */
export function tokenBucketProblem(c: TokenBucketConfig, field: string): string | undefined {
  if (c.fillIntervalMs <= 0) return `${field}.fill_interval: must be greater than 0`;
  if (c.fillIntervalMs < MIN_FILL_INTERVAL_MS) {
    return `${field}.fill_interval: local rate limit token bucket fill timer must be >= 50ms`;
  }
  return undefined;
}

/** Int32 cells of one bucket: tokens left, fills applied since the origin. */
export const BUCKET_CELLS = 2;
const TOKENS = 0;
const FILLS = 1;

/** What a bucket reads the time from: milliseconds on a clock every isolate shares. */
export type Clock = () => number;

/**
 * Milliseconds since the epoch on this isolate's monotonic clock: `performance.timeOrigin` is
 * when this isolate's clock started, so every isolate of the process reads the same instant
 * (give or take the clock's resolution). The dispatcher's approximate time, as Envoy's timers
 * use: read once per batch of events.
 */
export const processClock: Clock = () => performance.timeOrigin + monotonicNow();

/** One token bucket over shared cells (`BUCKET_CELLS` Int32 from `offset`). */
export class SharedTokenBucket {
  /**
   * @param cells shared memory; the bucket's cells must start as `[maxTokens, 0]`.
   * @param origin when the bucket was made (on `clock`), shared by every isolate using it.
   */
  constructor(
    readonly config: TokenBucketConfig,
    readonly cells: Int32Array,
    readonly offset: number,
    readonly origin: number,
    readonly clock: Clock = processClock,
  ) {}

  /** Takes one token if there is one (after adding the fills due): true when taken. */
  consume(): boolean {
    this.#refill();
    const cells = this.cells;
    const i = this.offset + TOKENS;
    for (;;) {
      const cur = Atomics.load(cells, i);
      if (cur <= 0) return false;
      if (Atomics.compareExchange(cells, i, cur, cur - 1) === cur) return true;
    }
  }

  /** Tokens left now (`x-ratelimit-remaining`). */
  remaining(): number {
    this.#refill();
    return Atomics.load(this.cells, this.offset + TOKENS);
  }

  /**
   * Whole seconds until the next fill (`x-ratelimit-reset`), as Envoy computes it: the fill
   * interval less the whole seconds since the last fill, truncated to seconds.
   */
  resetSeconds(): number {
    const interval = this.config.fillIntervalMs;
    if (interval === 0) return 0;
    const fills = this.#refill();
    const sinceFill = this.clock() - (this.origin + fills * interval);
    return Math.trunc((interval - Math.floor(sinceFill / 1000) * 1000) / 1000);
  }

  /** Applies the fills due by now; returns the fills applied since the origin. */
  #refill(): number {
    const { fillIntervalMs: interval, tokensPerFill, maxTokens } = this.config;
    const cells = this.cells;
    const f = this.offset + FILLS;
    if (interval === 0) return 0;
    const due = Math.floor((this.clock() - this.origin) / interval);
    for (;;) {
      const done = Atomics.load(cells, f);
      if (due <= done) return done;
      // One isolate wins the right to add these fills; the others see them done.
      if (Atomics.compareExchange(cells, f, done, due) !== done) continue;
      const add = Math.min((due - done) * tokensPerFill, maxTokens);
      const t = this.offset + TOKENS;
      for (;;) {
        const cur = Atomics.load(cells, t);
        const next = Math.min(maxTokens, cur + add);
        if (Atomics.compareExchange(cells, t, cur, next) === cur) return due;
      }
    }
  }
}
