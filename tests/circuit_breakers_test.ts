/**
 * Circuit breakers end to end: limits shared by every worker (SharedArrayBuffer counters),
 * overflow answered 503 with UO and x-envoy-overloaded, the overflow counters and the
 * `circuit_breakers.*` gauges, and a retry budget capping a retry storm.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import {
  adminStats as stats,
  adminStatsWhen as statsWhen,
  curl,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  upstream,
} from "./proxy.ts";

/** An upstream that holds every request until `release()`; counts what it received. */
function gatedUpstream() {
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  let received = 0;
  const up = upstream(async () => {
    received++;
    await gate;
    return new Response("ok");
  });
  return { ...up, release: () => open(), received: () => received };
}

function get(port: number) {
  return rawExchange(port, "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
    .then(parseResponse);
}

const thresholds = (t: string) =>
  `circuit_breakers:
  thresholds:
  - ${t}`;

Deno.test("circuit breakers: max_requests holds across 2 workers; overflow is 503 UO x-envoy-overloaded", async () => {
  const up = gatedUpstream();
  const proxy = await Proxy.start(
    httpConfig({
      routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
      clusters: staticCluster(
        "backend",
        up.port,
        thresholds("{ max_requests: 2, track_remaining: true }"),
      ),
    }),
    ["--concurrency", "2"],
  );
  try {
    const all = Array.from({ length: 6 }, () => get(proxy.port()));
    // Two reach the upstream; the four others overflow at once.
    const s = await statsWhen(
      proxy.adminPort,
      (s) => s["cluster.backend.upstream_rq_pending_overflow"] === 4,
    );
    assertEquals(up.received(), 2);
    assertEquals(s["cluster.backend.circuit_breakers.default.rq_open"], 1);
    assertEquals(s["cluster.backend.circuit_breakers.default.remaining_rq"], 0);
    assertEquals(s["cluster.backend.circuit_breakers.high.rq_open"], 0);
    up.release();
    const rs = await Promise.all(all);
    const ok = rs.filter((r) => r.status === 200);
    const overflow = rs.filter((r) => r.status === 503);
    assertEquals([ok.length, overflow.length], [2, 4]);
    for (const r of overflow) {
      assertEquals(r.headers["x-envoy-overloaded"], "true");
      assertEquals(
        r.body,
        "upstream connect error or disconnect/reset before headers. reset reason: overflow",
      );
    }
    const after = await statsWhen(
      proxy.adminPort,
      (s) => s["cluster.backend.circuit_breakers.default.rq_open"] === 0,
    );
    assertEquals(after["cluster.backend.circuit_breakers.default.remaining_rq"], 2);
    assertEquals(after["cluster.backend.upstream_rq_503"], 4);
  } finally {
    up.release();
    await proxy.stop();
    await up.close();
  }
});

Deno.test("circuit breakers: max_connections queues, max_pending_requests overflows", async () => {
  const up = gatedUpstream();
  const log = Deno.makeTempFileSync();
  const proxy = await Proxy.start(httpConfig({
    hcmExtra: `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\\n" } }`,
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster(
      "backend",
      up.port,
      thresholds("{ max_connections: 1, max_pending_requests: 1 }"),
    ),
  }));
  try {
    const first = get(proxy.port());
    await statsWhen(proxy.adminPort, (s) => s["cluster.backend.upstream_rq_active"] === 1);
    // The only connection is busy: the second request waits for it.
    const second = get(proxy.port());
    await statsWhen(proxy.adminPort, (s) => s["cluster.backend.upstream_rq_pending_active"] === 1);
    // No room to wait: overflow.
    const third = await get(proxy.port());
    assertEquals([third.status, third.headers["x-envoy-overloaded"]], [503, "true"]);
    up.release();
    assertEquals((await first).status, 200);
    assertEquals((await second).status, 200);
    const s = await stats(proxy.adminPort);
    assertEquals(s["cluster.backend.upstream_rq_pending_overflow"], 1);
    assert(s["cluster.backend.upstream_cx_overflow"] >= 1);
    assertEquals(s["cluster.backend.upstream_cx_total"], 1, "one connection served both");
    await proxy.stop();
    const lines = Deno.readTextFileSync(log).trim().split("\n").sort();
    assertEquals(lines, [
      "200 - via_upstream",
      "200 - via_upstream",
      "503 UO upstream_reset_before_response_started{overflow}",
    ]);
  } finally {
    up.release();
    await proxy.stop().catch(() => {});
    await up.close();
  }
});

Deno.test("circuit breakers: per_host_thresholds max_connections caps each host's connections", async () => {
  const a = gatedUpstream();
  const b = gatedUpstream();
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: `- name: backend
  type: STATIC
  circuit_breakers:
    per_host_thresholds:
    - { max_connections: 1 }
  load_assignment:
    cluster_name: backend
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${a.port} } } }
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${b.port} } } }
`,
  }));
  try {
    const all = Array.from({ length: 4 }, () => get(proxy.port()));
    // One connection per host; the other two requests wait for them.
    const s = await statsWhen(
      proxy.adminPort,
      (s) => s["cluster.backend.upstream_rq_pending_active"] === 2,
    );
    assertEquals(s["cluster.backend.upstream_cx_active"], 2);
    assert(s["cluster.backend.upstream_cx_overflow"] >= 1);
    a.release();
    b.release();
    const rs = await Promise.all(all);
    assertEquals(rs.map((r) => r.status), [200, 200, 200, 200]);
    assertEquals((await stats(proxy.adminPort))["cluster.backend.upstream_cx_total"], 2);
    assertEquals(a.received() + b.received(), 4);
  } finally {
    a.release();
    b.release();
    await proxy.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("circuit breakers: a retry budget caps a retry storm", async () => {
  let received = 0;
  const up = upstream(async () => {
    received++;
    await new Promise((r) => setTimeout(r, 300));
    return new Response("down", { status: 503 });
  });
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy: { retry_on: 5xx, num_retries: 3, retry_back_off: { base_interval: 0.001s } }`,
    clusters: staticCluster(
      "backend",
      up.port,
      thresholds(
        "{ retry_budget: { budget_percent: { value: 10 }, min_retry_concurrency: 1 } }",
      ),
    ),
  }));
  try {
    const rs = await Promise.all(Array.from({ length: 10 }, () => get(proxy.port())));
    for (const r of rs) assertEquals(r.status, 503);
    const s = await stats(proxy.adminPort);
    const retries = s["cluster.backend.upstream_rq_retry"];
    const overflow = s["cluster.backend.upstream_rq_retry_overflow"];
    // Without the budget: 10 requests x 4 attempts. With it, about one retry at a time.
    assert(overflow >= 5, `retry overflow ${overflow}`);
    assert(retries <= 10, `retries ${retries}`);
    assertEquals(received, 10 + retries);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("circuit breakers: /clusters shows the thresholds in force", async () => {
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster(
      "backend",
      1,
      `circuit_breakers:
  thresholds:
  - { max_connections: 7, max_retries: 9 }
  - { priority: HIGH, max_requests: 5 }`,
    ),
  }));
  try {
    const r = await curl([`http://127.0.0.1:${proxy.adminPort}/clusters`]);
    for (
      const line of [
        "backend::default_priority::max_connections::7",
        "backend::default_priority::max_pending_requests::1024",
        "backend::default_priority::max_retries::9",
        "backend::high_priority::max_requests::5",
        "backend::high_priority::max_retries::3",
      ]
    ) assert(r.out.includes(line + "\n"), `${line} in:\n${r.out}`);
  } finally {
    await proxy.stop();
  }
});

