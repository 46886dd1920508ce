/**
 * Behaviours where denvoy must do exactly what Envoy does, end to end: the real main.ts, real
 * upstreams (raw TCP servers where the bytes matter), raw client sockets, and what the access
 * log and `/stats` say afterwards.
 */
import { assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  adminStats as stats,
  adminStatsWhen as statsWhen,
  fileAccessLog,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  tcpServer,
  upstream,
  waitForLines,
} from "./proxy.ts";
import { refusedPort } from "./refused_port.ts";

const enc = new TextEncoder();
/** Access log files are flushed every 20 ms (Envoy's default is 10 s). */
const FAST_FLUSH = ["--file-flush-interval-msec", "20"];
const dec = new TextDecoder();

const LOG_FORMAT =
  "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %UPSTREAM_TRANSPORT_FAILURE_REASON%";

/** An HCM access_log writing LOG_FORMAT lines to `path`. */
const accessLog = (path: string) => fileAccessLog(path, LOG_FORMAT);

/** Reads from `conn` until EOF (or `until` matches); never throws. */
async function readAll(conn: Deno.Conn, until?: RegExp, ms = 10_000): Promise<string> {
  let text = "";
  const buf = new Uint8Array(65536);
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, ms);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
      if (until?.test(text)) break;
    }
  } catch { /* reset or closed */ }
  clearTimeout(timer);
  return text;
}

/** A raw upstream: each connection's request head is recorded and `respond` writes bytes. */
function rawUpstream(respond: (c: Deno.TcpConn, head: string) => Promise<void> | void) {
  const heads: string[] = [];
  const closed: Promise<void>[] = [];
  let headSeen: () => void = () => {};
  let nextHead = new Promise<void>((r) => headSeen = r);
  const server = tcpServer(async (c) => {
    let done!: () => void;
    closed.push(new Promise((r) => done = r));
    const head = await readAll(c, /\r\n\r\n/);
    heads.push(head);
    headSeen();
    nextHead = new Promise<void>((r) => headSeen = r);
    try {
      await respond(c, head);
    } catch { /* the proxy went away */ }
    done();
  });
  return { ...server, heads, closed, head: () => nextHead };
}

function proxyConfig(upPort: number, opts: { hcmExtra?: string; routeExtra?: string } = {}) {
  return httpConfig({
    routes: `- match: { prefix: "/" }
  route: { cluster: backend${opts.routeExtra ?? ""} }`,
    clusters: staticCluster("backend", upPort),
    hcmExtra: opts.hcmExtra,
  });
}

Deno.test("downstream FIN while the request waits upstream: stream reset, upstream request cancelled, DC", async () => {
  const log = Deno.makeTempFileSync();
  const up = rawUpstream(async (c, head) => {
    if (head.startsWith("GET /ws")) {
      await c.write(enc.encode(
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
      ));
    }
    // Never answers (or never sends tunnel data); reads until the proxy closes its side.
    await readAll(c);
  });
  const proxy = await Proxy.start(
    proxyConfig(up.port, {
      hcmExtra: `${accessLog(log)}\nupgrade_configs: [{ upgrade_type: websocket }]`,
    }),
    FAST_FLUSH,
  );
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port() });
    const headSeen = up.head();
    await conn.write(enc.encode("GET /fin HTTP/1.1\r\nhost: a\r\n\r\n"));
    await headSeen;
    await conn.closeWrite();
    assertEquals(await readAll(conn), "");
    conn.close();
    // The upstream request was cancelled: its connection closed, not pooled.
    await up.closed[0];
    assertEquals(
      (await waitForLines(log, 1))[0],
      "/fin 0 DC downstream_remote_disconnect -",
    );
    const s = await statsWhen(
      proxy.adminPort,
      (s) => s["cluster.backend.upstream_cx_destroy"] === 1,
    );
    assertEquals(s["http.test.downstream_cx_destroy_remote_active_rq"], 1);
    assertEquals(s["http.test.downstream_rq_rx_reset"], 1);
    assertEquals(s["cluster.backend.upstream_rq_tx_reset"], 1);
    assertEquals(s["cluster.backend.upstream_cx_destroy_local_with_active_rq"], 1);
    // An upgraded stream is no exception: no half-close, the tunnel is reset both ways.
    const ws = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port() });
    await ws.write(
      enc.encode(
        "GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
      ),
    );
    assertMatch(await readAll(ws, /\r\n\r\n/), /^HTTP\/1\.1 101 /);
    await ws.closeWrite();
    assertEquals(await readAll(ws), "");
    ws.close();
    await up.closed[1];
    assertEquals(
      (await waitForLines(log, 2))[1],
      "/ws 101 DC downstream_remote_disconnect -",
    );
  } finally {
    await proxy.stop();
    up.close();
  }
});

