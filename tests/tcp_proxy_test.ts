/**
 * tcp_proxy end to end: main.ts as a process in front of raw TCP servers, raw sockets as
 * clients. Covers relaying, large transfers, half-close in both directions, weighted clusters,
 * connect retries, the idle timeout and the TCP access log.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { Proxy, staticCluster, tcpServer } from "./proxy.ts";
import { refusedPort } from "./refused_port.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A listener whose only filter is tcp_proxy (`tcpProxy` is the rest of its typed_config). */
function tcpConfig(tcpProxy: string, clusters: string, listenerExtra = ""): string {
  const indent = (s: string, n: number) => s.replace(/^/gm, " ".repeat(n)).replace(/^\s+$/gm, "");
  return `static_resources:
  listeners:
  - name: tcp
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${indent(listenerExtra, 4)}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
${indent(tcpProxy, 10)}
  clusters:
${indent(clusters, 2)}
`;
}

/** Reads until EOF (or until `ms` pass, when the socket is closed and what came is returned). */
async function readToEnd(conn: Deno.Conn, ms = 10_000): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(64 * 1024);
  const timer = setTimeout(() => safeClose(conn), ms);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      parts.push(buf.slice(0, n));
      total += n;
    }
  } catch { /* reset by the peer or closed by the timer */ }
  clearTimeout(timer);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Reads until `n` bytes arrived (fewer if EOF comes first). */
async function readN(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) break;
    off += got;
  }
  return out.subarray(0, off);
}

function safeClose(c: Deno.Conn): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

/** A server that echoes every byte and closes once the client half-closed. */
function echoServer(onConn?: () => void) {
  return tcpServer(async (c) => {
    onConn?.();
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        await c.write(buf.subarray(0, n));
      }
    } catch { /* peer reset */ }
    safeClose(c);
  });
}

/** Writes all of `data` (Deno's write may be partial). */
async function writeAll(c: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await c.write(data.subarray(off));
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function sha256(b: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>));
  return Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
}

function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

Deno.test("tcp_proxy: bytes are relayed to the cluster and echoed back", async () => {
  const echo = echoServer();
  const p = await Proxy.start(tcpConfig("cluster: echo", staticCluster("echo", echo.port)));
  try {
    const c = await connect(p.port());
    await writeAll(c, enc.encode("hello"));
    assertEquals(dec.decode(await readN(c, 5)), "hello");
    await writeAll(c, enc.encode(" again"));
    assertEquals(dec.decode(await readN(c, 6)), " again");
    await c.closeWrite();
    assertEquals((await readToEnd(c)).length, 0);
    safeClose(c);
  } finally {
    await p.stop();
    echo.close();
  }
});

Deno.test("tcp_proxy: a 2 MiB payload arrives intact in both directions", async () => {
  const echo = echoServer();
  const p = await Proxy.start(tcpConfig("cluster: echo", staticCluster("echo", echo.port)));
  try {
    const payload = randomBytes(2 * 1024 * 1024);
    const c = await connect(p.port());
    // Read while writing: the echo cannot buffer 2 MiB, so a writer that waits would deadlock.
    const reading = readToEnd(c, 30_000);
    await writeAll(c, payload);
    await c.closeWrite();
    const back = await reading;
    safeClose(c);
    assertEquals(back.length, payload.length);
    assertEquals(await sha256(back), await sha256(payload));
  } finally {
    await p.stop();
    echo.close();
  }
});

Deno.test("tcp_proxy: a 2 MiB upstream-first stream reaches a client that sends nothing", async () => {
  const payload = randomBytes(2 * 1024 * 1024);
  let upstreamGot = -1;
  const srv = tcpServer(async (c) => {
    await writeAll(c, payload);
    await c.closeWrite();
    upstreamGot = (await readToEnd(c)).length;
    safeClose(c);
  });
  const p = await Proxy.start(tcpConfig("cluster: src", staticCluster("src", srv.port)));
  try {
    const c = await connect(p.port());
    const got = await readToEnd(c, 30_000);
    assertEquals(got.length, payload.length);
    assertEquals(await sha256(got), await sha256(payload));
    await c.closeWrite();
    safeClose(c);
  } finally {
    await p.stop();
    srv.close();
  }
  assert(upstreamGot <= 0, `upstream got ${upstreamGot} bytes`);
});

