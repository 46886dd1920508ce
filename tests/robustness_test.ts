/**
 * Issue #8 section 1, end to end with raw sockets: a connection in an error or closing state
 * reads nothing more (no spin, no request answered twice or forwarded after the close), an
 * invalid Host is a 400 from the codec, bytes after an upstream response never reach another
 * request, and an exception in the data path ends one stream, counted, not the worker.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { curl, httpConfig, Proxy, SHORT_DELAYED_CLOSE, staticCluster } from "./proxy.ts";
import { exchange, ok, rawUpstream, statuses, type UpstreamRequest } from "./raw_client.ts";

const enc = new TextEncoder();
async function withProxy(
  routes: string,
  upstreamAnswer: (path: string, conn: Deno.TcpConn) => string | undefined,
  fn: (p: Proxy, seen: UpstreamRequest[]) => Promise<void>,
) {
  const up = rawUpstream((req: UpstreamRequest, conn) => upstreamAnswer(req.path, conn));
  const proxy = await Proxy.start(httpConfig({
    routes,
    clusters: staticCluster("backend", up.port),
    hcmExtra: SHORT_DELAYED_CLOSE,
  }));
  try {
    await fn(proxy, up.seen);
  } finally {
    await proxy.stop();
    up.close();
  }
}

const UP = `- match: { prefix: "/" }\n  route: { cluster: backend }`;
const DIRECT = `- match: { prefix: "/direct" }
  direct_response: { status: 200, body: { inline_string: "direct" } }
- match: { prefix: "/" }
  route: { cluster: backend }`;

/** The worker still serves: a fresh connection gets its own answer. */
async function assertServes(p: Proxy, path = "/alive"): Promise<void> {
  const r = await exchange(p.port(), [
    `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
  ]);
  assertEquals(statuses(r.text), [200], r.text);
  assert(r.text.endsWith(path), r.text);
}

Deno.test("a request rejected at its headers behind a valid one in one write: 200, 400, close (no spin)", async () => {
  await withProxy(UP, (path) => ok(path), async (p, seen) => {
    const bad = [
      "POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n",
      "POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n",
      "POST /b HTTP/1.1\r\nhost: x\r\ntransfer-encoding: xchunked\r\n\r\n",
    ];
    for (const b of bad) {
      seen.length = 0;
      const r = await exchange(p.port(), [
        "GET /a HTTP/1.1\r\nhost: x\r\n\r\n" + b + "GET /c HTTP/1.1\r\nhost: x\r\n\r\nmore bytes",
      ]);
      assert(r.closed, `the proxy closed the connection: ${r.text}`);
      const st = statuses(r.text);
      assertEquals(st[0], 200, r.text);
      assert(st[1] === 400 || st[1] === 501, r.text);
      assertEquals(st.length, 2, r.text);
      assertEquals(seen.map((r) => r.path), ["/a"]);
      await assertServes(p);
    }
  });
});

Deno.test("a Host with a space, tab or other invalid character is a 400 from the codec, the worker lives", async () => {
  await withProxy(UP, (path) => ok(path), async (p, seen) => {
    for (const host of ["a b", "a\tb", 'a"b', "a/b", "a{b}"]) {
      const r = await exchange(p.port(), [`GET /h HTTP/1.1\r\nhost: ${host}\r\n\r\n`]);
      assertEquals(statuses(r.text), [400], `${JSON.stringify(host)}: ${r.text}`);
      assert(r.closed);
    }
    assertEquals(seen.map((r) => r.path), []);
    await assertServes(p);
    // Envoy's details for it (the HCM counts it as a protocol error, as every codec error).
    const stats = await curl([
      "-s",
      `http://127.0.0.1:${p.adminPort}/stats?filter=cx_protocol_error`,
    ]);
    assertMatch(stats.out, /http\.test\.downstream_cx_protocol_error: 5/);
  });
});

