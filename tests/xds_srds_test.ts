/**
 * Scoped routes end to end (the HCM's `scoped_routes`) against the grpc-js control plane over
 * ADS: an inline scope list (one scope with an inline route configuration, one whose route
 * configuration comes from RDS) and scopes from SRDS; the scope key comes from request
 * headers (a whole header value, a `key=value` element); a request with no key or no scope
 * gets a 404; an SRDS update changes the keys. An `on_demand` scope: its route configuration
 * is fetched only when a request on a connection manager with the `on_demand` filter needs
 * it, and that request waits for it; without the filter, a 404 until then.
 */
import { assertEquals, assertMatch } from "../src/testing/assert.ts";
import { Proxy, rawExchange } from "./proxy.ts";
import { adsBootstrap, CLUSTER, ControlPlane, LISTENER, P, ROUTE } from "./xds_control_plane.ts";

const SCOPE = P + "envoy.config.route.v3.ScopedRouteConfiguration";
const ADS_SOURCE = "{ ads: {}, resource_api_version: V3 }";

/** A route configuration whose every request gets `body`. */
function answer(name: string, body: string) {
  return {
    name,
    virtual_hosts: [{
      name: "all",
      domains: ["*"],
      routes: [{
        match: { prefix: "/" },
        direct_response: { status: 200, body: { inline_string: body } },
      }],
    }],
  };
}

function listenerYaml(name: string, scopedRoutes: string, onDemand = false): string {
  return `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
          scoped_routes:
${scopedRoutes.replace(/^/gm, "            ")}
          http_filters:${
    onDemand
      ? `
          - name: envoy.filters.http.on_demand
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.on_demand.v3.OnDemand }`
      : ""
  }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }`;
}

const inline = listenerYaml(
  "inline",
  `name: inline_scopes
scope_key_builder: { fragments: [{ header_value_extractor: { name: x-scope } }] }
rds_config_source: ${ADS_SOURCE}
scoped_route_configurations_list:
  scoped_route_configurations:
  - name: a
    key: { fragments: [{ string_key: a }] }
    route_configuration: ${JSON.stringify(answer("rc_a", "A"))}
  - name: b
    key: { fragments: [{ string_key: b }] }
    route_configuration_name: rc_b`,
);

const tenants = (name: string, onDemand = false) =>
  listenerYaml(
    name,
    `name: tenants
scope_key_builder:
  fragments:
  - header_value_extractor: { name: x-tenant, element_separator: ";", element: { key: t, separator: "=" } }
rds_config_source: ${ADS_SOURCE}
scoped_rds: { scoped_rds_config_source: ${ADS_SOURCE} }`,
    onDemand,
  );
const srds = tenants("srds");
const onDemand = tenants("ondemand", true);

function request(port: number, headers: Record<string, string>): Promise<string> {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return rawExchange(port, `GET / HTTP/1.1\r\nhost: x\r\n${extra}connection: close\r\n\r\n`);
}

const tenant = (key: string) => ({
  "@type": SCOPE,
  name: "tenant_one",
  route_configuration_name: "rc_one",
  key: { fragments: [{ string_key: key }] },
});

const LAZY = {
  "@type": SCOPE,
  name: "tenant_lazy",
  route_configuration_name: "rc_lazy",
  key: { fragments: [{ string_key: "lazy" }] },
  on_demand: true,
};

Deno.test("scoped routes: inline scopes and SRDS, scope keys from headers, 404 without a scope, on-demand scopes", async () => {
  const cp = new ControlPlane(
    new Map<string, unknown[]>([
      [CLUSTER, []],
      [LISTENER, []],
      [ROUTE, [
        { "@type": ROUTE, ...answer("rc_b", "B") },
        { "@type": ROUTE, ...answer("rc_one", "one") },
        { "@type": ROUTE, ...answer("rc_lazy", "lazy") },
      ]],
      [SCOPE, [tenant("one"), LAZY]],
    ]),
  );
  await cp.start();
  const p = await Proxy.start(
    `${adsBootstrap(cp.port)}  listeners:${inline}${srds}${onDemand}\n`,
  );
  try {
    const ip = p.port("inline");
    assertMatch(await request(ip, { "x-scope": "a" }), /^HTTP\/1\.1 200[^]*\r\n\r\nA$/);
    assertMatch(await request(ip, { "x-scope": "b" }), /^HTTP\/1\.1 200[^]*\r\n\r\nB$/);
    assertMatch(await request(ip, { "x-scope": "c" }), /^HTTP\/1\.1 404/);
    assertMatch(await request(ip, {}), /^HTTP\/1\.1 404/);

    const sp = p.port("srds");
    assertMatch(await request(sp, { "x-tenant": "u=1;t=one" }), /^HTTP\/1\.1 200[^]*one$/);
    assertMatch(await request(sp, { "x-tenant": "t=two" }), /^HTTP\/1\.1 404/);

    // The on-demand scope: not fetched at start; without the on_demand filter, a 404.
    const asked = () =>
      cp.requests.some((r) => r.typeUrl === ROUTE && r.resourceNames.includes("rc_lazy"));
    assertEquals(asked(), false);
    assertMatch(await request(sp, { "x-tenant": "t=lazy" }), /^HTTP\/1\.1 404/);
    assertEquals(asked(), false);
    // With the filter, the request waits while its route configuration is fetched.
    const od = p.port("ondemand");
    assertMatch(await request(od, { "x-tenant": "t=lazy" }), /^HTTP\/1\.1 200[^]*lazy$/);
    assertEquals(asked(), true);
    // Loaded now: every connection manager of the scope set routes with it.
    assertMatch(await request(sp, { "x-tenant": "t=lazy" }), /^HTTP\/1\.1 200[^]*lazy$/);
    // SRDS changes the scope's key: the old key has no scope any more.
    cp.push(SCOPE, [tenant("uno"), LAZY]);
    await cp.waitRequest((r) => r.typeUrl === SCOPE && r.versionInfo === "2");
    for (;;) {
      if (/^HTTP\/1\.1 200/.test(await request(sp, { "x-tenant": "t=uno" }))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assertMatch(await request(sp, { "x-tenant": "t=one" }), /^HTTP\/1\.1 404/);
    const dump = await (await fetch(`http://127.0.0.1:${p.adminPort}/config_dump`)).json();
    const scoped = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith("ScopedRoutesConfigDump")
    );
    assertEquals(scoped.dynamic_scoped_route_configs[0].name, "tenants");
    assertEquals(scoped.dynamic_scoped_route_configs[0].version_info, "2");
    assertEquals(
      scoped.dynamic_scoped_route_configs[0].scoped_route_configs[0].key.fragments[0].string_key,
      "uno",
    );
  } finally {
    await p.stop();
    cp.stop();
  }
});
