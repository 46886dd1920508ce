import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { DEFAULT_THRESHOLDS } from "./resource_manager.ts";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { ClusterConfigError, parseCluster } from "./cluster_info.ts";

function cluster(json: JsonObject): ClusterConfig {
  return fromJson(messageSchema<ClusterConfig>("envoy.config.cluster.v3.Cluster"), json, {
    registry: apiRegistry(),
  });
}

function endpoint(address: string, port = 80, extra: JsonObject = {}): JsonObject {
  return { endpoint: { address: { socket_address: { address, port_value: port } } }, ...extra };
}

function problems(json: JsonObject): readonly string[] {
  try {
    parseCluster(cluster(json));
  } catch (e) {
    if (e instanceof ClusterConfigError) return e.problems;
    throw e;
  }
  return [];
}

Deno.test("parseCluster: Envoy's defaults", () => {
  const { info, endpoints } = parseCluster(cluster({ name: "c" }));
  assertEquals(info, {
    name: "c",
    statName: "c",
    type: "STATIC",
    connectTimeoutMs: 5000,
    perConnectionBufferLimitBytes: 1048576,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 3600000,
    maxStreamDurationMs: 0,
    dnsRefreshRateMs: 5000,
    dnsFailureRefreshRate: undefined,
    dnsLookupFamily: "AUTO",
    respectDnsTtl: false,
    waitForWarmOnInit: true,
    lbPolicy: "ROUND_ROBIN",
    lb: {
      healthyPanicThreshold: 50,
      localityWeighted: false,
      choiceCount: 2,
      activeRequestBias: 1,
    },
    hostSetPolicy: { overprovisioningFactor: 140, weightedPriorityHealth: false },
    circuitBreakers: [DEFAULT_THRESHOLDS, DEFAULT_THRESHOLDS],
  });
  assertEquals(endpoints, []);
});

Deno.test("parseCluster: settings from the config", () => {
  const { info } = parseCluster(cluster({
    name: "c",
    alt_stat_name: "c_stats",
    type: "STRICT_DNS",
    connect_timeout: "0.25s",
    per_connection_buffer_limit_bytes: 32768,
    lb_policy: "LEAST_REQUEST",
    least_request_lb_config: {
      choice_count: 3,
      active_request_bias: { default_value: 0.5, runtime_key: "k" },
    },
    common_lb_config: { healthy_panic_threshold: { value: 25.4 }, locality_weighted_lb_config: {} },
    dns_refresh_rate: "10s",
    dns_failure_refresh_rate: { base_interval: "1s" },
    dns_lookup_family: "V4_ONLY",
    respect_dns_ttl: true,
    wait_for_warm_on_init: false,
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        common_http_protocol_options: {
          idle_timeout: "30s",
          max_requests_per_connection: 100,
          max_stream_duration: "2.5s",
        },
        explicit_http_config: { http_protocol_options: {} },
      },
    },
    load_assignment: {
      cluster_name: "c",
      policy: { overprovisioning_factor: 100, weighted_priority_health: true },
    },
  }));
  assertEquals(info.statName, "c_stats");
  assertEquals(info.type, "STRICT_DNS");
  assertEquals(info.connectTimeoutMs, 250);
  assertEquals(info.perConnectionBufferLimitBytes, 32768);
  assertEquals(info.lbPolicy, "LEAST_REQUEST");
  assertEquals(info.lb, {
    healthyPanicThreshold: 25,
    localityWeighted: true,
    choiceCount: 3,
    activeRequestBias: 0.5,
    activeRequestBiasRuntimeKey: "k",
  });
  assertEquals(info.dnsRefreshRateMs, 10000);
  assertEquals(info.dnsFailureRefreshRate, { baseMs: 1000, maxMs: 10000 });
  assertEquals(info.dnsLookupFamily, "V4_ONLY");
  assertEquals(info.respectDnsTtl, true);
  assertEquals(info.waitForWarmOnInit, false);
  assertEquals(info.idleTimeoutMs, 30000);
  assertEquals(info.maxRequestsPerConnection, 100);
  assertEquals(info.maxStreamDurationMs, 2500);
  assertEquals(info.hostSetPolicy, { overprovisioningFactor: 100, weightedPriorityHealth: true });
});

