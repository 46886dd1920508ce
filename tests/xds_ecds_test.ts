/**
 * ECDS end to end against the grpc-js test control plane: an HTTP filter whose config comes
 * over ADS (`config_discovery`); an update applies to the next request; a config of a type the
 * filter does not take is NACKed and the previous one stays; a default config serves without
 * warming; a filter whose config never comes answers 500 (NFCF) once its initial fetch ends.
 * A listener filter (proxy_protocol) and a network filter (tcp_proxy) from ECDS: they serve
 * once their config comes, an update applies to the next connection, and without a config
 * connections are closed. `extension_config_discovery.<kind>.<name>.*` stats and the
 * `EcdsConfigDump` section.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, Proxy, staticCluster, upstream } from "./proxy.ts";
import { ControlPlane } from "./xds_control_plane.ts";

const P = "type.googleapis.com/";
const ECDS = P + "envoy.config.core.v3.TypedExtensionConfig";
const ROUTER = P + "envoy.extensions.filters.http.router.v3.Router";
const PROXY_PROTOCOL = P + "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol";
const TCP_PROXY = P + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

const H2 = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: {} }`;

/** A listener whose listener filter (`listenerFilter`) or network filter comes from ECDS. */
function l4Listener(name: string, ecds: { listenerFilter?: string; networkFilter?: string }) {
  const discovery = (type: string) =>
    `config_discovery: { config_source: { ads: {}, resource_api_version: V3, ` +
    `initial_fetch_timeout: 1s }, type_urls: [${type}] }`;
  const listenerFilters = ecds.listenerFilter
    ? `    listener_filters:
    - name: ${ecds.listenerFilter}
      ${discovery(PROXY_PROTOCOL)}
`
    : "";
  const filter = ecds.networkFilter
    ? `      - name: ${ecds.networkFilter}
        ${discovery(TCP_PROXY)}`
    : `      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY}, stat_prefix: ${name}, cluster: backend }`;
  return `  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${listenerFilters}    filter_chains:
    - filters:
${filter}`;
}

function listener(name: string, filter: string, discovery: string): string {
  return `  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: backend }
          http_filters:
          - name: ${filter}
            config_discovery:
${discovery.replace(/^/gm, "              ")}
`;
}

function bootstrap(xdsPort: number, backendPort: number): string {
  return `node: { id: ecds-node, cluster: test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: xds } }]
static_resources:
  listeners:
${
    listener(
      "dynamic",
      "router_ecds",
      `config_source: { ads: {}, resource_api_version: V3 }
type_urls: [${ROUTER}]`,
    )
  }
${
    listener(
      "defaulted",
      "never_sent",
      `config_source: { ads: {}, resource_api_version: V3 }
default_config:
  "@type": ${ROUTER}
  suppress_envoy_headers: true
apply_default_config_without_warming: true
type_urls: [${ROUTER}]`,
    )
  }
${
    listener(
      "missing",
      "absent",
      `config_source: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 0.2s }
type_urls: [${ROUTER}]`,
    )
  }
${l4Listener("lf", { listenerFilter: "pp_ecds" })}
${l4Listener("lf_missing", { listenerFilter: "pp_absent" })}
${l4Listener("nf", { networkFilter: "tcp_ecds" })}
${l4Listener("nf_missing", { networkFilter: "tcp_absent" })}
  clusters:
${staticCluster("xds", xdsPort, H2).replace(/^/gm, "  ")}
${staticCluster("backend", backendPort).replace(/^/gm, "  ")}
`;
}

function proxyProtocolConfig(allowWithout: boolean) {
  return {
    "@type": ECDS,
    name: "pp_ecds",
    typed_config: { "@type": PROXY_PROTOCOL, allow_requests_without_proxy_protocol: allowWithout },
  };
}

const TCP_CONFIG = {
  "@type": ECDS,
  name: "tcp_ecds",
  typed_config: { "@type": TCP_PROXY, stat_prefix: "nf", cluster: "backend" },
};

function routerConfig(suppress: boolean) {
  return {
    "@type": ECDS,
    name: "router_ecds",
    typed_config: { "@type": ROUTER, suppress_envoy_headers: suppress },
  };
}

