/**
 * Filesystem xDS end to end: main.ts on the corpus `dynamic-config-fs` example (ports and
 * paths rewritten), resource files replaced by atomic moves and by a watched directory's
 * symlink swap while requests run, RDS and EDS from files, and bad files rejected with the
 * previous config still serving.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, Proxy, upstream } from "./proxy.ts";

const CORPUS = "/work/shared/corpus/envoy-examples/dynamic-config-fs";

/** Writes `text` to `path` the way Envoy expects an update: a new file moved into place. */
function replace(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  Deno.writeTextFileSync(tmp, text);
  Deno.renameSync(tmp, path);
}

/** Requests `url` until `body` answers (fails after 20 s with the last answer). */
async function until(url: string, ok: (body: string) => boolean): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await curl(["-i", url]);
    if (ok(r.out)) return r.out;
    if (Date.now() > deadline) throw new Error(`never got the expected answer: ${r.out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Sends requests back to back on keep-alive connections until stopped; counts answers by body
 * and failures (anything but a 200).
 */
function load(url: string): { stop: () => Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  const failed: string[] = [];
  let ok = 0;
  const client = Deno.createHttpClient({});
  const loops = [0, 1].map(async () => {
    while (running) {
      try {
        const r = await fetch(url, { client });
        await r.text();
        if (r.status === 200) ok++;
        else failed.push(`status ${r.status}`);
      } catch (e) {
        failed.push((e as Error).message);
      }
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      client.close();
      return { ok, failed };
    },
  };
}

function corpusSetup(dir: string, upstreamPort: number): string {
  const rewrite = (t: string) =>
    t.replaceAll("/var/lib/envoy", dir)
      .replace(/port_value: 19000/, "port_value: 0")
      .replace(/address: 0\.0\.0\.0/g, "address: 127.0.0.1")
      .replace(/port_value: 10000/, "port_value: 0")
      .replace(
        /address: service1\n(\s+)port_value: 8080/,
        `address: 127.0.0.1\n$1port_value: ${upstreamPort}`,
      );
  Deno.writeTextFileSync(
    `${dir}/lds.yaml`,
    rewrite(Deno.readTextFileSync(`${CORPUS}/configs/lds.yaml`)),
  );
  Deno.writeTextFileSync(
    `${dir}/cds.yaml`,
    rewrite(Deno.readTextFileSync(`${CORPUS}/configs/cds.yaml`)),
  );
  const bootstrap = `${dir}/envoy.yaml`;
  Deno.writeTextFileSync(bootstrap, rewrite(Deno.readTextFileSync(`${CORPUS}/envoy.yaml`)));
  return bootstrap;
}

Deno.test("corpus dynamic-config-fs: CDS and LDS files swapped while requests run, none fails", async () => {
  const a = upstream(() => new Response("a"));
  const b = upstream(() => new Response("b"));
  const dir = Deno.makeTempDirSync({ prefix: "denvoy-xds-" });
  const bootstrap = corpusSetup(dir, a.port);
  const p = await Proxy.start(Deno.readTextFileSync(bootstrap));
  try {
    const port = await p.addedPort("listener_0");
    const url = `http://127.0.0.1:${port}/`;
    assertEquals((await curl([url])).out, "a");
    const traffic = load(url);
    // CDS: the cluster now points at b (its old pools drain).
    const cds = Deno.readTextFileSync(`${dir}/cds.yaml`);
    replace(`${dir}/cds.yaml`, cds.replace(`port_value: ${a.port}`, `port_value: ${b.port}`));
    await until(url, (body) => body.endsWith("b"));
    // LDS: the listener's filter chain changes (a response header): an in-place update, the
    // old chain's connections drain.
    const lds = Deno.readTextFileSync(`${dir}/lds.yaml`);
    replace(
      `${dir}/lds.yaml`,
      lds.replace(
        "- name: local_service",
        "- name: local_service\n            response_headers_to_add: [{ header: { key: x-version, value: '2' } }]",
      ),
    );
    await until(url, (out) => /x-version: 2/i.test(out));
    const { ok, failed } = await traffic.stop();
    assertEquals(failed, []);
    assert(ok > 0);
    const s = await adminStatsWhen(
      p.adminPort,
      (s) => s["listener_manager.listener_modified"] === 1,
    );
    assertEquals(s["cluster_manager.cluster_added"], 1);
    assertEquals(s["cluster_manager.cluster_modified"], 1);
    assertEquals(s["cluster_manager.cds.update_rejected"], 0);
    assertEquals(s["listener_manager.listener_added"], 1);
    assertEquals(s["listener_manager.total_listeners_active"], 1);
    assertEquals(s["listener_manager.listener_in_place_updated"], 1);
    assertEquals(s["listener_manager.total_filter_chains_draining"], 1);
    assertEquals(s["listener_manager.total_listeners_draining"], 0);
    const dump = JSON.parse((await curl([`http://127.0.0.1:${p.adminPort}/config_dump`])).out);
    const listeners = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith("ListenersConfigDump")
    );
    assertEquals(listeners.dynamic_listeners[0].name, "listener_0");
    assert(listeners.dynamic_listeners[0].active_state.last_updated);
    const clusters = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith("ClustersConfigDump")
    );
    assertEquals(clusters.dynamic_active_clusters[0].cluster.name, "example_proxy_cluster");
    const routes = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith(".RoutesConfigDump")
    );
    assertEquals(routes.static_route_configs[0].route_config.name, "local_route");
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("bad resource files are rejected, counted and shown; the previous config serves", async () => {
  const a = upstream(() => new Response("a"));
  const dir = Deno.makeTempDirSync({ prefix: "denvoy-xds-" });
  const bootstrap = corpusSetup(dir, a.port);
  const p = await Proxy.start(Deno.readTextFileSync(bootstrap));
  try {
    const port = await p.addedPort("listener_0");
    const url = `http://127.0.0.1:${port}/`;
    const good = Deno.readTextFileSync(`${dir}/cds.yaml`);
    const stat = (name: string, n: number) =>
      adminStatsWhen(p.adminPort, (s) => s[`cluster_manager.cds.${name}`] >= n);
    // Not YAML at all: a failure (the file could not be read as a DiscoveryResponse).
    replace(`${dir}/cds.yaml`, "resources: [ {");
    await stat("update_failure", 1);
    // A field Envoy rejects: the update is rejected.
    replace(
      `${dir}/cds.yaml`,
      good.replace("type: STRICT_DNS", "type: STRICT_DNS\n  lb_policy: NOPE"),
    );
    await stat("update_rejected", 1);
    // A resource of another type in a CDS file.
    replace(
      `${dir}/cds.yaml`,
      good.replace("envoy.config.cluster.v3.Cluster", "envoy.config.listener.v3.Listener")
        .replace(/type: STRICT_DNS\n[^]*/, "\n"),
    );
    await stat("update_rejected", 2);
    // An unknown type URL.
    replace(`${dir}/cds.yaml`, good.replace("envoy.config.cluster.v3.Cluster", "example.Nope"));
    await stat("update_rejected", 3);
    // Valid protos, but a cluster Envoy refuses to build: the error is kept for the dump.
    replace(
      `${dir}/cds.yaml`,
      good.replace("version_info", "x").replace(
        "type: STRICT_DNS",
        "type: STRICT_DNS\n  lb_policy: MAGLEV\n  maglev_lb_config: { table_size: 8 }",
      ),
    );
    await stat("update_rejected", 4);
    assertEquals((await curl([url])).out, "a");
    const dump = JSON.parse((await curl([`http://127.0.0.1:${p.adminPort}/config_dump`])).out);
    const clusters = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith("ClustersConfigDump")
    );
    const error = clusters.dynamic_active_clusters[0].error_state;
    assertMatch(error.details, /maglev/);
    assertEquals(error.failed_configuration.lb_policy, "MAGLEV");
    assertMatch(p.proc.stderr, /config update rejected/);
    const s = await adminStatsWhen(p.adminPort, () => true);
    assertEquals(s["cluster_manager.cds.update_success"], 1);
    assertEquals(s["server.envoy_bug_failures"] ?? 0, 0);
  } finally {
    await p.stop();
    await a.close();
  }
});

