import { assertEquals } from "../testing/assert.ts";
import { ExactConnectionBalancer, newBalancerMemory } from "./connection_balancer.ts";

Deno.test("exact balancer: fewest connections first, the lowest worker on a tie", () => {
  const mem = newBalancerMemory(["a", "b"], 3);
  const b = new ExactConnectionBalancer(mem, mem.listeners.b);
  for (const w of [0, 1, 2]) b.register(w);
  assertEquals([b.pick(2), b.pick(2), b.pick(2), b.pick(0)], [0, 1, 2, 0]);
  b.release(1);
  assertEquals(b.pick(0), 1);
  assertEquals([0, 1, 2].map((w) => b.connections(w)), [2, 1, 1]);
  // Another listener's counts are its own.
  const a = new ExactConnectionBalancer(mem, mem.listeners.a);
  a.register(2);
  assertEquals(a.pick(0), 2);
  assertEquals(a.connections(0), 0);
});

Deno.test("exact balancer: only workers that accept are picked; a reset one starts afresh", () => {
  const mem = newBalancerMemory(["l"], 2);
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
  const mem = newBalancerMemory(["l"], 2);
  const b = new ExactConnectionBalancer(mem, 0);
  b.register(1);
  // A reload's new instance joins before the old one leaves.
  b.register(1);
  b.unregister(1);
  assertEquals(b.pick(0), 1);
  b.unregister(1);
  assertEquals(b.pick(0), 0);
});
