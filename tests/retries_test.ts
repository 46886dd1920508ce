/**
 * Retries and hedging end to end: the real main.ts in front of upstreams this test controls
 * (503 then 200, refused connections, a hanging first request), with Envoy's headers
 * (x-envoy-attempt-count), response flags and `cluster.<name>.upstream_rq_retry*` stats.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import {
  adminStats as stats,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  upstream,
} from "./proxy.ts";
import { refusedPort } from "./refused_port.ts";

function request(port: number, method: string, path: string, body = "", extra = "") {
  return rawExchange(
    port,
    `${method} ${path} HTTP/1.1\r\nhost: a\r\ncontent-length: ${body.length}\r\n${extra}` +
      `connection: close\r\n\r\n${body}`,
  ).then(parseResponse);
}

Deno.test("retries: a 503 is retried with the body, x-envoy-attempt-count both ways", async () => {
  const seen: { attempt: string | null; body: string }[] = [];
  const up = upstream(async (req) => {
    seen.push({ attempt: req.headers.get("x-envoy-attempt-count"), body: await req.text() });
    return new Response(seen.length === 1 ? "busy" : "ok", {
      status: seen.length === 1 ? 503 : 200,
    });
  });
  const proxy = await Proxy.start(httpConfig({
    vhostExtra: "include_request_attempt_count: true\ninclude_attempt_count_in_response: true",
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy: { retry_on: 5xx, num_retries: 2, retry_back_off: { base_interval: 0.001s } }`,
    clusters: staticCluster("backend", up.port),
  }));
  try {
    const r = await request(proxy.port(), "POST", "/x", "hello");
    assertEquals([r.status, r.body, r.headers["x-envoy-attempt-count"]], [200, "ok", "2"]);
    assertEquals(seen, [{ attempt: "1", body: "hello" }, { attempt: "2", body: "hello" }]);
    const s = await stats(proxy.adminPort);
    assertEquals(s["cluster.backend.upstream_rq_retry"], 1);
    assertEquals(s["cluster.backend.upstream_rq_retry_success"], 1);
    assertEquals(s["cluster.backend.upstream_rq_retry_backoff_exponential"], 1);
    assertEquals(s["cluster.backend.retry.upstream_rq_503"], 1);
    assertEquals(s["cluster.backend.upstream_rq_200"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("retries: exhausted retries pass the last 503 on with URX", async () => {
  let n = 0;
  const up = upstream(() => new Response(`no ${++n}`, { status: 503 }));
  const log = Deno.makeTempFileSync();
  const proxy = await Proxy.start(httpConfig({
    hcmExtra: `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT%\\n" } }`,
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy: { retry_on: gateway-error, num_retries: 2, retry_back_off: { base_interval: 0.001s } }`,
    clusters: staticCluster("backend", up.port),
  }));
  try {
    const r = await request(proxy.port(), "GET", "/");
    assertEquals([r.status, r.body], [503, "no 3"]);
    await proxy.stop();
    assertEquals(Deno.readTextFileSync(log), "503 URX 3\n");
  } finally {
    await proxy.stop().catch(() => {});
    await up.close();
  }
});

Deno.test("retries: a refused connection is retried on another host (previous_hosts)", async () => {
  const up = upstream(() => new Response("ok"));
  const dead = refusedPort();
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy:
      retry_on: connect-failure
      num_retries: 1
      retry_back_off: { base_interval: 0.001s }
      retry_host_predicate:
      - name: envoy.retry_host_predicates.previous_hosts
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
      host_selection_retry_max_attempts: 3`,
    clusters: `- name: backend
  type: STATIC
  connect_timeout: 1s
  load_assignment:
    cluster_name: backend
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${dead} } } }
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up.port} } } }
`,
  }));
  try {
    for (let i = 0; i < 4; i++) {
      const r = await request(proxy.port(), "GET", "/");
      assertEquals([r.status, r.body], [200, "ok"]);
    }
    const s = await stats(proxy.adminPort);
    assert(s["cluster.backend.upstream_rq_retry"] >= 1, JSON.stringify(s));
    assertEquals(
      s["cluster.backend.upstream_cx_connect_fail"],
      s["cluster.backend.upstream_rq_retry"],
    );
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("retries: retry_priority previous_priorities sends the retry to the next level", async () => {
  // P0 answers 503 every time; without the retry priority every retry would stay on P0.
  let p0 = 0;
  const primary = upstream(() => (p0++, new Response("busy", { status: 503 })));
  const secondary = upstream(() => new Response("secondary"));
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy:
      retry_on: 5xx
      num_retries: 1
      retry_back_off: { base_interval: 0.001s }
      retry_priority:
        name: envoy.retry_priorities.previous_priorities
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig
          update_frequency: 1`,
    clusters: `- name: backend
  type: STATIC
  load_assignment:
    cluster_name: backend
    endpoints:
    - priority: 0
      lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${primary.port} } } }
    - priority: 1
      lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${secondary.port} } } }
`,
  }));
  try {
    for (let i = 0; i < 3; i++) {
      const r = await request(proxy.port(), "GET", "/");
      assertEquals([r.status, r.body], [200, "secondary"]);
    }
    assertEquals(p0, 3);
  } finally {
    await proxy.stop();
    await primary.close();
    await secondary.close();
  }
});

Deno.test("retries: retry_priority with update_frequency 0 is refused", async () => {
  const cmd = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "main.ts",
      "--mode",
      "validate",
      "--config-yaml",
      httpConfig({
        routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy:
      retry_priority:
        name: envoy.retry_priorities.previous_priorities
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig
          update_frequency: 0`,
        clusters: staticCluster("backend", 1),
      }),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(cmd.stdout) + new TextDecoder().decode(cmd.stderr);
  assertEquals(cmd.code, 1, out);
  assert(out.includes("retry_priority.typed_config.update_frequency: must be greater than 0"), out);
});

/** An upstream whose first request hangs (until the proxy gives up on it); later ones answer. */
function firstHangs() {
  let n = 0;
  let firstAborted = false;
  let timeoutRetry: string | null = null;
  const up = upstream((req) => {
    if (++n > 1) {
      timeoutRetry = req.headers.get("x-envoy-is-timeout-retry");
      return new Response(`answer ${n}`);
    }
    return new Promise<Response>((resolve) => {
      req.signal.addEventListener("abort", () => {
        firstAborted = true;
        resolve(new Response("too late"));
      });
    });
  });
  return {
    ...up,
    count: () => n,
    firstAborted: () => firstAborted,
    timeoutRetry: () => timeoutRetry,
  };
}

