/**
 * The local rate limit filters end to end, against a real upstream with `--concurrency 2`:
 * one bucket for the whole process (both workers take from it), per-route buckets, descriptors
 * from route `rate_limits`, per-connection buckets, enabled-but-not-enforced requests, the 429
 * Envoy answers with and the filter's stats; and what validate refuses. Buckets never refill
 * during a test (fill_interval 1000s), so the counts are exact.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { runMain, tempFile } from "./helpers.ts";
import {
  adminStats,
  adminStatsWhen,
  curl,
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

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const ALWAYS = "{ default_value: { numerator: 100 } }";
const NEVER = "{ default_value: { numerator: 0 } }";

/** A LocalRateLimit config (YAML flow style) with `maxTokens` that never refill. */
const limit = (maxTokens: number, extra = "", o = { statPrefix: "rl", enforced: ALWAYS }) =>
  `{ "@type": ${TYPE}, stat_prefix: ${o.statPrefix}, token_bucket: { max_tokens: ${maxTokens}, ` +
  `fill_interval: 1000s }, filter_enabled: ${ALWAYS}, filter_enforced: ${o.enforced}${extra} }`;

function config(upstreamPort: number): string {
  const perRoute = (c: string) =>
    `typed_per_filter_config:\n  envoy.filters.http.local_ratelimit: ${c}`;
  return httpConfig({
    routes: `- match: { prefix: "/route" }
  route: { cluster: backend }
${perRoute(limit(2, "", { statPrefix: "per_route", enforced: ALWAYS })).replace(/^/gm, "  ")}
- match: { prefix: "/not_enforced" }
  route: { cluster: backend }
${
      perRoute(limit(
        1,
        `, request_headers_to_add_when_not_enforced: ` +
          `[{ header: { key: x-would-limit, value: "true" } }]`,
        { statPrefix: "rl", enforced: NEVER },
      )).replace(/^/gm, "  ")
    }
- match: { prefix: "/descriptor" }
  route:
    cluster: backend
    rate_limits: [{ actions: [{ generic_key: { descriptor_value: slow } }] }]
${
      perRoute(limit(
        100,
        `, enable_x_ratelimit_headers: DRAFT_VERSION_03, descriptors: [{ entries: ` +
          `[{ key: generic_key, value: slow }], token_bucket: { max_tokens: 1, fill_interval: 1000s } }]`,
      )).replace(/^/gm, "  ")
    }
- match: { prefix: "/per_connection" }
  route: { cluster: backend }
${perRoute(limit(1, ", local_rate_limit_per_downstream_connection: true")).replace(/^/gm, "  ")}
- match: { prefix: "/" }
  route: { cluster: backend }`,
    httpFilters: `- name: envoy.filters.http.local_ratelimit
  typed_config: ${
      limit(
        5,
        `, response_headers_to_add: [{ header: { key: x-local-rate-limit, value: "true" } }], ` +
          `enable_x_ratelimit_headers: DRAFT_VERSION_03`,
      )
    }`,
    clusters: staticCluster("backend", upstreamPort),
  });
}

const get = (port: number, path: string) =>
  rawExchange(port, `GET ${path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`)
    .then(parseResponse);

