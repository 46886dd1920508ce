import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { TagProducer } from "../stats/tag_extractor.ts";
import type { JsonObject } from "@bufbuild/protobuf";
import { Snapshot } from "../runtime/snapshot.ts";
import { emptyHostStats } from "../upstream/host_stats.ts";
import {
  type AdminServer,
  type ClusterInfo,
  createAdminApp,
  type DrainOptions,
  type ServerState,
} from "./admin.ts";

const CLUSTERS: ClusterInfo[] = [{
  name: "backend",
  observabilityName: "backend",
  addedViaApi: false,
  circuitBreakers: [
    {
      priority: "DEFAULT",
      maxConnections: 1024,
      maxPendingRequests: 1024,
      maxRequests: 1024,
      maxRetries: 3,
    },
    {
      priority: "HIGH",
      maxConnections: 1024,
      maxPendingRequests: 1024,
      maxRequests: 1024,
      maxRetries: 3,
    },
  ],
  hosts: [{
    address: "10.0.0.1:80",
    hostname: "",
    healthFlags: [],
    weight: 1,
    priority: 0,
    region: "",
    zone: "",
    subZone: "",
    canary: false,
    stats: { ...emptyHostStats(), rq_total: 3, rq_success: 2, rq_error: 1, cx_active: 1 },
  }],
}];

const DUMP: JsonObject[] = [
  {
    "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
    bootstrap: { node: { id: "n" } },
  },
  {
    "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
    static_clusters: [
      {
        cluster: {
          "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
          name: "backend",
          connect_timeout: "1s",
        },
        last_updated: "2024-01-01T00:00:00Z",
      },
      {
        cluster: {
          "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
          name: "other",
          connect_timeout: "2s",
        },
        last_updated: "2024-01-01T00:00:00Z",
      },
    ],
  },
];

/** A fake server recording what the admin asked of it. */
function fakeServer(state: ServerState = "LIVE") {
  const calls: string[] = [];
  const drains: DrainOptions[] = [];
  const levels: Record<string, string> = { admin: "info", http: "info", upstream: "warning" };
  let runtime = new Snapshot({
    layers: [
      { name: "static", entries: { "a.b": { raw: "1", uint: 1 }, c: { raw: "x" } } },
      { name: "admin", entries: { "a.b": { raw: "2", uint: 2 } } },
    ],
  });
  const server: AdminServer = {
    state: () => state,
    serverInfo: () => ({
      version: "abc123/1.0.0/Clean/RELEASE/BoringSSL",
      state,
      uptimeCurrentEpochSeconds: 12.7,
      uptimeAllEpochsSeconds: 30,
      hotRestartVersion: "11.104",
      commandLineOptions: { base_id: "0", concurrency: 2, mode: "Validate" },
      node: { id: "node1", cluster: "svc" },
    }),
    listeners: () => [
      { name: "ingress", address: "0.0.0.0:10000" },
      { name: "v6", address: "[::1]:10001" },
      { name: "uds", address: "/tmp/envoy.sock" },
    ],
    clusters: () => Promise.resolve(CLUSTERS),
    configDump: () => structuredClone(DUMP),
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
    runtime: () => runtime.data(),
    runtimeModify: (values) => {
      calls.push(`runtime ${JSON.stringify(values)}`);
      const admin = { ...runtime.layers[1].entries };
      for (const [k, v] of values) {
        if (v === "") delete admin[k];
        else admin[k] = { raw: v };
      }
      runtime = new Snapshot({ layers: [runtime.layers[0], { name: "admin", entries: admin }] });
    },
    certificates: () => [],
    mutexTracingEnabled: () => false,
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
  assertMatch(
    body,
    /\n {2}\/clusters: upstream cluster status\n {6}format: File format to use; One of \(text, json\)\n/,
  );
  assertMatch(body, /\n {2}\/quitquitquit \(POST\): exit the server\n/);
  assertMatch(body, /\n {2}\/server_info: print server version\/status information\n/);
});

Deno.test("/server_info is Envoy's snake_case JSON with duration strings", async () => {
  const res = await fakeServer().app.request("/server_info");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "application/json");
  const { command_line_options: opts, ...rest } = await res.json();
  assertEquals(rest, {
    version: "abc123/1.0.0/Clean/RELEASE/BoringSSL",
    state: "LIVE",
    uptime_current_epoch: "12s",
    uptime_all_epochs: "30s",
    hot_restart_version: "11.104",
    node: {
      ...rest.node,
      id: "node1",
      cluster: "svc",
    },
  });
  assertEquals([opts.base_id, opts.concurrency, opts.mode], ["0", 2, "Validate"]);
  // Every field is printed, defaults included, as Envoy does here.
  assertEquals([opts.restart_epoch, opts.log_path, opts.drain_strategy], [0, "", "Gradual"]);
  assertEquals(rest.node.user_agent_name, "");
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
  const lines = (await res.text()).split("\n");
  for (
    const line of [
      "backend::observability_name::backend",
      "backend::default_priority::max_connections::1024",
      "backend::high_priority::max_retries::3",
      "backend::added_via_api::false",
      "backend::10.0.0.1:80::cx_active::1",
      "backend::10.0.0.1:80::rq_total::3",
      "backend::10.0.0.1:80::health_flags::healthy",
      "backend::10.0.0.1:80::weight::1",
    ]
  ) assert(lines.includes(line), `missing ${line} in:\n${lines.join("\n")}`);
  res = await app.request("/clusters?format=json");
  const json = await res.json();
  assertEquals(json.cluster_statuses[0].name, "backend");
  assertEquals(json.cluster_statuses[0].host_statuses[0].stats[3], {
    value: "2",
    name: "rq_success",
  });
});

Deno.test("/config_dump returns the dump, filtered by resource, name_regex and mask", async () => {
  const { app } = fakeServer();
  let res = await app.request("/config_dump");
  assertEquals([res.status, (await res.json()).configs], [200, DUMP]);
  res = await app.request("/config_dump?resource=static_clusters&name_regex=back.*");
  assertEquals(await res.json(), {
    configs: [{
      "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster",
      ...(DUMP[1].static_clusters as JsonObject[])[0],
    }],
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

Deno.test("/memory is the server's memory fields as JSON, zeros included", async () => {
  const res = await fakeServer().app.request("/memory");
  assertEquals(res.headers.get("content-type"), "application/json");
  assertEquals(await res.json(), {
    allocated: "1024",
    heap_size: "4096",
    pageheap_unmapped: "0",
    pageheap_free: "0",
    total_thread_cache: "0",
    total_physical_bytes: "0",
  });
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
      ["GET", "/runtime_modify?a=1"],
      ["GET", "/reset_counters"],
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
