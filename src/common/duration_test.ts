import { assertEquals } from "../testing/assert.ts";
import { durationMs } from "./duration.ts";

Deno.test("durationMs: whole milliseconds, truncated; the default when unset", () => {
  assertEquals(durationMs({ seconds: 2n, nanos: 999_999 } as never, 0), 2000);
  assertEquals(durationMs({ seconds: 0n, nanos: 1_500_000 } as never, 0), 1);
  assertEquals(durationMs(undefined, 7), 7);
  assertEquals(durationMs(undefined, undefined), undefined);
});
