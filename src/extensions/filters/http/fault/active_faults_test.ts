import { assertEquals } from "../../../../testing/assert.ts";
import { ActiveFaultCount, newActiveFaultMemory, setActiveFaultMemory } from "./active_faults.ts";

Deno.test("active faults: the total sums every worker's column; names find their own place", () => {
  const m = newActiveFaultMemory(2);
  setActiveFaultMemory(m, 0);
  const a0 = new ActiveFaultCount("http.a.fault.active_faults");
  const b0 = new ActiveFaultCount("http.b.fault.active_faults");
  a0.publish(2);
  b0.publish(5);
  // Worker 1's isolate sees the same memory (here: the same module, switched to its column).
  setActiveFaultMemory(m, 1);
  const a1 = new ActiveFaultCount("http.a.fault.active_faults");
  a1.publish(1);
  assertEquals([a1.total(), b0.total()], [3, 5]);
  // A replaced worker 1 clears what its predecessor published.
  setActiveFaultMemory(m, 1);
  assertEquals(a0.total(), 2);
});

Deno.test("active faults: memory of its own outside workers", () => {
  const c = new ActiveFaultCount("x", newActiveFaultMemory(1));
  c.publish(3);
  assertEquals(c.total(), 3);
});
