import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import { loadBootstrap } from "./bootstrap.ts";
import { formatIssue } from "./errors.ts";

// What serving refuses when it builds listeners, filters and sinks, --mode validate reports too.

const reg = builtinExtensions();

function load(yaml: string): string[] {
  return loadBootstrap({ configYaml: yaml }, reg).issues.map((i) =>
    formatIssue(i).replace("--config-yaml:", "")
  );
}

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3." +
  "HttpConnectionManager";
const STDOUT = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
const TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** One listener whose chain is `chain` (YAML list items at 6 spaces), one cluster `c`. */
function config(chain: string, extra = "", listener = ""): string {
  return `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
${listener}    filter_chains:
${chain}  clusters:
  - name: c
    load_assignment:
      cluster_name: c
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }]
${extra}`;
}

function hcm(extra = ""): string {
  return `    - filters:
      - name: hcm
        typed_config:
          "@type": ${HCM}
          stat_prefix: x
${extra}          route_config: { virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: c } }] }] }
          http_filters: [{ name: envoy.filters.http.router }]
`;
}

const AT = "static_resources.listeners[0].filter_chains[0]";

Deno.test("validate: codec_type HTTP3 is refused; HTTP2 and downstream max_requests_per_connection are not", () => {
  assertEquals(load(config(hcm("          codec_type: HTTP2\n"))), []);
  assertEquals(load(config(hcm("          codec_type: HTTP3\n"))), [
    `11:23: ${AT}.filters[0].typed_config.codec_type: unsupported: ` +
    `envoy.filters.network.http_connection_manager: codec_type HTTP3 is not supported yet (${HCM})`,
  ]);
  const r = load(
    config(hcm("          common_http_protocol_options: { max_requests_per_connection: 5 }\n")),
  );
  assertEquals(r, []);
});

Deno.test("validate: an extension of another category is refused where it cannot work", () => {
  const router = `    - filters:
      - name: envoy.filters.http.router
`;
  const issues = load(config(router));
  assertEquals(
    issues[0],
    `7:15: ${AT}.filters[0]: extension 'envoy.filters.http.router' (category ` +
      "envoy.filters.http) cannot be used here: this field takes envoy.filters.network",
  );
  const sink = `stats_sinks: [{ name: s, typed_config: { "@type": ${STDOUT} } }]\n`;
  assertEquals(load(config(hcm(), sink)), [
    "18:51: stats_sinks[0].typed_config: extension 'envoy.access_loggers.stdout' (category " +
    "envoy.access_loggers) cannot be used here: this field takes envoy.stats_sinks",
  ]);
});

Deno.test("validate: chains with several network filters, bad CIDR ranges", () => {
  const two = `    - filters:
      - { name: t, typed_config: { "@type": ${TCP}, stat_prefix: t, cluster: c } }
      - { name: t2, typed_config: { "@type": ${TCP}, stat_prefix: t, cluster: c } }
`;
  assertEquals(load(config(two)), [
    `7:9: ${AT}.filters[0]: terminal filter 't' (envoy.filters.network.tcp_proxy) must be the ` +
    "last filter in a network filter chain",
  ]);
  const cidr =
    `    - filter_chain_match: { prefix_ranges: [{ address_prefix: nope, prefix_len: 8 }] }
      filters: [{ name: t, typed_config: { "@type": ${TCP}, stat_prefix: t, cluster: c } }]
`;
  assertEquals(load(config(cidr)), [
    `6:27: ${AT}.filter_chain_match: malformed IP address: nope`,
  ]);
});

Deno.test("validate: access logs need a typed config wherever they are", () => {
  const log = (indent: string) =>
    `${indent}access_log:\n${indent}- name: envoy.access_loggers.stdout\n`;
  const tcp = `    - filters:
      - name: t
        typed_config:
          "@type": ${TCP}
          stat_prefix: t
          cluster: c
${log("          ")}`;
  const admin = `admin:\n  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n${
    log("  ")
  }`;
  const issues = [
    ...load(config(hcm(log("          ")))),
    ...load(config(tcp)),
    ...load(config(hcm(), admin, log("    "))),
  ];
  assertEquals(issues.map((i) => i.slice(i.indexOf(" ") + 1)), [
    `${AT}.filters[0].typed_config.access_log[0]: access log 'envoy.access_loggers.stdout' has no typed_config`,
    `${AT}.filters[0].typed_config.access_log[0]: access log 'envoy.access_loggers.stdout' has no typed_config`,
    "static_resources.listeners[0].access_log[0]: access log 'envoy.access_loggers.stdout' has no typed_config",
    "admin.access_log[0]: access log 'envoy.access_loggers.stdout' has no typed_config",
  ]);
});

Deno.test("validate: a check does not repeat a schema error found inside what it checks", () => {
  const log = `    access_log:
    - name: out
      filter: { and_filter: { filters: [{ not_health_check_filter: {} }] } }
      typed_config: { "@type": ${STDOUT} }
`;
  assertEquals(load(config(hcm(), "", log)), [
    "7:40: static_resources.listeners[0].access_log[0].filter.and_filter.filters: " +
    "must have at least 2 entries (has 1)",
  ]);
});

