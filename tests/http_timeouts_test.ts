/**
 * HTTP timeouts and connection lifetimes end to end: route timeout, stream_idle_timeout,
 * request_timeout, the connection manager's idle_timeout and max_connection_duration, and
 * upstream connection reuse (keep-alive by default, max_requests_per_connection).
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  curl,
  delay,
  fileAccessLog as accessLog,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  tcpServer,
  upstream,
} from "./proxy.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const LOG_FORMAT = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%";

/** An upstream that answers after `delayMs` (per path: `/wait/<ms>`). */
function slowUpstream() {
  return upstream(async (req) => {
    const m = /\/wait\/(\d+)/.exec(new URL(req.url).pathname);
    if (m) await delay(Number(m[1]), req.signal);
    await req.text().catch(() => "");
    return new Response("done");
  });
}

function get(port: number, path: string, extra = ""): Promise<string> {
  return rawExchange(
    port,
    `GET ${path} HTTP/1.1\r\nhost: a\r\n${extra}connection: close\r\n\r\n`,
  );
}

/**
 * Reads from `conn` until the peer closes it; returns the text, and whether this gave up after
 * `ms` instead (a bound for a broken proxy, not a timing expectation).
 */
async function readUntilClosed(
  conn: Deno.Conn,
  ms = 20_000,
): Promise<{ text: string; timedOut: boolean }> {
  let text = "";
  let timedOut = false;
  const buf = new Uint8Array(65536);
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, ms);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
    }
  } catch { /* reset, or closed by the timer */ }
  clearTimeout(timer);
  return { text, timedOut };
}

/** Reads one complete Content-Length response off a keep-alive connection. */
async function readOneResponse(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buf = new Uint8Array(65536);
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const len = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (text.length >= end + 4 + len) return text;
    }
    const n = await conn.read(buf);
    if (n === null) return text;
    text += dec.decode(buf.subarray(0, n));
  }
}

/**
 * A raw HTTP/1.1 upstream that counts its connections and answers each (body-less) request
 * with 200 "ok", keeping the connection open for more.
 */
function countingUpstream() {
  const state = { connections: 0, requests: 0 };
  const srv = tcpServer(async (c) => {
    state.connections++;
    let pending = "";
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        pending += dec.decode(buf.subarray(0, n));
        let end;
        while ((end = pending.indexOf("\r\n\r\n")) >= 0) {
          pending = pending.slice(end + 4);
          state.requests++;
          await c.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
        }
      }
    } catch { /* the proxy closed the connection */ }
    try {
      c.close();
    } catch { /* closed */ }
  });
  return { ...srv, state };
}

Deno.test("route timeout: 504 'upstream request timeout' after the timeout, UT logged", async () => {
  const log = Deno.makeTempFileSync();
  const up = slowUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: slow, timeout: 0.25s }`,
    clusters: staticCluster("slow", up.port),
    hcmExtra: accessLog(log, LOG_FORMAT),
  }));
  try {
    const t0 = Date.now();
    const r = parseResponse(await get(p.port(), "/wait/1500"));
    const took = Date.now() - t0;
    // The 504 shows the timer beat the upstream's answer; the proxy got the request after t0.
    assertEquals([r.status, r.body], [504, "upstream request timeout"]);
    assert(took >= 200, `took ${took} ms`);
    const ok = parseResponse(await get(p.port(), "/wait/10"));
    assertEquals([ok.status, ok.body], [200, "done"]);
  } finally {
    await p.stop();
    await up.close();
  }
  const lines = Deno.readTextFileSync(log);
  assertMatch(lines, /^\/wait\/1500 504 UT upstream_response_timeout$/m);
  assertMatch(lines, /^\/wait\/10 200 - /m);
});

Deno.test({
  name: "%RESPONSE_CODE_DETAILS% is 'via_upstream' for a proxied response",
}, async () => {
  const log = Deno.makeTempFileSync();
  const up = slowUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: up }`,
    clusters: staticCluster("up", up.port),
    hcmExtra: accessLog(log, LOG_FORMAT),
  }));
  try {
    assertEquals(parseResponse(await get(p.port(), "/wait/1")).status, 200);
  } finally {
    await p.stop();
    await up.close();
  }
  assertEquals(Deno.readTextFileSync(log), "/wait/1 200 - via_upstream\n");
});