Deno.test("watched_directory: an atomic symlink swap of the directory updates the listener", async () => {
  const a = upstream(() => new Response("a"));
  const dir = Deno.makeTempDirSync({ prefix: "denvoy-xds-" });
  corpusSetup(dir, a.port);
  // A ConfigMap-style layout: lds.yaml -> ..data/lds.yaml, ..data -> v1.
  Deno.mkdirSync(`${dir}/w/v1`, { recursive: true });
  Deno.renameSync(`${dir}/lds.yaml`, `${dir}/w/v1/lds.yaml`);
  Deno.symlinkSync("v1", `${dir}/w/..data`);
  Deno.symlinkSync("..data/lds.yaml", `${dir}/w/lds.yaml`);
  const yaml = `admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  cds_config: { path_config_source: { path: ${dir}/cds.yaml } }
  lds_config:
    path_config_source:
      path: ${dir}/w/lds.yaml
      watched_directory: { path: ${dir}/w }
`;
  const p = await Proxy.start(yaml);
  try {
    const port = await p.addedPort("listener_0");
    const url = `http://127.0.0.1:${port}/`;
    assertEquals((await curl([url])).out, "a");
    Deno.mkdirSync(`${dir}/w/v2`);
    Deno.writeTextFileSync(
      `${dir}/w/v2/lds.yaml`,
      Deno.readTextFileSync(`${dir}/w/v1/lds.yaml`).replace(
        "- name: local_service",
        "- name: local_service\n            response_headers_to_add: [{ header: { key: x-v, value: '2' } }]",
      ),
    );
    Deno.symlinkSync("v2", `${dir}/w/..tmp`);
    Deno.renameSync(`${dir}/w/..tmp`, `${dir}/w/..data`);
    await until(url, (out) => /x-v: 2/i.test(out));
  } finally {
    await p.stop();
    await a.close();
  }
});