Deno.test("parseCluster: deprecated max_requests_per_connection, but not both", () => {
  assertEquals(
    parseCluster(cluster({ name: "c", max_requests_per_connection: 5 })).info
      .maxRequestsPerConnection,
    5,
  );
  assertEquals(
    problems({
      name: "c",
      max_requests_per_connection: 5,
      typed_extension_protocol_options: {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
          "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
          common_http_protocol_options: { max_requests_per_connection: 100 },
          explicit_http_config: { http_protocol_options: {} },
        },
      },
    }),
    [
      "only one of max_requests_per_connection from Cluster or HttpProtocolOptions " +
      "can be specified",
    ],
  );
});

Deno.test("parseCluster: endpoints with priorities, localities, weights and health", () => {
  const { endpoints } = parseCluster(cluster({
    name: "c",
    load_assignment: {
      cluster_name: "c",
      endpoints: [{
        locality: { region: "eu", zone: "a" },
        load_balancing_weight: 3,
        lb_endpoints: [
          endpoint("10.0.0.1", 80, {
            load_balancing_weight: 5,
            metadata: { filter_metadata: { "envoy.lb": { canary: true } } },
          }),
          endpoint("10.0.0.2", 81, { health_status: "DRAINING" }),
          endpoint("::1", 82, { health_status: "DEGRADED" }),
        ],
      }, {
        priority: 1,
        lb_endpoints: [{
          endpoint: {
            hostname: "backup.example",
            address: { socket_address: { address: "10.0.1.1", port_value: 80 } },
          },
          health_status: "HEALTHY",
        }],
      }],
    },
  }));
  const locality = { region: "eu", zone: "a", subZone: "" };
  assertEquals(endpoints, [
    {
      address: "10.0.0.1",
      port: 80,
      weight: 5,
      hostname: "",
      healthy: true,
      metadata: { "envoy.lb": { canary: true } },
      priority: 0,
      locality,
      localityWeight: 3,
    },
    {
      address: "10.0.0.2",
      port: 81,
      weight: 1,
      hostname: "",
      healthy: false,
      priority: 0,
      locality,
      localityWeight: 3,
    },
    {
      address: "::1",
      port: 82,
      weight: 1,
      hostname: "",
      healthy: false,
      degraded: true,
      priority: 0,
      locality,
      localityWeight: 3,
    },
    {
      address: "10.0.1.1",
      port: 80,
      weight: 1,
      hostname: "backup.example",
      healthy: true,
      priority: 1,
      locality: { region: "", zone: "", subZone: "" },
    },
  ]);
});

Deno.test("parseCluster: DNS endpoints keep their name as hostname", () => {
  const { endpoints } = parseCluster(cluster({
    name: "c",
    type: "LOGICAL_DNS",
    load_assignment: {
      cluster_name: "c",
      endpoints: [{ priority: 2, lb_endpoints: [endpoint("api.example", 443)] }],
    },
  }));
  assertEquals(endpoints.map((e) => [e.address, e.hostname, e.priority]), [[
    "api.example",
    "api.example",
    0,
  ]]);
});

Deno.test("parseCluster: a host name in a STATIC cluster is a config error", () => {
  assertEquals(
    problems({
      name: "c",
      load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [endpoint("backend")] }] },
    }),
    [
      "load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: " +
      "'backend' is not an IP address; STATIC clusters take IP addresses " +
      "(use STRICT_DNS or LOGICAL_DNS for host names)",
    ],
  );
});

Deno.test("parseCluster: LOGICAL_DNS takes exactly one endpoint", () => {
  const rule =
    "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint";
  const two = { lb_endpoints: [endpoint("a.example"), endpoint("b.example")] };
  assertEquals(problems({ name: "c", type: "LOGICAL_DNS" }), [rule]);
  assertEquals(
    problems({
      name: "c",
      type: "LOGICAL_DNS",
      load_assignment: { cluster_name: "c", endpoints: [two] },
    }),
    [rule],
  );
  assertEquals(
    problems({
      name: "c",
      type: "LOGICAL_DNS",
      load_assignment: {
        cluster_name: "c",
        endpoints: [{ lb_endpoints: [endpoint("a.example")] }, {
          lb_endpoints: [endpoint("b.example")],
        }],
      },
    }),
    [rule],
  );
});

