import { assertEquals } from "../testing/assert.ts";
import { waitForDrain } from "./graceful_shutdown.ts";

Deno.test("waitForDrain resolves once no connection is left", async () => {
  const counts = [3, 1, 0];
  let asked = 0;
  const drained = await waitForDrain(() => Promise.resolve(counts[asked++]), 10_000, 1);
  assertEquals(drained, true);
  assertEquals(asked, 3);
});

Deno.test("waitForDrain gives up when the drain time is over", async () => {
  assertEquals(await waitForDrain(() => Promise.resolve(1), 5, 1), false);
});

Deno.test("a failing count counts as connections still open", async () => {
  assertEquals(await waitForDrain(() => Promise.reject(new Error("gone")), 5, 1), false);
});
