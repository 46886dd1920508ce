import { assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { HashLbStats } from "./hash_lb_stats.ts";
import type { HostDescription } from "./host.ts";
import type { LbSettings } from "./lb_base.ts";
import { PrioritySet } from "./priority_set.ts";
import { DEFAULT_RING_HASH } from "./ring_hash_lb.ts";

const host = (port: number, weight = 1): HostDescription => ({
  address: "127.0.0.1",
  port,
  weight,
  priority: 0,
  locality: { region: "", zone: "", subZone: "" },
  hostname: "",
  healthy: true,
});

const base: LbSettings = {
  healthyPanicThreshold: 50,
  localityWeighted: false,
  choiceCount: 2,
  activeRequestBias: 1,
};

function gauges(store: Store, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of store.snapshot().gauges) {
    if (g.name.startsWith(prefix)) out[g.name.slice(prefix.length)] = g.value;
  }
  return out;
}

Deno.test("ring_hash_lb gauges: ring size and points per host follow membership", () => {
  const store = new Store();
  const settings = { ...base, ringHash: { ...DEFAULT_RING_HASH, minimumRingSize: 8 } };
  const stats = HashLbStats.create(store.scope("cluster.c"), "RING_HASH", settings)!;
  const set = new PrioritySet();
  set.updateHosts(0, [host(80, 1), host(81, 3)]);
  stats.observe(set);
  assertEquals(gauges(store, "cluster.c.ring_hash_lb."), {
    size: 8,
    min_hashes_per_host: 2,
    max_hashes_per_host: 6,
  });
  set.updateHosts(0, [host(80), host(81), host(82), host(83)]);
  stats.observe(set);
  assertEquals(gauges(store, "cluster.c.ring_hash_lb."), {
    size: 8,
    min_hashes_per_host: 2,
    max_hashes_per_host: 2,
  });
});

Deno.test("maglev_lb gauges: entries per host; other policies and subsets publish none", () => {
  const store = new Store();
  const settings = { ...base, maglevTableSize: 7 };
  const stats = HashLbStats.create(store.scope("cluster.m"), "MAGLEV", settings)!;
  const set = new PrioritySet();
  set.updateHosts(0, [host(80), host(81)]);
  stats.observe(set);
  const g = gauges(store, "cluster.m.maglev_lb.");
  assertEquals(Object.keys(g).sort(), ["max_entries_per_host", "min_entries_per_host"]);
  assertEquals(g.min_entries_per_host + g.max_entries_per_host, 7);
  assertEquals(HashLbStats.create(store.scope("cluster.r"), "ROUND_ROBIN", base), undefined);
  const subset = { ...settings, subset: {} as NonNullable<LbSettings["subset"]> };
  assertEquals(HashLbStats.create(store.scope("cluster.s"), "MAGLEV", subset), undefined);
});
