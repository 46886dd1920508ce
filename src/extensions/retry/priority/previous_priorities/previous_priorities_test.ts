import { assertEquals } from "../../../../testing/assert.ts";
import type { HostDescription } from "../../../../upstream/host.ts";
import { computePriorityLoad } from "../../../../upstream/priority_load.ts";
import { PrioritySet } from "../../../../upstream/priority_set.ts";
import { PreviousPrioritiesRetryPriority } from "./previous_priorities.ts";

function host(priority: number, healthy = true): HostDescription {
  return {
    address: `10.0.0.${priority + 1}`,
    port: 80,
    weight: 1,
    priority,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy,
  };
}

function levels(...healthy: boolean[]) {
  const set = new PrioritySet();
  healthy.forEach((h, p) => set.updateHosts(p, [host(p, h)]));
  return set.hostSets;
}

// Expectations from Envoy's previous_priorities_test.cc (DefaultFrequency, NoHealthyUpstreams
// shapes): each attempted level is excluded in turn, then the original load comes back.
Deno.test("previous_priorities: each attempt moves the load to the next level", () => {
  const sets = levels(true, true, true);
  const original = computePriorityLoad(sets);
  assertEquals(original.healthy, [100, 0, 0]);
  const rp = new PreviousPrioritiesRetryPriority(1);
  assertEquals(rp.determinePriorityLoad(sets, original).healthy, [100, 0, 0]);
  rp.onHostAttempted(host(0));
  assertEquals(rp.determinePriorityLoad(sets, original).healthy, [0, 100, 0]);
  rp.onHostAttempted(host(1));
  assertEquals(rp.determinePriorityLoad(sets, original).healthy, [0, 0, 100]);
  rp.onHostAttempted(host(2));
  assertEquals(rp.determinePriorityLoad(sets, original).healthy, [100, 0, 0]);
});

Deno.test("previous_priorities: update_frequency 2 waits for two attempts", () => {
  const sets = levels(true, true, true);
  const original = computePriorityLoad(sets);
  const rp = new PreviousPrioritiesRetryPriority(2);
  rp.onHostAttempted(host(0));
  assertEquals(rp.determinePriorityLoad(sets, original).healthy, [100, 0, 0]);
  rp.onHostAttempted(host(0));
  assertEquals(rp.determinePriorityLoad(sets, original).healthy, [0, 100, 0]);
  // Between updates the last adjusted load stays.
  rp.onHostAttempted(host(1));
  assertEquals(rp.determinePriorityLoad(sets, original).healthy, [0, 100, 0]);
  rp.onHostAttempted(host(1));
  assertEquals(rp.determinePriorityLoad(sets, original).healthy, [0, 0, 100]);
});

Deno.test("previous_priorities: degraded and partly healthy levels share by health", () => {
  const set = new PrioritySet();
  set.updateHosts(0, [host(0), host(0)]);
  set.updateHosts(1, [host(1), { ...host(1, false), address: "10.0.0.9" }]);
  set.updateHosts(2, [host(2), host(2)]);
  const sets = set.hostSets;
  const original = computePriorityLoad(sets);
  const rp = new PreviousPrioritiesRetryPriority(1);
  rp.onHostAttempted(host(0));
  // P1 is 70% healthy (50% x 1.4 overprovisioning): P2 takes the rest.
  assertEquals(rp.determinePriorityLoad(sets, original).healthy, [0, 70, 30]);
});
