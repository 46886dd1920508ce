import { assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { SnapshotMerger } from "../stats/snapshot.ts";
import { clusterMainStats } from "./cluster_stats.ts";
import type { HostDescription } from "./host.ts";
import { PrioritySet } from "./priority_set.ts";

const host = (address: string, extra: Partial<HostDescription> = {}): HostDescription => ({
  address,
  port: 80,
  weight: 1,
  priority: 0,
  locality: { region: "", zone: "", subZone: "" },
  hostname: "",
  healthy: true,
  ...extra,
});

Deno.test("membership stats: gauges over every level; only added or removed hosts are changes", () => {
  const store = new Store();
  const stats = clusterMainStats(store, "c");
  const set = new PrioritySet();
  const g = () => [
    stats.endpoint.membershipTotal.value,
    stats.endpoint.membershipHealthy.value,
    stats.endpoint.membershipDegraded.value,
    stats.endpoint.maxHostWeight.value,
    stats.endpoint.membershipChange.value,
  ];
  stats.endpoint.observe(set);
  assertEquals(g(), [0, 0, 0, 0, 0], "an empty cluster is no change");
  set.updateHosts(0, [host("10.0.0.1"), host("10.0.0.2", { weight: 3 })]);
  set.updateHosts(1, [host("10.0.1.1", { healthy: false, degraded: true })]);
  stats.endpoint.observe(set);
  assertEquals(g(), [3, 2, 1, 3, 1]);
  // Health changes alone: the same hosts, no membership change.
  set.updateHosts(0, [host("10.0.0.1", { healthy: false }), host("10.0.0.2", { weight: 3 })]);
  stats.endpoint.observe(set);
  assertEquals(g(), [3, 1, 1, 3, 1]);
  set.updateHosts(1, []);
  stats.endpoint.observe(set);
  assertEquals(g(), [2, 1, 0, 3, 2]);
  assertEquals(store.counter("cluster.c.update_attempt").value, 0);
});

Deno.test("update stats: made on first use, listed as unused zeros until then", () => {
  const store = new Store();
  const stats = clusterMainStats(store, "c");
  const listed = () => {
    const m = new SnapshotMerger();
    m.add(store.snapshot({ latch: false }), true);
    stats.update.fill(m, { accepts: (name) => name !== "cluster.c.update_no_rebuild" });
    return m.result().counters.filter((c) => c.name.startsWith("cluster.c.update_"))
      .map((c) => [c.name, c.value, c.used]);
  };
  assertEquals(listed(), [
    ["cluster.c.update_attempt", 0, false],
    ["cluster.c.update_success", 0, false],
    ["cluster.c.update_failure", 0, false],
  ]);
  stats.update.updateAttempt.inc();
  stats.update.updateAttempt.inc();
  assertEquals(listed(), [
    ["cluster.c.update_attempt", 2, true],
    ["cluster.c.update_success", 0, false],
    ["cluster.c.update_failure", 0, false],
  ]);
});