Deno.test("retries: per_try_timeout on a hanging upstream, then the retry answers", async () => {
  const up = firstHangs();
  const proxy = await Proxy.start(httpConfig({
    vhostExtra: "include_is_timeout_retry_header: true",
    // The retry has the same per-try timeout to answer in, over a new upstream connection:
    // 1 s leaves a busy machine room for that.
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy: { retry_on: 5xx, num_retries: 1, per_try_timeout: 1s, retry_back_off: { base_interval: 0.001s } }`,
    clusters: staticCluster("backend", up.port),
  }));
  try {
    const r = await request(proxy.port(), "GET", "/");
    assertEquals([r.status, r.body], [200, "answer 2"]);
    assertEquals(up.timeoutRetry(), "true");
    const s = await stats(proxy.adminPort);
    assertEquals(s["cluster.backend.upstream_rq_per_try_timeout"], 1);
    assertEquals(s["cluster.backend.upstream_rq_retry"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("retries: per-try timeouts with no retry left end in 504 UT", async () => {
  // Hangs until the proxy gives up on the request.
  const up = upstream((req) =>
    new Promise<Response>((resolve) =>
      req.signal.addEventListener("abort", () => resolve(new Response("late")))
    )
  );
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy: { retry_on: 5xx, num_retries: 1, per_try_timeout: 0.2s, retry_back_off: { base_interval: 0.001s } }`,
    clusters: staticCluster("backend", up.port),
  }));
  try {
    const r = await request(proxy.port(), "GET", "/");
    assertEquals([r.status, r.body], [504, "upstream request timeout"]);
    const s = await stats(proxy.adminPort);
    assertEquals(s["cluster.backend.upstream_rq_per_try_timeout"], 2);
    assertEquals(s["cluster.backend.upstream_rq_retry_limit_exceeded"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("hedging: on a per-try timeout a second attempt races the first; the loser is reset", async () => {
  const up = firstHangs();
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    hedge_policy: { hedge_on_per_try_timeout: true }
    retry_policy: { retry_on: 5xx, num_retries: 1, per_try_timeout: 0.3s, retry_back_off: { base_interval: 0.001s } }`,
    clusters: staticCluster("backend", up.port),
  }));
  try {
    const r = await request(proxy.port(), "GET", "/");
    assertEquals([r.status, r.body], [200, "answer 2"]);
    assertEquals(up.count(), 2);
    // The first attempt was still running (a hedge does not cancel it) until the second won.
    for (let i = 0; i < 100 && !up.firstAborted(); i++) {
      await new Promise((res) => setTimeout(res, 20));
    }
    assert(up.firstAborted(), "the losing attempt is reset");
    const s = await stats(proxy.adminPort);
    assertEquals(s["cluster.backend.upstream_rq_retry"], 1);
    // Envoy counts no per-try timeout when it hedges.
    assertEquals(s["cluster.backend.upstream_rq_per_try_timeout"], 0);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("retries: x-envoy-retry-on and x-envoy-max-retries from a trusted client", async () => {
  let n = 0;
  const up = upstream((req) => {
    n++;
    // The router consumes its control headers.
    assertEquals(req.headers.get("x-envoy-retry-on"), null);
    assertEquals(req.headers.get("x-envoy-max-retries"), null);
    return new Response("x", { status: n < 3 ? 502 : 200 });
  });
  const proxy = await Proxy.start(httpConfig({
    hcmExtra: "use_remote_address: true",
    routes: `- match: { prefix: "/" }
  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port),
  }));
  try {
    // A loopback client is internal (use_remote_address): its x-envoy-* headers are trusted.
    const r = await request(
      proxy.port(),
      "GET",
      "/",
      "",
      "x-envoy-retry-on: gateway-error\r\nx-envoy-max-retries: 2\r\n",
    );
    assertEquals([r.status, n], [200, 3]);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("retries: rate_limited_retry_back_off waits what Retry-After asks", async () => {
  let n = 0;
  const up = upstream(() =>
    ++n === 1
      ? new Response("slow down", { status: 429, headers: { "retry-after": "1" } })
      : new Response("ok")
  );
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy:
      retry_on: retriable-status-codes
      retriable_status_codes: [429]
      rate_limited_retry_back_off:
        reset_headers: [{ name: Retry-After, format: SECONDS }]
        max_interval: 5s`,
    clusters: staticCluster("backend", up.port),
  }));
  try {
    const r = await request(proxy.port(), "GET", "/");
    assertEquals([r.status, r.body], [200, "ok"]);
    // The back-off came from Retry-After (lowerBoundBackOffMs: 1 s to 1.5 s), not the jitter.
    const s = await stats(proxy.adminPort);
    assertEquals(s["cluster.backend.upstream_rq_retry_backoff_ratelimited"], 1);
    assertEquals(s["cluster.backend.upstream_rq_retry_backoff_exponential"], 0);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("retries: per_try_idle_timeout resets a response that stalls", async () => {
  // Headers, one body chunk, then nothing more.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const c of l) {
        conns.push(c);
        const buf = new Uint8Array(4096);
        await c.read(buf);
        await c.write(
          new TextEncoder().encode(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
          ),
        );
      }
    } catch { /* closed */ }
  })();
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route:
    cluster: backend
    retry_policy: { retry_on: 5xx, per_try_idle_timeout: 0.3s }`,
    clusters: staticCluster("backend", (l.addr as Deno.NetAddr).port),
  }));
  try {
    const raw = await rawExchange(
      proxy.port(),
      "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    );
    // The response had started: the stream is reset (no retry), the body cut short.
    assert(raw.startsWith("HTTP/1.1 200"), raw);
    assert(!raw.includes("0\r\n\r\n"), "no end of the chunked body");
    const s = await stats(proxy.adminPort);
    assertEquals(s["cluster.backend.upstream_rq_per_try_idle_timeout"], 1);
    assertEquals(s["cluster.backend.upstream_rq_retry"], 0);
  } finally {
    await proxy.stop();
    l.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  }
});