Deno.test("parseCluster: ORIGINAL_DST settings and Envoy's checks", () => {
  const od = parseCluster(cluster({
    name: "c",
    type: "ORIGINAL_DST",
    lb_policy: "CLUSTER_PROVIDED",
    original_dst_lb_config: { use_http_header: true, upstream_port_override: 81 },
  })).info.originalDst;
  assertEquals(od, {
    httpHeaderName: "x-envoy-original-dst-host",
    upstreamPortOverride: 81,
    cleanupIntervalMs: 5000,
  });
  assertEquals(
    problems({
      name: "c",
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
      cleanup_interval: "1s",
      original_dst_lb_config: { metadata_key: { key: "k", path: [{ key: "p" }] } },
    }),
    ["original_dst_lb_config.metadata_key is not supported yet"],
  );
  assertEquals(problems({ name: "c", type: "ORIGINAL_DST" }), [
    "cluster: LB policy ROUND_ROBIN is not valid for Cluster type ORIGINAL_DST. Only " +
    "'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'",
  ]);
});

Deno.test("parseCluster: unsupported cluster types and policies are named", () => {
  assertEquals(problems({ name: "c", type: "EDS" }), [
    "eds_cluster_config.eds_config: an EDS cluster needs an EDS config source",
  ]);
  assertEquals(
    problems({
      name: "c",
      type: "EDS",
      eds_cluster_config: { eds_config: { ads: {} } },
    }),
    [],
  );
  assertEquals(
    problems({
      name: "c",
      type: "EDS",
      eds_cluster_config: { eds_config: { api_config_source: { api_type: "AGGREGATED_GRPC" } } },
    }),
    [
      "eds_cluster_config.eds_config.api_config_source.api_type: api_config_source " +
      "AGGREGATED_GRPC is not supported yet (issue 13): use GRPC or DELTA_GRPC",
    ],
  );
  assertEquals(problems({ name: "c", lb_policy: "CLUSTER_PROVIDED" }), [
    "lb_policy CLUSTER_PROVIDED is not supported yet",
  ]);
  assertEquals(
    problems({
      name: "c",
      cluster_type: {
        name: "envoy.clusters.aggregate",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig",
          clusters: ["a"],
        },
      },
    }),
    ["cluster type envoy.clusters.aggregate is not supported yet"],
  );
  assertEquals(problems({ name: "c", lb_policy: "MAGLEV" }), []);
  assertEquals(
    problems({ name: "c", lb_policy: "MAGLEV", maglev_lb_config: { table_size: 8 } }),
    ["The table size of maglev must be prime number"],
  );
  assertEquals(
    problems({
      name: "c",
      lb_policy: "RING_HASH",
      ring_hash_lb_config: { minimum_ring_size: 20, maximum_ring_size: 10 },
    }),
    ["ring hash: minimum_ring_size (20) > maximum_ring_size (10)"],
  );
  assertEquals(
    problems({
      name: "c",
      lb_policy: "RING_HASH",
      common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: 150 } },
    }),
    [],
  );
  assertEquals(
    problems({
      name: "c",
      lb_policy: "MAGLEV",
      common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: 99 } },
    }),
    ["common_lb_config.consistent_hashing_lb_config.hash_balance_factor: must be at least 100, got 99"],
  );
  assertEquals(problems({ name: "c", lb_subset_config: {} }), []);
});

Deno.test("parseCluster: every problem is reported at once", () => {
  let error: unknown;
  try {
    parseCluster(cluster({
      name: "web",
      lb_policy: "CLUSTER_PROVIDED",
      dns_failure_refresh_rate: { base_interval: "5s", max_interval: "1s" },
      load_assignment: {
        cluster_name: "web",
        endpoints: [{
          lb_endpoints: [
            endpoint("web.internal"),
            { endpoint: { address: { pipe: { path: "/tmp/sock" } } } },
            {
              endpoint: {
                address: { socket_address: { address: "10.0.0.1", named_port: "http" } },
              },
            },
          ],
        }],
      },
    }));
  } catch (e) {
    error = e;
  }
  const lines = (error as Error).message.split("\n");
  assertEquals(lines.length, 5);
  for (const line of lines) assertMatch(line, /^cluster 'web': /);
  assertMatch(lines[0], /lb_policy CLUSTER_PROVIDED is not supported yet/);
  assertMatch(lines[1], /max_interval greater than or equal to the base_interval/);
  assertMatch(lines[2], /'web.internal' is not an IP address/);
  assertMatch(lines[3], /pipe \(unix socket\) endpoints are not supported yet/);
  assertMatch(lines[4], /named_port: named ports are not supported/);
});

