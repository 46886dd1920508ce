/**
 * Active health checking and outlier detection with the real main.ts and real upstreams the
 * tests control: hosts go out and come back, traffic avoids them meanwhile, and with two
 * workers an ejection is fed by both workers' results.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { httpConfig, Proxy, rawExchange, upstream } from "./proxy.ts";
import { runMain, tempFile } from "./helpers.ts";
import { refusedPort } from "./refused_port.ts";

/** A controllable upstream: its health endpoint and its answers can be switched. */
function controlled(name: string) {
  const state = { healthStatus: 200, status: 200, hits: 0, hcHits: 0 };
  const srv = upstream((req) => {
    if (new URL(req.url).pathname === "/healthz") {
      state.hcHits++;
      return new Response("ok", { status: state.healthStatus });
    }
    state.hits++;
    return new Response(name, { status: state.status });
  });
  return { ...srv, state };
}

function cluster(ports: number[], extra: string): string {
  return `- name: backend
  type: STATIC
  connect_timeout: 1s
${extra.replace(/^/gm, "  ")}
  load_assignment:
    cluster_name: backend
    endpoints:
    - lb_endpoints:
${
    ports.map((p) =>
      `      - endpoint:
          address: { socket_address: { address: 127.0.0.1, port_value: ${p} } }`
    ).join("\n")
  }
`;
}

async function get(port: number): Promise<{ status: number; body: string }> {
  const raw = await rawExchange(
    port,
    "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
  );
  const status = Number(raw.split(" ")[1]);
  return { status, body: raw.slice(raw.indexOf("\r\n\r\n") + 4) };
}

