/**
 * `xdstp://` names end to end against the grpc-js control plane: listeners and clusters come
 * from glob collections (`lds_resources_locator`, `cds_resources_locator`) over delta ADS, and
 * only the members of the collections are applied; the cluster's EDS `service_name` is an
 * xdstp name of an authority the bootstrap's `config_sources` serve (state of the world, on
 * that source's own ADS stream, under Envoy's singleton guard), subscribed in normal form
 * (sorted context parameters); the listener's RDS name is an xdstp name of an authority no
 * config source serves, fetched from its own config source (ADS); a listener's scoped routes
 * are the glob collection of its `srds_resources_locator`.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { Proxy, rawExchange, staticCluster, upstream } from "./proxy.ts";
import {
  CLUSTER,
  cluster,
  ControlPlane,
  ENDPOINT,
  endpoints,
  get,
  H2,
  LISTENER,
  listener,
  P,
  ROUTE,
  route,
} from "./xds_control_plane.ts";

const CP = "xdstp://cp.test";
const LISTENERS = `${CP}/envoy.config.listener.v3.Listener/edge/*`;
const CLUSTERS = `${CP}/envoy.config.cluster.v3.Cluster/*`;
const BACKEND = `${CP}/envoy.config.cluster.v3.Cluster/backend`;
const ROUTE_NAME = `${CP}/envoy.config.route.v3.RouteConfiguration/r1`;
const EDS_NAME = "xdstp://eds.test/envoy.config.endpoint.v3.ClusterLoadAssignment/backend?b=2&a=1";
const EDGE = `${CP}/envoy.config.listener.v3.Listener/edge/l1`;

function bootstrap(port: number): string {
  const grpc = "grpc_services: [{ envoy_grpc: { cluster_name: xds } }]";
  return `node: { id: grpc-node, cluster: test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
layered_runtime:
  layers:
  - name: static
    static_layer: { envoy.reloadable_features.xdstp_based_config_singleton_subscriptions: true }
config_sources:
- authorities: [{ name: eds.test }]
  api_config_source: { api_type: AGGREGATED_GRPC, transport_api_version: V3, ${grpc} }
dynamic_resources:
  ads_config: { api_type: DELTA_GRPC, transport_api_version: V3, ${grpc} }
  cds_config: { ads: {}, resource_api_version: V3 }
  cds_resources_locator: ${CLUSTERS}
  lds_config: { ads: {}, resource_api_version: V3 }
  lds_resources_locator: ${LISTENERS}
static_resources:
  clusters:
${staticCluster("xds", port, H2).replace(/^/gm, "  ")}
`;
}

const SCOPE = P + "envoy.config.route.v3.ScopedRouteConfiguration";
const SCOPES = `${CP}/envoy.config.route.v3.ScopedRouteConfiguration/*`;
const SCOPED = `${CP}/envoy.config.listener.v3.Listener/edge/scoped`;

/** Listener `SCOPED`: scoped routes keyed by `x-scope`, the scopes the collection `SCOPES`. */
function scopedListener() {
  const filter = listener.filter_chains[0].filters[0];
  const { rds: _, ...hcm } = filter.typed_config;
  const typed_config = {
    ...hcm,
    stat_prefix: "scoped",
    scoped_routes: {
      name: "scopes",
      scope_key_builder: { fragments: [{ header_value_extractor: { name: "x-scope" } }] },
      rds_config_source: { ads: {} },
      scoped_rds: { scoped_rds_config_source: { ads: {} }, srds_resources_locator: SCOPES },
    },
  };
  return { ...listener, name: SCOPED, filter_chains: [{ filters: [{ ...filter, typed_config }] }] };
}

/** Scope `name` for key `key`, answering `body`. */
function scope(name: string, key: string, body: string) {
  return {
    "@type": SCOPE,
    name,
    key: { fragments: [{ string_key: key }] },
    route_configuration: {
      name: `rc_${key}`,
      virtual_hosts: [{
        name: "all",
        domains: ["*"],
        routes: [{
          match: { prefix: "/" },
          direct_response: { status: 200, body: { inline_string: body } },
        }],
      }],
    },
  };
}

/** `listener` renamed `name` on a port of its own, its routes from RDS `ROUTE_NAME`. */
function edgeListener(name: string) {
  const json = JSON.stringify(listener).replace('"local_route"', JSON.stringify(ROUTE_NAME));
  return { ...JSON.parse(json), name };
}