Deno.test("Expect: 100-continue: answered by the proxy and stripped; proxied with proxy_100_continue", async () => {
  const up = rawUpstream(async (c, head) => {
    if (/expect: 100-continue/i.test(head)) {
      await c.write(enc.encode("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    // The body may have come with the head (held while the connection was being opened).
    if (!head.endsWith("hello")) await readAll(c, /hello/);
    await c.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
  });
  const request =
    "POST /c HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n";
  for (const proxy100 of [false, true]) {
    const proxy = await Proxy.start(
      proxyConfig(up.port, { hcmExtra: `proxy_100_continue: ${proxy100}` }),
      FAST_FLUSH,
    );
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port() });
      await conn.write(enc.encode(request));
      // The body goes only after the 100, as a real client does.
      const interim = await readAll(conn, /\r\n\r\n/);
      assertEquals(interim, "HTTP/1.1 100 Continue\r\n\r\n");
      await conn.write(enc.encode("hello"));
      const final = parseResponse(await readAll(conn, /\r\n\r\nok/));
      conn.close();
      assertEquals([final.status, final.body], [200, "ok"]);
      const head = up.heads[up.heads.length - 1];
      assertEquals(/expect: 100-continue/i.test(head), proxy100, head);
      const s = await stats(proxy.adminPort);
      assertEquals(s["http.test.downstream_rq_1xx"], 1);
    } finally {
      await proxy.stop();
    }
  }
  up.close();
});

