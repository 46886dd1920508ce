import net from "node:net";
import tls from "node:tls";
import { assert, assertEquals } from "../../../testing/assert.ts";
import { testCerts } from "../../../../tests/tls_certs.ts";
import { nativeSocket } from "./native_socket.ts";
import { IPPROTO_TCP, SocketFds } from "../../../network/socket_fd.ts";
import { TlsStream } from "./tls_stream.ts";

const TCP_NODELAY = 1;
const openFds = () => [...Deno.readDirSync("/proc/self/fd")].length;

Deno.test({
  name:
    "nativeSocket: TLS on a second descriptor of an accepted Deno.Conn whose ClientHello was read ahead; the peer address is the socket's; Nagle stays off; half-close kept; both descriptors closed at the end",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const c = await testCerts();
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    const before = openFds();
    const serverSide = (async () => {
      const raw = await l.accept();
      raw.setNoDelay(true);
      // A listener filter (tls_inspector) read the ClientHello.
      const hello = new Uint8Array(16 * 1024);
      const n = await raw.read(hello);
      const wire = nativeSocket(raw, hello.slice(0, n!));
      assert(wire instanceof net.Socket, "descriptors are reachable with -A on Linux");
      const sock = new tls.TLSSocket(wire, {
        isServer: true,
        cert: Deno.readTextFileSync(c.serverChain),
        key: Deno.readTextFileSync(c.serverKey),
      });
      await new Promise((r) => sock.once("secure", r));
      // The peer's address node:tls was given without a getpeername is the socket's own.
      const peer = raw.remoteAddr as Deno.NetAddr;
      assertEquals([wire.remoteAddress, wire.remotePort], [peer.hostname, peer.port]);
      // TCP_NODELAY is an option of the socket, set by the listener through the Deno.Conn; the
      // second descriptor's handle leaves it set, so Nagle stays off.
      const fds = SocketFds.get()!;
      assertEquals(fds.getInt(fds.fdOf(raw), IPPROTO_TCP, TCP_NODELAY), 1);
      const stream = new TlsStream(sock);
      const buf = new Uint8Array(64);
      let got = "";
      // The client half-closes after its request; our side stays writable.
      for (;;) {
        const k = await stream.read(buf);
        if (k === null) break;
        got += new TextDecoder().decode(buf.subarray(0, k));
      }
      await stream.write(new TextEncoder().encode(got.toUpperCase()));
      await stream.closeWrite();
      stream.close();
      raw.close();
      return got;
    })();
    const client = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [Deno.readTextFileSync(c.caCert)],
    });
    await client.write(new TextEncoder().encode("hello"));
    await client.closeWrite();
    const reply = new Uint8Array(16);
    let text = "";
    for (;;) {
      const k = await client.read(reply).catch(() => null);
      if (k === null) break;
      text += new TextDecoder().decode(reply.subarray(0, k));
    }
    assertEquals(await serverSide, "hello");
    assertEquals(text, "HELLO");
    client.close();
    l.close();
    // The duplicate descriptor is closed with the TLS socket (a moment after destroy()).
    for (let i = 0; i < 100 && openFds() > before - 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert(openFds() <= before - 1, `descriptors left open: ${openFds()} (before: ${before})`);
  },
});