Deno.test("stream_idle_timeout: 504 'stream timeout' before response headers of a complete request, flag SI", async () => {
  const log = Deno.makeTempFileSync();
  const up = slowUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: slow, timeout: 0s }`,
    clusters: staticCluster("slow", up.port),
    hcmExtra: `stream_idle_timeout: 0.25s\n${accessLog(log, LOG_FORMAT)}`,
  }));
  try {
    const t0 = Date.now();
    const r = parseResponse(await get(p.port(), "/wait/1500"));
    const took = Date.now() - t0;
    // The request was complete: Envoy answers 504 (408 only while the request is incomplete).
    assertEquals([r.status, r.body], [504, "stream timeout"]);
    assert(took >= 200, `took ${took} ms`);
  } finally {
    await p.stop();
    await up.close();
  }
  assertMatch(Deno.readTextFileSync(log), /^\/wait\/1500 504 SI stream_idle_timeout$/m);
});

Deno.test("stream_idle_timeout: a response that stalls mid-body is reset", async () => {
  const stalled = tcpServer(async (c) => {
    await c.read(new Uint8Array(65536));
    await c.write(
      enc.encode("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n"),
    );
    // Then nothing, until the proxy gives up on us.
    await c.read(new Uint8Array(65536)).catch(() => null);
    try {
      c.close();
    } catch { /* closed */ }
  });
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: stalled, timeout: 0s }`,
    clusters: staticCluster("stalled", stalled.port),
    hcmExtra: "stream_idle_timeout: 0.25s",
  }));
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
    await conn.write(enc.encode("GET / HTTP/1.1\r\nhost: a\r\n\r\n"));
    const { text, timedOut } = await readUntilClosed(conn);
    try {
      conn.close();
    } catch { /* closed by the proxy */ }
    assertMatch(text, /^HTTP\/1\.1 200/);
    assertMatch(text, /first/);
    // Headers went out, so no 408: the stream is reset and the chunked body never ends.
    assert(!text.includes("\r\n0\r\n\r\n"), text);
    assert(!timedOut, "the proxy never reset the stalled stream");
  } finally {
    await p.stop();
    stalled.close();
  }
});

Deno.test("request_timeout: 408 when the request body never completes; not once it has", async () => {
  const log = Deno.makeTempFileSync();
  const up = slowUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: slow }`,
    clusters: staticCluster("slow", up.port),
    hcmExtra: `request_timeout: 0.3s\n${accessLog(log, LOG_FORMAT)}`,
  }));
  try {
    // Timed from before the request is sent: the proxy's timer cannot start earlier.
    const t0 = Date.now();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
    await conn.write(
      enc.encode("POST /partial HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\n0123456789"),
    );
    const { text, timedOut } = await readUntilClosed(conn);
    const ms = Date.now() - t0;
    try {
      conn.close();
    } catch { /* closed */ }
    const r = parseResponse(text);
    assertEquals([r.status, r.body, timedOut], [408, "request timeout", false]);
    assert(ms >= 290, `took ${ms} ms`);
    // A complete request is no longer subject to request_timeout while the upstream works.
    const ok = parseResponse(await get(p.port(), "/wait/700"));
    assertEquals([ok.status, ok.body], [200, "done"]);
  } finally {
    await p.stop();
    await up.close();
  }
  assertMatch(Deno.readTextFileSync(log), /^\/partial 408 \S+ request_overall_timeout$/m);
});

Deno.test("common_http_protocol_options.idle_timeout closes an idle keep-alive connection", async () => {
  const up = slowUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: up }`,
    clusters: staticCluster("up", up.port),
    hcmExtra: "common_http_protocol_options: { idle_timeout: 0.3s }",
  }));
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
    // Requests keep the connection busy; each response re-arms the idle timer.
    let lastWrite = 0;
    for (let i = 0; i < 2; i++) {
      lastWrite = Date.now();
      await conn.write(enc.encode("GET /wait/200 HTTP/1.1\r\nhost: a\r\n\r\n"));
      const r = parseResponse(await readOneResponse(conn));
      assertEquals([r.status, r.body], [200, "done"]);
      assertEquals(r.headers["connection"], undefined);
    }
    const { text, timedOut } = await readUntilClosed(conn);
    // The timer was re-armed when the last response went out, after its request was written.
    const ms = Date.now() - lastWrite;
    try {
      conn.close();
    } catch { /* closed */ }
    assertEquals([text, timedOut], ["", false]);
    assert(ms >= 490, `closed ${ms} ms after the last request`);
  } finally {
    await p.stop();
    await up.close();
  }
});

