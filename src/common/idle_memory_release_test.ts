import { assert, assertEquals } from "../testing/assert.ts";
import {
  type HeapProbe,
  IdleMemoryRelease,
  ioActivity,
  newActivityBoard,
  processActivity,
} from "./idle_memory_release.ts";

const MiB = 1024 * 1024;
const OPTIONS = { quietMs: 2000, busyAllocationBytes: 16 * MiB, minGrowthBytes: 8 * MiB };

/** A heap whose figures the test moves; a collection brings it down to `afterGc`. */
function fakeHeap(physical: number, afterGc: number) {
  const heap = { activity: 0, allocated: 0, physical, afterGc, collections: 0 };
  const probe: HeapProbe = {
    activity: () => heap.activity,
    allocatedBytes: () => heap.allocated,
    physicalBytes: () => heap.physical,
  };
  const release = new IdleMemoryRelease(probe, () => {
    heap.collections++;
    heap.physical = heap.afterGc;
  }, OPTIONS);
  return { heap, release };
}

Deno.test("idle memory: collects once the isolate has been quiet for quietMs", () => {
  const { heap, release } = fakeHeap(60 * MiB, 30 * MiB);
  assertEquals(release.check(500), false);
  assertEquals(release.check(1500), false);
  assertEquals(release.check(2000), true);
  assertEquals(heap.collections, 1);
  // Once per quiet period: the heap has not grown since.
  assertEquals(release.check(2500), false);
  assertEquals(release.check(10_000), false);
  assertEquals(heap.collections, 1);
});

Deno.test("idle memory: connection reads restart the quiet period", () => {
  const { heap, release } = fakeHeap(60 * MiB, 30 * MiB);
  release.check(1500);
  heap.activity++;
  assertEquals(release.check(2000), false);
  assertEquals(release.check(3500), false);
  assertEquals(release.check(4000), true);
});

Deno.test("idle memory: heavy allocation without connection reads is busy (config, xDS)", () => {
  const { heap, release } = fakeHeap(60 * MiB, 30 * MiB);
  heap.allocated += 20 * MiB;
  assertEquals(release.check(2000), false);
  // V8 counts allocation in whole buffers: an idle isolate's few MB are still quiet.
  heap.allocated += 3 * MiB;
  assertEquals(release.check(3000), false);
  assertEquals(release.check(4000), true);
});

Deno.test("idle memory: collects again only after the heap grew by minGrowthBytes", () => {
  const { heap, release } = fakeHeap(60 * MiB, 30 * MiB);
  assertEquals(release.check(2000), true);
  heap.activity++;
  heap.physical = 37 * MiB;
  heap.afterGc = 31 * MiB;
  release.check(3000);
  assertEquals(release.check(6000), false, "7 MiB of growth is not worth a collection");
  heap.physical = 39 * MiB;
  assertEquals(release.check(6000), true);
  assertEquals(heap.collections, 2);
});

Deno.test("idle memory: the process is quiet only when every worker's board cell is", () => {
  const cells = newActivityBoard(2);
  const worker1 = { cells, own: 1 };
  const main = { cells, own: -1 };
  const seenByMain = processActivity(main);
  // Worker 1 read something: its next check publishes the count, and the main thread sees it
  // (its own isolate read nothing: it owns no connection).
  ioActivity.count += 5;
  processActivity(worker1);
  ioActivity.count -= 5;
  assert(processActivity(main) !== seenByMain, "the main thread sees worker 1 move");
  const after = processActivity(main);
  assertEquals(processActivity(main), after, "nothing moved since");
  // Without a board an isolate sees only its own reads.
  assertEquals(processActivity(undefined), ioActivity.count);
});

Deno.test("idle memory: another isolate's activity keeps this one from collecting", () => {
  const cells = newActivityBoard(2);
  const probe: HeapProbe = {
    activity: () => processActivity({ cells, own: -1 }),
    allocatedBytes: () => 0,
    physicalBytes: () => 60 * MiB,
  };
  let collections = 0;
  const release = new IdleMemoryRelease(probe, () => collections++, OPTIONS);
  for (let t = 500; t <= 4000; t += 500) {
    // Worker 0 serves throughout: it publishes a new count at every check.
    Atomics.add(cells, 0, 100);
    assertEquals(release.check(t), false);
  }
  assertEquals(release.check(5500), false, "quiet for 1.5 s only");
  assertEquals(release.check(6000), true);
  assertEquals(collections, 1);
});
