import { assertEquals } from "../testing/assert.ts";
import {
  balancerIndex,
  claimedBalancerIndexes,
  ExactConnectionBalancer,
  newBalancerMemory,
} from "./connection_balancer.ts";

Deno.test("exact balancer: fewest connections first, the lowest worker on a tie", () => {
  const mem = newBalancerMemory(3);
  const b = new ExactConnectionBalancer(mem, balancerIndex(mem, "b")!);
  for (const w of [0, 1, 2]) b.register(w);
  assertEquals([b.pick(2), b.pick(2), b.pick(2), b.pick(0)], [0, 1, 2, 0]);
  b.release(1);
  assertEquals(b.pick(0), 1);
  assertEquals([0, 1, 2].map((w) => b.connections(w)), [2, 1, 1]);
  // Another listener's counts are its own.
  const a = new ExactConnectionBalancer(mem, balancerIndex(mem, "a")!);
  a.register(2);
  assertEquals(a.pick(0), 2);
  assertEquals(a.connections(0), 0);
});

Deno.test("exact balancer: only workers that accept are picked; a reset one starts afresh", () => {
  const mem = newBalancerMemory(2);
  const b = new ExactConnectionBalancer(mem, 0);
  // Nobody registered (the acceptor stops accepting): it keeps the connection.
  assertEquals(b.pick(1), 1);
  b.register(0);
  assertEquals([b.pick(1), b.pick(1)], [0, 0]);
  b.register(1);
  assertEquals(b.pick(0), 1);
  b.unregister(1);
  assertEquals(b.pick(1), 0);
  b.reset(0);
  assertEquals([b.connections(0), b.connections(1)], [0, 2]);
  assertEquals(b.pick(0), 0);
});

Deno.test("exact balancer: a worker stays a candidate while one of its instances accepts", () => {
  const mem = newBalancerMemory(2);
  const b = new ExactConnectionBalancer(mem, 0);
  b.register(1);
  // A reload's new instance joins before the old one leaves.
  b.register(1);
  b.unregister(1);
  assertEquals(b.pick(0), 1);
  b.unregister(1);
  assertEquals(b.pick(0), 0);
});

Deno.test("exact balancer: a name keeps its place; places run out only past the capacity", () => {
  const mem = newBalancerMemory(2, 4);
  const names = ["http", "https", "lds-added", "reloaded"];
  const places = names.map((n) => balancerIndex(mem, n));
  assertEquals(new Set(places).size, 4);
  // Found again by name, from any isolate's view of the memory (a copy of the handle).
  const other = { ...mem };
  assertEquals(names.map((n) => balancerIndex(other, n)), places);
  assertEquals(balancerIndex(mem, "fifth"), undefined);
  assertEquals(claimedBalancerIndexes(mem).sort(), [0, 1, 2, 3]);
  // Each place has counts of its own.
  const a = new ExactConnectionBalancer(mem, places[0]!);
  const d = new ExactConnectionBalancer(mem, places[3]!);
  a.register(1);
  assertEquals(a.pick(0), 1);
  assertEquals([d.connections(0), d.connections(1)], [0, 0]);
});