Deno.test("parseCluster: DNS resolver settings other than getaddrinfo are rejected", () => {
  assertEquals(
    problems({
      name: "c",
      type: "STRICT_DNS",
      typed_dns_resolver_config: {
        name: "envoy.network.dns_resolver.cares",
        typed_config: {
          "@type":
            "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
        },
      },
    }),
    [
      "typed_dns_resolver_config envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig" +
      " is not supported yet (only the getaddrinfo resolver is)",
    ],
  );
  assertEquals(
    problems({
      name: "c",
      type: "STRICT_DNS",
      typed_dns_resolver_config: {
        name: "envoy.network.dns_resolver.getaddrinfo",
        typed_config: {
          "@type":
            "type.googleapis.com/envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig",
        },
      },
    }),
    [],
  );
});

/** A cluster whose typed HttpProtocolOptions are `options`. */
function withHttpOptions(options: JsonObject): JsonObject {
  return {
    name: "c",
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        ...options,
      },
    },
  };
}

Deno.test("parseCluster: upstream HTTP/1 codec options, explicit or use_downstream", () => {
  const h1 = {
    header_key_format: { proper_case_words: {} },
    allow_chunked_length: true,
  };
  const variants: JsonObject[] = [
    { explicit_http_config: { http_protocol_options: h1 } },
    { use_downstream_protocol_config: { http_protocol_options: h1 } },
  ];
  for (const options of variants) {
    const { info } = parseCluster(cluster(withHttpOptions({
      ...options,
      common_http_protocol_options: { max_headers_count: 7 },
    })));
    assertEquals(
      [info.properCaseHeaders, info.allowChunkedLength, info.maxResponseHeadersCount],
      [true, true, 7],
    );
  }
  // The deprecated cluster field, when there are no typed options.
  const { info } = parseCluster(cluster({ name: "c", http_protocol_options: h1 }));
  assertEquals([info.properCaseHeaders, info.allowChunkedLength], [true, true]);
  const plain = parseCluster(cluster({ name: "c" })).info;
  assertEquals(
    [plain.properCaseHeaders, plain.allowChunkedLength, plain.maxResponseHeadersCount],
    [undefined, undefined, undefined],
  );
});

Deno.test("parseCluster: the preserve_case stateful formatter's settings", () => {
  const stateful = {
    header_key_format: {
      stateful_formatter: {
        name: "preserve_case",
        typed_config: {
          "@type":
            "type.googleapis.com/envoy.extensions.http.header_formatters.preserve_case.v3.PreserveCaseFormatterConfig",
        },
      },
    },
  };
  const want = { forwardReasonPhrase: false, properCaseOnEnvoyHeaders: false };
  assertEquals(
    parseCluster(
      cluster(withHttpOptions({ explicit_http_config: { http_protocol_options: stateful } })),
    ).info.preserveCase,
    want,
  );
  assertEquals(
    parseCluster(cluster({ name: "c", http_protocol_options: stateful })).info.preserveCase,
    want,
  );
  const set = structuredClone(stateful);
  Object.assign(set.header_key_format.stateful_formatter.typed_config, {
    forward_reason_phrase: true,
    formatter_type_on_envoy_headers: "PROPER_CASE",
  });
  assertEquals(parseCluster(cluster({ name: "c", http_protocol_options: set })).info.preserveCase, {
    forwardReasonPhrase: true,
    properCaseOnEnvoyHeaders: true,
  });
  // Only preserve_case exists: a formatter without its config cannot be built.
  assertEquals(
    problems({
      name: "c",
      http_protocol_options: { header_key_format: { stateful_formatter: { name: "other" } } },
    }),
    ["stateful_formatter 'other' is not supported"],
  );
});

