import { assertEquals } from "../testing/assert.ts";
import { type HeapProbe, IdleMemoryRelease } from "./idle_memory_release.ts";

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
  assertEquals(release.check(6500), true);
  assertEquals(heap.collections, 2);
});
