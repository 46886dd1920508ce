import { assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import { diffMembership } from "./membership_diff.ts";
import type { PrioritySetSnapshot } from "./priority_set.ts";

const host = (port: number, healthy = true): HostDescription => ({
  address: "10.0.0.1",
  port,
  weight: 1,
  priority: 0,
  locality: { region: "", zone: "", subZone: "" },
  hostname: "",
  healthy,
});

const snap = (...levels: HostDescription[][]): PrioritySetSnapshot => ({
  hostSets: levels.map((hosts, priority) => ({
    priority,
    hosts,
    overprovisioningFactor: 140,
    weightedPriorityHealth: false,
  })),
});

Deno.test("diffMembership: health changes are mergeable; adds, removes and moves are not", () => {
  const health = diffMembership(snap([host(1), host(2)]), snap([host(1), host(2, false)]));
  assertEquals(health.mergeable, true);
  assertEquals(health.removed, []);
  assertEquals(health.turnedUnhealthy, [host(2, false)]);

  const removed = diffMembership(snap([host(1), host(2)]), snap([host(1)]));
  assertEquals(removed.mergeable, false);
  assertEquals(removed.removed, [host(2)]);

  assertEquals(diffMembership(snap([host(1)]), snap([host(1), host(2)])).mergeable, false);
  // A host moving to another priority is no removal from the cluster, but not mergeable.
  const moved = diffMembership(snap([host(1), host(2)]), snap([host(1)], [host(2)]));
  assertEquals([moved.mergeable, moved.removed.length], [false, 0]);
  // Unhealthy to unhealthy, or back to healthy, is no failure.
  assertEquals(
    diffMembership(snap([host(1, false)]), snap([host(1)])).turnedUnhealthy,
    [],
  );
});
