import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { TagProducer } from "../stats/tag_extractor.ts";
import { type AdminServer, createAdminApp, type DrainOptions, type ServerState } from "./admin.ts";

/** A fake server recording what the admin asked of it. */
function fakeServer(state: ServerState = "LIVE") {
  const calls: string[] = [];
  const drains: DrainOptions[] = [];
  const levels: Record<string, string> = { admin: "info", http: "info", upstream: "warning" };
  const server: AdminServer = {
    state: () => state,
    serverInfo: () => ({
      version: "abc123/1.0.0/Clean/RELEASE/BoringSSL",
      state,
      uptimeCurrentEpochSeconds: 12.7,
      uptimeAllEpochsSeconds: 30,
      hotRestartVersion: "11.104",
      commandLineOptions: { base_id: "0", concurrency: 2, mode: "Serve" },
      node: { id: "node1", cluster: "svc" },
    }),
    listeners: () => [
      { name: "ingress", address: "0.0.0.0:10000" },
      { name: "v6", address: "[::1]:10001" },
      { name: "uds", address: "/tmp/envoy.sock" },
    ],
    clusters: () => [
      {
        name: "backend",
        hosts: [
          { address: "10.0.0.1:80", healthy: true, weight: 1, priority: 0, zone: "", region: "" },
          {
            address: "10.0.0.2:80",
            healthy: false,
            weight: 5,
            priority: 1,
            zone: "us-east-1a",
            region: "us-east-1",
          },
        ],
      },
    ],
    configDump: () => ({
      configs: [
        { "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", bootstrap: {} },
        {
          "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
          static_clusters: [
            { cluster: { name: "backend", connect_timeout: "1s" }, last_updated: "t" },
            { cluster: { name: "other", connect_timeout: "2s" }, last_updated: "t" },
          ],
        },
      ],
    }),
    logLevels: () => ({ ...levels }),
    setLogLevel: (component, level) => {
      if (component === undefined) { for (const k of Object.keys(levels)) levels[k] = level; }
      else if (component in levels) levels[component] = level;
      else throw new Error("unknown logger name");
    },
    healthcheckFail: () => void calls.push("fail"),
    healthcheckOk: () => void calls.push("ok"),
    quit: () => void calls.push("quit"),
    drainListeners: (o) => void drains.push(o),
    memory: () => ({ allocated: "1024", heap_size: "4096" }),
    statsSnapshot: () => {
      const store = new Store();
      store.counter("http.ingress.downstream_rq_2xx").inc(3);
      store.gauge("server.live", "NeverImport").set(1);
      store.histogram("http.ingress.downstream_rq_time", "Milliseconds").record(12);
      return Promise.resolve(store.snapshot());
    },
    statsTags: () => new TagProducer(),
    resetCounters: () => {
      calls.push("resetCounters");
    },
    reopenLogs: () => {
      calls.push("reopenLogs");
      return Promise.resolve();
    },
  };
  return { server, calls, drains, levels, app: createAdminApp(server) };
}

const post = { method: "POST" };

Deno.test("/ready is 200 LIVE when live and 503 with the state otherwise", async () => {
  let state: ServerState = "INITIALIZING";
  const app = createAdminApp({ ...fakeServer().server, state: () => state });
  let res = await app.request("/ready");
  assertEquals([res.status, await res.text()], [503, "INITIALIZING\n"]);
  state = "LIVE";
  res = await app.request("/ready");
  assertEquals([res.status, await res.text()], [200, "LIVE\n"]);
  assertEquals(res.headers.get("cache-control"), "no-cache, max-age=0");
  assertEquals(res.headers.get("x-content-type-options"), "nosniff");
});

