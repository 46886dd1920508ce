/**
 * REST xDS end to end: a small control plane (Deno.serve) answers CDS and LDS polls with JSON
 * DiscoveryResponses; the proxy applies them, acknowledges each version and nonce, and NACKs
 * a bad update with error_detail while traffic keeps flowing on the previous config.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, Proxy, staticCluster, upstream } from "./proxy.ts";

const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";

const ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

/** What a control plane serves; `hold` makes a service's polls wait until it is cleared. */
interface PlaneState {
  version: string;
  clusters: unknown[];
  listeners: unknown[];
  routes?: unknown[];
  endpoints?: unknown[];
  hold?: Set<string>;
}

/** A REST control plane: serves `state`, records every DiscoveryRequest it gets. */
function controlPlane(state: PlaneState) {
  const requests: { path: string; host: string; body: Record<string, unknown> }[] = [];
  let nonce = 0;
  const srv = upstream(async (req) => {
    const body = await req.json();
    const path = new URL(req.url).pathname;
    requests.push({ path, host: req.headers.get("host") ?? "", body });
    while (state.hold?.has(path)) await new Promise((r) => setTimeout(r, 20));
    const [resources, type] = path === "/v3/discovery:clusters"
      ? [state.clusters, CLUSTER]
      : path === "/v3/discovery:listeners"
      ? [state.listeners, LISTENER]
      : path === "/v3/discovery:routes"
      ? [state.routes ?? [], ROUTE]
      : path === "/v3/discovery:endpoints"
      ? [
        state.endpoints ?? [],
        "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
      ]
      : [undefined, ""];
    if (!resources) return new Response("not found", { status: 404 });
    return Response.json({
      version_info: state.version,
      resources,
      type_url: type,
      nonce: `n${++nonce}`,
    });
  });
  return { ...srv, requests };
}

/** A bootstrap whose CDS and LDS poll the control plane at `port`. */
function restBootstrap(port: number, extra = ""): string {
  const source = `api_config_source:
      api_type: REST
      transport_api_version: V3
      cluster_names: [xds]
      refresh_delay: 0.05s
      request_timeout: 5s
    resource_api_version: V3${extra}`;
  return `node: { id: test-node, cluster: test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  cds_config:
    ${source}
  lds_config:
    ${source}
static_resources:
  clusters:
${staticCluster("xds", port).replace(/^/gm, "  ")}
`;
}

function cluster(port: number, extra: Record<string, unknown> = {}) {
  return {
    "@type": CLUSTER,
    name: "backend",
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: "backend",
      endpoints: [{
        lb_endpoints: [{
          endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } },
        }],
      }],
    },
    ...extra,
  };
}

const listener = {
  "@type": LISTENER,
  name: "rest_listener",
  address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
  filter_chains: [{
    filters: [{
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type":
          "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix: "rest",
        route_config: {
          virtual_hosts: [{
            name: "all",
            domains: ["*"],
            routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }],
          }],
        },
        http_filters: [{
          name: "envoy.filters.http.router",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
          },
        }],
      },
    }],
  }],
};