Deno.test("circuit breakers: tcp_proxy refuses a connection over max_connections (UO)", async () => {
  // An echo upstream that keeps its connections open.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const c of l) {
        conns.push(c);
        c.readable.pipeTo(c.writable).catch(() => {});
      }
    } catch { /* closed */ }
  })();
  const upPort = (l.addr as Deno.NetAddr).port;
  const log = Deno.makeTempFileSync();
  const proxy = await Proxy.start(`admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: tcp
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: backend
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${log}
              log_format: { text_format_source: { inline_string: "%RESPONSE_FLAGS%\\n" } }
  clusters:
${staticCluster("backend", upPort, thresholds("{ max_connections: 1 }")).replace(/^/gm, "  ")}`);
  const enc = new TextEncoder();
  try {
    const first = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port() });
    await first.write(enc.encode("ping"));
    const buf = new Uint8Array(16);
    assertEquals(await first.read(buf), 4, "the first connection is relayed");
    const second = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port() });
    assertEquals(await second.read(buf), null, "the second one is closed at once");
    second.close();
    first.close();
    const s = await statsWhen(
      proxy.adminPort,
      (s) => s["cluster.backend.circuit_breakers.default.cx_open"] === 0,
    );
    assertEquals(s["cluster.backend.upstream_cx_overflow"], 1);
    await proxy.stop();
    assert(Deno.readTextFileSync(log).split("\n").includes("UO"));
  } finally {
    await proxy.stop().catch(() => {});
    l.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  }
});

