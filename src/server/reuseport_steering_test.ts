import { assert, assertEquals } from "../testing/assert.ts";
import {
  addressBytes,
  ReusePortSteering,
  steeringProgram,
  steeringTargets,
} from "./reuseport_steering.ts";

Deno.test("the steering program: random, modulo the count, plus the first index, returned", () => {
  const p = new DataView(steeringProgram(2, 3).buffer);
  const ops = [0, 1, 2, 3].map((i) => [p.getUint16(i * 8, true), p.getInt32(i * 8 + 4, true)]);
  assertEquals(ops, [[0x20, -0x1000 + 56], [0x94, 3], [0x04, 2], [0x16, 0]]);
});

/**
 * The group as the kernel keeps it while the parent's sockets leave in `order`: the leaving
 * socket's slot takes the last one.
 */
function closeInOrder(parent: number, own: number, order: number[]): string[][] {
  const group = [
    ...Array.from({ length: parent }, (_, i) => `p${i}`),
    ...Array.from({ length: own }, (_, i) => `c${i}`),
  ];
  const states = [[...group]];
  for (const p of order) {
    const i = group.indexOf(`p${p}`);
    const last = group.pop()!;
    if (i < group.length) group[i] = last;
    states.push([...group]);
  }
  return states;
}

/** Every order of 0..n-1. */
function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])
  );
}

Deno.test("steering targets hold only the child's sockets whatever order the parent's close in", () => {
  assertEquals(steeringTargets(1, 1), { first: 1, count: 1 });
  assertEquals(steeringTargets(2, 4), { first: 2, count: 3 });
  assertEquals(steeringTargets(3, 2), { first: 3, count: 2 });
  for (let parent = 1; parent <= 4; parent++) {
    for (let own = parent; own <= 5; own++) {
      const { first, count } = steeringTargets(parent, own);
      for (const order of permutations(parent)) {
        for (const state of closeInOrder(parent, own, order)) {
          for (let i = first; i < first + count; i++) {
            // Past the end: the kernel spreads over the group, by then only the child's.
            const s = state[i] ?? (state.some((x) => x.startsWith("p")) ? "p?" : "c?");
            assert(s.startsWith("c"), `${parent}/${own} ${order} ${state} [${i}]`);
          }
        }
      }
    }
  }
});

Deno.test("socket address bytes of IPv4 and IPv6 addresses", () => {
  assertEquals([...addressBytes("127.0.0.1")!], [127, 0, 0, 1]);
  assertEquals([...addressBytes("::1")!], [...Array(15).fill(0), 1]);
  assertEquals(addressBytes("::")!.length, 16);
  assertEquals(addressBytes("fe80::1:2")![14], 0);
  assertEquals(addressBytes("fe80::1:2")![15], 2);
  assertEquals(addressBytes("localhost"), undefined);
});

const steering = ReusePortSteering.open();
Deno.test({
  name: steering
    ? "a steered reuse-port group gives new connections only to the chosen sockets"
    : "reuse-port steering (skipped: not Linux, or no FFI)",
  ignore: !steering,
  fn: async () => {
    const first = Deno.listen({ hostname: "127.0.0.1", port: 0, reusePort: true });
    const port = (first.addr as Deno.NetAddr).port;
    const group = [
      first,
      ...[1, 2, 3].map(() => Deno.listen({ hostname: "127.0.0.1", port, reusePort: true })),
    ];
    const fds = steering!.listenFds("127.0.0.1", port);
    assertEquals(fds.length, 4);
    assertEquals(steering!.listenFds("127.0.0.2", port), []);
    assert(steering!.steer(fds[0], 2, 2));
    const accepted = [0, 0, 0, 0];
    const loops = group.map(async (l, i) => {
      try {
        for await (const c of l) {
          accepted[i]++;
          c.close();
        }
      } catch { /* closed */ }
    });
    for (let i = 0; i < 40; i++) (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    while (accepted.reduce((a, b) => a + b) < 40) await new Promise((r) => setTimeout(r, 5));
    assertEquals(accepted[0] + accepted[1], 0);
    assert(steering!.detach(fds[0]));
    for (const l of group) l.close();
    await Promise.all(loops);
  },
});
