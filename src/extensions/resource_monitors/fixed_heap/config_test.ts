import { assertEquals } from "../../../testing/assert.ts";
import { fixedHeapMonitor } from "./config.ts";

Deno.test("fixed_heap: the process's resident set over max_heap_size_bytes", () => {
  assertEquals(fixedHeapMonitor(1000, () => 250).pressure!(), 0.25);
  const real = fixedHeapMonitor(Number.MAX_SAFE_INTEGER).pressure!();
  assertEquals(real > 0 && real < 1, true);
});
