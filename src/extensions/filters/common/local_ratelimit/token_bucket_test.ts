import { assertEquals } from "../../../../testing/assert.ts";
import { newBucketMemory, ownBucket, sharedBucket } from "./bucket_memory.ts";
import { tokenBucketConfig, tokenBucketProblem } from "./token_bucket.ts";

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { clock: () => now, advance: (ms: number) => void (now += ms) };
}

const consumeAll = (b: { consume(): boolean }) => {
  let n = 0;
  while (b.consume()) n++;
  return n;
};

Deno.test("token bucket: starts full, refills tokens_per_fill at each interval, capped at max_tokens", () => {
  const t = manualClock();
  const b = ownBucket({ maxTokens: 5, tokensPerFill: 2, fillIntervalMs: 1000 }, t.clock);
  assertEquals(consumeAll(b), 5);
  t.advance(999);
  assertEquals(b.consume(), false);
  t.advance(1);
  assertEquals(consumeAll(b), 2);
  // Three intervals pass with nobody asking: 6 tokens are due, the bucket holds 5.
  t.advance(3000);
  assertEquals(b.remaining(), 5);
  assertEquals(consumeAll(b), 5);
});

Deno.test("token bucket: fills land on the bucket's own boundaries, however late they are read", () => {
  const t = manualClock();
  const b = ownBucket({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 100 }, t.clock);
  assertEquals(b.consume(), true);
  t.advance(150); // one fill at 100
  assertEquals(b.consume(), true);
  t.advance(49); // 199: the next fill is at 200, not 250
  assertEquals(b.consume(), false);
  t.advance(1);
  assertEquals(b.consume(), true);
});

Deno.test("token bucket: x-ratelimit-reset is the interval less whole seconds since the last fill", () => {
  const t = manualClock();
  const b = ownBucket({ maxTokens: 10, tokensPerFill: 1, fillIntervalMs: 60_000 }, t.clock);
  assertEquals(b.resetSeconds(), 60);
  t.advance(10_500);
  assertEquals(b.resetSeconds(), 50);
  t.advance(50_000); // 60.5 s: a fill happened at 60 s
  assertEquals(b.resetSeconds(), 60);
});

Deno.test("token bucket: without token_bucket the bucket is empty and never refills", () => {
  const t = manualClock();
  const b = ownBucket(tokenBucketConfig(undefined), t.clock);
  assertEquals(b.consume(), false);
  t.advance(10_000_000);
  assertEquals(b.consume(), false);
});

Deno.test("token bucket: Envoy's limits on the settings", () => {
  assertEquals(
    tokenBucketProblem({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 49 }, "token_bucket"),
    "token_bucket.fill_interval: local rate limit token bucket fill timer must be >= 50ms",
  );
  assertEquals(
    tokenBucketProblem({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 0 }, "tb"),
    "tb.fill_interval: must be greater than 0",
  );
  assertEquals(
    tokenBucketProblem({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 50 }, "tb"),
    undefined,
  );
});

Deno.test("bucket memory: one key is one bucket for every isolate that maps the memory", () => {
  const t = manualClock();
  const m = newBucketMemory(4);
  const cfg = { maxTokens: 3, tokensPerFill: 3, fillIntervalMs: 1000 };
  // Two views of the same key stand for two workers.
  const a = sharedBucket(m, "http|x", cfg, t.clock);
  t.advance(400); // the second worker comes later: the origin is the first one's
  const b = sharedBucket(m, "http|x", cfg, t.clock);
  assertEquals(a.consume(), true);
  assertEquals(b.consume(), true);
  assertEquals(a.consume(), true);
  assertEquals(b.consume(), false);
  t.advance(600);
  assertEquals(b.remaining(), 3);
  // Another key has its own bucket.
  assertEquals(sharedBucket(m, "http|y", cfg, t.clock).remaining(), 3);
});

Deno.test("bucket memory: with the table full, a new key gets a bucket of this isolate's own", () => {
  const m = newBucketMemory(1);
  const cfg = { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 1000 };
  sharedBucket(m, "a", cfg);
  const b1 = sharedBucket(m, "b", cfg);
  const b2 = sharedBucket(m, "b", cfg);
  assertEquals([b1.consume(), b2.consume()], [true, true]);
});

Deno.test("token bucket: max_tokens beyond an Int32 holds 2^31 - 1 tokens", () => {
  const c = tokenBucketConfig(
    { maxTokens: 4_000_000_000, tokensPerFill: 4_000_000_000 } as Parameters<
      typeof tokenBucketConfig
    >[0],
  );
  const b = ownBucket(c);
  assertEquals(b.remaining(), 0x7fffffff);
  assertEquals(b.consume(), true);
});