Deno.test("parseCluster: tcp_keepalive turns SO_KEEPALIVE on and sets its timers", () => {
  const on = parseCluster(cluster({
    name: "c",
    load_assignment: { endpoints: [{ lb_endpoints: [endpoint("127.0.0.1")] }] },
    upstream_connection_options: { tcp_keepalive: {} },
  })).info;
  assertEquals(on.tcpKeepalive, true);
  // Only SO_KEEPALIVE: Deno's setKeepAlive does it, no descriptor is looked up.
  assertEquals(on.upstreamSocketOptions, undefined);
  assertEquals(parseCluster(cluster({ name: "c" })).info.tcpKeepalive, undefined);
  const timers = parseCluster(cluster({
    name: "c",
    load_assignment: { endpoints: [{ lb_endpoints: [endpoint("127.0.0.1")] }] },
    upstream_connection_options: { tcp_keepalive: { keepalive_time: 30, keepalive_probes: 3 } },
  })).info;
  // SO_KEEPALIVE, TCP_KEEPCNT, TCP_KEEPIDLE (Envoy's order).
  assertEquals(timers.upstreamSocketOptions, [
    { level: 1, name: 9, int: 1 },
    { level: 6, name: 6, int: 3 },
    { level: 6, name: 4, int: 30 },
  ]);
  assertEquals(
    problems({
      name: "c",
      upstream_connection_options: {
        tcp_keepalive: { keepalive_time: 0, keepalive_probes: 128, keepalive_interval: 5 },
      },
    }),
    [
      "upstream_connection_options.tcp_keepalive.keepalive_probes: 128 is out of the kernel's " +
      "range 1..127",
      "upstream_connection_options.tcp_keepalive.keepalive_time: 0 is out of the kernel's " +
      "range 1..32767",
    ],
  );
});

const LB_TYPES = "type.googleapis.com/envoy.extensions.load_balancing_policies";

Deno.test("parseCluster: load_balancing_policy picks the first supported policy", () => {
  const policy = (...configs: JsonObject[]) => ({
    policies: configs.map((typed_config, i) => ({
      typed_extension_config: { name: `p${i}`, typed_config },
    })),
  });
  const { info } = parseCluster(cluster({
    name: "c",
    lb_policy: "LEAST_REQUEST",
    load_balancing_policy: policy(
      { "@type": "type.googleapis.com/google.protobuf.Struct" },
      {
        "@type": `${LB_TYPES}.ring_hash.v3.RingHash`,
        minimum_ring_size: 64,
        hash_function: "MURMUR_HASH_2",
        consistent_hashing_lb_config: { use_hostname_for_hashing: true },
      },
      { "@type": `${LB_TYPES}.maglev.v3.Maglev` },
    ),
  }));
  assertEquals(info.lbPolicy, "RING_HASH");
  assertEquals(info.lb.ringHash, {
    minimumRingSize: 64,
    maximumRingSize: 8 * 1024 * 1024,
    hashFunction: "MURMUR_HASH_2",
  });
  assertEquals(info.lb.useHostnameForHashing, true);
  const maglev = parseCluster(cluster({
    name: "c",
    load_balancing_policy: policy({ "@type": `${LB_TYPES}.maglev.v3.Maglev`, table_size: 7 }),
  })).info;
  assertEquals([maglev.lbPolicy, maglev.lb.maglevTableSize], ["MAGLEV", 7]);
  const lr = parseCluster(cluster({
    name: "c",
    load_balancing_policy: policy({
      "@type": `${LB_TYPES}.least_request.v3.LeastRequest`,
      choice_count: 5,
      locality_lb_config: { locality_weighted_lb_config: {} },
    }),
  })).info;
  assertEquals([lr.lbPolicy, lr.lb.choiceCount, lr.lb.localityWeighted], [
    "LEAST_REQUEST",
    5,
    true,
  ]);
  assertEquals(
    problems({
      name: "c",
      load_balancing_policy: policy({
        "@type": `${LB_TYPES}.cluster_provided.v3.ClusterProvided`,
      }),
    }),
    [
      "load_balancing_policy: none of the policies is supported (supported: " +
      `${LB_TYPES.slice(20)}.round_robin.v3.RoundRobin, ${LB_TYPES.slice(20)}` +
      `.least_request.v3.LeastRequest, ${LB_TYPES.slice(20)}.random.v3.Random, ` +
      `${LB_TYPES.slice(20)}.ring_hash.v3.RingHash, ${LB_TYPES.slice(20)}.maglev.v3.Maglev)`,
    ],
  );
});