Deno.test("use_remote_address false: only a single internal XFF address is internal; x-envoy-* cleaned and consumed", async () => {
  const seen: Record<string, string>[] = [];
  const up = upstream((req) => {
    seen.push(Object.fromEntries(req.headers));
    return new Response("ok");
  });
  const proxy = await Proxy.start(
    proxyConfig(up.port).replace(
      "route_config:\n",
      "route_config:\n            internal_only_headers: [x-secret]\n",
    ),
    FAST_FLUSH,
  );
  const control = [
    "x-envoy-upstream-rq-timeout-ms: 3000",
    "x-envoy-upstream-rq-per-try-timeout-ms: 2000",
    "x-envoy-retry-on: 5xx",
    "x-envoy-max-retries: 2",
    "x-envoy-retriable-status-codes: 418",
    "x-envoy-retriable-header-names: x-retry",
    "x-envoy-original-url: http://a/orig",
    "x-envoy-decorator-operation: op",
    "x-secret: s",
    "x-envoy-upstream-alt-stat-name: alt1",
  ].join("\r\n");
  const get = (xff: string) =>
    rawExchange(
      proxy.port(),
      `GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-for: ${xff}\r\n${control}\r\nconnection: close\r\n\r\n`,
    );
  try {
    assertEquals(parseResponse(await get("10.0.0.1")).status, 200);
    assertEquals(parseResponse(await get("10.0.0.1, 10.0.0.2")).status, 200);
    assertEquals(parseResponse(await get("not-an-ip")).status, 200);
    const [internal, chain, garbage] = seen;
    // Internal: trusted control headers are honoured and consumed by the router.
    assertEquals(internal["x-envoy-internal"], "true");
    assertEquals(internal["x-envoy-expected-rq-timeout-ms"], "2000");
    assertEquals(internal["x-envoy-original-url"], "http://a/orig");
    assertEquals(internal["x-envoy-decorator-operation"], "op");
    assertEquals(internal["x-secret"], "s");
    for (
      const h of [
        "x-envoy-upstream-rq-timeout-ms",
        "x-envoy-upstream-rq-per-try-timeout-ms",
        "x-envoy-retry-on",
        "x-envoy-max-retries",
        "x-envoy-retriable-status-codes",
        "x-envoy-retriable-header-names",
        "x-envoy-upstream-alt-stat-name",
      ]
    ) assertEquals(internal[h], undefined, h);
    // The alt stat name charges the internal request's codes under it too.
    const st = await stats(proxy.adminPort);
    assertEquals(st["cluster.backend.alt1.upstream_rq_200"], 1);
    assertEquals(st["cluster.backend.alt1.internal.upstream_rq_200"], 1);
    assertEquals(st["cluster.backend.upstream_rq_200"], 3);
    // External (a chain, or no address at all): cleaned, the route's timeout applies.
    for (const ext of [chain, garbage]) {
      assertEquals(ext["x-envoy-internal"], undefined);
      assertEquals(ext["x-envoy-expected-rq-timeout-ms"], "15000");
      for (
        const h of [
          "x-envoy-retriable-status-codes",
          "x-envoy-retriable-header-names",
          "x-envoy-original-url",
          "x-envoy-retry-on",
          "x-envoy-max-retries",
          "x-envoy-upstream-alt-stat-name",
        ]
      ) assertEquals(ext[h], undefined, h);
      assertEquals(ext["x-secret"], undefined); // the route table's internal_only_headers
      // Only the edge (use_remote_address) removes the decorator operation.
      assertEquals(ext["x-envoy-decorator-operation"], "op");
    }
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("internal requests: per-try timeout and alt-response headers steer the router", async () => {
  const log = Deno.makeTempFileSync();
  const up = rawUpstream(async (c) => {
    await readAll(c); // never answers
  });
  const proxy = await Proxy.start(proxyConfig(up.port, { hcmExtra: accessLog(log) }), FAST_FLUSH);
  const get = (path: string, extra: string) =>
    rawExchange(
      proxy.port(),
      `GET ${path} HTTP/1.1\r\nhost: a\r\nx-forwarded-for: 10.0.0.1\r\n${extra}connection: close\r\n\r\n`,
    );
  try {
    const perTry = parseResponse(
      await get("/per-try", "x-envoy-upstream-rq-per-try-timeout-ms: 200\r\n"),
    );
    assertEquals([perTry.status, perTry.body], [504, "upstream request timeout"]);
    const alt = parseResponse(
      await get(
        "/alt",
        "x-envoy-upstream-rq-timeout-ms: 200\r\nx-envoy-upstream-rq-timeout-alt-response: 1\r\n",
      ),
    );
    assertEquals([alt.status, alt.body], [204, ""]);
    const lines = await waitForLines(log, 2);
    assertEquals(lines.sort(), [
      "/alt 204 UT upstream_response_timeout -",
      "/per-try 504 UT upstream_per_try_timeout -",
    ]);
    const s = await stats(proxy.adminPort);
    assertEquals(s["cluster.backend.upstream_rq_per_try_timeout"], 1);
    assertEquals(s["cluster.backend.upstream_rq_timeout"], 1);
  } finally {
    await proxy.stop();
    up.close();
  }
});

Deno.test("codec rejections and early 4xx count as requests; details without a doubled prefix", async () => {
  const log = Deno.makeTempFileSync();
  const up = upstream(() => new Response("ok"));
  const proxy = await Proxy.start(proxyConfig(up.port, { hcmExtra: accessLog(log) }), FAST_FLUSH);
  try {
    const port = proxy.port();
    const longUrl = parseResponse(
      await rawExchange(port, `GET /${"a".repeat(70_000)} HTTP/1.1\r\nhost: a\r\n\r\n`),
    );
    assertEquals(longUrl.status, 431);
    assertEquals(longUrl.body, "Request Header Fields Too Large");
    const many = Array.from({ length: 101 }, (_, i) => `x-h${i}: v\r\n`).join("");
    const tooMany = await rawExchange(port, `GET /many HTTP/1.1\r\nhost: a\r\n${many}\r\n`);
    assertEquals(parseResponse(tooMany).status, 431);
    const noHost = await rawExchange(port, "GET /nohost HTTP/1.1\r\n\r\n");
    assertEquals(parseResponse(noHost).status, 400);
    const old = await rawExchange(port, "GET /old HTTP/1.0\r\nhost: a\r\n\r\n");
    assertEquals(parseResponse(old).status, 426);
    const lines = await waitForLines(log, 4);
    assertEquals(lines.map((l) => l.replace(/^\S+ /, "")).sort(), [
      "400 - missing_host_header -",
      "426 - low_version -",
      "431 DPE http1.headers_too_large -",
      "431 DPE http1.too_many_headers -",
    ]);
    const s = await statsWhen(proxy.adminPort, (s) => s["http.test.downstream_rq_active"] === 0);
    assertEquals(s["http.test.downstream_rq_total"], 4);
    assertEquals(s["http.test.downstream_rq_4xx"], 4);
    assertEquals(s["http.test.downstream_rq_completed"], 4);
    assertEquals(s["http.test.downstream_cx_protocol_error"], 2);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("upstream close after a 101, or mid-body: UC, upstream_reset_after_response_started", async () => {
  const log = Deno.makeTempFileSync();
  const up = rawUpstream(async (c, head) => {
    if (head.startsWith("GET /ws")) {
      await c.write(enc.encode(
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nhello",
      ));
    } else {
      await c.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial"));
    }
    c.close();
  });
  const proxy = await Proxy.start(
    proxyConfig(up.port, {
      hcmExtra: `${accessLog(log)}
upgrade_configs: [{ upgrade_type: websocket }]`,
    }),
    FAST_FLUSH,
  );
  try {
    const ws = await rawExchange(
      proxy.port(),
      "GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
    );
    assertMatch(ws, /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\nhello$/);
    const cut = await rawExchange(proxy.port(), "GET /cut HTTP/1.1\r\nhost: a\r\n\r\n");
    assertMatch(cut, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\npartial$/);
    const lines = await waitForLines(log, 2);
    assertEquals(lines.sort(), [
      "/cut 200 UC upstream_reset_after_response_started{connection_termination} -",
      "/ws 101 UC upstream_reset_after_response_started{connection_termination} -",
    ]);
  } finally {
    await proxy.stop();
    up.close();
  }
});

Deno.test("request_headers_timeout starts at the request's first byte, not at accept", async () => {
  const log = Deno.makeTempFileSync();
  const up = upstream(() => new Response("ok"));
  const proxy = await Proxy.start(
    proxyConfig(up.port, { hcmExtra: `request_headers_timeout: 0.3s\n${accessLog(log)}` }),
    FAST_FLUSH,
  );
  try {
    const port = proxy.port();
    const quiet = await Deno.connect({ hostname: "127.0.0.1", port });
    // A connection accepted after `quiet` that starts a request: its close proves the timeout
    // has run out for `quiet` too, had it started at accept.
    const started = await Deno.connect({ hostname: "127.0.0.1", port });
    await started.write(enc.encode("G"));
    assertEquals(await readAll(started), "");
    started.close();
    await quiet.write(enc.encode("GET /quiet HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"));
    const r = parseResponse(await readAll(quiet));
    quiet.close();
    assertEquals([r.status, r.body], [200, "ok"]);
    // As in Envoy, the timed-out request was a stream: counted, reset, logged.
    const lines = await waitForLines(log, 2);
    assertEquals(lines.sort(), ["- 0 DC request_header_timeout -", "/quiet 200 - via_upstream -"]);
    const s = await statsWhen(proxy.adminPort, (s) => s["http.test.downstream_rq_active"] === 0);
    assertEquals(s["http.test.downstream_rq_header_timeout"], 1);
    assertEquals(s["http.test.downstream_rq_total"], 2);
    assertEquals(s["http.test.downstream_cx_destroy_local_active_rq"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("stream_idle_timeout: 504 on a complete request, 408 while it is still coming in", async () => {
  const log = Deno.makeTempFileSync();
  const up = rawUpstream(async (c) => {
    await readAll(c); // never answers
  });
  const proxy = await Proxy.start(
    proxyConfig(up.port, {
      hcmExtra: `stream_idle_timeout: 0.3s\n${accessLog(log)}`,
      routeExtra: ", timeout: 0s",
    }),
    FAST_FLUSH,
  );
  try {
    const waiting = parseResponse(
      await rawExchange(
        proxy.port(),
        "GET /complete HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
      ),
    );
    assertEquals([waiting.status, waiting.body], [504, "stream timeout"]);
    const partial = parseResponse(
      await rawExchange(
        proxy.port(),
        "POST /partial HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nabc",
      ),
    );
    assertEquals([partial.status, partial.body], [408, "stream timeout"]);
    const lines = await waitForLines(log, 2);
    assertEquals(lines.sort(), [
      "/complete 504 SI stream_idle_timeout -",
      "/partial 408 SI stream_idle_timeout -",
    ]);
  } finally {
    await proxy.stop();
    up.close();
  }
});

Deno.test("a 101 to a request that did not upgrade is the whole response: no framing, no hop-by-hop", async () => {
  const up = rawUpstream(async (c) => {
    await c.write(enc.encode(
      "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: foo\r\nkeep-alive: 5\r\n\r\n",
    ));
    await readAll(c);
  });
  const proxy = await Proxy.start(proxyConfig(up.port), FAST_FLUSH);
  try {
    // No connection: close from the client: the proxy ends the exchange by itself.
    const raw = await rawExchange(proxy.port(), "GET / HTTP/1.1\r\nhost: a\r\n\r\n");
    const r = parseResponse(raw);
    assertEquals(r.status, 101);
    assertEquals(r.body, "");
    for (
      const h of ["transfer-encoding", "content-length", "connection", "upgrade", "keep-alive"]
    ) {
      assertEquals(r.headers[h], undefined, h);
    }
    // The upstream connection, whose next bytes are not HTTP, is not reused.
    await up.closed[0];
  } finally {
    await proxy.stop();
    up.close();
  }
});

Deno.test("Content-Length lists and repeated Content-Length fields are refused both ways", async () => {
  const up = rawUpstream(async (c, head) => {
    const cl = head.includes("/list")
      ? "content-length: 2, 2\r\n"
      : "content-length: 2\r\ncontent-length: 2\r\n";
    await c.write(enc.encode(`HTTP/1.1 200 OK\r\n${cl}\r\nok`));
    await readAll(c);
  });
  const proxy = await Proxy.start(proxyConfig(up.port), FAST_FLUSH);
  try {
    const port = proxy.port();
    for (const cl of ["content-length: 5, 5\r\n", "content-length: 5\r\ncontent-length: 5\r\n"]) {
      const r = parseResponse(
        await rawExchange(port, `POST / HTTP/1.1\r\nhost: a\r\n${cl}\r\nhello`),
      );
      assertEquals([r.status, r.body], [400, "Bad Request"]);
    }
    for (const path of ["/list", "/repeated"]) {
      const r = parseResponse(
        await rawExchange(port, `GET ${path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`),
      );
      assertEquals(r.status, 502);
      assertEquals(r.headers["content-length"], String(r.body.length));
    }
  } finally {
    await proxy.stop();
    up.close();
  }
});

Deno.test("refused upstream connection: Envoy's transport failure reason in the body, details and log", async () => {
  const log = Deno.makeTempFileSync();
  const dead = refusedPort();
  const proxy = await Proxy.start(proxyConfig(dead, { hcmExtra: accessLog(log) }), FAST_FLUSH);
  try {
    const r = parseResponse(
      await rawExchange(
        proxy.port(),
        "GET /refused HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
      ),
    );
    assertEquals(r.status, 503);
    assertEquals(
      r.body,
      "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: 111",
    );
    const [line] = await waitForLines(log, 1);
    assertEquals(
      line,
      "/refused 503 UF upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_111} delayed_connect_error:_111",
    );
  } finally {
    await proxy.stop();
  }
});