Deno.test("circuit breakers: max_connection_pools across 2 workers; a new pool past it is 503 UH, an idle pool is deleted", async () => {
  const hosts = [gatedUpstream(), gatedUpstream(), gatedUpstream()];
  const log = Deno.makeTempFileSync();
  const proxy = await Proxy.start(
    httpConfig({
      hcmExtra: `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\\n" } }`,
      routes: `- match: { prefix: "/" }\n  route: { cluster: od }`,
      // ORIGINAL_DST: each request names its host, so each host needs a pool of its own.
      clusters: `- name: od
  type: ORIGINAL_DST
  lb_policy: CLUSTER_PROVIDED
  connect_timeout: 1s
  original_dst_lb_config: { use_http_header: true }
  ${thresholds("{ max_connection_pools: 2, track_remaining: true }").replace(/\n/g, "\n  ")}
  typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      common_http_protocol_options: { idle_timeout: 0.2s }
      explicit_http_config: { http_protocol_options: {} }
`,
    }),
    ["--concurrency", "2"],
  );
  const to = (i: number) =>
    rawExchange(
      proxy.port(),
      `GET / HTTP/1.1\r\nhost: a\r\nx-envoy-original-dst-host: 127.0.0.1:${
        hosts[i].port
      }\r\nconnection: close\r\n\r\n`,
    ).then(parseResponse);
  const pools = "cluster.od.circuit_breakers.default";
  try {
    const held = [to(0), to(1)];
    let s = await statsWhen(proxy.adminPort, (s) => s["cluster.od.upstream_rq_active"] === 2);
    assertEquals([s[`${pools}.cx_pool_open`], s[`${pools}.remaining_cx_pools`]], [1, 0]);
    // A third host needs a third pool, whichever worker takes the request.
    const refused = await to(2);
    assertEquals([refused.status, refused.body], [503, "no healthy upstream"]);
    assertEquals(hosts[2].received(), 0);
    s = await stats(proxy.adminPort);
    assertEquals(s["cluster.od.upstream_cx_pool_overflow"], 1);
    assertEquals(s["cluster.od.upstream_cx_none_healthy"], 0);
    for (const h of hosts) h.release();
    assertEquals((await Promise.all(held)).map((r) => r.status), [200, 200]);
    // The connections close after idle_timeout: their pools are deleted and free the room.
    s = await statsWhen(proxy.adminPort, (s) => s[`${pools}.remaining_cx_pools`] === 2);
    assertEquals(s[`${pools}.cx_pool_open`], 0);
    assertEquals((await to(2)).status, 200);
    s = await stats(proxy.adminPort);
    assertEquals(s["cluster.od.upstream_cx_pool_overflow"], 1);
    await proxy.stop();
    const lines = Deno.readTextFileSync(log).trim().split("\n").sort();
    assertEquals(lines, [
      "200 - via_upstream",
      "200 - via_upstream",
      "200 - via_upstream",
      "503 UH no_healthy_upstream",
    ]);
  } finally {
    for (const h of hosts) h.release();
    await proxy.stop().catch(() => {});
    for (const h of hosts) await h.close();
  }
});