Deno.test("parseCluster: slow_start_config of round robin and least request", () => {
  const rr = parseCluster(cluster({
    name: "c",
    round_robin_lb_config: {
      slow_start_config: {
        slow_start_window: "60s",
        aggression: { default_value: 2, runtime_key: "ss.aggr" },
        min_weight_percent: { value: 5 },
      },
    },
  })).info;
  assertEquals(rr.lb.slowStart, {
    windowMs: 60_000,
    aggression: 2,
    aggressionRuntimeKey: "ss.aggr",
    minWeightFraction: 0.05,
  });
  const lr = parseCluster(cluster({
    name: "c",
    load_balancing_policy: {
      policies: [{
        typed_extension_config: {
          name: "lr",
          typed_config: {
            "@type": `${LB_TYPES}.least_request.v3.LeastRequest`,
            slow_start_config: { slow_start_window: "10s" },
          },
        },
      }],
    },
  })).info;
  assertEquals(lr.lb.slowStart, { windowMs: 10_000, aggression: 1, minWeightFraction: 0.1 });
  // A zero window leaves slow start off, as in Envoy.
  const off = parseCluster(cluster({
    name: "c",
    lb_policy: "LEAST_REQUEST",
    least_request_lb_config: { slow_start_config: {} },
  })).info;
  assertEquals(off.lb.slowStart, undefined);
});

Deno.test("parseCluster: lb_subset_config and Envoy's selector checks", () => {
  const { info } = parseCluster(cluster({
    name: "c",
    lb_subset_config: {
      fallback_policy: "DEFAULT_SUBSET",
      default_subset: { stage: "prod" },
      list_as_any: true,
      subset_selectors: [
        {
          keys: ["version", "stage"],
          fallback_policy: "KEYS_SUBSET",
          fallback_keys_subset: ["stage"],
        },
        { keys: ["stage"] },
      ],
    },
  }));
  assertEquals(info.lb.subset, {
    fallbackPolicy: "DEFAULT_SUBSET",
    defaultSubset: { stage: "prod" },
    selectors: [
      { keys: ["stage", "version"], fallback: "KEYS_SUBSET", fallbackKeys: ["stage"] },
      { keys: ["stage"] },
    ],
    listAsAny: true,
  });
  const selector = (s: JsonObject) =>
    problems({ name: "c", lb_subset_config: { subset_selectors: [s] } });
  assertEquals(selector({ keys: ["a"], fallback_keys_subset: ["a"] }), [
    "fallback_keys_subset can be set only for KEYS_SUBSET fallback_policy",
  ]);
  assertEquals(selector({ keys: ["a"], fallback_policy: "KEYS_SUBSET" }), [
    "fallback_keys_subset cannot be empty",
  ]);
  assertEquals(
    selector({ keys: ["a"], fallback_policy: "KEYS_SUBSET", fallback_keys_subset: ["b"] }),
    ["fallback_keys_subset must be a subset of selector keys"],
  );
  assertEquals(
    selector({ keys: ["a"], fallback_policy: "KEYS_SUBSET", fallback_keys_subset: ["a"] }),
    ["fallback_keys_subset cannot be equal to keys"],
  );
  assertEquals(selector({ keys: ["a"], single_host_per_subset: true }), [
    "lb_subset_config.subset_selectors[0].single_host_per_subset is not supported yet",
  ]);
});

Deno.test("parseCluster: max_connection_pools marks the cluster; with upstream_proxy_protocol it is refused", () => {
  const limits = { circuit_breakers: { thresholds: [{ max_connection_pools: 2 }] } };
  assertEquals(parseCluster(cluster({ name: "c", ...limits })).info.connectionPoolsLimited, true);
  assertEquals(parseCluster(cluster({ name: "c" })).info.connectionPoolsLimited, undefined);
  const pp = {
    name: "envoy.transport_sockets.upstream_proxy_protocol",
    typed_config: {
      "@type":
        "type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport",
      config: { version: "V1" },
      transport_socket: {
        name: "envoy.transport_sockets.raw_buffer",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
        },
      },
    },
  };
  assertEquals(problems({ name: "c", transport_socket: pp }), []);
  const refused = problems({ name: "c", transport_socket: pp, ...limits });
  assertEquals(refused.length, 1);
  assertMatch(refused[0], /max_connection_pools with an upstream_proxy_protocol transport socket/);
});