Deno.test("ECDS over ADS: a filter config update applies to the next request; a wrong type is NACKed; default config without warming; a config that never comes answers 500; listener and network filters from ECDS", async () => {
  const up = upstream(() => new Response("ok"));
  const cp = new ControlPlane(
    new Map<string, unknown[]>([[ECDS, [
      routerConfig(false),
      proxyProtocolConfig(false),
      TCP_CONFIG,
    ]]]),
  );
  await cp.start();
  const p = await Proxy.start(bootstrap(cp.port, up.port));
  try {
    const url = `http://127.0.0.1:${p.port("dynamic")}/`;
    const headers = async (u: string) => (await curl(["-s", "-D", "-", "-o", "/dev/null", u])).out;
    assertMatch(await headers(url), /x-envoy-upstream-service-time/);
    const req = await cp.waitRequest((r) => r.typeUrl === ECDS && r.resourceNames.length > 0);
    assert(req.resourceNames.includes("router_ecds"));

    // The update reaches the worker by message: the next requests use it.
    cp.push(ECDS, [routerConfig(true)]);
    for (;;) {
      if (!/x-envoy-upstream-service-time/.test(await headers(url))) break;
      await new Promise((r) => setTimeout(r, 20));
    }

    // A config of another type: NACKed, the suppressing router stays.
    cp.push(ECDS, [{
      "@type": ECDS,
      name: "router_ecds",
      typed_config: { "@type": P + "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb" },
    }]);
    const nack = await cp.waitRequest((r) => r.typeUrl === ECDS && !!r.errorDetail);
    assertMatch(
      nack.errorDetail?.message ?? "",
      /filter config has type URL envoy\.extensions\.filters\.http\.grpc_web\.v3\.GrpcWeb but expect envoy\.extensions\.filters\.http\.router\.v3\.Router/,
    );
    const s = await adminStatsWhen(
      p.adminPort,
      (s) => s["extension_config_discovery.http_filter.router_ecds.config_fail"] >= 1,
    );
    assertEquals(s["extension_config_discovery.http_filter.router_ecds.config_reload"], 2);
    assert(s["extension_config_discovery.http_filter.router_ecds.update_rejected"] >= 1);
    assert(!/x-envoy-upstream-service-time/.test(await headers(url)));

    // The default config serves while nothing came.
    const dflt = await headers(`http://127.0.0.1:${p.port("defaulted")}/`);
    assertMatch(dflt, /^HTTP\/1\.1 200/);
    assert(!/x-envoy-upstream-service-time/.test(dflt));
    // No config and no default: Envoy's missing config filter.
    const missing = await curl([
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `http://127.0.0.1:${p.port("missing")}/`,
    ]);
    assertEquals(missing.out, "500");
    assertEquals(s["extension_config_discovery.http_filter.absent.init_fetch_timeout"], 1);

    const dump = await (await fetch(`http://127.0.0.1:${p.adminPort}/config_dump`)).json();
    const ecds = dump.configs.find((c: { "@type": string }) =>
      c["@type"] === "type.googleapis.com/envoy.admin.v3.EcdsConfigDump"
    );
    assertEquals(ecds.ecds_filters.length, 3);
    assertEquals(ecds.ecds_filters[0].version_info, "2");
    assertEquals(ecds.ecds_filters[0].ecds_filter.name, "router_ecds");
    assertEquals(ecds.ecds_filters[0].ecds_filter.typed_config.suppress_envoy_headers, true);
    assertMatch(ecds.ecds_filters[0].error_state.details, /filter config has type URL/);
    assertEquals(
      ecds.ecds_filters.slice(1).map((f: { ecds_filter: { name: string } }) => f.ecds_filter.name),
      ["pp_ecds", "tcp_ecds"],
    );

    // A network filter from ECDS: tcp_proxy to the backend.
    const plain = (name: string) => curl(["-s", "-m", "5", `http://127.0.0.1:${p.port(name)}/`]);
    assertEquals((await plain("nf")).out, "ok");
    // A listener filter from ECDS: proxy_protocol, which refuses a connection without a header.
    const lf = `http://127.0.0.1:${p.port("lf")}/`;
    assertEquals((await curl(["-s", "-m", "5", "--haproxy-protocol", lf])).out, "ok");
    assert((await plain("lf")).code !== 0);
    // Without a config (the initial fetch timed out): connections are closed.
    assert((await plain("lf_missing")).code !== 0);
    assert((await plain("nf_missing")).code !== 0);
    // An update applies to the next connection.
    cp.push(ECDS, [proxyProtocolConfig(true)]);
    while ((await plain("lf")).out !== "ok") await new Promise((r) => setTimeout(r, 20));
    const l4 = await adminStatsWhen(
      p.adminPort,
      (s) => s["extension_config_discovery.tcp_listener_filter.pp_ecds.config_reload"] >= 2,
    );
    assertEquals(l4["extension_config_discovery.network_filter.tcp_ecds.config_reload"], 1);
    assertEquals(
      l4["extension_config_discovery.tcp_listener_filter.pp_absent.init_fetch_timeout"],
      1,
    );
    assertEquals(l4["extension_config_discovery.network_filter.tcp_absent.init_fetch_timeout"], 1);
  } finally {
    await p.stop();
    cp.stop();
    await up.close();
  }
});
