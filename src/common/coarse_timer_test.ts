import { assert, assertEquals } from "../testing/assert.ts";
import { CoarseTimer, RESOLUTION_MS } from "./coarse_timer.ts";

Deno.test("a coarse timer fires once, no earlier than armed and within the resolution", async () => {
  let fired = 0;
  let at = 0;
  const t = new CoarseTimer(() => {
    fired++;
    at = performance.now();
  });
  const start = performance.now();
  t.arm(60);
  // Keep the test alive past the deadline: the interval itself is unref'd.
  await new Promise((r) => setTimeout(r, 60 + 4 * RESOLUTION_MS));
  assertEquals(fired, 1);
  assert(at - start >= 60, `fired after ${at - start} ms`);
  assertEquals(t.armed, false);
});

Deno.test("re-arming moves the deadline; disarm cancels", async () => {
  let fired = 0;
  const t = new CoarseTimer(() => fired++);
  t.arm(30);
  t.arm(10_000);
  const u = new CoarseTimer(() => fired++);
  u.arm(30);
  u.disarm();
  await new Promise((r) => setTimeout(r, 30 + 4 * RESOLUTION_MS));
  assertEquals(fired, 0);
  assert(t.armed);
  t.disarm();
});
