/** Every admin endpoint and parameter on a running proxy, with real clients. */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { curl, httpConfig, Proxy, staticCluster, upstream } from "./proxy.ts";

const get = async (url: string) => (await curl([url])).out;
const status = async (args: string[]) =>
  (await curl(["-o", "/dev/null", "-w", "%{http_code}", ...args])).out;

Deno.test("admin endpoints: clusters, config_dump, server_info, stats, listeners and friends", async () => {
  const up = upstream((req) =>
    new URL(req.url).pathname === "/fail" ? new Response("no", { status: 503 }) : new Response("ok")
  );
  const dir = Deno.makeTempDirSync();
  const accessLog = `${dir}/admin.log`;
  const yaml = httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port, "alt_stat_name: backend_stats") +
      `      - endpoint:
          address: { socket_address: { address: 127.0.0.1, port_value: 9 } }
        health_status: UNHEALTHY
`,
  }).replace(
    "admin:\n",
    `admin:
  access_log:
  - name: envoy.access_loggers.file
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
      path: ${accessLog}
      log_format: { text_format: "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %BYTES_SENT%\\n" }
`,
  );
  const p = await Proxy.start(yaml, ["--service-node", "cli-node", "--drain-time-s", "7"]);
  const admin = `http://127.0.0.1:${p.adminPort}`;
  const proxy = `http://127.0.0.1:${p.port()}`;
  try {
    for (const path of ["/a", "/b", "/fail"]) await curl([`${proxy}${path}`]);

    // /clusters: cluster settings and per-host stats summed over the workers.
    const clusters = (await get(`${admin}/clusters`)).split("\n");
    const host = `backend::127.0.0.1:${up.port}::`;
    for (
      const line of [
        "backend::observability_name::backend_stats",
        "backend::default_priority::max_connections::1024",
        "backend::high_priority::max_retries::3",
        "backend::added_via_api::false",
        `${host}rq_total::3`,
        `${host}rq_success::2`,
        `${host}rq_error::1`,
        `${host}cx_total::1`,
        `${host}cx_active::1`,
        `${host}health_flags::healthy`,
        "backend::127.0.0.1:9::health_flags::/failed_eds_health",
      ]
    ) assert(clusters.includes(line), `missing ${line} in\n${clusters.join("\n")}`);
    const cj = JSON.parse(await get(`${admin}/clusters?format=json`));
    const hs = cj.cluster_statuses[0].host_statuses;
    assertEquals(hs[0].stats.find((s: { name: string }) => s.name === "rq_total").value, "3");
    assertEquals(hs[1].health_status.eds_health_status, "UNHEALTHY");
    assertEquals(cj.cluster_statuses[0].observability_name, "backend_stats");

    // /config_dump and its parameters.
    const dump = JSON.parse(await get(`${admin}/config_dump`));
    assertEquals(dump.configs.map((c: { "@type": string }) => c["@type"].split(".").pop()), [
      "BootstrapConfigDump",
      "ClustersConfigDump",
      "ListenersConfigDump",
      "ScopedRoutesConfigDump",
      "RoutesConfigDump",
      "SecretsConfigDump",
    ]);
    const eds = JSON.parse(await get(`${admin}/config_dump?include_eds`));
    const ep = eds.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith("EndpointsConfigDump")
    );
    assertEquals(ep.static_endpoint_configs[0].endpoint_config.cluster_name, "backend");
    assertEquals(
      ep.static_endpoint_configs[0].endpoint_config.endpoints[0].lb_endpoints[1].health_status,
      "UNHEALTHY",
    );
    const res = JSON.parse(
      await get(`${admin}/config_dump?resource=static_clusters&mask=cluster.name`),
    );
    assertEquals(res.configs, [{
      "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster",
      cluster: { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: "backend" },
    }]);
    const listenersOnly = JSON.parse(
      await get(`${admin}/config_dump?resource=static_listeners&name_regex=nomatch`),
    );
    assertEquals(listenersOnly.configs, []);
    assertEquals(await status([`${admin}/config_dump?resource=nope`]), "404");
    assertEquals(await status([`${admin}/config_dump?resource=bootstrap`]), "400");
    assertEquals(await status([`${admin}/config_dump?name_regex=(`]), "400");
    assertEquals(await status([`${admin}/config_dump?mask=no.such.field`]), "400");

    // /server_info: every command line option, and the node with CLI overrides.
    const info = JSON.parse(await get(`${admin}/server_info`));
    assertEquals(info.state, "LIVE");
    assertEquals(info.node.id, "cli-node");
    assertEquals(info.node.user_agent_name, "envoy");
    assertEquals(info.command_line_options.drain_time, "7s");
    assertEquals(info.command_line_options.service_node, "cli-node");
    assertEquals(info.command_line_options.mode, "Serve");
    assertMatch(info.uptime_all_epochs, /^\d+s$/);
    assertEquals(await get(`${admin}/hot_restart_version`), info.hot_restart_version);

    assertEquals(JSON.parse(await get(`${admin}/certs`)), { certificates: [] });
    assertEquals(JSON.parse(await get(`${admin}/init_dump`)), {});
    assertMatch(await get(`${admin}/contention`), /^Mutex contention tracing is not enabled/);
    const mem = JSON.parse(await get(`${admin}/memory`));
    assertMatch(mem.allocated, /^\d+$/);

    assertEquals(JSON.parse(await get(`${admin}/listeners?format=json`)), {
      listener_statuses: [{
        name: "http",
        local_address: { socket_address: { address: "127.0.0.1", port_value: p.port() } },
      }],
    });

    // /stats parameters.
    const counters = await get(`${admin}/stats?type=Counters&filter=downstream_rq`);
    assertMatch(counters, /^http\.test\.downstream_rq_total: 3$/m);
    assert(!/downstream_rq_active/.test(counters), counters);
    assertMatch(
      await get(`${admin}/stats?histogram_buckets=cumulative&filter=downstream_rq_time`),
      /^http\.test\.downstream_rq_time: B0\.5\(/m,
    );
    assertEquals(await status([`${admin}/stats?type=bogus`]), "400");
    assertEquals(await status([`${admin}/stats?histogram_buckets=bogus`]), "400");
    assertEquals(await status([`${admin}/stats?format=bogus`]), "400");

    // / and /help.
    const home = await get(`${admin}/`);
    assertMatch(home, /<form id="form-runtime_modify" action="\/runtime_modify" method="post">/);
    const help = await get(`${admin}/help`);
    for (
      const path of ["/certs", "/contention", "/init_dump", "/hot_restart_version", "/runtime"]
    ) assertMatch(help, new RegExp(`\\n  ${path}: `));
    assertMatch(help, /\n {2}\/runtime_modify \(POST\): /);
    assertMatch(help, /\n {6}include_eds: /);

    // The admin access log saw the requests (flushed on shutdown).
    await p.stop();
    const logged = Deno.readTextFileSync(accessLog);
    assertMatch(logged, /^GET \/clusters 200 \d+$/m);
    assertMatch(logged, /^GET \/config_dump\?resource=nope 404 \d+$/m);
  } finally {
    await p.stop();
    await up.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("/healthcheck/fail: DRAINING, and HTTP/1 responses close their connections", async () => {
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  direct_response: { status: 200 }`,
  }));
  const admin = `http://127.0.0.1:${p.adminPort}`;
  const proxy = `http://127.0.0.1:${p.port()}`;
  try {
    const headers = async () => (await curl(["-s", "-D", "-", "-o", "/dev/null", proxy])).out;
    assert(!/connection: close/i.test(await headers()));
    assertEquals((await curl(["-X", "POST", `${admin}/healthcheck/fail`])).out, "OK\n");
    assertEquals(await status([`${admin}/ready`]), "503");
    assertEquals(await get(`${admin}/ready`), "DRAINING\n");
    assertEquals(JSON.parse(await get(`${admin}/server_info`)).state, "DRAINING");
    assertMatch(await get(`${admin}/stats?filter=^server\\.state$`), /^server\.state: 1$/m);
    const deadline = Date.now() + 20_000;
    while (!/connection: close/i.test(await headers())) {
      if (Date.now() > deadline) {
        throw new Error("no connection: close while failing health checks");
      }
    }
    await curl(["-X", "POST", `${admin}/healthcheck/ok`]);
    assertEquals(await get(`${admin}/ready`), "LIVE\n");
  } finally {
    await p.stop();
  }
});

/** Resolves once connecting to `port` is refused. */
async function refused(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("/drain_listeners: inboundonly stops only inbound listeners", async () => {
  const base = httpConfig({
    routes: `- match: { prefix: "/" }\n  direct_response: { status: 200 }`,
  });
  // A second listener, marked inbound.
  const inbound = base.slice(base.indexOf("  - name: http"), base.indexOf("  clusters:"))
    .replace("- name: http", "- name: inbound\n    traffic_direction: INBOUND");
  const yaml = base.replace("  clusters:", `${inbound}  clusters:`);
  const p = await Proxy.start(yaml);
  const admin = `http://127.0.0.1:${p.adminPort}`;
  try {
    assertEquals(await status([`-X`, "GET", `${admin}/drain_listeners`]), "405");
    assertEquals((await curl(["-X", "POST", `${admin}/drain_listeners?inboundonly`])).out, "OK\n");
    await refused(p.port("inbound"));
    assertEquals(await status([`http://127.0.0.1:${p.port("http")}/`]), "200");
    assertEquals(await status(["-X", "POST", `${admin}/drain_listeners?skip_exit`]), "400");
  } finally {
    await p.stop();
  }
});

Deno.test("/drain_listeners?graceful: connections close during the drain time, then listeners stop", async () => {
  const p = await Proxy.start(
    httpConfig({ routes: `- match: { prefix: "/" }\n  direct_response: { status: 200 }` }),
    ["--drain-time-s", "1", "--drain-strategy", "immediate"],
  );
  const admin = `http://127.0.0.1:${p.adminPort}`;
  try {
    assertEquals((await curl(["-X", "POST", `${admin}/drain_listeners?graceful`])).out, "OK\n");
    // Still accepting during the drain time, but every response closes its connection.
    const during = await curl([
      "-s",
      "-D",
      "-",
      "-o",
      "/dev/null",
      `http://127.0.0.1:${p.port()}/`,
    ]);
    if (during.code === 0) assertMatch(during.out, /connection: close/i);
    await refused(p.port());
    // The server keeps running.
    assertEquals(await get(`${admin}/ready`), "LIVE\n");
  } finally {
    await p.stop();
  }
});
