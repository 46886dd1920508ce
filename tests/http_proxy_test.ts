/**
 * The HTTP/1.1 data path end to end: main.ts as a process, real upstream servers, curl and raw
 * sockets as clients.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  curl,
  delay,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  SHORT_DELAYED_CLOSE,
  staticCluster,
  tcpServer,
  upstream,
} from "./proxy.ts";
import { refusedPort } from "./refused_port.ts";

/** What the upstream saw of a request (copied: a Request is unusable once answered). */
interface Seen {
  method: string;
  url: string;
  headers: Headers;
}

/** Runs `fn` with a proxy in front of an echo upstream; cleans up both. */
async function withProxy(
  opts: { routes?: string; hcmExtra?: string; vhostExtra?: string; clusterExtra?: string },
  fn: (p: Proxy, seen: Seen[], up: number) => Promise<void>,
  handler?: (req: Request) => Response | Promise<Response>,
) {
  const seen: Seen[] = [];
  const up = upstream(async (req) => {
    seen.push({ method: req.method, url: req.url, headers: new Headers(req.headers) });
    if (handler) return handler(req);
    const body = await req.text();
    return new Response(
      `echo ${req.method} ${new URL(req.url).pathname}${new URL(req.url).search} ${body}`,
      {
        headers: { "x-upstream": "1" },
      },
    );
  });
  const proxy = await Proxy.start(httpConfig({
    routes: opts.routes ?? `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port, opts.clusterExtra ?? ""),
    hcmExtra: opts.hcmExtra ? `${SHORT_DELAYED_CLOSE}\n${opts.hcmExtra}` : SHORT_DELAYED_CLOSE,
    vhostExtra: opts.vhostExtra,
  }));
  try {
    await fn(proxy, seen, up.port);
  } finally {
    await proxy.stop();
    await up.close();
  }
}

Deno.test("GET through the proxy: upstream answer, Envoy's headers both ways", async () => {
  await withProxy({}, async (p, seen) => {
    const r = await curl(["-i", `http://127.0.0.1:${p.port()}/hello?x=1`]);
    assertEquals(r.code, 0, r.err);
    const res = parseResponse(r.out);
    assertEquals(res.status, 200);
    assertEquals(res.body, "echo GET /hello?x=1 ");
    assertEquals(res.headers["server"], "envoy");
    assertEquals(res.headers["x-upstream"], "1");
    assertMatch(res.headers["x-envoy-upstream-service-time"], /^\d+$/);
    const req = seen[0];
    assertMatch(req.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    assertEquals(req.headers.get("x-forwarded-proto"), "http");
    assertEquals(req.headers.get("x-envoy-expected-rq-timeout-ms"), "15000");
  });
});

Deno.test("request bodies: content-length and chunked, streamed to the upstream", async () => {
  await withProxy({}, async (p) => {
    const a = await curl(["-d", "hello-body", `http://127.0.0.1:${p.port()}/post`]);
    assertEquals(a.out, "echo POST /post hello-body");
    const big = "x".repeat(300_000);
    const file = Deno.makeTempFileSync();
    Deno.writeTextFileSync(file, big);
    const b = await curl([
      "-H",
      "transfer-encoding: chunked",
      "--data-binary",
      `@${file}`,
      `http://127.0.0.1:${p.port()}/chunked`,
    ]);
    assertEquals(b.out.length, "echo POST /chunked ".length + big.length);
  });
});

Deno.test("keep-alive and pipelining: two requests in one write, two responses in order", async () => {
  await withProxy({}, async (p) => {
    const text = await rawExchange(
      p.port(),
      "GET /one HTTP/1.1\r\nhost: a\r\n\r\nGET /two HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    );
    const first = text.indexOf("echo GET /one");
    const second = text.indexOf("echo GET /two");
    assert(first > 0 && second > first, text);
    assertEquals(text.match(/HTTP\/1\.1 200/g)?.length, 2);
  });
});

Deno.test("direct_response, redirect and 404 for no route (NR)", async () => {
  await withProxy({
    routes: `- match: { path: "/direct" }
  direct_response: { status: 418, body: { inline_string: "teapot" } }
- match: { prefix: "/old" }
  redirect: { path_redirect: "/new", response_code: FOUND }
- match: { prefix: "/app" }
  route: { cluster: backend }`,
  }, async (p) => {
    const d = parseResponse(
      await rawExchange(p.port(), "GET /direct HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"),
    );
    assertEquals([d.status, d.body], [418, "teapot"]);
    const r = parseResponse(
      await rawExchange(
        p.port(),
        "GET /old/x HTTP/1.1\r\nhost: a.com\r\nconnection: close\r\n\r\n",
      ),
    );
    assertEquals(r.status, 302);
    assertEquals(r.headers["location"], "http://a.com/new");
    const n = parseResponse(
      await rawExchange(p.port(), "GET /none HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"),
    );
    assertEquals(n.status, 404);
  });
});

Deno.test("prefix_rewrite sets x-envoy-original-path; route headers are added", async () => {
  await withProxy({
    routes: `- match: { prefix: "/api/" }
  route: { cluster: backend, prefix_rewrite: "/v2/" }
  request_headers_to_add:
  - header: { key: x-client, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }
  response_headers_to_add:
  - header: { key: x-route, value: api }`,
  }, async (p, seen) => {
    const res = parseResponse(
      await rawExchange(
        p.port(),
        "GET /api/users?q=1 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
      ),
    );
    assertEquals(res.body, "echo GET /v2/users?q=1 ");
    assertEquals(res.headers["x-route"], "api");
    assertEquals(seen[0].headers.get("x-envoy-original-path"), "/api/users?q=1");
    assertEquals(seen[0].headers.get("x-client"), "127.0.0.1");
  });
});

Deno.test("upstream failures: UF connect failure 503, UT timeout 504, UH no hosts 503", async () => {
  const deadPort = refusedPort();
  const slow = upstream(async (req) => {
    await delay(2000, req.signal);
    return new Response("late");
  });
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/dead" }
  route: { cluster: dead }
- match: { prefix: "/slow" }
  route: { cluster: slow, timeout: 0.2s }
- match: { prefix: "/empty" }
  route: { cluster: empty }`,
    clusters: staticCluster("dead", deadPort) + staticCluster("slow", slow.port) +
      `- name: empty\n  type: STATIC\n  load_assignment: { cluster_name: empty }\n`,
  }));
  try {
    const get = async (path: string) =>
      parseResponse(
        await rawExchange(
          proxy.port(),
          `GET ${path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`,
        ),
      );
    const uf = await get("/dead");
    assertEquals(uf.status, 503);
    assertMatch(
      uf.body,
      /upstream connect error or disconnect\/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: 111/,
    );
    const ut = await get("/slow");
    assertEquals([ut.status, ut.body], [504, "upstream request timeout"]);
    const uh = await get("/empty");
    assertEquals([uh.status, uh.body], [503, "no healthy upstream"]);
  } finally {
    await proxy.stop();
    await slow.close();
  }
});

Deno.test("garbage from the upstream is a 502", async () => {
  const bad = tcpServer(async (c) => {
    await c.read(new Uint8Array(4096));
    await c.write(new TextEncoder().encode("NOT HTTP AT ALL\r\n\r\n"));
    c.close();
  });
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: bad }`,
    clusters: staticCluster("bad", bad.port),
  }));
  try {
    const r = parseResponse(
      await rawExchange(proxy.port(), "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"),
    );
    assertEquals(r.status, 502);
  } finally {
    await proxy.stop();
    bad.close();
  }
});

