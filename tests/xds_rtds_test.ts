/**
 * RTDS end to end against the grpc-js test control plane: an `rtds_layer` over ADS above a
 * static layer; an update changes what a route's `runtime_fraction` reads on the next
 * request; `/runtime` shows the layer; a layer that is not valid is NACKed and the values
 * stay; `runtime.*` subscription stats.
 */
import { assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, Proxy, staticCluster } from "./proxy.ts";
import { ControlPlane } from "./xds_control_plane.ts";

const RUNTIME = "type.googleapis.com/envoy.service.runtime.v3.Runtime";

const H2 = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: {} }`;

function bootstrap(xdsPort: number): string {
  return `node: { id: rtds-node, cluster: test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
layered_runtime:
  layers:
  - name: base
    static_layer: { routing.to_a: 0, other: kept }
  - name: rtds
    rtds_layer:
      name: some_runtime
      rtds_config: { ads: {}, resource_api_version: V3 }
  - name: admin
    admin_layer: {}
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: xds } }]
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match:
                  prefix: "/"
                  runtime_fraction:
                    default_value: { numerator: 0 }
                    runtime_key: routing.to_a
                direct_response: { status: 200, body: { inline_string: "a" } }
              - match: { prefix: "/" }
                direct_response: { status: 200, body: { inline_string: "b" } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${staticCluster("xds", xdsPort, H2).replace(/^/gm, "  ")}
`;
}

Deno.test("RTDS over ADS: a runtime layer update changes a route's runtime_fraction on the next request; a bad layer is NACKed", async () => {
  const cp = new ControlPlane(
    new Map<string, unknown[]>([
      [RUNTIME, [{ "@type": RUNTIME, name: "some_runtime", layer: { "routing.to_a": 0 } }]],
    ]),
  );
  await cp.start();
  const p = await Proxy.start(bootstrap(cp.port));
  try {
    const url = `http://127.0.0.1:${p.port("http")}/`;
    assertEquals((await curl([url])).out, "b");
    const req = await cp.waitRequest((r) => r.typeUrl === RUNTIME);
    assertEquals(req.resourceNames, ["some_runtime"]);

    cp.push(RUNTIME, [{
      "@type": RUNTIME,
      name: "some_runtime",
      layer: { routing: { to_a: 100 } },
    }]);
    await adminStatsWhen(p.adminPort, (s) => s["runtime.update_success"] === 2);
    for (;;) {
      // The new snapshot reaches the worker by message, just after the main thread's.
      if ((await curl([url])).out === "a") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const runtime = await (await fetch(`http://127.0.0.1:${p.adminPort}/runtime`)).json();
    assertEquals(runtime.layers, ["base", "rtds", "admin"]);
    assertEquals(runtime.entries["routing.to_a"].layer_values, ["0", "100", ""]);
    assertEquals(runtime.entries["routing.to_a"].final_value, "100");

    // A list is not a runtime value: NACKed, the layer keeps 100.
    cp.push(RUNTIME, [{ "@type": RUNTIME, name: "some_runtime", layer: { "routing.to_a": [1] } }]);
    const nack = await cp.waitRequest((r) => r.typeUrl === RUNTIME && !!r.errorDetail);
    assertMatch(nack.errorDetail?.message ?? "", /Invalid runtime entry value for routing\.to_a/);
    const s = await adminStatsWhen(p.adminPort, (s) => s["runtime.update_rejected"] === 1);
    assertEquals(s["runtime.num_layers"], 3);
    assertEquals((await curl([url])).out, "a");
  } finally {
    await p.stop();
    cp.stop();
  }
});