async function admin(p: Proxy, path: string): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${p.adminPort}${path}`);
  return await r.text();
}

/** Polls the admin until `pred` holds for the text at `path` (bounded). */
async function until(p: Proxy, path: string, pred: (t: string) => boolean, what: string) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const t = await admin(p, path);
    if (pred(t)) return t;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${t}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function stat(text: string, name: string): number {
  const m = new RegExp(`^${name.replaceAll(".", "\\.")}: (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

const ROUTES = `- match: { prefix: "/" }
  route: { cluster: backend }`;

Deno.test("health checks take a host out and back; traffic avoids it meanwhile", async () => {
  const a = controlled("a");
  const b = controlled("b");
  const eventLog = tempFile("", ".log");
  const sinkLog = tempFile("", ".log");
  const p = await Proxy.start(
    httpConfig({
      routes: ROUTES,
      clusters: cluster(
        [a.port, b.port],
        // Without a merge window every health change reaches the workers at once (with
        // Envoy's default 1 s window, a change soon after another waits up to a second).
        `common_lb_config: { update_merge_window: 0s }
health_checks:
- timeout: 1s
  interval: 0.05s
  no_traffic_interval: 0.05s
  unhealthy_threshold: 2
  healthy_threshold: 2
  event_log_path: ${eventLog}
  event_logger:
  - name: envoy.health_check.event_sink.file
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.health_check.event_sinks.file.v3.HealthCheckEventFileSink
      event_log_path: ${sinkLog}
  http_health_check: { path: /healthz }`,
      ),
    }),
    ["--file-flush-interval-msec", "20"],
  );
  try {
    // Listeners start after the first checks: both hosts are healthy from the start.
    let clusters = await admin(p, "/clusters");
    assert(clusters.includes(`backend::127.0.0.1:${a.port}::health_flags::healthy`), clusters);
    a.state.healthStatus = 503;
    clusters = await until(
      p,
      "/clusters",
      (t) => t.includes(`backend::127.0.0.1:${a.port}::health_flags::/failed_active_hc`),
      "a failing its health check",
    );
    const before = a.state.hits;
    for (let i = 0; i < 10; i++) {
      const r = await get(p.port());
      assertEquals(r, { status: 200, body: "b" });
    }
    assertEquals(a.state.hits, before);
    const stats = await admin(p, "/stats");
    assert(stat(stats, "cluster.backend.health_check.failure") >= 1, stats);
    assertEquals(stat(stats, "cluster.backend.health_check.healthy"), 1);
    a.state.healthStatus = 200;
    await until(
      p,
      "/clusters",
      (t) => t.includes(`backend::127.0.0.1:${a.port}::health_flags::healthy`),
      "a healthy again",
    );
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await get(p.port())).body);
    assertEquals([...seen].sort(), ["a", "b"]);
    const after = await admin(p, "/stats");
    assert(stat(after, "cluster.backend.health_check.attempt") >= 4, after);
    assertEquals(stat(after, "cluster.backend.health_check.healthy"), 2);
    // The event log: Envoy's HealthCheckEvent JSON lines, default values printed.
    const deadline = Date.now() + 20_000;
    let events: Record<string, unknown>[] = [];
    while (Date.now() < deadline) {
      events = Deno.readTextFileSync(eventLog).split("\n").filter(Boolean).map((l) =>
        JSON.parse(l)
      );
      if (events.length >= 4) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // The event_logger file sink gets the same events.
    let sunk: string[] = [];
    while (Date.now() < deadline) {
      sunk = Deno.readTextFileSync(sinkLog).split("\n").filter(Boolean);
      if (sunk.length >= events.length) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(sunk.slice(0, 4).map((l) => JSON.parse(l)), events.slice(0, 4));
    const ofA = events.filter((e) =>
      (e.host as { socket_address: { port_value: number } }).socket_address.port_value === a.port
    ).map(({ timestamp: _, ...e }) => e);
    const host = {
      socket_address: {
        protocol: "TCP",
        address: "127.0.0.1",
        port_value: a.port,
        resolver_name: "",
        ipv4_compat: false,
      },
    };
    const common = {
      health_checker_type: "HTTP",
      host,
      cluster_name: "backend",
      locality: { region: "", zone: "", sub_zone: "" },
    };
    assertEquals(ofA, [
      { ...common, add_healthy_event: { first_check: true } },
      { ...common, eject_unhealthy_event: { failure_type: "ACTIVE" } },
      { ...common, add_healthy_event: { first_check: false } },
    ]);
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("tcp health check with hex send/receive; a refused host is unhealthy", async () => {
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const c of echo) {
      (async () => {
        const buf = new Uint8Array(64);
        try {
          for (;;) {
            const n = await c.read(buf);
            if (n === null) break;
            // Answers "pong" to "ping".
            if (new TextDecoder().decode(buf.subarray(0, n)) === "ping") {
              await c.write(new TextEncoder().encode("pong"));
            }
          }
        } catch { /* closed */ }
        try {
          c.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  const refused = refusedPort();
  const echoPort = (echo.addr as Deno.NetAddr).port;
  const p = await Proxy.start(httpConfig({
    routes: ROUTES,
    clusters: cluster(
      [echoPort, refused],
      `health_checks:
- timeout: 1s
  interval: 0.05s
  no_traffic_interval: 0.05s
  unhealthy_threshold: 1
  healthy_threshold: 1
  tcp_health_check:
    send: { text: "70696e67" }
    receive: [{ text: "706f6e67" }]`,
    ),
  }));
  try {
    const clusters = await until(
      p,
      "/clusters",
      (t) => t.includes(`127.0.0.1:${refused}::health_flags::/failed_active_hc`),
      "the refused host failing",
    );
    assert(clusters.includes(`127.0.0.1:${echoPort}::health_flags::healthy`), clusters);
    const stats = await until(
      p,
      "/stats",
      (t) =>
        stat(t, "cluster.backend.health_check.network_failure") >= 1 &&
        stat(t, "cluster.backend.health_check.success") >= 1,
      "stats",
    );
    assertEquals(stat(stats, "cluster.backend.health_check.healthy"), 1);
  } finally {
    await p.stop();
    echo.close();
  }
});

for (const concurrency of ["1", "2"]) {
  Deno.test(`a host answering 503 is ejected (consecutive_5xx) and returns after base_ejection_time (--concurrency ${concurrency})`, async () => {
    const a = controlled("a");
    const b = controlled("b");
    const c = controlled("c");
    a.state.status = 503;
    const eventLog = tempFile("", ".log");
    const p = await Proxy.start(
      httpConfig({
        routes: ROUTES,
        clusters: cluster(
          [a.port, b.port, c.port],
          `outlier_detection:
  consecutive_5xx: 4
  interval: 0.05s
  base_ejection_time: 2s
  max_ejection_percent: 50`,
        ),
      }) + `cluster_manager:\n  outlier_detection: { event_log_path: ${eventLog} }\n`,
      ["--concurrency", concurrency, "--file-flush-interval-msec", "20"],
    );
    try {
      // Round robin over three hosts: a gets a third of the requests; four 503s eject it. With
      // two workers, each sees only some of them: the ejection needs both workers' results.
      let fails = 0;
      for (let i = 0; i < 60 && fails < 4; i++) {
        if ((await get(p.port())).status === 503) fails++;
      }
      assertEquals(fails, 4);
      const clusters = await until(
        p,
        "/clusters",
        (t) => t.includes(`127.0.0.1:${a.port}::health_flags::/failed_outlier_check`),
        "a ejected",
      );
      assert(clusters.includes("backend::outlier::success_rate_average::"), clusters);
      const hits = a.state.hits;
      for (let i = 0; i < 12; i++) assertEquals((await get(p.port())).status, 200);
      assertEquals(a.state.hits, hits);
      const stats = await admin(p, "/stats");
      assertEquals(stat(stats, "cluster.backend.outlier_detection.ejections_active"), 1);
      assertEquals(stat(stats, "cluster.backend.outlier_detection.ejections_enforced_total"), 1);
      assertEquals(
        stat(stats, "cluster.backend.outlier_detection.ejections_enforced_consecutive_5xx"),
        1,
      );
      assertEquals(
        stat(stats, "cluster.backend.outlier_detection.ejections_detected_consecutive_5xx"),
        1,
      );
      a.state.status = 200;
      await until(
        p,
        "/clusters",
        (t) => t.includes(`127.0.0.1:${a.port}::health_flags::healthy`),
        "a back",
      );
      const back = await admin(p, "/stats");
      assertEquals(stat(back, "cluster.backend.outlier_detection.ejections_active"), 0);
      const seen = new Set<string>();
      for (let i = 0; i < 9; i++) seen.add((await get(p.port())).body);
      assertEquals([...seen].sort(), ["a", "b", "c"]);
      // The outlier event log: Envoy's OutlierDetectionEvent JSON, one line per action.
      const deadline = Date.now() + 20_000;
      let lines: Record<string, unknown>[] = [];
      while (lines.length < 2 && Date.now() < deadline) {
        lines = Deno.readTextFileSync(eventLog).split("\n").filter(Boolean).map((l) =>
          JSON.parse(l)
        );
        if (lines.length < 2) await new Promise((r) => setTimeout(r, 20));
      }
      const { timestamp: _t1, ...eject } = lines[0];
      assertEquals(eject, {
        type: "CONSECUTIVE_5XX",
        cluster_name: "backend",
        upstream_url: `127.0.0.1:${a.port}`,
        action: "EJECT",
        num_ejections: 1,
        enforced: true,
        eject_consecutive_event: {},
      });
      assertEquals(lines[1].action, "UNEJECT");
      assert(Number(lines[1].secs_since_last_action) >= 2, JSON.stringify(lines[1]));
    } finally {
      await p.stop();
      await a.close();
      await b.close();
      await c.close();
    }
  });
}

Deno.test("max_ejection_percent caps ejections (ejections_overflow)", async () => {
  const a = controlled("a");
  const b = controlled("b");
  a.state.status = 503;
  b.state.status = 503;
  const p = await Proxy.start(httpConfig({
    routes: ROUTES,
    clusters: cluster(
      [a.port, b.port],
      `outlier_detection:
  consecutive_5xx: 2
  interval: 10s
  base_ejection_time: 10s
  max_ejection_percent: 50`,
    ),
  }));
  try {
    for (let i = 0; i < 8; i++) await get(p.port());
    const stats = await until(
      p,
      "/stats",
      (t) => stat(t, "cluster.backend.outlier_detection.ejections_overflow") >= 1,
      "an overflow",
    );
    assertEquals(stat(stats, "cluster.backend.outlier_detection.ejections_active"), 1);
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("x-envoy-immediate-health-check-fail from an upstream fails the host at once", async () => {
  const a = controlled("a");
  const b = controlled("b");
  let immediate = false;
  const c = upstream((req) => {
    if (new URL(req.url).pathname === "/healthz") return new Response("ok");
    return new Response("c", {
      headers: immediate ? { "x-envoy-immediate-health-check-fail": "" } : {},
    });
  });
  const p = await Proxy.start(httpConfig({
    routes: ROUTES,
    clusters: cluster(
      [c.port, a.port, b.port],
      `health_checks:
- timeout: 1s
  interval: 10s
  no_traffic_interval: 10s
  unhealthy_threshold: 3
  healthy_threshold: 1
  http_health_check: { path: /healthz }`,
    ),
  }));
  try {
    immediate = true;
    // Round robin reaches c within three requests.
    for (let i = 0; i < 3; i++) await get(p.port());
    const clusters = await until(
      p,
      "/clusters",
      (t) =>
        t.includes(
          `127.0.0.1:${c.port}::health_flags::/failed_active_hc/excluded_via_immediate_hc_fail`,
        ),
      "c failed by its response header",
    );
    assert(clusters.includes(`127.0.0.1:${a.port}::health_flags::healthy`), clusters);
    const stats = await admin(p, "/stats");
    assertEquals(stat(stats, "cluster.backend.health_check.passive_failure"), 1);
    for (let i = 0; i < 6; i++) assert((await get(p.port())).body !== "c");
  } finally {
    await p.stop();
    await a.close();
    await b.close();
    await c.close();
  }
});

Deno.test("with every host failing its health checks the cluster is in panic: traffic goes to all", async () => {
  const a = controlled("a");
  const b = controlled("b");
  a.state.healthStatus = 500;
  b.state.healthStatus = 500;
  const p = await Proxy.start(httpConfig({
    routes: ROUTES,
    clusters: cluster(
      [a.port, b.port],
      `health_checks:
- timeout: 1s
  interval: 10s
  unhealthy_threshold: 1
  healthy_threshold: 1
  http_health_check: { path: /healthz }`,
    ),
  }));
  try {
    const clusters = await admin(p, "/clusters");
    assert(clusters.includes(`127.0.0.1:${a.port}::health_flags::/failed_active_hc`), clusters);
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await get(p.port())).body);
    assertEquals([...seen].sort(), ["a", "b"]);
    const stats = await admin(p, "/stats");
    assertEquals(stat(stats, "cluster.backend.lb_healthy_panic"), 4);
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("a STRICT_DNS cluster's resolved hosts are health checked before listeners start", async () => {
  const a = controlled("a");
  const p = await Proxy.start(httpConfig({
    routes: ROUTES,
    clusters: `- name: backend
  type: STRICT_DNS
  dns_lookup_family: V4_ONLY
  connect_timeout: 1s
  health_checks:
  - timeout: 1s
    interval: 10s
    unhealthy_threshold: 1
    healthy_threshold: 1
    http_health_check: { path: /healthz }
  load_assignment:
    cluster_name: backend
    endpoints:
    - lb_endpoints:
      - endpoint:
          address: { socket_address: { address: localhost, port_value: ${a.port} } }
`,
  }));
  try {
    assertEquals(a.state.hcHits, 1);
    const clusters = await admin(p, "/clusters");
    assert(clusters.includes(`127.0.0.1:${a.port}::health_flags::healthy`), clusters);
    assertEquals(await get(p.port()), { status: 200, body: "a" });
  } finally {
    await p.stop();
    await a.close();
  }
});

Deno.test("validate refuses what is not implemented or contradictory, with its place", async () => {
  const yaml = httpConfig({
    routes: ROUTES,
    clusters: cluster(
      [1],
      `health_checks:
- timeout: 1s
  interval: 1s
  unhealthy_threshold: 1
  healthy_threshold: 1
  grpc_health_check: { service_name: x, initial_metadata: [{ header: { key: ":path", value: /x } }] }
outlier_detection:
  base_ejection_time: 60s
  max_ejection_time: 30s`,
    ) + cluster(
      [2],
      `health_checks:
- timeout: 1s
  interval: 1s
  unhealthy_threshold: 1
  healthy_threshold: 1
  http_health_check: { path: /, codec_client_type: HTTP3 }`,
    ).replace("name: backend", "name: other"),
  });
  const r = await runMain(["--mode", "validate", "-c", tempFile(yaml)]);
  assertEquals(r.code, 1);
  for (
    const want of [
      "cluster 'backend': health_checks[0].grpc_health_check.initial_metadata[0]: :path cannot be set",
      "cluster 'backend': outlier_detection: max_ejection_time cannot be smaller than base_ejection_time",
      "cluster 'other': health_checks[0].http_health_check.codec_client_type: only HTTP1 and HTTP2",
    ]
  ) assert(r.stderr.includes(want), `${want}\n${r.stderr}`);
});

/**
 * nginx speaking h2c (prior knowledge) whose /healthz answers 200 "good" while `<dir>/up`
 * exists and 503 otherwise; it retires each connection after 3 requests with a GOAWAY.
 */
async function nginxH2c(): Promise<{ port: number; dir: string; stop: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "denvoy-nginx-" });
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    `pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  keepalive_requests 3;
  server {
    listen 127.0.0.1:${port} http2;
    location /healthz {
      if (-f ${dir}/up) { return 200 "status: good\\n"; }
      return 503 "down\\n";
    }
  }
}
`,
  );
  await Deno.writeTextFile(`${dir}/up`, "");
  const proc = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`, "-g", "daemon off;"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    port,
    dir,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("http_health_check over HTTP/2 (h2c) against nginx: out on 503, back on 200, GOAWAYs are no failures", async () => {
  const nginx = await nginxH2c();
  let p: Proxy | undefined;
  try {
    p = await Proxy.start(
      httpConfig({
        routes: ROUTES,
        clusters: cluster(
          [nginx.port],
          `health_checks:
- timeout: 1s
  interval: 0.05s
  no_traffic_interval: 0.05s
  unhealthy_threshold: 1
  healthy_threshold: 1
  http_health_check:
    path: /healthz
    codec_client_type: HTTP2
    receive: [{ text: "676f6f64" }]`,
        ),
      }),
    );
    // nginx retires each connection after 3 checks with a graceful GOAWAY: no failure.
    let t = await until(
      p,
      "/stats",
      (t) => stat(t, "cluster.backend.health_check.success") >= 7,
      "successes over several connections",
    );
    assertEquals(stat(t, "cluster.backend.health_check.failure"), 0);
    assertEquals(stat(t, "cluster.backend.membership_healthy"), 1);
    await Deno.remove(`${nginx.dir}/up`);
    t = await until(
      p,
      "/stats",
      (t) => stat(t, "cluster.backend.membership_healthy") === 0,
      "unhealthy on 503",
    );
    assert((await admin(p, "/clusters")).includes("health_flags::/failed_active_hc"));
    assertEquals(stat(t, "cluster.backend.health_check.network_failure"), 0);
    await Deno.writeTextFile(`${nginx.dir}/up`, "");
    await until(p, "/stats", (t) => stat(t, "cluster.backend.membership_healthy") === 1, "back");
  } finally {
    await p?.stop();
    await nginx.stop();
  }
});

/** One request on a kept-alive connection; the response's status. */
async function keepAliveGet(conn: Deno.Conn): Promise<number> {
  await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  let text = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) continue;
    const len = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
    if (text.length >= end + 4 + len) return Number(text.split(" ")[1]);
  }
}

/** Connections accepted so far by each worker (`listener.<address>.worker_<id>.*`). */
async function perWorkerConnections(p: Proxy): Promise<number[]> {
  const stats = await admin(p, "/stats");
  const out: number[] = [];
  for (
    const m of stats.matchAll(/^listener\.[^\n]*\.worker_(\d+)\.downstream_cx_total: (\d+)$/gm)
  ) {
    out[Number(m[1])] = Number(m[2]);
  }
  return out;
}

Deno.test("--concurrency 2: consecutive 5xx seen half by each worker still eject the host", async () => {
  const a = controlled("a");
  const p = await Proxy.start(
    httpConfig({
      routes: ROUTES,
      clusters: cluster(
        [a.port],
        `outlier_detection:
  consecutive_5xx: 4
  interval: 10s
  base_ejection_time: 30s
  max_ejection_percent: 100`,
      ),
    }),
    ["--concurrency", "2"],
  );
  const conns: Deno.Conn[] = [];
  try {
    // Wait for the second worker, then find one kept-alive connection on each worker.
    await until(p, "/stats", (t) => /\.worker_1\.downstream_cx_total/.test(t), "worker 1");
    const byWorker: (Deno.Conn | undefined)[] = [undefined, undefined];
    for (let i = 0; i < 40 && (!byWorker[0] || !byWorker[1]); i++) {
      const before = await perWorkerConnections(p);
      const c = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
      conns.push(c);
      // A request makes sure the connection was accepted before the stats are read.
      await c.write(new TextEncoder().encode("OPTIONS / HTTP/1.1\r\nhost: x\r\n\r\n"));
      await c.read(new Uint8Array(4096));
      const after = await perWorkerConnections(p);
      const w = after.findIndex((n, id) => n > (before[id] ?? 0));
      if (w >= 0 && !byWorker[w]) byWorker[w] = c;
    }
    assert(byWorker[0] && byWorker[1], "no connection landed on one of the workers");
    let clusters = await admin(p, "/clusters");
    assert(clusters.includes(`127.0.0.1:${a.port}::health_flags::healthy`), clusters);
    // Two 503s on each worker: neither saw four, together they did.
    a.state.status = 503;
    for (const c of [byWorker[0]!, byWorker[1]!, byWorker[0]!]) {
      assertEquals(await keepAliveGet(c), 503);
    }
    clusters = await admin(p, "/clusters");
    assert(clusters.includes(`127.0.0.1:${a.port}::health_flags::healthy`), clusters);
    assertEquals(await keepAliveGet(byWorker[1]!), 503);
    await until(
      p,
      "/clusters",
      (t) => t.includes(`127.0.0.1:${a.port}::health_flags::/failed_outlier_check`),
      "a ejected",
    );
    const json = JSON.parse(await admin(p, "/clusters?format=json"));
    const status = json.cluster_statuses[0].host_statuses[0].health_status;
    assertEquals(status.failed_outlier_check, true);
    assertEquals(status.eds_health_status, "HEALTHY");
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await p.stop();
    await a.close();
  }
});
