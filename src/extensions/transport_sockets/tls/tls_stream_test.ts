import tls from "node:tls";
import { assertEquals } from "../../../testing/assert.ts";
import { testCerts } from "../../../../tests/tls_certs.ts";
import { ConnDuplex, rfc2253, TlsStream } from "./tls_stream.ts";

Deno.test("ConnDuplex + TlsStream: a TLS server over an accepted Deno.Conn whose first bytes were read ahead (listener filters) replays them; reads and writes plaintext; closeWrite ends the peer's stream", async () => {
  const c = await testCerts();
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const serverSide = (async () => {
    const raw = await l.accept();
    // A listener filter peeked at the ClientHello's first bytes.
    const peek = new Uint8Array(5);
    const n = await raw.read(peek);
    const sock = new tls.TLSSocket(new ConnDuplex(raw, peek.subarray(0, n!)), {
      isServer: true,
      cert: Deno.readTextFileSync(c.serverChain),
      key: Deno.readTextFileSync(c.serverKey),
    });
    await new Promise((r) => sock.once("secure", r));
    const stream = new TlsStream(sock);
    const buf = new Uint8Array(3);
    let got = "";
    while (got.length < 5) {
      const k = await stream.read(buf);
      got += new TextDecoder().decode(buf.subarray(0, k!));
    }
    await stream.write(new TextEncoder().encode(got.toUpperCase()));
    await stream.closeWrite();
    return got;
  })();
  const client = await Deno.connectTls({
    hostname: "localhost",
    port,
    caCerts: [Deno.readTextFileSync(c.caCert)],
  });
  await client.write(new TextEncoder().encode("hello"));
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
});

Deno.test("rfc2253: most specific attribute first, as Envoy prints subjects", () => {
  assertEquals(rfc2253("C=US\nO=denvoy\nCN=client"), "CN=client,O=denvoy,C=US");
});