Deno.test("request smuggling and bad requests: 400/501/431 and the connection closes", async () => {
  await withProxy({}, async (p, seen) => {
    const cases: [string, number][] = [
      [
        "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
      ],
      ["POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\n\r\n", 501],
      ["POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab", 400],
      ["POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", 400],
      ["GET / HTTP/1.1\r\nhost: a\r\nbad header: x\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nhost: a\r\nx: a\r\n folded\r\n\r\n", 400],
      [`GET / HTTP/1.1\r\nhost: a\r\nx: ${"a".repeat(70 * 1024)}\r\n\r\n`, 431],
      ["G@T / HTTP/1.1\r\nhost: a\r\n\r\n", 400],
      ["GET /a b HTTP/1.1\r\nhost: a\r\n\r\n", 400],
    ];
    for (const [req, status] of cases) {
      const text = await rawExchange(p.port(), req);
      const res = parseResponse(text);
      assertEquals(res.status, status, JSON.stringify(req.slice(0, 80)));
      assertEquals(res.headers["connection"], "close");
    }
    assertEquals(seen.length, 0);
  });
});

Deno.test("HEAD, 204 and 304 responses carry no body; HTTP/1.0 with accept_http_10", async () => {
  await withProxy(
    { hcmExtra: "http_protocol_options: { accept_http_10: true }" },
    async (p) => {
      const head = await rawExchange(
        p.port(),
        "HEAD /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
      );
      assertMatch(head, /^HTTP\/1\.1 200/);
      assertEquals(head.slice(head.indexOf("\r\n\r\n") + 4), "");
      const h10 = await rawExchange(p.port(), "GET /ten HTTP/1.0\r\nhost: a\r\n\r\n");
      assertMatch(h10, /^HTTP\/1\.0 200/);
      assertMatch(h10, /\r\n\r\nbody$/);
    },
    (req) => new Response(req.method === "HEAD" ? null : "body", { status: 200 }),
  );
  await withProxy({}, async (p) => {
    const r = parseResponse(await rawExchange(p.port(), "GET / HTTP/1.0\r\nhost: a\r\n\r\n"));
    assertEquals(r.status, 426);
  });
});