Deno.test("upstream bytes after a complete response never reach another client's request", async () => {
  const POISON = "HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\n" +
    "Set-Cookie: session=attacker\r\nX-Junk: ";
  let later: Deno.TcpConn | undefined;
  await withProxy(UP, (path, conn) => {
    if (path === "/poison") return ok("ok") + POISON;
    if (path === "/late") {
      later = conn;
      return ok("ok") + "HTTP/1.1 200 OK\r\n";
    }
    return ok(path);
  }, async (p) => {
    // Extra bytes in the same read as the response.
    for (let i = 0; i < 3; i++) {
      const first = await exchange(p.port(), [
        "GET /poison HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
      ]);
      assertEquals(statuses(first.text), [200], first.text);
      assert(first.text.endsWith("\r\n\r\nok"), first.text);
      const second = await exchange(p.port(), [
        `GET /check${i} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
      ]);
      assertEquals(statuses(second.text), [200], second.text);
      assert(second.text.endsWith(`/check${i}`), second.text);
      assert(!second.text.includes("evil"), second.text);
    }
    // Extra bytes in a later read (the same write here: a read may split it anywhere), and
    // more while the connection may sit idle in the pool.
    const first = await exchange(p.port(), [
      "GET /late HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    ]);
    assertEquals(statuses(first.text), [200], first.text);
    try {
      await later!.write(enc.encode(POISON));
    } catch { /* the proxy already closed it */ }
    const second = await exchange(p.port(), [
      "GET /check HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    ]);
    assertEquals(statuses(second.text), [200], second.text);
    assert(second.text.endsWith("/check"), second.text);
    const stats = await curl([
      "-s",
      `http://127.0.0.1:${p.adminPort}/stats?filter=backend.upstream_cx_protocol_error`,
    ]);
    assertMatch(stats.out, /upstream_cx_protocol_error: [1-9]/);
  });
});

Deno.test("after a local reply that closes the connection, pipelined requests are neither forwarded nor answered", async () => {
  await withProxy(DIRECT, (path) => ok(path), async (p, seen) => {
    const next = "GET /up HTTP/1.1\r\nhost: x\r\n\r\n";
    const cases: [string, number][] = [
      // The client asked for the close.
      ["GET /direct HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n" + next, 200],
      // The direct response goes out before the request body ended.
      ["POST /direct HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello" + next, 200],
      ["POST /direct HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nZZ\r\n" + next, 200],
      // A 400 from the codec.
      ["GET /x HTTP/1.1\r\nhost: a b\r\n\r\n" + next, 400],
      // A 400 from the connection manager (absolute path required).
      ["GET x HTTP/1.1\r\nhost: x\r\n\r\n" + next, 400],
    ];
    for (const [req, status] of cases) {
      for (const parts of [[req], [...req].map((c) => c)]) {
        const r = await exchange(p.port(), parts);
        assertEquals(statuses(r.text), [status], `${JSON.stringify(req)}: ${r.text}`);
        assert(r.closed, r.text);
        assertMatch(r.text, /connection: close/, JSON.stringify(req));
      }
    }
    assertEquals(seen.map((r) => r.path), []);
    await assertServes(p);
  });
});

Deno.test("an exception in the data path ends that one stream with a 500, counted; the worker goes on", async () => {
  // host_rewrite_header copies a request header into :authority; a value with a space cannot
  // be written as an HTTP/1 Host, and the encoder throws inside the pool's ready callback.
  const routes = `- match: { prefix: "/" }
  route: { cluster: backend, host_rewrite_header: x-host }`;
  await withProxy(routes, (path) => ok(path), async (p, seen) => {
    for (let i = 0; i < 3; i++) {
      const r = await exchange(p.port(), [`GET /boom HTTP/1.1\r\nhost: x\r\nx-host: a b\r\n\r\n`]);
      assertEquals(statuses(r.text), [500], r.text);
      assert(r.closed, r.text);
    }
    assertEquals(seen.map((r) => r.path), []);
    await assertServes(p);
    const stats = await curl(["-s", `http://127.0.0.1:${p.adminPort}/stats?filter=envoy_bug`]);
    assertMatch(stats.out, /server\.envoy_bug_failures: 3/);
    await p.proc.waitFor(/envoy bug failure in upstream ready callback/);
    assert(!/worker 0 crashed/.test(p.proc.stderr), p.proc.stderr);
  });
});