Deno.test("local_ratelimit: one bucket for both workers, per-route and descriptor buckets, 429 as Envoy sends it", async () => {
  const up = upstream((req) =>
    new Response(`would-limit=${req.headers.get("x-would-limit") ?? "no"}`)
  );
  const proxy = await Proxy.start(config(up.port), ["--concurrency", "2"]);
  try {
    await proxy.proc.waitFor(/all 2 workers serving\n/);
    const port = proxy.port();

    // The listener-level bucket (5 tokens) is the process's: connections spread over both
    // workers (SO_REUSEPORT) until each served some, and exactly 5 of them pass in all.
    const cx = (s: Record<string, number>, w: number) =>
      s[`listener.127.0.0.1_${port}.worker_${w}.downstream_cx_total`] ?? 0;
    const shared = [];
    for (let round = 0; round < 8; round++) {
      shared.push(...await Promise.all(Array.from({ length: 8 }, () => get(port, "/shared"))));
      const s = await adminStats(proxy.adminPort);
      if (cx(s, 0) > 0 && cx(s, 1) > 0) break;
    }
    const s = await adminStats(proxy.adminPort);
    assert(cx(s, 0) > 0 && cx(s, 1) > 0, "both workers served connections");
    const ok = shared.filter((r) => r.status === 200);
    const limited = shared.filter((r) => r.status === 429);
    assertEquals([ok.length, limited.length], [5, shared.length - 5]);
    const r = limited[0];
    assertEquals(r.body, "local_rate_limited");
    assertEquals(r.headers["x-envoy-ratelimited"], "true");
    assertEquals(r.headers["x-local-rate-limit"], "true");
    assertEquals(r.headers["x-ratelimit-limit"], "5");
    assertEquals(r.headers["x-ratelimit-remaining"], "0");
    // Seconds to the next fill of a 1000 s interval that started at start-up.
    const reset = Number(r.headers["x-ratelimit-reset"]);
    assert(reset > 900 && reset <= 1000, `x-ratelimit-reset ${reset}`);
    assertEquals(ok[0].headers["x-local-rate-limit"], undefined);
    assertEquals(ok[0].headers["x-ratelimit-limit"], "5");

    // A route's own config: its own bucket (2), its own stat prefix; no x-ratelimit headers.
    const route = [];
    for (let i = 0; i < 3; i++) route.push(await get(port, "/route"));
    assertEquals(route.map((r) => r.status), [200, 200, 429]);
    assertEquals(route[2].headers["x-ratelimit-limit"], undefined);
    assertEquals(route[2].headers["x-envoy-ratelimited"], "true");

    // Enabled, not enforced: the limited request goes upstream with the configured header.
    const ne = [await get(port, "/not_enforced"), await get(port, "/not_enforced")];
    assertEquals(ne.map((r) => [r.status, r.body]), [[200, "would-limit=no"], [
      200,
      "would-limit=true",
    ]]);

    // The route's rate_limits make the descriptor (generic_key, slow): its bucket holds 1.
    const d = [await get(port, "/descriptor"), await get(port, "/descriptor")];
    assertEquals(d.map((r) => r.status), [200, 429]);
    assertEquals(d[1].headers["x-ratelimit-limit"], "1");

    // One bucket per connection: the second request on a connection is limited, a new
    // connection has a full bucket.
    const url = `http://127.0.0.1:${port}/per_connection`;
    const codes = await curl([
      "-w",
      "%{http_code}\\n",
      "-o",
      "/dev/null",
      url,
      "-o",
      "/dev/null",
      url,
    ]);
    assertEquals(codes.out.trim().split("\n"), ["200", "429"]);
    const again = await curl(["-o", "/dev/null", "-w", "%{http_code}", url]);
    assertEquals(again.out, "200");

    const limitedTotal = shared.length - 5;
    const stats = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["rl.http_local_rate_limit.enabled"] === shared.length + 7,
    );
    assertEquals(stats["per_route.http_local_rate_limit.ok"], 2);
    assertEquals(stats["per_route.http_local_rate_limit.rate_limited"], 1);
    assertEquals(stats["rl.http_local_rate_limit.ok"], 5 + 1 + 1 + 2);
    // not_enforced counts as rate limited, not as enforced.
    assertEquals(stats["rl.http_local_rate_limit.rate_limited"], limitedTotal + 1 + 1 + 1);
    assertEquals(stats["rl.http_local_rate_limit.enforced"], limitedTotal + 1 + 1);
    assertEquals(stats["http.test.downstream_rq_4xx"], limitedTotal + 3);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("local_ratelimit: validate refuses what Envoy refuses and what is not implemented, with its path", async () => {
  // One run reports every problem: a too fast refill, a route config without a token bucket,
  // local_cluster_rate_limit (not implemented).
  const path = tempFile(httpConfig({
    routes: `- match: { prefix: "/" }
  direct_response: { status: 200 }
  typed_per_filter_config:
    envoy.filters.http.local_ratelimit: { "@type": ${TYPE}, stat_prefix: r }`,
    httpFilters: `- name: envoy.filters.http.local_ratelimit
  typed_config: { "@type": ${TYPE}, stat_prefix: rl, local_cluster_rate_limit: {},
    token_bucket: { max_tokens: 1, fill_interval: 0.01s } }`,
    admin: false,
  }));
  const r = await runMain(["--mode", "validate", "-c", path]);
  assert(r.code !== 0);
  const at = (field: string) => new RegExp(`${path}:\\d+:\\d+: .*${field}`);
  assertMatch(r.stderr, at(`http_filters\\[0\\]\\.typed_config: field 'local_cluster_rate_limit'`));
  assertMatch(
    r.stderr,
    at("token_bucket\\.fill_interval: local rate limit token bucket fill timer must be >= 50ms"),
  );
  assertMatch(
    r.stderr,
    at(
      `typed_per_filter_config\\["envoy.filters.http.local_ratelimit"\\]\\.token_bucket: local rate limit token bucket must be set for per filter configs`,
    ),
  );
});

Deno.test("network local_ratelimit: connections beyond the bucket are closed before tcp_proxy, URX", async () => {
  const echo = tcpServer(async (c) => {
    const buf = new Uint8Array(64);
    const n = await c.read(buf).catch(() => null);
    if (n) await c.write(buf.subarray(0, n)).catch(() => {});
    c.close();
  });
  const log = tempFile("", ".log");
  const proxy = await Proxy.start(
    `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: tcp
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${fileAccessLog(log, "%RESPONSE_FLAGS% %CONNECTION_TERMINATION_DETAILS%").replace(/^/gm, "    ")}
    filter_chains:
    - filters:
      - name: envoy.filters.network.local_ratelimit
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit
          stat_prefix: tcp_rl
          token_bucket: { max_tokens: 2, fill_interval: 1000s }
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: echo
  clusters:
${staticCluster("echo", echo.port).replace(/^/gm, "  ")}
`,
    ["--file-flush-interval-msec", "50"],
  );
  try {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await rawExchange(proxy.port(), `hello ${i}`));
    assertEquals(answers, ["hello 0", "hello 1", ""]);
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["local_rate_limit.tcp_rl.rate_limited"] === 1,
    );
    assertEquals(s["cluster.echo.upstream_cx_total"], 2);
    const lines = await waitForLines(log, 3);
    assertEquals(lines.sort(), ["- -", "- -", "URX local_ratelimit_close_over_limit"]);
  } finally {
    await proxy.stop();
    echo.close();
  }
});