Deno.test("/ is an HTML page with a form per endpoint and its parameters", async () => {
  const res = await fakeServer().app.request("/");
  assertEquals(res.status, 200);
  assertMatch(res.headers.get("content-type") ?? "", /^text\/html/);
  const body = await res.text();
  assertMatch(body, /<form id="form-clusters" action="\/clusters" method="get">/);
  assertMatch(body, /<form id="form-quitquitquit" action="\/quitquitquit" method="post">/);
  assertMatch(body, /upstream cluster status/);
  assertMatch(body, /<input form="form-drain_listeners" type="checkbox" name="inboundonly"/);
  assertMatch(body, /<select form="form-clusters" name="format">/);
});

Deno.test("/help lists the commands as Envoy's plain text, POST ones marked", async () => {
  const res = await fakeServer().app.request("/help");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "text/plain; charset=UTF-8");
  const body = await res.text();
  assert(body.startsWith("admin commands are:\n  /: Admin home page\n"), body);
  assertMatch(body, /\n {2}\/clusters: upstream cluster status\n {6}format: File format to use\n/);
  assertMatch(body, /\n {2}\/quitquitquit \(POST\): exit the server\n/);
  assertMatch(body, /\n {2}\/server_info: print server version\/status information\n/);
});

Deno.test("/server_info is Envoy's snake_case JSON with duration strings", async () => {
  const res = await fakeServer().app.request("/server_info");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "application/json");
  assertEquals(await res.json(), {
    version: "abc123/1.0.0/Clean/RELEASE/BoringSSL",
    state: "LIVE",
    uptime_current_epoch: "12s",
    uptime_all_epochs: "30s",
    hot_restart_version: "11.104",
    command_line_options: { base_id: "0", concurrency: 2, mode: "Serve" },
    node: { id: "node1", cluster: "svc" },
  });
});

Deno.test("/listeners prints name::address, and listener_statuses as JSON", async () => {
  const { app } = fakeServer();
  let res = await app.request("/listeners");
  assertEquals(
    await res.text(),
    "ingress::0.0.0.0:10000\nv6::[::1]:10001\nuds::/tmp/envoy.sock\n",
  );
  res = await app.request("/listeners?format=json");
  assertEquals(await res.json(), {
    listener_statuses: [
      {
        name: "ingress",
        local_address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
      },
      { name: "v6", local_address: { socket_address: { address: "::1", port_value: 10001 } } },
      { name: "uds", local_address: { pipe: { path: "/tmp/envoy.sock" } } },
    ],
  });
});

Deno.test("/clusters prints Envoy's text lines, and cluster_statuses as JSON", async () => {
  const { app } = fakeServer();
  let res = await app.request("/clusters");
  const text = await res.text();
  for (
    const line of [
      "backend::observability_name::backend",
      "backend::10.0.0.1:80::health_flags::healthy",
      "backend::10.0.0.1:80::weight::1",
      "backend::10.0.0.1:80::region::",
      "backend::10.0.0.1:80::zone::",
      "backend::10.0.0.1:80::priority::0",
      "backend::10.0.0.2:80::health_flags::/failed_active_hc",
      "backend::10.0.0.2:80::weight::5",
      "backend::10.0.0.2:80::region::us-east-1",
      "backend::10.0.0.2:80::zone::us-east-1a",
      "backend::10.0.0.2:80::priority::1",
    ]
  ) assert(text.split("\n").includes(line), `missing ${line} in:\n${text}`);
  res = await app.request("/clusters?format=json");
  assertEquals(await res.json(), {
    cluster_statuses: [{
      name: "backend",
      host_statuses: [
        {
          address: { socket_address: { address: "10.0.0.1", port_value: 80 } },
          health_status: { eds_health_status: "HEALTHY" },
          weight: 1,
        },
        {
          address: { socket_address: { address: "10.0.0.2", port_value: 80 } },
          health_status: { failed_active_health_check: true, eds_health_status: "HEALTHY" },
          weight: 5,
          locality: { region: "us-east-1", zone: "us-east-1a" },
          priority: 1,
        },
      ],
      observability_name: "backend",
    }],
  });
});