Deno.test("validate: HTTP options that only the connection manager implements are refused on clusters", () => {
  const cluster = `static_resources:
  clusters:
  - name: c
    common_http_protocol_options: { idle_timeout: 5s, max_headers_count: 50, max_connection_duration: 5s }
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        common_http_protocol_options: { max_requests_per_connection: 5, max_connection_duration: 5s }
        explicit_http_config: { http_protocol_options: { enable_trailers: true, accept_http_10: true } }
`;
  const opts = 'static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.' +
    'upstreams.http.v3.HttpProtocolOptions"]';
  assertEquals(load(cluster), [
    "4:78: static_resources.clusters[0].common_http_protocol_options: " +
    "field 'max_connection_duration' is not supported yet for upstream connections",
    `8:73: ${opts}.common_http_protocol_options: ` +
    "field 'max_connection_duration' is not supported yet for upstream connections",
    `9:81: ${opts}.explicit_http_config.http_protocol_options: ` +
    "field 'accept_http_10' is not supported yet for upstream connections",
  ]);
});

Deno.test("validate: a listener that does not bind to its port is refused (workers bind every one)", () => {
  assertEquals(load(config(hcm(), "", "    bind_to_port: false\n")), [
    "5:19: static_resources.listeners[0].bind_to_port: unsupported: listeners that do not bind " +
    "to their port",
  ]);
  assertEquals(load(config(hcm(), "", "    bind_to_port: true\n")), []);
});

Deno.test("validate: watchdog kills apply to workers; for the main thread they are refused", () => {
  const dogs = `watchdogs:
  worker_watchdog: { kill_timeout: 5s, multikill_timeout: 9s, multikill_threshold: { value: 50 } }
  main_thread_watchdog: { miss_timeout: 1s, kill_timeout: 5s }
`;
  assertEquals(load(dogs), [
    "3:45: watchdogs.main_thread_watchdog: field 'kill_timeout' is not supported yet for the " +
    "main thread (set it in watchdogs.worker_watchdog)",
  ]);
  assertEquals(load("watchdog: { multikill_timeout: 5s }\n").length, 1);
  assertEquals(load("watchdog: { actions: [{ event: KILL }] }\n").length, 1);
});

Deno.test("a REST config source must poll a static, non-EDS cluster", () => {
  const yaml = (cluster: string) =>
    `dynamic_resources:
  cds_config:
    api_config_source: { api_type: REST, cluster_names: [${cluster}], refresh_delay: 1s }
static_resources:
  clusters:
  - name: xds
    load_assignment: { cluster_name: xds, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }] }
`;
  assertEquals(load(yaml("xds")), []);
  const missing = load(yaml("nope"));
  assertEquals(missing.length, 1);
  assertEquals(
    missing[0].includes("must have a statically defined non-EDS cluster: 'nope'"),
    true,
  );
});

Deno.test("gRPC and ADS config sources: ads_config, a static HTTP/2 cluster", () => {
  const xds = (h2: boolean) =>
    `  - name: xds
    load_assignment: { cluster_name: xds, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }] }
` + (h2
      ? `    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
`
      : "");
  const ads = (cluster: string, h2 = true) =>
    `dynamic_resources:
  ads_config: { api_type: GRPC, grpc_services: [{ envoy_grpc: { cluster_name: ${cluster} } }] }
  cds_config: { ads: {} }
  lds_config:
    api_config_source:
      api_type: DELTA_GRPC
      grpc_services: [{ envoy_grpc: { cluster_name: ${cluster} } }]
static_resources:
  clusters:
${xds(h2)}`;
  assertEquals(load(ads("xds")), []);
  const missing = load(ads("nope"));
  assertEquals(missing.length, 2);
  assert(missing.every((m) => m.includes("statically defined non-EDS cluster: 'nope'")));
  const h1 = load(ads("xds", false));
  assertEquals(h1.length, 2);
  assert(h1.every((m) => m.includes("must use HTTP/2")));
  const noAds = load(`dynamic_resources:
  cds_config: { ads: {} }
`);
  assertEquals(noAds.length, 1);
  assertMatch(noAds[0], /ads: ADS must be configured to support an ADS config source/);
  // SDS secrets and RTDS layers over ADS need ads_config too.
  const noAdsSds = load(`layered_runtime:
  layers: [{ name: r, rtds_layer: { name: r, rtds_config: { ads: {} } } }]
static_resources:
  clusters:
  - name: c
    connect_timeout: 1s
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context:
          validation_context_sds_secret_config: { name: ca, sds_config: { ads: {} } }
`);
  assertEquals(noAdsSds.length, 2);
  assertMatch(noAdsSds[0], /rtds_config\.ads: ADS must be configured .*\(RTDS\)/);
  assertMatch(noAdsSds[1], /clusters\[0\]: ADS must be configured .*\(secret 'ca'\)/);
  const google = load(`dynamic_resources:
  ads_config:
    api_type: GRPC
    grpc_services: [{ google_grpc: { target_uri: "no-port", stat_prefix: x } }]
  cds_config: { ads: {} }
`);
  assertEquals(google.length, 1);
  assertMatch(google[0], /google_grpc target_uri 'no-port' must be host:port/);
});