Deno.test("max_connection_duration: an idle connection is closed once it is reached", async () => {
  const up = slowUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: up }`,
    clusters: staticCluster("up", up.port),
    // drain_timeout is short too: Envoy drains HTTP/1 connections for drain_timeout first.
    hcmExtra: "common_http_protocol_options: { max_connection_duration: 0.3s }\n" +
      "drain_timeout: 0.1s",
  }));
  try {
    // Timed from before connecting: the proxy's duration timer cannot start earlier.
    const t0 = Date.now();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
    await conn.write(enc.encode("GET / HTTP/1.1\r\nhost: a\r\n\r\n"));
    assertEquals(parseResponse(await readOneResponse(conn)).status, 200);
    const { text, timedOut } = await readUntilClosed(conn);
    const ms = Date.now() - t0;
    try {
      conn.close();
    } catch { /* closed */ }
    assertEquals([text, timedOut], ["", false]);
    assert(ms >= 290, `closed after ${ms} ms`);
  } finally {
    await p.stop();
    await up.close();
  }
});

Deno.test("max_connection_duration: a request in flight finishes with connection: close", async () => {
  const up = slowUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: up }`,
    clusters: staticCluster("up", up.port),
    hcmExtra: "common_http_protocol_options: { max_connection_duration: 0.3s }\n" +
      "drain_timeout: 0.1s",
  }));
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
    await conn.write(enc.encode("GET /wait/800 HTTP/1.1\r\nhost: a\r\n\r\n"));
    const { text } = await readUntilClosed(conn);
    try {
      conn.close();
    } catch { /* closed */ }
    const r = parseResponse(text);
    assertEquals([r.status, r.body], [200, "done"]);
    assertEquals(r.headers["connection"], "close");
  } finally {
    await p.stop();
    await up.close();
  }
});

Deno.test("upstream keep-alive: sequential requests reuse one upstream connection", async () => {
  const up = countingUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: up }`,
    clusters: staticCluster("up", up.port),
  }));
  try {
    for (let i = 0; i < 4; i++) {
      const r = await curl([`http://127.0.0.1:${p.port()}/n${i}`]);
      assertEquals(r.out, "ok", r.err);
    }
    assertEquals(up.state.requests, 4);
    assertEquals(up.state.connections, 1);
  } finally {
    await p.stop();
    up.close();
  }
});

Deno.test("HttpProtocolOptions max_requests_per_connection: 1 opens a new upstream connection per request", async () => {
  const up = countingUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: up }`,
    clusters: staticCluster(
      "up",
      up.port,
      `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    common_http_protocol_options: { max_requests_per_connection: 1 }
    explicit_http_config: { http_protocol_options: {} }`,
    ),
  }));
  try {
    for (let i = 0; i < 3; i++) {
      const r = await curl([`http://127.0.0.1:${p.port()}/n${i}`]);
      assertEquals(r.out, "ok", r.err);
    }
    assertEquals(up.state.requests, 3);
    assertEquals(up.state.connections, 3);
  } finally {
    await p.stop();
    up.close();
  }
});
