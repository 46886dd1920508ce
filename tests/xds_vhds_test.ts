/**
 * VHDS end to end against the grpc-js control plane over delta ADS: a route configuration
 * from RDS sets `vhds`; a request for a host it has no virtual host for waits in the
 * `on_demand` filter while the proxy subscribes to `<route config>/<host>`; the virtual host
 * the control plane sends joins the route configuration and the request routes with it; a
 * host the control plane has nothing for gets a 404.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, Proxy, rawExchange, upstream } from "./proxy.ts";
import {
  adsBootstrap,
  CLUSTER,
  cluster,
  ControlPlane,
  ENDPOINT,
  endpoints,
  LISTENER,
  P,
  ROUTE,
} from "./xds_control_plane.ts";

const VHOST = P + "envoy.config.route.v3.VirtualHost";

const vhdsListener = {
  "@type": LISTENER,
  name: "vhds_listener",
  address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
  filter_chains: [{
    filters: [{
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type": P +
          "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix: "ads",
        rds: {
          route_config_name: "local_route",
          config_source: { ads: {}, resource_api_version: "V3" },
        },
        http_filters: [
          {
            name: "envoy.filters.http.on_demand",
            typed_config: { "@type": P + "envoy.extensions.filters.http.on_demand.v3.OnDemand" },
          },
          {
            name: "envoy.filters.http.router",
            typed_config: { "@type": P + "envoy.extensions.filters.http.router.v3.Router" },
          },
        ],
      },
    }],
  }],
};

const vhdsRoute = {
  "@type": ROUTE,
  name: "local_route",
  vhds: { config_source: { ads: {}, resource_api_version: "V3" } },
};

const fooHost = {
  "@type": VHOST,
  name: "local_route/foo",
  domains: ["foo.example"],
  routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }],
};

function request(port: number, host: string): Promise<string> {
  return rawExchange(port, `GET / HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
}

Deno.test("VHDS: a virtual host on demand (on_demand filter, delta ADS); 404 when there is none", async () => {
  const a = upstream(() => new Response("a"));
  const cp = new ControlPlane(
    new Map<string, unknown[]>([
      [CLUSTER, [cluster()]],
      [ENDPOINT, [endpoints(a.port)]],
      [LISTENER, [vhdsListener]],
      [ROUTE, [vhdsRoute]],
      [VHOST, []],
    ]),
  );
  await cp.start();
  const p = await Proxy.start(adsBootstrap(cp.port, "DELTA_GRPC"));
  try {
    await p.proc.waitFor(/listener 'vhds_listener' added on [^:]+:\d+/);
    const port = Number(/listener 'vhds_listener' added on [^:]+:(\d+)/.exec(p.proc.stderr)![1]);
    const first = await cp.waitDelta((r) => r.typeUrl === VHOST);
    assertEquals(first.resourceNamesSubscribe, ["local_route"]);
    await cp.waitDelta((r) => r.typeUrl === VHOST && r.responseNonce !== "");

    // The control plane has foo's virtual host, sent when the proxy asks for it.
    cp.resources.set(VHOST, [fooHost]);
    const foo = await request(port, "foo.example");
    assertMatch(foo, /^HTTP\/1\.1 200/);
    assert(foo.endsWith("a"));
    const demand = await cp.waitDelta((r) =>
      r.typeUrl === VHOST && r.resourceNamesSubscribe.includes("local_route/foo.example")
    );
    assertEquals(demand.resourceNamesSubscribe, ["local_route/foo.example"]);
    // Now routed at once.
    assertMatch(await request(port, "foo.example"), /^HTTP\/1\.1 200/);

    // Nothing for bar: the answer has no virtual host for it, the request gets a 404.
    const bar = await request(port, "bar.example");
    assertMatch(bar, /^HTTP\/1\.1 404/);
    await cp.waitDelta((r) =>
      r.typeUrl === VHOST && r.resourceNamesSubscribe.includes("local_route/bar.example")
    );
    const stats = await adminStatsWhen(
      p.adminPort,
      (s) => s["http.ads.vhds.local_route.update_success"] >= 2,
    );
    assertEquals(stats["http.ads.vhds.local_route.update_rejected"], 0);
  } finally {
    await p.stop();
    cp.stop();
    await a.close();
  }
});
