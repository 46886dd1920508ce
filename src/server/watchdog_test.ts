import { assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { Watchdog, watchdogThresholds } from "./watchdog.ts";

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
    unsupported: [],
  });
  const old = { watchdog: { missTimeout: d(300), actions: [] } } as never;
  assertEquals(watchdogThresholds(old, "main_thread").missMs, 300);
  const both = {
    watchdog: { missTimeout: d(300), actions: [] },
    watchdogs: {
      mainThreadWatchdog: { megamissTimeout: d(2000), actions: [] },
      workerWatchdog: { missTimeout: d(50), killTimeout: d(10_000), actions: [] },
    },
  } as never;
  assertEquals(watchdogThresholds(both, "main_thread"), {
    missMs: 200,
    megaMissMs: 2000,
    unsupported: [],
  });
  assertEquals(watchdogThresholds(both, "workers"), {
    missMs: 50,
    megaMissMs: 1000,
    unsupported: ["kill_timeout"],
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
