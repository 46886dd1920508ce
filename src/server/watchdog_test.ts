import { assert, assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import {
  GuardDog,
  newHeartbeat,
  touchHeartbeat,
  Watchdog,
  watchdogThresholds,
} from "./watchdog.ts";

Deno.test("watchdog: a late probe is one miss or mega miss, in the thread's and group's stats", () => {
  const store = new Store();
  let now = 0;
  const wd = new Watchdog(
    store,
    "worker_1",
    "workers",
    { missMs: 200, megaMissMs: 1000 },
    () => now,
  );
  assertEquals(wd.intervalMs, 100);
  const tick = (ms: number) => {
    now += ms;
    wd.touch();
  };
  tick(100);
  tick(150);
  tick(200);
  assertEquals(store.counter("server.worker_1.watchdog_miss").value, 0);
  tick(201);
  tick(100);
  tick(5000);
  assertEquals(store.counter("server.worker_1.watchdog_miss").value, 2);
  assertEquals(store.counter("workers.watchdog_miss").value, 2);
  assertEquals(store.counter("server.worker_1.watchdog_mega_miss").value, 1);
  assertEquals(store.counter("workers.watchdog_mega_miss").value, 1);
});

Deno.test("watchdog thresholds: watchdogs per subsystem, else watchdog, else Envoy's defaults", () => {
  const d = (ms: number) => ({ seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
  assertEquals(watchdogThresholds({}, "workers"), {
    missMs: 200,
    megaMissMs: 1000,
    killMs: 0,
    multikillMs: 0,
    multikillThreshold: 0,
  });
  const old = { watchdog: { missTimeout: d(300), actions: [] } } as never;
  assertEquals(watchdogThresholds(old, "main_thread").missMs, 300);
  const both = {
    watchdog: { missTimeout: d(300), actions: [] },
    watchdogs: {
      mainThreadWatchdog: { megamissTimeout: d(2000), actions: [] },
      workerWatchdog: {
        missTimeout: d(50),
        killTimeout: d(10_000),
        multikillTimeout: d(20_000),
        multikillThreshold: { value: 50 },
        actions: [],
      },
    },
  } as never;
  assertEquals(watchdogThresholds(both, "main_thread"), {
    missMs: 200,
    megaMissMs: 2000,
    killMs: 0,
    multikillMs: 0,
    multikillThreshold: 0,
  });
  // Worker kill settings are applied by the guard dog (the main thread's are refused).
  assertEquals(watchdogThresholds(both, "workers"), {
    missMs: 50,
    megaMissMs: 1000,
    killMs: 10_000,
    multikillMs: 20_000,
    multikillThreshold: 50,
  });
});

Deno.test("watchdog: the probe timer runs and stops", async () => {
  const store = new Store();
  const wd = new Watchdog(store, "main_thread", "main_thread", { missMs: 10, megaMissMs: 20 });
  wd.start();
  const until = performance.now() + 30;
  while (performance.now() < until) { /* a stall of 30 ms: a miss and a mega miss */ }
  await new Promise((r) => setTimeout(r, 20));
  wd.stop();
  assertEquals(store.counter("main_thread.watchdog_miss").value >= 1, true);
  assertEquals(store.counter("main_thread.watchdog_mega_miss").value >= 1, true);
});

/**
 * Drives a guard dog on a fake clock in 25 ms steps: each beating worker touches every 100 ms
 * on its own clock (`skew` ms off the main thread's), and the dog looks every `intervalMs`.
 */
function driver(dog: GuardDog, clock: { now: number }, skew: number) {
  return (ms: number, beating: Int32Array[]) => {
    for (let t = 0; t < ms; t += 25) {
      clock.now += 25;
      if (clock.now % 100 === 0) { for (const h of beating) touchHeartbeat(h, clock.now + skew); }
      if (clock.now % dog.intervalMs === 0) dog.step();
    }
  };
}

Deno.test("guard dog: a heartbeat that stops moving is one miss and mega miss per stall, then a kill", () => {
  // The workers' clocks start later than the main thread's, and one wraps 32 bits mid-test.
  for (const skew of [-1234, 2 ** 31 - 2500]) {
    const store = new Store();
    const clock = { now: 0 };
    const kills: [number, number][] = [];
    const multi: number[][] = [];
    const dog = new GuardDog(
      store,
      "workers",
      { missMs: 200, megaMissMs: 1000, killMs: 3000, multikillMs: 0, multikillThreshold: 0 },
      { kill: (id, ms) => kills.push([id, ms]), multikill: (ids) => multi.push(ids) },
      () => clock.now,
    );
    assertEquals(dog.intervalMs, 200, "Envoy's loop interval: the smallest threshold");
    const a = newHeartbeat(), b = newHeartbeat();
    touchHeartbeat(a, skew);
    touchHeartbeat(b, skew);
    dog.watch(0, a);
    dog.watch(1, b);
    const run = driver(dog, clock, skew);
    run(1000, [a, b]);
    assertEquals(store.counter("workers.watchdog_miss").value, 0);
    run(500, [b]); // worker 0 stalls 500 ms, then recovers
    run(100, [a, b]);
    assertEquals(store.counter("server.worker_0.watchdog_miss").value, 1);
    assertEquals(store.counter("server.worker_0.watchdog_mega_miss").value, 0);
    run(3200, [b]); // then gets stuck for good
    assertEquals(store.counter("server.worker_0.watchdog_miss").value, 2);
    assertEquals(store.counter("server.worker_0.watchdog_mega_miss").value, 1);
    assertEquals(store.counter("workers.watchdog_mega_miss").value, 1);
    assertEquals(store.counter("server.worker_1.watchdog_miss").value, 0);
    assertEquals(kills.length, 1);
    assertEquals(kills[0][0], 0);
    assert(kills[0][1] > 3000 && kills[0][1] <= 3200, `killed after ${kills[0][1]} ms`);
    assert(dog.stalled(0) && !dog.stalled(1));
    run(1000, [b]);
    assertEquals(kills.length, 1, "one kill per stall");
    assertEquals(multi, []);
  }
});

Deno.test("guard dog: a worker's first touch is placed when it is watched, never later", () => {
  const store = new Store();
  const clock = { now: 10_000 };
  const dog = new GuardDog(
    store,
    "workers",
    { missMs: 200, megaMissMs: 1000, killMs: 0, multikillMs: 0, multikillThreshold: 0 },
    { kill: () => {}, multikill: () => {} },
    () => clock.now,
  );
  const h = newHeartbeat();
  touchHeartbeat(h, 5);
  dog.watch(0, h);
  // The next touch claims 400 ms passed on the worker's clock, but only 100 ms passed here
  // since it was watched: it happened no later than now.
  clock.now += 100;
  touchHeartbeat(h, 405);
  dog.step();
  assertEquals(dog.stalledMs(0), 0);
  clock.now += 150;
  assertEquals(dog.stalledMs(0), 150);
});

Deno.test("guard dog: multikill needs max(2, threshold% of the threads) stuck that long", () => {
  const store = new Store();
  const clock = { now: 0 };
  const multi: number[][] = [];
  const cfg = {
    missMs: 200,
    megaMissMs: 1000,
    killMs: 0,
    multikillMs: 500,
    multikillThreshold: 50,
  };
  const dog = new GuardDog(store, "workers", cfg, {
    kill: () => {},
    multikill: (ids) => multi.push(ids),
  }, () => clock.now);
  const hs = [newHeartbeat(), newHeartbeat(), newHeartbeat(), newHeartbeat(), newHeartbeat()];
  hs.forEach((h, i) => dog.watch(i, h));
  const run = driver(dog, clock, 77);
  run(1000, hs.slice(2)); // two of five stuck: 50% of 5 rounds up to 3
  assertEquals(multi, []);
  run(1000, hs.slice(3));
  assertEquals(multi, [[0, 1, 2]]);
});
