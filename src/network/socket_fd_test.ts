import { assert, assertEquals } from "../testing/assert.ts";
import {
  decodeSockaddr,
  ipBytes,
  IPPROTO_TCP,
  ipText,
  SO_KEEPALIVE,
  sockaddrIs,
  SocketFds,
  socketFdUnavailable,
  SOL_SOCKET,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
} from "./socket_fd.ts";

Deno.test("ipBytes: IPv4, IPv6 with ::, embedded dotted quad; garbage refused", () => {
  assertEquals([...ipBytes("10.1.2.3")!], [10, 1, 2, 3]);
  assertEquals(ipBytes("256.1.1.1"), undefined);
  assertEquals([...ipBytes("::1")!], [...Array(15).fill(0), 1]);
  assertEquals([...ipBytes("fe80::1%eth0")!].slice(0, 2), [0xfe, 0x80]);
  assertEquals([...ipBytes("::ffff:127.0.0.1")!].slice(10), [0xff, 0xff, 127, 0, 0, 1]);
  assertEquals([...ipBytes("2001:db8:0:0:0:0:0:2")!], [...ipBytes("2001:db8::2")!]);
  assertEquals(ipBytes("1::2::3"), undefined);
  assertEquals(ipBytes("1:2:3:4:5:6:7:8:9"), undefined);
  assertEquals(ipBytes("::g"), undefined);
  assertEquals(ipBytes("host"), undefined);
});

Deno.test("ipText writes addresses as Deno does", () => {
  for (const ip of ["127.0.0.1", "::1", "::", "2001:db8::2", "fe80::1:0:0:2", "::ffff:10.0.0.1"]) {
    assertEquals(ipText(ipBytes(ip)!), ip);
  }
  assertEquals(ipText(ipBytes("1:0:0:2:0:0:0:3")!), "1:0:0:2::3");
});

Deno.test("decodeSockaddr / sockaddrIs read sockaddr_in and sockaddr_in6", () => {
  const v4 = new Uint8Array(16);
  v4.set([2, 0, 0x1f, 0x90, 192, 0, 2, 7]);
  assertEquals(decodeSockaddr(v4), { ip: "192.0.2.7", port: 8080 });
  assert(sockaddrIs(v4, ipBytes("192.0.2.7")!, 8080));
  assert(!sockaddrIs(v4, ipBytes("192.0.2.7")!, 8081));
  assert(!sockaddrIs(v4, ipBytes("::1")!, 8080));
  const v6 = new Uint8Array(28);
  v6.set([10, 0, 0, 80]);
  v6.set(ipBytes("2001:db8::5")!, 8);
  assertEquals(decodeSockaddr(v6), { ip: "2001:db8::5", port: 80 });
  assert(sockaddrIs(v6, ipBytes("2001:db8::5")!, 80));
  assertEquals(decodeSockaddr(new Uint8Array(16)), undefined);
});

/** A connected pair over `host`: [the accepted end, the connecting end]. */
async function pair(host: string): Promise<[Deno.TcpConn, Deno.TcpConn, Deno.TcpListener]> {
  const l = Deno.listen({ hostname: host, port: 0 });
  const c = await Deno.connect({ hostname: host, port: (l.addr as Deno.NetAddr).port });
  const a = await l.accept();
  return [a, c, l];
}

for (const host of ["127.0.0.1", "::1"]) {
  Deno.test(`fdOf finds accepted and connected sockets (${host}); options read back`, async () => {
    assertEquals(socketFdUnavailable(), undefined);
    const fds = SocketFds.get()!;
    // Some other sockets open below, so the scan has to skip them.
    const others = await Promise.all([pair(host), pair(host)]);
    const [a, c, l] = await pair(host);
    try {
      const fa = fds.fdOf(a), fc = fds.fdOf(c);
      assert(fa >= 0 && fc >= 0 && fa !== fc);
      assertEquals(Deno.readLinkSync(`/proc/self/fd/${fa}`).startsWith("socket:"), true);
      c.setKeepAlive(true);
      assertEquals(fds.getInt(fc, SOL_SOCKET, SO_KEEPALIVE), 1);
      assert(fds.setInt(fc, IPPROTO_TCP, TCP_KEEPIDLE, 33));
      assert(fds.setInt(fc, IPPROTO_TCP, TCP_KEEPINTVL, 7));
      assert(fds.setInt(fc, IPPROTO_TCP, TCP_KEEPCNT, 4));
      assertEquals(fds.getInt(fc, IPPROTO_TCP, TCP_KEEPIDLE), 33);
      assertEquals(fds.getInt(fc, IPPROTO_TCP, TCP_KEEPINTVL), 7);
      assertEquals(fds.getInt(fc, IPPROTO_TCP, TCP_KEEPCNT), 4);
      // The accepted end is untouched: the right socket was changed.
      assertEquals(fds.getInt(fa, SOL_SOCKET, SO_KEEPALIVE), 0);
      // Not redirected (and no conntrack entry for it): no original destination.
      const od = fds.originalDst(fa);
      assert(od === undefined || od.port === (l.addr as Deno.NetAddr).port);
      assertEquals(fds.listenFds(host, (l.addr as Deno.NetAddr).port).length, 1);
      // Closed: its number no longer matches, whatever the kernel reuses it for.
      c.close();
      assertEquals(fds.getInt(fc, IPPROTO_TCP, TCP_KEEPIDLE) === 33, false);
    } finally {
      a.close();
      l.close();
      for (const [x, y, z] of others) [x, y, z].forEach((s) => s.close());
    }
  });
}

Deno.test({
  name: "listenReusePort: joins a reuse-port group, says why the kernel refuses; closeFd",
  ignore: socketFdUnavailable() !== undefined,
  fn: () => {
    const fds = SocketFds.get()!;
    const other = Deno.listen({ hostname: "127.0.0.1", port: 0, reusePort: true });
    const port = (other.addr as Deno.NetAddr).port;
    const fd = fds.listenReusePort("127.0.0.1", port);
    try {
      assertEquals(fds.boundPort(fd), port);
      assert(fds.listenFds("127.0.0.1", port).includes(fd));
      const ephemeral = fds.listenReusePort("::1", 0);
      assert(fds.boundPort(ephemeral) > 0);
      fds.closeFd(ephemeral);
      // A socket without SO_REUSEPORT holds its address alone.
      const alone = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        let why = "";
        try {
          fds.listenReusePort("127.0.0.1", (alone.addr as Deno.NetAddr).port);
        } catch (e) {
          why = (e as Error).message;
        }
        assertEquals(why, "address already in use");
      } finally {
        alone.close();
      }
    } finally {
      fds.closeFd(fd);
      other.close();
    }
    assertEquals(fds.listenFds("127.0.0.1", port), []);
  },
});