Deno.test("tcp_proxy: client half-close reaches the upstream as EOF; the upstream can still answer", async () => {
  let sawEof: string | undefined;
  const srv = tcpServer(async (c) => {
    const got = dec.decode(await readToEnd(c));
    sawEof = got;
    await writeAll(c, enc.encode(`got ${got}`));
    safeClose(c);
  });
  const p = await Proxy.start(tcpConfig("cluster: srv", staticCluster("srv", srv.port)));
  try {
    const c = await connect(p.port());
    await writeAll(c, enc.encode("ping"));
    await c.closeWrite();
    const answer = dec.decode(await readToEnd(c));
    safeClose(c);
    assertEquals(sawEof, "ping");
    assertEquals(answer, "got ping");
  } finally {
    await p.stop();
    srv.close();
  }
});

Deno.test("tcp_proxy: upstream half-close reaches the client as EOF; the client can still send", async () => {
  let afterFin: string | undefined;
  const done = Promise.withResolvers<void>();
  const srv = tcpServer(async (c) => {
    await writeAll(c, enc.encode("bye"));
    await c.closeWrite();
    afterFin = dec.decode(await readToEnd(c));
    safeClose(c);
    done.resolve();
  });
  const p = await Proxy.start(tcpConfig("cluster: srv", staticCluster("srv", srv.port)));
  try {
    const c = await connect(p.port());
    // EOF after "bye", while our direction stays open.
    assertEquals(dec.decode(await readToEnd(c)), "bye");
    await writeAll(c, enc.encode("still here"));
    await c.closeWrite();
    await done.promise;
    safeClose(c);
    assertEquals(afterFin, "still here");
  } finally {
    await p.stop();
    srv.close();
  }
});

Deno.test("tcp_proxy: weighted_clusters spreads connections over both clusters", async () => {
  let a = 0;
  let b = 0;
  const ea = echoServer(() => a++);
  const eb = echoServer(() => b++);
  const p = await Proxy.start(tcpConfig(
    `weighted_clusters:
  clusters:
  - { name: a, weight: 1 }
  - { name: b, weight: 1 }`,
    staticCluster("a", ea.port) + staticCluster("b", eb.port),
  ));
  try {
    for (let i = 0; i < 50; i++) {
      const c = await connect(p.port());
      await writeAll(c, enc.encode("x"));
      assertEquals(dec.decode(await readN(c, 1)), "x");
      await c.closeWrite();
      await readToEnd(c);
      safeClose(c);
    }
    assertEquals(a + b, 50);
    // With equal weights, 50 connections all landing on one side has probability 2^-49.
    assert(a > 0 && b > 0, `a=${a} b=${b}`);
  } finally {
    await p.stop();
    ea.close();
    eb.close();
  }
});

Deno.test("tcp_proxy: connect failure after max_connect_attempts closes the downstream", async () => {
  const port = refusedPort();
  const p = await Proxy.start(tcpConfig(
    "cluster: dead\nmax_connect_attempts: 3",
    staticCluster("dead", port),
  ));
  try {
    const c = await connect(p.port());
    const t0 = Date.now();
    // Either EOF or a reset: nothing is ever proxied.
    const got = await readToEnd(c, 20_000);
    safeClose(c);
    assertEquals(got.length, 0);
    assert(Date.now() - t0 < 20_000, "the proxy did not close the connection");
  } finally {
    await p.stop();
  }
});

Deno.test({
  name: "tcp_proxy sets UF,URX when max_connect_attempts is exhausted",
}, async () => {
  const log = Deno.makeTempFileSync();
  const port = refusedPort();
  const p = await Proxy.start(tcpConfig(
    `cluster: dead
max_connect_attempts: 3
access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format:
      text_format_source:
        inline_string: "%UPSTREAM_HOST% %BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_FLAGS%\\n"`,
    staticCluster("dead", port),
  ));
  try {
    const c = await connect(p.port());
    await readToEnd(c, 5000);
    safeClose(c);
  } finally {
    await p.stop();
  }
  // Envoy sets UF on each failed attempt and URX once connect_attempts reaches the maximum.
  assertEquals(Deno.readTextFileSync(log), `127.0.0.1:${port} 0 0 UF,URX\n`);
});

Deno.test("tcp_proxy: idle_timeout closes a session with no traffic, activity keeps it open", async () => {
  const echo = echoServer();
  const p = await Proxy.start(tcpConfig(
    "cluster: echo\nidle_timeout: 1s",
    staticCluster("echo", echo.port),
  ));
  try {
    const c = await connect(p.port());
    // Traffic every 100 ms for longer than the timeout: never idle for 1 s, even on a machine
    // so busy that a 100 ms timer fires far late.
    let lastWrite = 0;
    for (let i = 0; i < 15; i++) {
      lastWrite = performance.now();
      await writeAll(c, enc.encode("k"));
      assertEquals(dec.decode(await readN(c, 1)), "k");
      await new Promise((r) => setTimeout(r, 100));
    }
    // The proxy's last activity came after the client's last write, so the idle close comes at
    // least the timeout after that write (closed by the proxy, not by the read's own bound).
    const rest = await readToEnd(c, 20_000);
    const waited = performance.now() - lastWrite;
    safeClose(c);
    assertEquals(rest.length, 0);
    assert(waited >= 990 && waited < 20_000, `closed after ${waited} ms`);
  } finally {
    await p.stop();
    echo.close();
  }
});