Deno.test("/config_dump returns the dump, filtered by resource, name_regex and mask", async () => {
  const { app, server } = fakeServer();
  let res = await app.request("/config_dump");
  assertEquals([res.status, await res.json()], [200, server.configDump()]);
  res = await app.request("/config_dump?resource=static_clusters&name_regex=back.*");
  assertEquals(await res.json(), {
    configs: [{ cluster: { name: "backend", connect_timeout: "1s" }, last_updated: "t" }],
  });
  res = await app.request("/config_dump?resource=static_clusters&mask=cluster.name");
  assertEquals(await res.json(), {
    configs: [{ cluster: { name: "backend" } }, { cluster: { name: "other" } }],
  });
  res = await app.request("/config_dump?mask=static_clusters.cluster.name&name_regex=other");
  assertEquals(await res.json(), {
    configs: [
      { "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump" },
      {
        "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
        static_clusters: [{ cluster: { name: "other" } }],
      },
    ],
  });
  res = await app.request("/config_dump?resource=dynamic_listeners");
  assertEquals([res.status, await res.text()], [404, "dynamic_listeners not found in config dump"]);
});

Deno.test("/logging lists levels and changes all, one, or several", async () => {
  const { app, levels } = fakeServer();
  let res = await app.request("/logging");
  assertEquals(
    [res.status, await res.text()],
    [200, "active loggers:\n  admin: info\n  http: info\n  upstream: warning\n\n"],
  );
  res = await app.request("/logging?level=debug", post);
  assertEquals(
    [res.status, await res.text()],
    [200, "active loggers:\n  admin: debug\n  http: debug\n  upstream: debug\n\n"],
  );
  res = await app.request("/logging?http=trace", post);
  assertEquals([res.status, levels.http, levels.admin], [200, "trace", "debug"]);
  res = await app.request("/logging?paths=admin:error,upstream:off", post);
  assertEquals([res.status, levels.admin, levels.upstream], [200, "error", "off"]);
  // A form body (the home page) works like the query.
  res = await app.request("/logging", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "level=info&paths=",
  });
  assertEquals([res.status, Object.values(levels)], [200, ["info", "info", "info"]]);
});

Deno.test("/logging rejects unknown names and levels with Envoy's usage text", async () => {
  const { app, levels } = fakeServer();
  for (
    const [q, err] of [
      ["nope=debug", "unknown logger name"],
      ["http=loud", "unknown logger level"],
      ["paths=http:debug,bogus", "invalid paths= value"],
      ["paths=http:debug,nope:info", "unknown logger name"],
      ["http=debug&admin=debug", "invalid number of parameters"],
    ]
  ) {
    const res = await app.request(`/logging?${q}`, post);
    const body = await res.text();
    assertEquals(res.status, 404, q);
    assert(body.startsWith(`error: ${err}\n\nusage: /logging?<name>=<level>`), body);
    assertMatch(body, /levels: trace debug info warning error critical off \nactive loggers:\n/);
  }
  assertEquals(levels, { admin: "info", http: "info", upstream: "warning" });
});

Deno.test("/healthcheck/fail and /healthcheck/ok call the server and answer OK", async () => {
  const { app, calls } = fakeServer();
  let res = await app.request("/healthcheck/fail", post);
  assertEquals([res.status, await res.text()], [200, "OK\n"]);
  res = await app.request("/healthcheck/ok", post);
  assertEquals([res.status, await res.text()], [200, "OK\n"]);
  assertEquals(calls, ["fail", "ok"]);
});

Deno.test("/quitquitquit asks the server to quit and answers OK", async () => {
  const { app, calls } = fakeServer();
  const res = await app.request("/quitquitquit", post);
  assertEquals([res.status, await res.text(), calls], [200, "OK\n", ["quit"]]);
});

