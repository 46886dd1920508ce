import { assert, assertEquals } from "../testing/assert.ts";
import { ActiveRequests } from "./active_requests.ts";
import { BoundedLoadTable, Mt19937, overloadFactor } from "./bounded_load.ts";
import type { HostDescription } from "./host.ts";
import type { LbSettings } from "./lb_base.ts";
import { createLoadBalancer } from "./load_balancer.ts";
import { PrioritySet } from "./priority_set.ts";
import { DEFAULT_RING_HASH } from "./ring_hash_lb.ts";
import { type HashTable, normalizeWeights } from "./thread_aware_lb.ts";

function host(port: number, weight = 1): HostDescription {
  return {
    address: "127.0.0.1",
    port,
    weight,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
  };
}

Deno.test("Mt19937: the standard sequence (std::mt19937)", () => {
  // The default seed's first output, and the 10,000th that the C++ standard requires.
  const a = new Mt19937(5489);
  assertEquals(a.next(), 3499211612);
  const b = new Mt19937(5489);
  let v = 0;
  for (let i = 0; i < 10000; i++) v = b.next();
  assertEquals(v, 4123659995);
  // A 64-bit seed keeps its low 32 bits.
  assertEquals(new Mt19937(0x1_0000_1571n).next(), 3499211612);
  const r = new Mt19937(7);
  for (let i = 0; i < 1000; i++) {
    const x = r.below(5);
    assert(x >= 0 && x < 5);
  }
});

Deno.test("overloadFactor: slots are factor% of the average, weighted, at least one", () => {
  // 10 in flight, factor 150: ceil((11 * 150 + 99) / 100) = 17 slots over the cluster.
  assertEquals(overloadFactor(4, 10, 0.25, 150), 4 / 5);
  assertEquals(overloadFactor(6, 10, 0.25, 150), 6 / 5);
  // An idle cluster still gives every host one slot.
  assertEquals(overloadFactor(0, 0, 0.01, 100), 0);
  assertEquals(overloadFactor(1, 0, 0.01, 100), 1);
});

function level(hosts: HostDescription[]) {
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  return normalizeWeights(set.hostSets[0], false, false);
}

Deno.test("BoundedLoadTable: an overloaded host passes the key to a host under its bound", () => {
  const hosts = [host(1), host(2), host(3), host(4)];
  const weights = level(hosts);
  const inner: HashTable = { chooseHost: () => hosts[0] };
  const active = new ActiveRequests();
  const table = new BoundedLoadTable(inner, weights, active, 125);
  assertEquals(table.chooseHost(42n, 0), hosts[0]);
  for (let i = 0; i < 4; i++) active.started(hosts[0]);
  const moved = table.chooseHost(42n, 0)!;
  assert(moved !== hosts[0]);
  // The probe order is seeded by the hash: the same key always moves to the same host.
  for (let i = 0; i < 5; i++) assertEquals(table.chooseHost(42n, 0), moved);
  for (const h of hosts) while (active.of(h) > 0) active.finished(h);
  assertEquals(active.total, 0);
  assertEquals(table.chooseHost(42n, 0), hosts[0]);
});

Deno.test("ring hash with hash_balance_factor: one hot key spreads once its host is full", () => {
  const hosts = [host(1), host(2), host(3)];
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  const settings: LbSettings = {
    healthyPanicThreshold: 50,
    localityWeighted: false,
    choiceCount: 2,
    activeRequestBias: 1,
    ringHash: DEFAULT_RING_HASH,
    hashBalanceFactor: 150,
  };
  const lb = createLoadBalancer({ lbPolicy: "RING_HASH", lb: settings }, set, () => 0);
  const key = 1234567n;
  const home = lb.chooseHost({ hashKey: key })!;
  const seen = new Map<number, number>();
  for (let i = 0; i < 30; i++) {
    const h = lb.chooseHost({ hashKey: key })!;
    lb.requestStarted(h);
    seen.set(h.port, (seen.get(h.port) ?? 0) + 1);
  }
  // The key's host took about half (its bound at factor 150 over three hosts, a host at
  // exactly its bound still takes one more, as in Envoy); the rest moved.
  assert(seen.size >= 2);
  assertEquals(seen.get(home.port), 16);
  for (const n of seen.values()) assert(n <= 16);
  // Without load the key goes home again.
  for (const h of hosts) for (let i = 0; i < (seen.get(h.port) ?? 0); i++) lb.requestFinished(h);
  assertEquals(lb.chooseHost({ hashKey: key }), home);
});