Deno.test("tcp_proxy: access log line with upstream host, byte counts and no flags", async () => {
  const log = Deno.makeTempFileSync();
  const echo = echoServer();
  const p = await Proxy.start(tcpConfig(
    `cluster: echo
access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format:
      text_format_source:
        inline_string: "%UPSTREAM_HOST% %BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_FLAGS%\\n"`,
    staticCluster("echo", echo.port),
  ));
  try {
    const c = await connect(p.port());
    await writeAll(c, enc.encode("hello world"));
    await c.closeWrite();
    assertEquals(dec.decode(await readToEnd(c)), "hello world");
    safeClose(c);
  } finally {
    // Access logs are flushed when the proxy stops.
    await p.stop();
    echo.close();
  }
  assertMatch(Deno.readTextFileSync(log), new RegExp(`^127\\.0\\.0\\.1:${echo.port} 11 11 -\\n$`));
});

Deno.test("tcp_proxy: max_connection_pools: a host's TCP pool is shared by its connections; a second host's is refused (UH)", async () => {
  const log = Deno.makeTempFileSync();
  const a = echoServer();
  const b = echoServer();
  const admin = "admin:\n  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n";
  const p = await Proxy.start(
    admin + tcpConfig(
      `cluster: echo
access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format_source: { inline_string: "%UPSTREAM_HOST% %RESPONSE_FLAGS%\\n" } }`,
      // Round robin over two hosts: the first, the other, the first, the other.
      `- name: echo
  type: STATIC
  connect_timeout: 1s
  circuit_breakers: { thresholds: [{ max_connection_pools: 1, track_remaining: true }] }
  load_assignment:
    cluster_name: echo
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${a.port} } } }
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${b.port} } } }
`,
    ),
  );
  const stat = async (name: string) => {
    const t = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats?filter=${name}$`)).text();
    return Number(new RegExp(`${name.replaceAll(".", "\\.")}: (\\d+)`).exec(t)?.[1]);
  };
  const echoes = async (c: Deno.Conn, text: string) => {
    await writeAll(c, enc.encode(text));
    return dec.decode(await readN(c, text.length)) === text;
  };
  try {
    const first = await connect(p.port());
    assert(await echoes(first, "one"));
    // The other host needs a second pool: refused, the connection closed.
    const second = await connect(p.port());
    assertEquals((await readToEnd(second)).length, 0);
    safeClose(second);
    assertEquals(await stat("cluster.echo.upstream_cx_pool_overflow"), 1);
    assertEquals(await stat("cluster.echo.upstream_cx_none_healthy"), 0);
    assertEquals(await stat("cluster.echo.circuit_breakers.default.remaining_cx_pools"), 0);
    // The first host again: its pool is shared.
    const third = await connect(p.port());
    assert(await echoes(third, "three"));
    // Once its connections are gone, so is its pool: the other host gets one.
    for (const c of [first, third]) {
      await c.closeWrite();
      await readToEnd(c);
      safeClose(c);
    }
    const deadline = Date.now() + 20_000;
    while (await stat("cluster.echo.circuit_breakers.default.remaining_cx_pools") !== 1) {
      if (Date.now() > deadline) throw new Error("the pool was never given back");
      await new Promise((r) => setTimeout(r, 20));
    }
    const fourth = await connect(p.port());
    assert(await echoes(fourth, "four"));
    // Its session ends (and is logged) before the proxy stops.
    await fourth.closeWrite();
    await readToEnd(fourth);
    safeClose(fourth);
  } finally {
    await p.stop();
    a.close();
    b.close();
  }
  // Round robin may start at either host: one served two connections, the other one, and
  // the refused connection, which got no pool, names no upstream host (as in Envoy).
  const lines = Deno.readTextFileSync(log).trim().split("\n");
  assertEquals(lines.filter((l) => l === "- UH").length, 1);
  const served = [a.port, b.port].map((port) =>
    lines.filter((l) => l === `127.0.0.1:${port} -`).length
  );
  assertEquals(served.sort(), [1, 2]);
});