Deno.test("xdstp: collection locators, authority config sources and xdstp names, refused as Envoy refuses them", () => {
  const cluster = `static_resources:
  clusters:
  - name: xds
    load_assignment: { cluster_name: xds, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }] }
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
`;
  const grpc = "grpc_services: [{ envoy_grpc: { cluster_name: xds } }]";
  const dynamic = (lds: string, cds: string) =>
    `dynamic_resources:
  ads_config: { api_type: DELTA_GRPC, ${grpc} }
  lds_config: ${lds}
  lds_resources_locator: xdstp://cp/envoy.config.listener.v3.Listener/edge/*
  cds_config: { ads: {} }
  cds_resources_locator: ${cds}
${cluster}`;
  const L = "xdstp://cp/envoy.config.cluster.v3.Cluster/*";
  assertEquals(load(dynamic("{ ads: {} }", L)), []);
  assertEquals(load(dynamic(`{ api_config_source: { api_type: DELTA_GRPC, ${grpc} } }`, L)), []);
  assertEquals(load(dynamic(`{ api_config_source: { api_type: AGGREGATED_DELTA_GRPC } }`, L)), []);
  const wrongType = load(dynamic("{ ads: {} }", "xdstp://cp/envoy.config.listener.v3.Listener/*"));
  assertEquals(wrongType.length, 1);
  assertMatch(
    wrongType[0],
    /dynamic_resources\.cds_resources_locator: xdstp:\/\/ type does not match envoy\.config\.cluster\.v3\.Cluster in /,
  );
  const sotw = load(dynamic(`{ api_config_source: { api_type: GRPC, ${grpc} } }`, L));
  assertEquals(sotw.length, 1);
  assertMatch(
    sotw[0],
    /lds_config\.api_config_source\.api_type: Unknown xdstp:\/\/ transport API type/,
  );
  assertMatch(
    load(dynamic("{ path: /x }", L))[0],
    /lds_config: Missing or not supported config source/,
  );
  assertMatch(
    load(dynamic("{ ads: {} }", `"${L}#entry=x"`))[0],
    /cds_resources_locator.*not supported/,
  );
  assertMatch(load(dynamic("{ ads: {} }", "file:///x"))[0], /cds_resources_locator.*not supported/);

  // config_sources: ADS streams for their authorities; default_config_source needs none.
  const sources = (extra: string) =>
    `config_sources:
- authorities: [{ name: a.test }, { name: b.test }]
  api_config_source: { api_type: AGGREGATED_GRPC, ${grpc} }
default_config_source:
  api_config_source: { api_type: AGGREGATED_DELTA_GRPC, ${grpc} }
${extra}${cluster}`;
  assertEquals(load(sources("")), []);
  const bad = load(`config_sources:
- api_config_source: { api_type: GRPC, ${grpc} }
- authorities: [{ name: a }, { name: a }]
  api_config_source: { api_type: AGGREGATED_GRPC, ${grpc} }
- authorities: [{ name: c }]
  api_config_source: { api_type: AGGREGATED_GRPC, grpc_services: [{ envoy_grpc: { cluster_name: nope } }] }
default_config_source: { ads: {} }
${cluster}`);
  assertEquals(bad.length, 5);
  assertMatch(
    bad[0],
    /config_sources\[0\]\.authorities: xdstp-based non-default config source must have at least one authority/,
  );
  assertMatch(
    bad[1],
    /config_sources\[0\]\.api_config_source\.api_type: xdstp-based config source authority only supports AGGREGATED_GRPC/,
  );
  assertMatch(bad[2], /config_sources\[1\]\.authorities\[1\]\.name: .*configured more than once/);
  assertMatch(
    bad[3],
    /config_sources\[2\]\.api_config_source\.grpc_services\[0\]\.envoy_grpc\.cluster_name: .*'nope'/,
  );
  assertMatch(bad[4], /default_config_source: Only api_config_source type/);
  // authorities elsewhere are not used by Envoy's singleton subscriptions: refused.
  const elsewhere = load(`dynamic_resources:
  ads_config: { api_type: GRPC, ${grpc} }
  cds_config: { ads: {}, authorities: [{ name: a }] }
${cluster}`);
  assertEquals(elsewhere.length, 1);
  assertMatch(
    elsewhere[0],
    /cds_config\.authorities: unsupported: .*authorities are only used in the bootstrap/,
  );
  // An xdstp:// EDS service name or RDS route configuration name must decode.
  const eds = load(`dynamic_resources:
  ads_config: { api_type: GRPC, ${grpc} }
${cluster}  - name: e
    type: EDS
    eds_cluster_config: { eds_config: { ads: {} }, service_name: "xdstp://cp" }
`);
  assertEquals(eds.length, 1);
  assertMatch(eds[0], /eds_cluster_config\.service_name: Resource type missing/);
});