Deno.test("WebSocket-style upgrade is tunnelled when upgrade_configs allows it", async () => {
  const ws = tcpServer(async (c) => {
    const buf = new Uint8Array(4096);
    const n0 = (await c.read(buf)) ?? 0;
    const first = new TextDecoder().decode(buf.subarray(0, n0));
    await c.write(new TextEncoder().encode(
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n" +
        first.slice(first.indexOf("\r\n\r\n") + 4),
    ));
    for (;;) {
      const n = await c.read(buf);
      if (n === null) break;
      await c.write(buf.subarray(0, n));
    }
    c.close();
  });
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: ws }`,
    clusters: staticCluster("ws", ws.port),
    hcmExtra: "upgrade_configs: [{ upgrade_type: websocket }]",
  }));
  try {
    const text = await rawExchange(
      proxy.port(),
      "GET /chat HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nping-frame",
      { until: /ping-frame$/ },
    );
    assertMatch(text, /^HTTP\/1\.1 101/);
    assertMatch(text, /ping-frame$/);
  } finally {
    await proxy.stop();
    ws.close();
  }
});

Deno.test("slowloris: request_headers_timeout closes a connection that never finishes", async () => {
  await withProxy({ hcmExtra: "request_headers_timeout: 0.3s" }, async (p) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
    await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: a\r\n"));
    const n = await conn.read(new Uint8Array(100)).catch(() => null);
    assertEquals(n, null);
    conn.close();
  });
});

Deno.test("client leaving mid-request: upstream cancelled, flag DC logged, others unaffected", async () => {
  const log = Deno.makeTempFileSync();
  let leftBody: string | undefined;
  await withProxy({
    hcmExtra: `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_FLAGS%\\n" } }`,
  }, async (p) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
    await conn.write(
      new TextEncoder().encode("POST /left HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nabc"),
    );
    await new Promise((r) => setTimeout(r, 300));
    conn.close();
    const ok = await curl([`http://127.0.0.1:${p.port()}/still-fine`]);
    assertEquals(ok.out, "done");
  }, async (req) => {
    const path = new URL(req.url).pathname;
    try {
      const body = await req.text();
      if (path === "/left") leftBody = body;
    } catch { /* the proxy reset the upstream request: expected */ }
    return new Response("done");
  });
  // The proxy flushes access logs on shutdown.
  const lines = Deno.readTextFileSync(log);
  assertMatch(lines, /^\/left DC$/m);
  assertMatch(lines, /^\/still-fine -$/m);
  // The upstream never got the rest of the body: its connection was cut.
  assert(leftBody === undefined || leftBody.length < 100, `upstream got ${leftBody?.length}`);
});

Deno.test("the admin /ready answers LIVE once listeners accept", async () => {
  await withProxy({}, async (p) => {
    const r = await curl(["-i", `http://127.0.0.1:${p.adminPort}/ready`]);
    assertMatch(r.out, /^HTTP\/1\.1 200/);
    assertMatch(r.out, /LIVE/);
  });
});
