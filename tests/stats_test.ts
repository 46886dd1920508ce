/**
 * Envoy's standard stats on a running proxy with two workers: real clients and upstreams, and
 * exact counts read from `/stats?format=json` (histogram sample counts from Prometheus), merged
 * over the main thread and both workers.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import {
  adminStats as stats,
  adminStatsWhen as statsWhen,
  curl,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  tcpServer,
  upstream,
} from "./proxy.ts";
import { refusedPort } from "./refused_port.ts";

/** The sample count of each histogram, from `/stats/prometheus` (`<name>_count{labels}`). */
async function histogramCounts(adminPort: number): Promise<Record<string, number>> {
  const r = await curl([`http://127.0.0.1:${adminPort}/stats/prometheus`]);
  const out: Record<string, number> = {};
  for (const m of r.out.matchAll(/^(envoy_\w+)_count(\{[^}]*\})? (\d+)$/gm)) {
    out[`${m[1]}${m[2] ?? ""}`] = Number(m[3]);
  }
  return out;
}

/** Expects every named stat to have its value; reports all that differ at once. */
function expectStats(actual: Record<string, number>, expected: Record<string, number>): void {
  const wrong = Object.entries(expected).filter(([k, v]) => actual[k] !== v)
    .map(([k, v]) => `${k}: expected ${v}, got ${actual[k]}`);
  assertEquals(wrong, []);
}

const ONE_REQUEST_PER_CONNECTION = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    common_http_protocol_options: { max_requests_per_connection: 1 }
    explicit_http_config: { http_protocol_options: {} }`;

function config(backendPort: number, deadPort: number): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/b" }
                route: { cluster: backend }
              - match: { prefix: "/dead" }
                route: { cluster: dead }
              - match: { prefix: "/dns" }
                route: { cluster: dns }
              - match: { prefix: "/direct" }
                direct_response: { status: 200, body: { inline_string: "direct" } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${staticCluster("backend", backendPort, ONE_REQUEST_PER_CONNECTION).replace(/^/gm, "  ")}
${staticCluster("dead", deadPort).replace(/^/gm, "  ")}
  - name: dns
    type: STRICT_DNS
    connect_timeout: 1s
    dns_lookup_family: V4_ONLY
    dns_refresh_rate: 0.1s
    load_assignment:
      cluster_name: dns
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: localhost, port_value: ${backendPort} } } }
`;
}