Deno.test("REST CDS and LDS: polled, applied, acknowledged; a bad update is NACKed", async () => {
  const a = upstream(() => new Response("a"));
  const b = upstream(() => new Response("b"));
  const state = { version: "1", clusters: [cluster(a.port)], listeners: [listener] };
  const cp = controlPlane(state);
  const p = await Proxy.start(restBootstrap(cp.port));
  try {
    const port = await p.addedPort("rest_listener");
    const url = `http://127.0.0.1:${port}/`;
    assertEquals((await curl([url])).out, "a");
    const first = cp.requests.find((r) => r.path === "/v3/discovery:clusters")!;
    assertEquals(first.host, "xds");
    assertEquals(first.body.type_url, CLUSTER);
    assertEquals((first.body.node as { id: string }).id, "test-node");
    assertMatch(
      (await curl([`http://127.0.0.1:${p.adminPort}/clusters`])).out,
      /^backend::added_via_api::true$/m,
    );
    // A new version: applied and acknowledged.
    state.clusters = [cluster(b.port)];
    state.version = "2";
    const deadline = Date.now() + 20_000;
    while ((await curl([url])).out !== "b") {
      assert(Date.now() < deadline, "version 2 never applied");
    }
    // A cluster Envoy refuses: NACKed with the accepted version and the reason.
    state.clusters = [
      cluster(a.port, { lb_policy: "MAGLEV", maglev_lb_config: { table_size: 8 } }),
    ];
    state.version = "3";
    await adminStatsWhen(p.adminPort, (s) => s["cluster_manager.cds.update_rejected"] >= 1);
    const nackDeadline = Date.now() + 20_000;
    let nack: Record<string, unknown> | undefined;
    while (!nack) {
      nack = cp.requests.map((r) => r.body).find((b) =>
        b.type_url === CLUSTER && b.error_detail !== undefined
      );
      assert(Date.now() < nackDeadline, "no NACK sent");
      if (!nack) await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(nack.version_info, "2");
    assertMatch((nack.error_detail as { message: string }).message, /maglev/);
    assertEquals((nack.error_detail as { code: number }).code, 13);
    assertMatch(String(nack.response_nonce), /^n\d+$/);
    assertEquals((await curl([url])).out, "b");
    const s = await adminStatsWhen(p.adminPort, () => true);
    assertEquals(s["listener_manager.lds.update_rejected"], 0);
    assert(s["listener_manager.lds.update_success"] >= 1);
  } finally {
    await p.stop();
    await cp.close();
    await a.close();
    await b.close();
  }
});

Deno.test("initial_fetch_timeout: a control plane that does not answer does not hold start-up", async () => {
  const a = upstream(() => new Response("a"));
  const state: PlaneState = {
    version: "1",
    clusters: [cluster(a.port)],
    listeners: [listener],
    hold: new Set(["/v3/discovery:clusters"]),
  };
  const cp = controlPlane(state);
  const p = await Proxy.start(restBootstrap(cp.port, "\n    initial_fetch_timeout: 0.2s"));
  try {
    const s = await adminStatsWhen(
      p.adminPort,
      (s) => s["cluster_manager.cds.init_fetch_timeout"] === 1,
    );
    assertEquals(s["server.state"], 0); // LIVE
    // The answer arrives late: applied as any update (the listener may come first).
    state.hold!.clear();
    const port = await p.addedPort("rest_listener");
    await adminStatsWhen(p.adminPort, (s) => s["cluster_manager.cds.update_success"] >= 1);
    assertEquals((await curl([`http://127.0.0.1:${port}/`])).out, "a");
  } finally {
    state.hold?.clear();
    await p.stop();
    await cp.close();
    await a.close();
  }
});

Deno.test("a listener added by LDS warms until its RDS arrives, then serves", async () => {
  const a = upstream(() => new Response("a"));
  const state: PlaneState = { version: "1", clusters: [cluster(a.port)], listeners: [] };
  const cp = controlPlane(state);
  const p = await Proxy.start(restBootstrap(cp.port));
  try {
    const rdsListener = structuredClone(listener) as typeof listener;
    const hcm = rdsListener.filter_chains[0].filters[0].typed_config as Record<string, unknown>;
    delete hcm.route_config;
    hcm.rds = {
      route_config_name: "routes",
      config_source: {
        api_config_source: {
          api_type: "REST",
          transport_api_version: "V3",
          cluster_names: ["xds"],
          refresh_delay: "0.05s",
        },
        resource_api_version: "V3",
      },
    };
    state.routes = [{
      "@type": ROUTE,
      name: "routes",
      virtual_hosts: [{
        name: "all",
        domains: ["*"],
        routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }],
      }],
    }];
    state.hold = new Set(["/v3/discovery:routes"]);
    state.listeners = [rdsListener];
    state.version = "2";
    const warming = await adminStatsWhen(
      p.adminPort,
      (s) => s["listener_manager.total_listeners_warming"] === 1,
    );
    assertEquals(warming["listener_manager.listener_added"], 0);
    assertMatch(p.proc.stderr, /listener 'rest_listener' warming: awaiting route:routes/);
    const dump = JSON.parse((await curl([`http://127.0.0.1:${p.adminPort}/config_dump`])).out);
    const listeners = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith("ListenersConfigDump")
    );
    assertEquals(listeners.dynamic_listeners[0].warming_state.version_info, "2");
    state.hold.clear();
    const port = await p.addedPort("rest_listener");
    assertEquals((await curl([`http://127.0.0.1:${port}/`])).out, "a");
    const s = await adminStatsWhen(
      p.adminPort,
      (s) => s["http.rest.rds.routes.update_success"] >= 1,
    );
    assertEquals(s["listener_manager.total_listeners_warming"], 0);
    assertEquals(s["listener_manager.total_listeners_active"], 1);
  } finally {
    state.hold?.clear();
    await p.stop();
    await cp.close();
    await a.close();
  }
});

