import { assert, assertEquals } from "../testing/assert.ts";
import { CoarseTimer, RESOLUTION_MS, tickPeriod } from "./coarse_timer.ts";
import { bugCount } from "./error_boundary.ts";

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

Deno.test("many timers: only the due ones fire, a callback may disarm a later one", async () => {
  const fired: number[] = [];
  const timers: CoarseTimer[] = [];
  for (let i = 0; i < 6; i++) {
    timers.push(
      new CoarseTimer(() => {
        fired.push(i);
        // Timer 4 cancels timer 1, which is due in the same tick but fires later (the newest
        // armed timer is checked first).
        if (i === 4) timers[1].disarm();
      }),
    );
  }
  for (const i of [0, 1, 3, 4]) timers[i].arm(20);
  timers[2].arm(10_000);
  timers[5].arm(20);
  timers[5].disarm();
  await new Promise((r) => setTimeout(r, 20 + 4 * RESOLUTION_MS));
  assertEquals(fired.includes(2) || fired.includes(5), false);
  assertEquals(fired.sort(), [0, 3, 4]);
  assertEquals(timers[2].armed, true);
  timers[2].disarm();
  assertEquals(timers.some((t) => t.armed), false);
});

Deno.test("a timer that throws is contained: its scope abandons its work, other timers still fire", async () => {
  const events: string[] = [];
  const before = bugCount();
  const bad = new CoarseTimer(() => {
    throw new Error("timer bug");
  }, { onBug: (e) => events.push(`bug ${(e as Error).message}`) });
  const good = new CoarseTimer(() => events.push("fired"));
  bad.arm(1);
  good.arm(1);
  for (let i = 0; i < 40 && events.length < 2; i++) {
    await new Promise((r) => setTimeout(r, RESOLUTION_MS));
  }
  assertEquals(events.sort(), ["bug timer bug", "fired"]);
  assertEquals(bugCount(), before + 1);
});

Deno.test("far timers (due in 2 s or more) fire no earlier than armed; one re-armed to soon fires soon", async () => {
  const fired: [string, number][] = [];
  const start = performance.now();
  const far = new CoarseTimer(() => fired.push(["far", performance.now() - start]));
  const soon = new CoarseTimer(() => fired.push(["soon", performance.now() - start]));
  far.arm(2100);
  soon.arm(60_000);
  soon.arm(40);
  // Generous bounds (a busy machine delays every timer alike), no timing assertion beyond
  // "not early".
  for (let i = 0; i < 400 && fired.length < 2; i++) {
    await new Promise((r) => setTimeout(r, RESOLUTION_MS));
  }
  assertEquals(fired.map(([n]) => n), ["soon", "far"]);
  assert(fired[0][1] >= 40, `soon fired after ${fired[0][1]} ms`);
  assert(fired[1][1] >= 2100, `far fired after ${fired[1][1]} ms`);
  assertEquals(far.armed || soon.armed, false);
});

Deno.test("with only far timers armed the tick slows down; arming a near one speeds it up", async () => {
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 400 && !cond(); i++) {
      await new Promise((r) => setTimeout(r, RESOLUTION_MS));
    }
    assert(cond(), "condition not reached");
  };
  // An idle keep-alive connection's timer: nothing near to fire.
  const idle = new CoarseTimer(() => {});
  idle.arm(60_000);
  await until(() => tickPeriod()! > RESOLUTION_MS);
  let fired = 0;
  const stream = new CoarseTimer(() => fired++);
  stream.arm(40);
  assertEquals(tickPeriod(), RESOLUTION_MS, "a near timer ticks fast at once");
  await until(() => fired === 1);
  await until(() => tickPeriod()! > RESOLUTION_MS);
  // A far timer re-armed to soon fires soon.
  idle.arm(30);
  assertEquals(tickPeriod(), RESOLUTION_MS);
  assert(idle.armed);
  idle.disarm();
});
