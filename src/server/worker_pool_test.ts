import { assert, assertEquals } from "../testing/assert.ts";
import { SnapshotMerger } from "../stats/snapshot.ts";
import { Store } from "../stats/store.ts";
import { WorkerPool } from "./worker_pool.ts";
import type { ToWorker } from "./worker.ts";

const CRASHING = new URL("./testdata/crashing_worker.ts", import.meta.url);

type Who = { instance: string; slot: number };

async function instances(pool: WorkerPool): Promise<Who[]> {
  const all = (await pool.collectHostStats()) as unknown as Who[];
  return all.sort((a, b) => a.slot - b.slot);
}

Deno.test("a crashed worker is counted and replaced; the other is untouched; totals kept", async () => {
  const pool = new WorkerPool(CRASHING);
  try {
    const { rest } = await pool.start(2, (id) => ({ type: "init", id } as unknown as ToWorker));
    await rest;
    const before = await instances(pool);
    await pool.collectStats(); // the main thread learns what each worker counted
    assertEquals(before.map((w) => w.slot), [0, 1]);
    pool.broadcast({ type: "resetCounters" }); // slot 0 throws
    let after = before;
    for (
      let i = 0;
      i < 100 && (pool.restarts === 0 || after[0]?.instance === before[0].instance);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
      after = await instances(pool);
    }
    assertEquals(pool.restarts, 1);
    assertEquals(after.map((w) => w.slot), [0, 1]);
    assert(after[0].instance !== before[0].instance, "slot 0 runs a new worker");
    assertEquals(after[1].instance, before[1].instance);
    // The crashed worker's counts stay in the totals; its gauges went with it.
    const merger = new SnapshotMerger();
    for (const w of await pool.collectStats()) {
      w.table.mergeInto(merger, w.packed, false, w.retired);
    }
    const merged = merger.result();
    assertEquals(merged.counters.find((c) => c.name === "x")?.value, 15);
    assertEquals(merged.gauges.find((g) => g.name === "g")?.value, 2);
  } finally {
    await pool.stop();
  }
});

const SPINNING = new URL("./testdata/spinning_worker.ts", import.meta.url);

Deno.test("watchdog: a stuck worker is counted (miss, mega miss) and, after kill_timeout, replaced", async () => {
  const pool = new WorkerPool(SPINNING);
  const store = new Store();
  const multikills: number[][] = [];
  try {
    const { rest } = await pool.start(2, (id) => ({ type: "init", id } as unknown as ToWorker));
    await rest;
    pool.watch(
      { missMs: 100, megaMissMs: 200, killMs: 1000, multikillMs: 0, multikillThreshold: 0 },
      store,
      (ids) => multikills.push(ids),
    );
    const before = await instances(pool);
    pool.broadcast({ type: "resetCounters" }); // slot 0 spins forever
    for (let i = 0; i < 200 && pool.restarts === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals(pool.restarts, 1);
    assertEquals(store.counter("server.worker_0.watchdog_miss").value, 1);
    assertEquals(store.counter("server.worker_0.watchdog_mega_miss").value, 1);
    assertEquals(store.counter("workers.watchdog_mega_miss").value, 1);
    assertEquals(store.counter("server.worker_1.watchdog_mega_miss").value, 0);
    let after = await instances(pool);
    for (let i = 0; i < 100 && after.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await instances(pool);
    }
    assertEquals(after.map((w) => w.slot), [0, 1]);
    assert(after[0].instance !== before[0].instance, "slot 0 runs a new worker");
    assertEquals(after[1].instance, before[1].instance);
    assertEquals(multikills, []);
  } finally {
    await pool.stop();
  }
});

Deno.test("watchdog: stop() does not wait for a stuck worker to drain (SIGTERM with a worker stuck)", async () => {
  const pool = new WorkerPool(SPINNING);
  const store = new Store();
  const { rest } = await pool.start(1, (id) => ({ type: "init", id } as unknown as ToWorker));
  await rest;
  pool.watch(
    { missMs: 100, megaMissMs: 200, killMs: 0, multikillMs: 0, multikillThreshold: 0 },
    store,
    () => {},
  );
  pool.broadcast({ type: "resetCounters" });
  for (let i = 0; i < 100 && store.counter("workers.watchdog_mega_miss").value === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const start = performance.now();
  await pool.stop();
  // The stop timeout is 10 s; a stuck worker is terminated as soon as it is known stuck.
  assert(performance.now() - start < 5000, `stopped in ${performance.now() - start} ms`);
  assertEquals(pool.restarts, 0);
});