Deno.test("RDS and EDS from files: routes and endpoints change for new requests at once", async () => {
  const a = upstream(() => new Response("a"));
  const b = upstream(() => new Response("b"));
  const dir = Deno.makeTempDirSync({ prefix: "denvoy-xds-" });
  const rds = (header: string) =>
    `version_info: r-${header}
resources:
- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
  name: routes
  virtual_hosts:
  - name: all
    domains: ["*"]
    response_headers_to_add: [{ header: { key: x-route, value: '${header}' } }]
    routes:
    - match: { prefix: "/" }
      route: { cluster: backend }
`;
  const eds = (port: number) =>
    `version_info: e-${port}
resources:
- "@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
  cluster_name: backend
  endpoints:
  - lb_endpoints:
    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
`;
  Deno.writeTextFileSync(`${dir}/rds.yaml`, rds("1"));
  Deno.writeTextFileSync(`${dir}/eds.yaml`, eds(a.port));
  const yaml = `admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          rds:
            route_config_name: routes
            config_source: { path_config_source: { path: ${dir}/rds.yaml } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: backend
    type: EDS
    connect_timeout: 1s
    eds_cluster_config:
      eds_config: { path_config_source: { path: ${dir}/eds.yaml } }
`;
  const p = await Proxy.start(yaml);
  try {
    const url = `http://127.0.0.1:${p.port("http")}/`;
    const first = await curl(["-i", url]);
    assertMatch(first.out, /x-route: 1/i);
    assert(first.out.endsWith("a"));
    const traffic = load(url);
    replace(`${dir}/rds.yaml`, rds("2"));
    await until(url, (out) => /x-route: 2/i.test(out));
    replace(`${dir}/eds.yaml`, eds(b.port));
    await until(url, (out) => out.endsWith("b"));
    const { failed } = await traffic.stop();
    assertEquals(failed, []);
    const s = await adminStatsWhen(p.adminPort, (s) => s["cluster.backend.update_success"] >= 2);
    assertEquals(s["http.ingress.rds.routes.update_success"], 2);
    assertEquals(s["http.ingress.rds.routes.config_reload"], 2);
    assertEquals(s["cluster.backend.membership_total"], 1);
    const dump = JSON.parse(
      (await curl([`http://127.0.0.1:${p.adminPort}/config_dump?include_eds`])).out,
    );
    const routes = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith(".RoutesConfigDump")
    );
    assertEquals(routes.dynamic_route_configs[0].version_info, "r-2");
    const endpoints = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith("EndpointsConfigDump")
    );
    assertEquals(endpoints.dynamic_endpoint_configs[0].version_info, `e-${b.port}`);
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("gRPC config sources are checked at validate: ads_config, grpc_services", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../main.ts", import.meta.url).pathname,
      "--mode",
      "validate",
      "--config-yaml",
      `dynamic_resources:
  cds_config: { ads: {} }
  lds_config: { api_config_source: { api_type: GRPC } }
`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assertEquals(r.code, 1);
  assertMatch(err, /cds_config\.ads: ADS must be configured to support an ADS config source/);
  assertMatch(
    err,
    /lds_config\.api_config_source\.grpc_services: API configs must have a single gRPC service/,
  );
});
