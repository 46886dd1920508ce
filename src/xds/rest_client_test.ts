import { assert, assertEquals } from "../testing/assert.ts";

function throws(f: () => unknown): void {
  let threw = false;
  try {
    f();
  } catch {
    threw = true;
  }
  assert(threw, "expected an exception");
}
import { parseResponse, postJson } from "./rest_client.ts";

const enc = new TextEncoder();

Deno.test("responses parse with content-length, chunked (by bytes) or read to close", () => {
  assertEquals(
    parseResponse(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}extra")),
    { status: 200, body: "{}" },
  );
  assertEquals(
    parseResponse(
      enc.encode(
        'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n"é"\r\n1\r\n!\r\n0\r\n\r\n',
      ),
    ),
    { status: 200, body: '"é"!' },
  );
  assertEquals(parseResponse(enc.encode("HTTP/1.0 503 x\r\n\r\nbusy")), {
    status: 503,
    body: "busy",
  });
  throws(() => parseResponse(enc.encode("SSH-2.0-x\r\n\r\n")));
  throws(() => parseResponse(enc.encode("HTTP/1.1 200 OK\r\n")));
  throws(() =>
    parseResponse(enc.encode("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nff\r\nab"))
  );
});

Deno.test("a POST carries the cluster as host and JSON; a silent server times out", async () => {
  let seen = "";
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    for (const answer of [true, false]) {
      const c = await l.accept();
      const buf = new Uint8Array(4096);
      const n = await c.read(buf);
      seen = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      if (answer) {
        await c.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"));
        c.close();
      } else {
        await new Promise((r) => setTimeout(r, 300));
        c.close();
      }
    }
  })();
  const port = (l.addr as Deno.NetAddr).port;
  const r = await postJson("127.0.0.1", port, "xds", "/v3/discovery:clusters", "{}", 5000);
  assertEquals(r, { status: 200, body: "{}" });
  assertEquals(seen.split("\r\n").slice(0, 3), [
    "POST /v3/discovery:clusters HTTP/1.1",
    "host: xds",
    "content-type: application/json",
  ]);
  let error = "";
  await postJson("127.0.0.1", port, "xds", "/", "{}", 50).catch((e) => (error = e.message));
  assertEquals(error, "no response within 50 ms");
  await served;
  l.close();
});