Deno.test("stats: HTTP traffic, connect failure and DNS re-resolution, merged over 2 workers", async () => {
  const up = upstream(() => new Response("from upstream"));
  const proxy = await Proxy.start(config(up.port, refusedPort()), ["--concurrency", "2"]);
  try {
    await proxy.proc.waitFor(/all 2 workers serving\n/);
    const port = proxy.port();
    const enc = new TextEncoder();
    let sent = 0;
    let received = 0;

    // A: three requests on one keep-alive connection, which the client closes.
    const a = await Deno.connect({ hostname: "127.0.0.1", port });
    const buf = new Uint8Array(65536);
    for (let i = 0; i < 3; i++) {
      const req = enc.encode(`GET /b/${i} HTTP/1.1\r\nhost: a\r\n\r\n`);
      sent += req.length;
      await a.write(req);
      let text = "";
      while (!text.endsWith("from upstream")) {
        const n = await a.read(buf);
        assert(n !== null);
        received += n;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      assertEquals(parseResponse(text).status, 200);
    }
    a.close();

    // B..F: one request per connection, each asking the proxy to close it.
    const one = async (path: string) => {
      const req = `GET ${path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`;
      sent += req.length;
      const raw = await rawExchange(port, req);
      received += enc.encode(raw).length;
      return parseResponse(raw).status;
    };
    assertEquals(await one("/b/x"), 200);
    assertEquals(await one("/b/y"), 200);
    assertEquals(await one("/dead"), 503);
    assertEquals(await one("/direct"), 200);
    assertEquals(await one("/nothing"), 404);
    assertEquals(await one("/dns"), 200);

    // Every connection closed, and the DNS cluster re-resolved `localhost` a few times.
    const s = await statsWhen(
      proxy.adminPort,
      (s) =>
        s["http.test.downstream_cx_destroy"] === 7 &&
        s["cluster.backend.upstream_cx_destroy"] === 5 &&
        s["cluster.dns.update_success"] >= 3,
    );
    expectStats(s, {
      // http.<stat_prefix>.* and the router's stats under the same prefix
      "http.test.downstream_cx_total": 7,
      "http.test.downstream_cx_http1_total": 7,
      "http.test.downstream_cx_active": 0,
      "http.test.downstream_cx_http1_active": 0,
      "http.test.downstream_cx_destroy": 7,
      "http.test.downstream_cx_destroy_remote": 1,
      "http.test.downstream_cx_destroy_local": 6,
      "http.test.downstream_cx_destroy_active_rq": 0,
      "http.test.downstream_cx_rx_bytes_total": sent,
      "http.test.downstream_cx_tx_bytes_total": received,
      "http.test.downstream_rq_total": 9,
      "http.test.downstream_rq_http1_total": 9,
      "http.test.downstream_rq_active": 0,
      "http.test.downstream_rq_completed": 9,
      "http.test.downstream_rq_2xx": 7,
      "http.test.downstream_rq_4xx": 1,
      "http.test.downstream_rq_5xx": 1,
      "http.test.rq_total": 9,
      "http.test.no_route": 1,
      "http.test.no_cluster": 0,
      "http.test.rq_direct_response": 1,
      // listener.<address>.* and the per-worker stats, which add up
      [`listener.127.0.0.1_${port}.downstream_cx_total`]: 7,
      [`listener.127.0.0.1_${port}.downstream_cx_destroy`]: 7,
      [`listener.127.0.0.1_${port}.downstream_cx_active`]: 0,
      [`listener.127.0.0.1_${port}.no_filter_chain_match`]: 0,
      // cluster.<name>.*: one upstream connection per request (max_requests_per_connection 1)
      "cluster.backend.upstream_rq_total": 5,
      "cluster.backend.upstream_rq_completed": 5,
      "cluster.backend.upstream_rq_200": 5,
      "cluster.backend.upstream_rq_2xx": 5,
      "cluster.backend.external.upstream_rq_200": 5,
      "cluster.backend.upstream_rq_active": 0,
      "cluster.backend.upstream_rq_pending_total": 5,
      "cluster.backend.upstream_rq_pending_active": 0,
      "cluster.backend.upstream_cx_total": 5,
      "cluster.backend.upstream_cx_http1_total": 5,
      "cluster.backend.upstream_cx_active": 0,
      "cluster.backend.upstream_cx_max_requests": 5,
      "cluster.backend.upstream_cx_destroy": 5,
      "cluster.backend.upstream_cx_destroy_local": 5,
      "cluster.backend.upstream_cx_connect_fail": 0,
      "cluster.backend.membership_total": 1,
      "cluster.backend.membership_healthy": 1,
      "cluster.backend.membership_change": 1,
      "cluster.backend.max_host_weight": 1,
      "cluster.backend.update_attempt": 0,
      "cluster.dead.upstream_cx_total": 1,
      "cluster.dead.upstream_cx_connect_fail": 1,
      "cluster.dead.upstream_cx_destroy_remote": 1,
      "cluster.dead.upstream_cx_active": 0,
      "cluster.dead.upstream_rq_total": 0,
      "cluster.dead.upstream_rq_pending_total": 1,
      "cluster.dead.upstream_rq_503": 1,
      "cluster.dead.upstream_rq_completed": 1,
      "cluster.dns.upstream_rq_total": 1,
      "cluster.dns.upstream_rq_200": 1,
      "cluster.dns.membership_total": 1,
      "cluster.dns.membership_change": 1,
      "cluster.dns.update_failure": 0,
      // the first answer built the membership; every later one named the same host
      "cluster.dns.update_no_rebuild": s["cluster.dns.update_success"] - 1,
      "cluster_manager.cluster_added": 3,
      "cluster_manager.active_clusters": 3,
      "cluster_manager.cluster_updated": 0,
      "listener_manager.listener_added": 1,
      "listener_manager.listener_create_success": 2,
      "listener_manager.total_listeners_active": 1,
      "listener_manager.workers_started": 1,
      "listener_manager.listener_stopped": 0,
      "server.concurrency": 2,
      "server.live": 1,
      "server.state": 0,
      "server.total_connections": 0,
      "server.parent_connections": 0,
      "server.hot_restart_epoch": 0,
      "server.hot_restart_generation": 1,
    });
    const attempts = s["cluster.dns.update_attempt"];
    const successes = s["cluster.dns.update_success"];
    assert(attempts === successes || attempts === successes + 1, `${attempts} ${successes}`);
    assertEquals(
      s[`listener.127.0.0.1_${port}.worker_0.downstream_cx_total`] +
        s[`listener.127.0.0.1_${port}.worker_1.downstream_cx_total`],
      7,
    );
    assert(s["server.memory_allocated"] > 0 && s["server.memory_heap_size"] > 0);
    assert(s["server.memory_physical_size"] >= s["server.memory_allocated"]);
    assert(s["cluster.backend.upstream_cx_rx_bytes_total"] > 5 * "from upstream".length);
    assert(s["cluster.backend.upstream_cx_tx_bytes_total"] > 5 * "GET /b HTTP/1.1\r\n".length);
    for (const w of ["worker_0", "worker_1", "main_thread"]) {
      assert(`server.${w}.watchdog_miss` in s && `server.${w}.watchdog_mega_miss` in s, w);
    }
    assert("workers.watchdog_miss" in s && "main_thread.watchdog_miss" in s);

    const h = await histogramCounts(proxy.adminPort);
    expectStats(h, {
      'envoy_http_downstream_cx_length_ms{envoy_http_conn_manager_prefix="test"}': 7,
      'envoy_http_downstream_rq_time{envoy_http_conn_manager_prefix="test"}': 9,
      [`envoy_listener_downstream_cx_length_ms{envoy_listener_address="127.0.0.1_${port}"}`]: 7,
      'envoy_cluster_upstream_cx_connect_ms{envoy_cluster_name="backend"}': 5,
      'envoy_cluster_upstream_cx_length_ms{envoy_cluster_name="backend"}': 5,
      'envoy_cluster_upstream_rq_time{envoy_cluster_name="backend"}': 5,
      'envoy_cluster_upstream_cx_length_ms{envoy_cluster_name="dead"}': 1,
      "envoy_server_initialization_time_ms{}": 1,
    });

    // Stopping the listener on every worker is one stopped listener.
    const drained = await curl([
      "-X",
      "POST",
      `http://127.0.0.1:${proxy.adminPort}/drain_listeners`,
    ]);
    assertEquals(drained.out, "OK\n");
    const after = await stats(proxy.adminPort);
    assertEquals(after["listener_manager.listener_stopped"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("stats: timeouts, resets and idle connections on both sides", async () => {
  // An upstream that answers /slow only after the route's timeout.
  let release!: () => void;
  const slowDone = new Promise<void>((r) => release = r);
  const up = upstream(async (req) => {
    if (new URL(req.url).pathname === "/slow") await slowDone;
    return new Response("ok");
  });
  const yaml = `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: t
          request_headers_timeout: 0.2s
          common_http_protocol_options: { idle_timeout: 0.3s }
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: backend, timeout: 0.2s }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${
    staticCluster(
      "backend",
      up.port,
      `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    common_http_protocol_options: { idle_timeout: 0.3s }
    explicit_http_config: { http_protocol_options: {} }`,
    ).replace(/^/gm, "  ")
  }
`;
  const proxy = await Proxy.start(yaml);
  try {
    const port = proxy.port();
    // An upstream request timeout: 504, the upstream stream reset by the proxy.
    const slow = parseResponse(
      await rawExchange(port, "GET /slow HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"),
    );
    assertEquals(slow.status, 504);
    release();
    // A request answered, then its keep-alive connections sit idle on both sides.
    const idle = await Deno.connect({ hostname: "127.0.0.1", port });
    await idle.write(new TextEncoder().encode("GET /fast HTTP/1.1\r\nhost: a\r\n\r\n"));
    // Headers that never complete.
    const partial = await Deno.connect({ hostname: "127.0.0.1", port });
    await partial.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: a\r\n"));
    const s = await statsWhen(
      proxy.adminPort,
      (s) =>
        s["http.t.downstream_cx_idle_timeout"] === 1 &&
        s["http.t.downstream_rq_header_timeout"] === 1 &&
        s["cluster.backend.upstream_cx_idle_timeout"] === 1 &&
        s["cluster.backend.upstream_cx_destroy"] === 2,
    );
    idle.close();
    partial.close();
    expectStats(s, {
      "cluster.backend.upstream_rq_timeout": 1,
      "cluster.backend.upstream_rq_504": 1,
      "cluster.backend.upstream_rq_200": 1,
      "cluster.backend.upstream_rq_tx_reset": 1,
      "cluster.backend.upstream_rq_total": 2,
      "cluster.backend.upstream_cx_total": 2,
      // the timed-out request's connection, closed by the proxy with the request on it
      "cluster.backend.upstream_cx_destroy_local_with_active_rq": 1,
      "cluster.backend.upstream_cx_destroy_with_active_rq": 1,
      "cluster.backend.upstream_cx_destroy_local": 2,
      "http.t.rq_reset_after_downstream_response_started": 0,
      "http.t.downstream_rq_5xx": 1,
      "http.t.downstream_rq_2xx": 1,
      "http.t.downstream_cx_idle_timeout": 1,
      "http.t.downstream_rq_header_timeout": 1,
    });
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("stats: the admin listener has listener.admin.* and http.admin.*", async () => {
  const up = upstream(() => new Response("x"));
  const proxy = await Proxy.start(config(up.port, refusedPort()));
  try {
    const admin = proxy.adminPort;
    // Two requests on one keep-alive connection that the client closes.
    const c = await Deno.connect({ hostname: "127.0.0.1", port: admin });
    const buf = new Uint8Array(65536);
    for (const path of ["/ready", "/nope"]) {
      await c.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nhost: a\r\n\r\n`));
      let text = "";
      while (!/\r\n\r\n/.test(text) || text.length < 20) {
        const n = await c.read(buf);
        assert(n !== null);
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
    }
    c.close();
    // Each poll is one more connection and request, closed by the admin (curl asks it to).
    let polls = 0;
    const s = await statsWhen(admin, (s) => {
      polls++;
      return s["listener.admin.downstream_cx_destroy"] === polls;
    });
    expectStats(s, {
      "listener.admin.downstream_cx_total": polls + 1,
      "listener.admin.main_thread.downstream_cx_total": polls + 1,
      "listener.admin.downstream_cx_active": 1,
      "http.admin.downstream_cx_total": polls + 1,
      "http.admin.downstream_cx_destroy": polls,
      "http.admin.downstream_cx_destroy_remote": polls,
      "http.admin.downstream_rq_total": polls + 2,
      "http.admin.downstream_rq_active": 1,
      "http.admin.downstream_rq_2xx": polls,
      "http.admin.downstream_rq_4xx": 1,
    });
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("stats: tcp_proxy counts tcp.<stat_prefix>.* and its cluster's connections", async () => {
  // An upstream that answers what it got, reversed, and closes.
  const echo = tcpServer(async (c) => {
    const buf = new Uint8Array(1024);
    const n = await c.read(buf);
    await c.write(buf.subarray(0, n ?? 0).reverse());
    c.close();
  });
  const yaml = `admin:
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
          stat_prefix: relay
          cluster: echo
  - name: dead
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: nowhere
          cluster: dead
          max_connect_attempts: 2
  clusters:
${staticCluster("echo", echo.port).replace(/^/gm, "  ")}
${staticCluster("dead", refusedPort()).replace(/^/gm, "  ")}
`;
  const proxy = await Proxy.start(yaml);
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port("tcp") });
    await c.write(new TextEncoder().encode("hello"));
    const buf = new Uint8Array(16);
    let got = "";
    for (;;) {
      const n = await c.read(buf);
      if (n === null) break;
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
    c.close();
    assertEquals(got, "olleh");
    // The dead cluster: two connect attempts, then the downstream connection is closed.
    const d = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port("dead") });
    assertEquals(await d.read(buf), null);
    d.close();
    const s = await statsWhen(
      proxy.adminPort,
      (s) =>
        s["cluster.echo.upstream_cx_destroy"] === 1 &&
        s["cluster.dead.upstream_cx_connect_attempts_exceeded"] === 1,
    );
    expectStats(s, {
      "tcp.relay.downstream_cx_total": 1,
      "tcp.relay.downstream_cx_rx_bytes_total": 5,
      "tcp.relay.downstream_cx_tx_bytes_total": 5,
      "tcp.relay.downstream_cx_no_route": 0,
      "tcp.nowhere.downstream_cx_total": 1,
      "cluster.echo.upstream_cx_total": 1,
      "cluster.echo.upstream_cx_active": 0,
      "cluster.echo.upstream_cx_rx_bytes_total": 5,
      "cluster.echo.upstream_cx_tx_bytes_total": 5,
      "cluster.echo.upstream_cx_destroy_remote": 1,
      "cluster.dead.upstream_cx_total": 2,
      "cluster.dead.upstream_cx_connect_fail": 2,
      "cluster.dead.upstream_cx_destroy": 2,
      "cluster.dead.upstream_cx_active": 0,
    });
  } finally {
    await proxy.stop();
    echo.close();
  }
});