Deno.test("/drain_listeners passes inboundonly, graceful and skip_exit", async () => {
  const { app, drains } = fakeServer();
  let res = await app.request("/drain_listeners", post);
  assertEquals([res.status, await res.text()], [200, "OK\n"]);
  res = await app.request("/drain_listeners?inboundonly&graceful", post);
  assertEquals(res.status, 200);
  res = await app.request("/drain_listeners?graceful&skip_exit", post);
  assertEquals(res.status, 200);
  res = await app.request("/drain_listeners?skip_exit", post);
  assertEquals([res.status, await res.text()], [400, "skip_exit requires graceful\n"]);
  assertEquals(drains, [
    { inboundOnly: false, graceful: false, skipExit: false },
    { inboundOnly: true, graceful: true, skipExit: false },
    { inboundOnly: false, graceful: true, skipExit: true },
  ]);
});

Deno.test("/memory is the server's memory fields as JSON", async () => {
  const res = await fakeServer().app.request("/memory");
  assertEquals(res.headers.get("content-type"), "application/json");
  assertEquals(await res.json(), { allocated: "1024", heap_size: "4096" });
});

Deno.test("mutating endpoints answer 405 unless POSTed, and do nothing", async () => {
  const { app, calls, drains, levels } = fakeServer();
  for (
    const [method, path] of [
      ["GET", "/healthcheck/fail"],
      ["GET", "/healthcheck/ok"],
      ["GET", "/quitquitquit"],
      ["GET", "/drain_listeners"],
      ["GET", "/logging?level=debug"],
      ["PUT", "/logging"],
    ]
  ) {
    const res = await app.request(path, { method });
    assertEquals(
      [res.status, await res.text()],
      [405, `Method ${method} not allowed, POST required.`],
      path,
    );
  }
  assertEquals([calls, drains, levels.http], [[], [], "info"]);
});

Deno.test("unknown paths are 404 with Envoy's invalid path text and the command list", async () => {
  const { app } = fakeServer();
  for (const path of ["/nope", "/clusters/", "/statz"]) {
    const res = await app.request(path);
    const body = await res.text();
    assertEquals(res.status, 404, path);
    assertEquals(res.headers.get("content-type"), "text/plain; charset=UTF-8");
    assert(body.startsWith("invalid path. admin commands are:\n  /: Admin home page\n"), body);
    assertMatch(body, /\n {2}\/ready: print server state/);
  }
});

Deno.test("/stats renders text, JSON and Prometheus; filter and usedonly apply", async () => {
  const { app } = fakeServer();
  const textStats = await (await app.request("/stats")).text();
  assertMatch(textStats, /^http\.ingress\.downstream_rq_2xx: 3$/m);
  assertMatch(textStats, /^server\.live: 1$/m);
  assertMatch(textStats, /^http\.ingress\.downstream_rq_time: P0\(/m);
  const filtered = await (await app.request("/stats?filter=server")).text();
  assertEquals(filtered.includes("downstream_rq_2xx"), false);
  const json = JSON.parse(await (await app.request("/stats?format=json")).text());
  assert(json.stats.some((s: { name: string }) => s.name === "server.live"));
  const prom = await (await app.request("/stats/prometheus")).text();
  assertMatch(prom, /^# TYPE envoy_http_downstream_rq_xx counter$/m);
  assertMatch(
    prom,
    /envoy_http_downstream_rq_xx\{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"\} 3/,
  );
  const bad = await app.request("/stats?filter=(");
  assertEquals(bad.status, 400);
});

Deno.test("POST /reset_counters resets; GET is 405", async () => {
  const { app, calls } = fakeServer();
  assertEquals((await app.request("/reset_counters")).status, 405);
  assertEquals(await (await app.request("/reset_counters", { method: "POST" })).text(), "OK\n");
  assert(calls.includes("resetCounters"));
});

Deno.test("POST /reopen_logs reopens access logs; GET is 405", async () => {
  const { app, calls } = fakeServer();
  assertEquals((await app.request("/reopen_logs")).status, 405);
  assertEquals(calls.includes("reopenLogs"), false);
  assertEquals(await (await app.request("/reopen_logs", { method: "POST" })).text(), "OK\n");
  assert(calls.includes("reopenLogs"));
});