Deno.test("xdstp: LDS, CDS and SRDS glob collections over delta ADS; EDS by authority, RDS by xdstp name", async () => {
  const a = upstream(() => new Response("a"));
  const cp = new ControlPlane(
    new Map<string, unknown[]>([
      [CLUSTER, [
        cluster({
          name: BACKEND,
          eds_cluster_config: { eds_config: { ads: {} }, service_name: EDS_NAME },
        }),
        // Not members of the collections subscribed: ignored.
        cluster({ name: `xdstp://other.test/envoy.config.cluster.v3.Cluster/skip` }),
      ]],
      [ENDPOINT, [{ ...endpoints(a.port), cluster_name: EDS_NAME }]],
      [LISTENER, [
        edgeListener(EDGE),
        edgeListener(`${CP}/envoy.config.listener.v3.Listener/x/l2`),
        scopedListener(),
      ]],
      [SCOPE, [
        scope(`${CP}/envoy.config.route.v3.ScopedRouteConfiguration/s1`, "k", "S"),
        scope("xdstp://other/envoy.config.route.v3.ScopedRouteConfiguration/s2", "k2", "X"),
      ]],
      [ROUTE, [{
        ...route,
        name: ROUTE_NAME,
        virtual_hosts: [{
          name: "all",
          domains: ["*"],
          routes: [{ match: { prefix: "/" }, route: { cluster: BACKEND } }],
        }],
      }]],
    ]),
  );
  await cp.start();
  const p = await Proxy.start(bootstrap(cp.port));
  try {
    const port = await p.addedPort(EDGE);
    assertEquals(await get(`http://127.0.0.1:${port}/`), "a");
    // The collections are subscribed by their locators.
    const lds = await cp.waitDelta((r) => r.typeUrl === LISTENER);
    assertEquals(lds.resourceNamesSubscribe, [LISTENERS]);
    const cds = await cp.waitDelta((r) => r.typeUrl === CLUSTER);
    assertEquals(cds.resourceNamesSubscribe, [CLUSTERS]);
    // The route configuration over the ADS stream; the endpoints over eds.test's own (SotW)
    // stream, by the name in normal form.
    const rds = await cp.waitDelta((r) => r.typeUrl === ROUTE);
    assertEquals(rds.resourceNamesSubscribe, [ROUTE_NAME]);
    const eds = await cp.waitRequest((r) => r.typeUrl === ENDPOINT);
    assertEquals(eds.resourceNames, [EDS_NAME.replace("?b=2&a=1", "?a=1&b=2")]);
    assert(!cp.deltaRequests.some((r) => r.typeUrl === ENDPOINT));

    // Scoped routes: the scopes of the SRDS collection only.
    const scopedPort = await p.addedPort(SCOPED);
    const scoped = (key: string) =>
      rawExchange(
        scopedPort,
        `GET / HTTP/1.1\r\nhost: x\r\nx-scope: ${key}\r\nconnection: close\r\n\r\n`,
      );
    assertMatch(await scoped("k"), /^HTTP\/1\.1 200[^]*\r\n\r\nS$/);
    assertMatch(await scoped("k2"), /^HTTP\/1\.1 404/);
    const srds = await cp.waitDelta((r) => r.typeUrl === SCOPE);
    assertEquals(srds.resourceNamesSubscribe, [SCOPES]);

    const listeners = await get(`http://127.0.0.1:${p.adminPort}/listeners`);
    assert(listeners.includes("edge/l1") && !listeners.includes("x/l2"), listeners);
    // A member removed from the collection goes.
    cp.push(LISTENER, cp.resources.get(LISTENER)!.slice(0, 2), [SCOPED]);
    for (let i = 0;; i++) {
      if (!(await get(`http://127.0.0.1:${p.adminPort}/listeners`)).includes("edge/scoped")) break;
      assert(i < 500, "the removed listener stays");
      await new Promise((r) => setTimeout(r, 20));
    }
    const clusters = await get(`http://127.0.0.1:${p.adminPort}/clusters`);
    assert(clusters.includes("/backend") && !clusters.includes("skip"), "cluster skip applied");
  } finally {
    await p.stop();
    cp.stop();
    await a.close();
  }
});