Deno.test("a CDS cluster of type EDS warms until its first assignment; LDS removes a listener", async () => {
  const a = upstream(() => new Response("a"));
  const state: PlaneState = { version: "1", clusters: [cluster(a.port)], listeners: [listener] };
  const cp = controlPlane(state);
  const p = await Proxy.start(restBootstrap(cp.port));
  try {
    const port = await p.addedPort("rest_listener");
    const url = `http://127.0.0.1:${port}/`;
    assertEquals((await curl([url])).out, "a");
    const b = upstream(() => new Response("b"));
    state.hold = new Set(["/v3/discovery:endpoints"]);
    state.endpoints = [{
      "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
      cluster_name: "backend",
      endpoints: [{
        lb_endpoints: [{
          endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: b.port } } },
        }],
      }],
    }];
    state.clusters = [{
      "@type": CLUSTER,
      name: "backend",
      type: "EDS",
      connect_timeout: "1s",
      eds_cluster_config: {
        eds_config: {
          api_config_source: {
            api_type: "REST",
            transport_api_version: "V3",
            cluster_names: ["xds"],
            refresh_delay: "0.05s",
          },
          resource_api_version: "V3",
        },
      },
    }];
    state.version = "2";
    await adminStatsWhen(p.adminPort, (s) => s["cluster_manager.warming_clusters"] === 1);
    // The old cluster serves while the new one warms.
    assertEquals((await curl([url])).out, "a");
    const dump = JSON.parse((await curl([`http://127.0.0.1:${p.adminPort}/config_dump`])).out);
    const clusters = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith("ClustersConfigDump")
    );
    assertEquals(clusters.dynamic_warming_clusters[0].cluster.type, "EDS");
    state.hold.clear();
    await adminStatsWhen(p.adminPort, (s) => s["cluster_manager.warming_clusters"] === 0);
    const deadline = Date.now() + 20_000;
    while ((await curl([url])).out !== "b") assert(Date.now() < deadline, "EDS hosts never used");
    // LDS drops the listener: it stops accepting.
    state.listeners = [];
    state.version = "3";
    const s = await adminStatsWhen(
      p.adminPort,
      (s) => s["listener_manager.listener_removed"] === 1,
    );
    assertEquals(s["listener_manager.total_listeners_active"], 0);
    assertEquals(s["cluster.backend.update_success"] >= 1, true);
    const refusedBy = Date.now() + 20_000;
    while ((await curl([url])).code === 0) assert(Date.now() < refusedBy, "still accepting");
    await b.close();
  } finally {
    state.hold?.clear();
    await p.stop();
    await cp.close();
    await a.close();
  }
});
