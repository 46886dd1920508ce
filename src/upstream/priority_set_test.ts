import { assert, assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import { PrioritySet } from "./priority_set.ts";

function host(address: string, priority = 0): HostDescription {
  return {
    address,
    port: 80,
    weight: 1,
    priority,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
  };
}

Deno.test("PrioritySet: updates create the levels above and notify", () => {
  const set = new PrioritySet();
  let calls = 0;
  set.onUpdate(() => calls++);
  assert(set.updateHosts(2, [host("10.0.0.3", 2)]));
  assertEquals(set.hostSets.map((s) => s.hosts.length), [0, 0, 1]);
  assertEquals(set.hostSets.map((s) => s.priority), [0, 1, 2]);
  assertEquals(set.hostSets[2].overprovisioningFactor, 140);
  assertEquals(calls, 1);
  assertEquals(set.allHosts().map((h) => h.address), ["10.0.0.3"]);
});

Deno.test("PrioritySet: an update that changes nothing does not notify", () => {
  const set = new PrioritySet();
  set.updateHosts(0, [host("10.0.0.1")]);
  let calls = 0;
  const off = set.onUpdate(() => calls++);
  assert(!set.updateHosts(0, [host("10.0.0.1")]));
  assert(set.updateHosts(0, [{ ...host("10.0.0.1"), healthy: false }]));
  assert(set.updateHosts(0, [{ ...host("10.0.0.1"), healthy: false }], {
    overprovisioningFactor: 100,
  }));
  assertEquals(calls, 2);
  off();
  set.updateHosts(0, []);
  assertEquals(calls, 2);
});

Deno.test("PrioritySet: snapshots are plain data a worker rebuilds from", () => {
  const main = new PrioritySet();
  main.updateHosts(0, [host("10.0.0.1")]);
  main.updateHosts(1, [host("10.0.0.2", 1)], { weightedPriorityHealth: true });
  const posted = structuredClone(main.snapshot());
  const worker = new PrioritySet(posted);
  assertEquals(worker.snapshot(), main.snapshot());
  let calls = 0;
  worker.onUpdate(() => calls++);
  main.updateHosts(0, []);
  worker.replace(structuredClone(main.snapshot()));
  assertEquals(calls, 1);
  assertEquals(worker.hostSets[0].hosts, []);
});
