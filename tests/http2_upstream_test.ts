/**
 * Upstream HTTP/2 through the proxy: curl (HTTP/1.1) → denvoy → an h2c upstream (node:http2)
 * and curl --http2-prior-knowledge → denvoy → an HTTP/1.1 upstream, with Envoy's translation
 * rules (`:authority` ↔ Host, connection-specific headers dropped, `te: trailers` kept, chunked
 * ↔ DATA frames, trailers both ways), the pool's multiplexing and stats, and the ways a
 * cluster picks HTTP/2 (explicit_http_config, use_downstream_protocol_config, the deprecated
 * cluster field).
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  adminStats,
  adminStatsWhen,
  curl,
  httpConfig,
  Proxy,
  rawExchange,
  staticCluster,
  upstream,
} from "./proxy.ts";
import { runMain, tempFile } from "./helpers.ts";

/** What the h2c upstream saw of each request. */
interface Seen {
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders;
}

/**
 * An h2c upstream: echoes the request (method, path, body); `/trailers` answers with
 * trailers, `/big` with `n` bytes.
 */
async function h2Upstream() {
  const seen: Seen[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  const server = http2.createServer();
  server.on("session", (s) => sessions.push(s));
  server.on("stream", (stream, headers) => {
    let body = "";
    stream.on("data", (d) => body += d);
    stream.on("end", () => {
      seen.push({ headers, body, trailers: {} });
      const path = String(headers[":path"]);
      if (path === "/trailers") {
        stream.respond({ ":status": 200, "x-up": "h2" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "x-trailer": "done" }));
        stream.end("with trailers");
        return;
      }
      if (path.startsWith("/big/")) {
        stream.respond({ ":status": 200 });
        stream.end(new Uint8Array(Number(path.slice(5))).fill(0x62));
        return;
      }
      stream.respond({ ":status": 200, "x-up": "h2", "content-type": "text/plain" });
      stream.end(`h2 ${headers[":method"]} ${path} ${body}`);
    });
    stream.on("trailers", (t) => seen.push({ headers: {}, body: "", trailers: t }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    sessions,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

const H2_OPTIONS = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config:
      http2_protocol_options: {}`;

/** Runs `fn` with a proxy whose cluster `h2` speaks HTTP/2 to an h2c upstream. */
async function withH2Upstream(
  fn: (p: Proxy, up: Awaited<ReturnType<typeof h2Upstream>>) => Promise<void>,
  opts: { clusterExtra?: string; hcmExtra?: string } = {},
) {
  const up = await h2Upstream();
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route: { cluster: h2 }`,
    clusters: staticCluster("h2", up.port, opts.clusterExtra ?? H2_OPTIONS),
    hcmExtra: opts.hcmExtra,
  }));
  try {
    await fn(proxy, up);
  } finally {
    await proxy.stop();
    await up.close();
  }
}

Deno.test("h1 → h2 upstream: :authority from Host, :scheme, hop-by-hop headers dropped, te: trailers kept", async () => {
  await withH2Upstream(async (p, up) => {
    const r = await curl([
      "-i",
      "-H",
      "Host: example.test",
      "-H",
      "TE: trailers",
      "-H",
      "Connection: keep-alive, x-hop",
      "-H",
      "Keep-Alive: timeout=5",
      `http://127.0.0.1:${p.port()}/hello?q=1`,
    ]);
    assertMatch(r.out, /^HTTP\/1\.1 200/);
    assertMatch(r.out, /x-up: h2/);
    assertMatch(r.out, /h2 GET \/hello\?q=1 $/);
    const h = up.seen[0].headers;
    assertEquals(h[":authority"], "example.test");
    assertEquals(h[":scheme"], "http");
    assertEquals(h["host"], undefined);
    assertEquals(h["te"], "trailers");
    assertEquals(h["connection"], undefined);
    assertEquals(h["keep-alive"], undefined);
    assertEquals(typeof h["x-request-id"], "string");
    assertEquals(h["x-forwarded-proto"], "http");
  });
});

Deno.test("h1 → h2 upstream: a chunked request body becomes DATA frames; a response without length goes back chunked", async () => {
  await withH2Upstream(async (p, up) => {
    const raw = await rawExchange(
      p.port(),
      "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
      { until: /\r\n0\r\n\r\n$/ },
    );
    assertMatch(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assertMatch(raw, /transfer-encoding: chunked/i);
    assertMatch(raw, /h2 POST \/echo abcdefg/);
    assertEquals(up.seen[0].headers["transfer-encoding"], undefined);
    assertEquals(up.seen[0].body, "abcdefg");
  });
});

Deno.test("h1 → h2 upstream: trailers both ways with enable_trailers", async () => {
  await withH2Upstream(async (p, up) => {
    const raw = await rawExchange(
      p.port(),
      "POST /trailers HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "2\r\nhi\r\n0\r\nx-req-trailer: r1\r\n\r\n",
      { until: /x-trailer: done\r\n\r\n$/ },
    );
    assertMatch(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assertMatch(raw, /with trailers\r\n0\r\nx-trailer: done\r\n\r\n$/);
    const t = up.seen.find((s) => s.trailers["x-req-trailer"]);
    assertEquals(t?.trailers["x-req-trailer"], "r1");
  }, { hcmExtra: "http_protocol_options: { enable_trailers: true }" });
});

Deno.test("h1 → h2 upstream: concurrent requests multiplex on one connection; stats", async () => {
  await withH2Upstream(async (p, up) => {
    const rs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => curl([`http://127.0.0.1:${p.port()}/r${i}`])),
    );
    rs.forEach((r, i) => assertEquals(r.out, `h2 GET /r${i} `));
    const big = await curl([
      `http://127.0.0.1:${p.port()}/big/3000000`,
      "-o",
      "/dev/null",
      "-w",
      "%{size_download}",
    ]);
    assertEquals(big.out, "3000000");
    assertEquals(up.sessions.length, 1);
    const s = await adminStatsWhen(p.adminPort, (s) => s["cluster.h2.upstream_rq_total"] === 9);
    assertEquals(s["cluster.h2.upstream_cx_http2_total"], 1);
    assertEquals(s["cluster.h2.upstream_cx_http1_total"], 0);
    assertEquals(s["cluster.h2.upstream_rq_200"], 9);
    assertEquals(s["cluster.h2.http2.streams_active"], 0);
    assertEquals(s["cluster.h2.http2.rx_reset"], 0);
  });
});

Deno.test("h1 → h2 upstream: GOAWAY from the upstream; the next request opens a new connection", async () => {
  await withH2Upstream(async (p, up) => {
    assertEquals((await curl([`http://127.0.0.1:${p.port()}/a`])).out, "h2 GET /a ");
    up.sessions[0].goaway(0);
    await adminStatsWhen(p.adminPort, (s) => s["cluster.h2.upstream_cx_close_notify"] === 1);
    assertEquals((await curl([`http://127.0.0.1:${p.port()}/b`])).out, "h2 GET /b ");
    const s = await adminStatsWhen(p.adminPort, (s) => s["cluster.h2.upstream_cx_destroy"] === 1);
    assertEquals(s["cluster.h2.upstream_cx_http2_total"], 2);
  });
});

Deno.test("h2 → h1 upstream: Host from :authority, the request body", async () => {
  let host = "";
  let body = "";
  const up = upstream(async (req) => {
    host = req.headers.get("host") ?? "";
    body = await req.text();
    return new Response(`h1 ${req.method} ${body}`);
  });
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route: { cluster: h1 }`,
    clusters: staticCluster("h1", up.port),
  }));
  try {
    const r = await curl([
      "--http2-prior-knowledge",
      "-H",
      "host: h2.example",
      "--data-binary",
      "payload",
      `http://127.0.0.1:${proxy.port()}/x`,
    ]);
    assertEquals(r.out, "h1 POST payload");
    assertEquals(host, "h2.example");
    assertEquals(body, "payload");
    const s = await adminStats(proxy.adminPort);
    assertEquals(s["cluster.h1.upstream_cx_http1_total"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("use_downstream_protocol_config: HTTP/1.1 downstream → HTTP/1.1 upstream, HTTP/2 → HTTP/2", async () => {
  // Deno.serve speaks HTTP/1.1 and h2c with prior knowledge on one port.
  const up = upstream((req) => new Response(`${req.method} ${new URL(req.url).pathname}`));
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route: { cluster: both }`,
    clusters: staticCluster(
      "both",
      up.port,
      `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    use_downstream_protocol_config:
      http2_protocol_options: {}`,
    ),
  }));
  try {
    const h1 = await curl([`http://127.0.0.1:${proxy.port()}/one`]);
    assertEquals(h1.out, "GET /one");
    let s = await adminStatsWhen(proxy.adminPort, (s) => s["cluster.both.upstream_rq_total"] === 1);
    assertEquals(s["cluster.both.upstream_cx_http1_total"], 1);
    assertEquals(s["cluster.both.upstream_cx_http2_total"], 0);
    const h2 = await curl(["--http2-prior-knowledge", `http://127.0.0.1:${proxy.port()}/two`]);
    assertEquals(h2.out, "GET /two");
    s = await adminStatsWhen(proxy.adminPort, (s) => s["cluster.both.upstream_rq_total"] === 2);
    assertEquals(s["cluster.both.upstream_cx_http1_total"], 1);
    assertEquals(s["cluster.both.upstream_cx_http2_total"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("the deprecated cluster http2_protocol_options speaks HTTP/2 upstream", async () => {
  await withH2Upstream(async (p) => {
    assertEquals((await curl([`http://127.0.0.1:${p.port()}/old`])).out, "h2 GET /old ");
    const s = await adminStats(p.adminPort);
    assertEquals(s["cluster.h2.upstream_cx_http2_total"], 1);
  }, { clusterExtra: "http2_protocol_options: { max_concurrent_streams: 10 }" });
});

Deno.test("upstream HTTP/2 config: auto_config without TLS, HTTP/3, bad ranges and unimplemented fields are refused", async () => {
  const cases: [string, RegExp][] = [
    [
      `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    auto_config: {}`,
      /ALPN configured for cluster c which has a non-ALPN transport socket/,
    ],
    ["http2_protocol_options: { initial_stream_window_size: 100 }", /initial_stream_window_size/],
    [
      "http2_protocol_options: { connection_keepalive: { timeout: 1s, connection_idle_interval: 1s } }",
      /connection_idle_interval/,
    ],
    [
      `http2_protocol_options: {}
typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: {} }`,
      /cannot specify both/,
    ],
  ];
  for (const [extra, want] of cases) {
    const path = tempFile(httpConfig({
      routes: `- match: { prefix: "/" }
  route: { cluster: c }`,
      clusters: staticCluster("c", 1, extra),
    }));
    const r = await runMain(["--mode", "validate", "-c", path]);
    assert(r.code !== 0, `accepted: ${extra}`);
    assertMatch(r.stderr + r.stdout, want);
  }
});

Deno.test("h1 WebSocket upgrade → h2 upstream as extended CONNECT (RFC 8441); 200 back as 101", async () => {
  let seen: http2.IncomingHttpHeaders | undefined;
  const server = http2.createServer({ settings: { enableConnectProtocol: true } });
  server.on("stream", (stream, headers) => {
    seen = headers;
    stream.respond({ ":status": 200 });
    stream.on("data", (d) => stream.write(`echo:${d}`));
    stream.on("end", () => stream.end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route: { cluster: h2 }`,
    clusters: staticCluster("h2", (server.address() as AddressInfo).port, H2_OPTIONS),
    hcmExtra: "upgrade_configs: [{ upgrade_type: websocket }]",
  }));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port() });
  try {
    await conn.write(new TextEncoder().encode(
      "GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ));
    const b = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(b);
      if (n === null) break;
      text += new TextDecoder().decode(b.subarray(0, n));
    }
    assertMatch(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assertMatch(text, /upgrade: websocket\r\n/i);
    assertMatch(text, /connection: upgrade\r\n/i);
    assertEquals(seen?.[":method"], "CONNECT");
    assertEquals(seen?.[":protocol"], "websocket");
    assertEquals(seen?.[":path"], "/chat");
    assertEquals(seen?.[":authority"], "ws.test");
    assertEquals(seen?.["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
    await conn.write(new TextEncoder().encode("ping"));
    let echoed = text.slice(text.indexOf("\r\n\r\n") + 4);
    while (!echoed.includes("echo:ping")) {
      const n = await conn.read(b);
      if (n === null) break;
      echoed += new TextDecoder().decode(b.subarray(0, n));
    }
    assertEquals(echoed, "echo:ping");
  } finally {
    conn.close();
    await proxy.stop();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
