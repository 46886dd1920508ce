import { create } from "@bufbuild/protobuf";
import { assertEquals, assertMatch } from "../../../../testing/assert.ts";
import { LocalRateLimitDescriptorSchema } from "../../../../../proto/gen/envoy/extensions/common/ratelimit/v3/ratelimit_pb.ts";
import { ownBucket } from "./bucket_memory.ts";
import { compileDescriptors, LocalRateLimiter } from "./local_rate_limiter.ts";
import type { TokenBucketConfig } from "./token_bucket.ts";

/** The message of what `f` throws. */
function errorOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

const DEFAULT: TokenBucketConfig = { maxTokens: 10, tokensPerFill: 10, fillIntervalMs: 1000 };

function descriptor(entries: [string, string][], maxTokens: number, fillIntervalSeconds = 1) {
  return create(LocalRateLimitDescriptorSchema, {
    entries: entries.map(([key, value]) => ({ key, value })),
    tokenBucket: {
      maxTokens,
      tokensPerFill: maxTokens,
      fillInterval: { seconds: BigInt(fillIntervalSeconds) },
    },
  });
}

function limiter(
  list: ReturnType<typeof descriptor>[],
  alwaysConsumeDefault = true,
  dflt = DEFAULT,
) {
  const specs = compileDescriptors(list, dflt, "descriptors");
  const l = new LocalRateLimiter(
    ownBucket(dflt),
    specs.map((s) => ({ key: s.key, bucket: ownBucket(s.bucket) })),
    alwaysConsumeDefault,
  );
  return l;
}

Deno.test("local rate limiter: a descriptor applies only on a full, ordered match", () => {
  const l = limiter([descriptor([["client", "a"], ["path", "/x"]], 1)]);
  const full = [[["client", "a"], ["path", "/x"]]] as const;
  assertEquals(l.requestAllowed(full).allowed, true);
  assertEquals(l.requestAllowed(full).allowed, false);
  // A subset, another order or another value is not that descriptor: the default bucket decides.
  assertEquals(l.requestAllowed([[["client", "a"]]]).allowed, true);
  assertEquals(l.requestAllowed([[["path", "/x"], ["client", "a"]]]).allowed, true);
  assertEquals(l.requestAllowed([[["client", "b"], ["path", "/x"]]]).allowed, true);
  assertEquals(l.requestAllowed([]).allowed, true);
});

Deno.test("local rate limiter: the default bucket is consumed too unless always_consume_default_token_bucket is false", () => {
  const dflt = { maxTokens: 2, tokensPerFill: 2, fillIntervalMs: 1000 };
  const always = limiter([descriptor([["k", "v"]], 5)], true, dflt);
  const d = [[["k", "v"]]] as const;
  assertEquals([1, 2, 3].map(() => always.requestAllowed(d).allowed), [true, true, false]);
  const matchedOnly = limiter([descriptor([["k", "v"]], 5)], false, dflt);
  assertEquals(
    [1, 2, 3, 4, 5, 6].map(() => matchedOnly.requestAllowed(d).allowed),
    [true, true, true, true, true, false],
  );
  // Unmatched requests still take from the default bucket.
  assertEquals([1, 2, 3].map(() => matchedOnly.requestAllowed([]).allowed), [true, true, false]);
});

Deno.test("local rate limiter: the x-ratelimit bucket is the first matched request descriptor's", () => {
  const l = limiter([descriptor([["a", "1"]], 3), descriptor([["b", "2"]], 4)]);
  const r = l.requestAllowed([[["x", "0"]], [["b", "2"]], [["a", "1"]]]);
  assertEquals(r.allowed, true);
  assertEquals(r.bucket.config.maxTokens, 4);
  assertEquals(l.requestAllowed([]).bucket.config.maxTokens, 10);
});

Deno.test("local rate limiter: the strictest matched descriptor is consumed first", () => {
  // Listed loose first; the strict one (1 per second) is tried first, so a request it limits
  // leaves the loose one's tokens alone.
  const l = limiter([descriptor([["loose", "x"]], 100), descriptor([["strict", "x"]], 1)]);
  const both = [[["loose", "x"]], [["strict", "x"]]] as const;
  assertEquals(l.requestAllowed(both).allowed, true);
  assertEquals(l.requestAllowed(both).allowed, false);
  assertEquals(l.descriptors[1].bucket.remaining(), 99);
});

Deno.test("local rate limiter: Envoy's checks on descriptors", () => {
  assertMatch(
    errorOf(() =>
      compileDescriptors(
        [descriptor([["k", "v"]], 1, 1)],
        { ...DEFAULT, fillIntervalMs: 3000 },
        "descriptors",
      )
    ),
    /descriptors\[0\]\.token_bucket\.fill_interval: local rate descriptor limit is not a multiple/,
  );
  assertMatch(
    errorOf(() =>
      compileDescriptors(
        [descriptor([["k", "v"]], 1), descriptor([["k", "v"]], 2)],
        DEFAULT,
        "descriptors",
      )
    ),
    /descriptors\[1\]: duplicate descriptor/,
  );
});
