import { assert, assertEquals } from "../testing/assert.ts";
import { monotonicNow } from "./monotonic_time.ts";

Deno.test("monotonicNow: one reading per batch of events, a fresh one in the next", async () => {
  const a = monotonicNow();
  // Synchronous work in the same batch sees the same time, however long it takes.
  const until = performance.now() + 3;
  while (performance.now() < until) { /* spin */ }
  assertEquals(monotonicNow(), a);
  await new Promise((r) => setTimeout(r, 5));
  const b = monotonicNow();
  assert(b >= a + 3, `${b} should be read anew after a timer (${a})`);
  assert(Math.abs(b - performance.now()) < 50);
});

Deno.test("monotonicNow: the reading is forgotten once the batch's microtasks have run", async () => {
  const a = monotonicNow();
  const until = performance.now() + 2;
  while (performance.now() < until) { /* spin */ }
  await Promise.resolve();
  await Promise.resolve();
  assert(monotonicNow() > a);
});
