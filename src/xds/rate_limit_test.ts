import { create } from "@bufbuild/protobuf";
import { RateLimitSettingsSchema } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { requestLimiter, TokenBucket } from "./rate_limit.ts";

Deno.test("token bucket: starts full, refills at fill_rate per second up to max_tokens", () => {
  let now = 0;
  const b = new TokenBucket(2, 4, () => now);
  assertEquals([b.consume(), b.consume(), b.consume()], [true, true, false]);
  assertEquals(b.nextTokenMs(), 250);
  now = 100;
  assertEquals(b.consume(), false);
  assertEquals(b.nextTokenMs(), 150);
  now = 250;
  assertEquals(b.consume(), true);
  now = 10_000;
  assertEquals([b.consume(), b.consume(), b.consume()], [true, true, false]);
});

Deno.test("rate_limit_settings: Envoy's defaults (100 tokens, 10 per second); fill_rate > 0", () => {
  assertEquals(requestLimiter(undefined), undefined);
  const b = requestLimiter(create(RateLimitSettingsSchema, {}))!;
  assertEquals([b.maxTokens, b.fillRate], [100, 10]);
  let error = "";
  try {
    requestLimiter(create(RateLimitSettingsSchema, { fillRate: 0 }));
  } catch (e) {
    error = (e as Error).message;
  }
  assertMatch(error, /fill_rate: must be greater than 0/);
});
