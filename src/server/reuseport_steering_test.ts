import { assert, assertEquals } from "../testing/assert.ts";
import { addressBytes, ReusePortSteering, steeringProgram } from "./reuseport_steering.ts";

Deno.test("the steering program: random, modulo the count, plus the first index, returned", () => {
  const p = new DataView(steeringProgram(2, 3).buffer);
  const ops = [0, 1, 2, 3].map((i) => [p.getUint16(i * 8, true), p.getInt32(i * 8 + 4, true)]);
  assertEquals(ops, [[0x20, -0x1000 + 56], [0x94, 3], [0x04, 2], [0x16, 0]]);
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
