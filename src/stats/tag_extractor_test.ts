import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { TagSpecifier } from "../../proto/gen/envoy/config/metrics/v3/stats_pb.ts";
import { regexPrefix, type TagConfig, TagProducer } from "./tag_extractor.ts";

function specs(json: JsonValue[]): TagSpecifier[] {
  const schema = messageSchema<TagSpecifier>("envoy.config.metrics.v3.TagSpecifier");
  return json.map((j) => fromJson(schema, j, { registry: apiRegistry() }));
}

const defaults = new TagProducer();

/**
 * Checks a name against Envoy's expected result; tags compare as a set, as in Envoy's own
 * tests. Tag names are given without the `envoy.` prefix.
 */
function check(name: string, extracted: string, tags: Record<string, string>, p = defaults) {
  const got = p.produceTags(name);
  assertEquals(got.tagExtractedName, extracted, name);
  const asSet = (t: Record<string, string>) =>
    Object.entries(t).map(([k, v]) => `${k}=${v}`).sort();
  assertEquals(
    got.tags.map((t) => `${t.name.replace(/^envoy\./, "")}=${t.value}`).sort(),
    asSet(tags),
    name,
  );
}

Deno.test("cluster stats: cluster name and response code class, in Envoy's label order", () => {
  assertEquals(defaults.produceTags("cluster.service_a.upstream_rq_2xx"), {
    tagExtractedName: "cluster.upstream_rq_xx",
    tags: [
      { name: "envoy.response_code_class", value: "2" },
      { name: "envoy.cluster_name", value: "service_a" },
    ],
  });
  check("cluster.service_a.upstream_rq_200", "cluster.upstream_rq", {
    response_code: "200",
    cluster_name: "service_a",
  });
  check("cluster.ratelimit.upstream_rq_timeout", "cluster.upstream_rq_timeout", {
    cluster_name: "ratelimit",
  });
  check("cluster.a.b.upstream_rq_time", "cluster.b.upstream_rq_time", { cluster_name: "a" });
});

Deno.test("http, listener, vhost and worker stats", () => {
  check("http.ingress_http.downstream_rq_5xx", "http.downstream_rq_xx", {
    http_conn_manager_prefix: "ingress_http",
    response_code_class: "5",
  });
  check(
    "listener.127.0.0.1_3012.http.http_prefix.downstream_rq_5xx",
    "listener.http.downstream_rq_xx",
    {
      http_conn_manager_prefix: "http_prefix",
      listener_address: "127.0.0.1_3012",
      response_code_class: "5",
    },
  );
  check("listener.0.0.0.0_10000.downstream_cx_total", "listener.downstream_cx_total", {
    listener_address: "0.0.0.0_10000",
  });
  check("listener.[__1]_0.downstream_cx_total", "listener.downstream_cx_total", {
    listener_address: "[__1]_0",
  });
  check("listener.admin.downstream_cx_total", "listener.admin.downstream_cx_total", {});
  check("vhost.vhost_1.vcluster.vcluster_1.upstream_rq_2xx", "vhost.vcluster.upstream_rq_xx", {
    virtual_host: "vhost_1",
    virtual_cluster: "vcluster_1",
    response_code_class: "2",
  });
  check("vhost.vhost_1.vcluster.vcluster_1.upstream_rq_200", "vhost.vcluster.upstream_rq", {
    virtual_host: "vhost_1",
    virtual_cluster: "vcluster_1",
    response_code: "200",
  });
  check("vhost.vh.route.my_route.upstream_rq_total", "vhost.route.upstream_rq_total", {
    virtual_host: "vh",
    route: "my_route",
  });
  check(
    "listener_manager.worker_123.dispatcher.loop_duration_us",
    "listener_manager.worker_dispatcher.loop_duration_us",
    { worker_id: "123" },
  );
  check(
    "listener.127.0.0.1_3012.worker_123.downstream_cx_active",
    "listener.worker_downstream_cx_active",
    {
      listener_address: "127.0.0.1_3012",
      worker_id: "123",
    },
  );
  check(
    "listener.myprefix.worker_123.downstream_cx_active",
    "listener.worker_downstream_cx_active",
    {
      listener_address: "myprefix",
      worker_id: "123",
    },
  );
  check("server.worker_123.watchdog_miss", "server.worker_watchdog_miss", { worker_id: "123" });
  check("http.egress.user_agent.ios.downstream_cx_total", "http.user_agent.downstream_cx_total", {
    http_conn_manager_prefix: "egress",
    http_user_agent: "ios",
  });
  check("http.rds_hcm.rds.agg/route_config.1-23.update_success", "http.rds.update_success", {
    http_conn_manager_prefix: "rds_hcm",
    rds_route_config: "agg/route_config.1-23",
  });
  check(
    "http.scoped_hcm.scoped_rds.scoped_route_config.123.update_success",
    "http.scoped_rds.update_success",
    { http_conn_manager_prefix: "scoped_hcm", scoped_rds_config: "scoped_route_config.123" },
  );
  check("http.fault_hcm.fault.fault_cluster.aborts_injected", "http.fault.aborts_injected", {
    http_conn_manager_prefix: "fault_hcm",
    fault_downstream_cluster: "fault_cluster",
  });
});

Deno.test("tcp, udp and filter prefixes", () => {
  check(
    "tcp.tcp_prefix.downstream_flow_control_resumed_reading_total",
    "tcp.downstream_flow_control_resumed_reading_total",
    {
      tcp_prefix: "tcp_prefix",
    },
  );
  check("udp.udp_prefix.downstream_sess_total", "udp.downstream_sess_total", {
    udp_prefix: "udp_prefix",
  });
  check("auth.clientssl.clientssl_prefix.auth_ip_allowlist", "auth.clientssl.auth_ip_allowlist", {
    clientssl_prefix: "clientssl_prefix",
  });
  check("ratelimit.foo_ratelimiter.over_limit", "ratelimit.over_limit", {
    ratelimit_prefix: "foo_ratelimiter",
  });
  check("foo_ratelimiter.http_local_rate_limit.ok", "http_local_rate_limit.ok", {
    local_http_ratelimit_prefix: "foo_ratelimiter",
  });
  check("local_rate_limit.foo_ratelimiter.rate_limited", "local_rate_limit.rate_limited", {
    local_network_ratelimit_prefix: "foo_ratelimiter",
  });
  check("thrift.thrift_prefix.response", "thrift.response", { thrift_prefix: "thrift_prefix" });
  check("redis.my_redis_prefix.response", "redis.response", { redis_prefix: "my_redis_prefix" });
  check("dns_filter.my_dns_prefix.local_a_record_answers", "dns_filter.local_a_record_answers", {
    dns_filter_prefix: "my_dns_prefix",
  });
  check("connection_limit.my_cl.limited_connections", "connection_limit.limited_connections", {
    connection_limit_prefix: "my_cl",
  });
  check("http.http_prefix.ext_authz.authpfx.denied", "http.ext_authz.denied", {
    http_conn_manager_prefix: "http_prefix",
    ext_authz_prefix: "authpfx",
  });
  check("cluster.grpc_cluster.ext_authz.authpfx.ok", "cluster.ext_authz.ok", {
    cluster_name: "grpc_cluster",
    ext_authz_prefix: "authpfx",
  });
});

Deno.test("rbac and proxy protocol prefixes", () => {
  check("my_rbac_prefix.rbac.allowed", "rbac.allowed", { rbac_prefix: "my_rbac_prefix" });
  check("http.hcm_prefix.rbac.prefix.allowed", "http.rbac.allowed", {
    http_conn_manager_prefix: "hcm_prefix",
    rbac_http_prefix: "prefix",
  });
  check("http.hcm_prefix.rbac.policy.my_rbac_policy.allowed", "http.rbac.policy.allowed", {
    http_conn_manager_prefix: "hcm_prefix",
    rbac_policy_name: "my_rbac_policy",
  });
  check(
    "http.hcm_prefix.rbac.prefix.policy.my_rbac_policy.shadow_denied",
    "http.rbac.policy.shadow_denied",
    {
      http_conn_manager_prefix: "hcm_prefix",
      rbac_http_prefix: "prefix",
      rbac_policy_name: "my_rbac_policy",
    },
  );
  // A cluster called "rbac" is not an RBAC filter prefix.
  check("cluster.rbac.upstream_rq_total", "cluster.upstream_rq_total", { cluster_name: "rbac" });
  check("proxy_proto.not_found_disallowed", "proxy_proto.not_found_disallowed", {});
  check("proxy_proto.test_stat_prefix.not_found_disallowed", "proxy_proto.not_found_disallowed", {
    proxy_protocol_prefix: "test_stat_prefix",
  });
  check("proxy_proto.versions.v2.error", "proxy_proto.error", { proxy_protocol_version: "2" });
  check("proxy_proto.test_stat_prefix.versions.v2.error", "proxy_proto.error", {
    proxy_protocol_prefix: "test_stat_prefix",
    proxy_protocol_version: "2",
  });
});

Deno.test("ssl, grpc bridge, mongo and dynamo", () => {
  check("listener.[__1]_0.ssl.ciphers.AES256-SHA", "listener.ssl.ciphers", {
    listener_address: "[__1]_0",
    ssl_cipher: "AES256-SHA",
  });
  check(
    "listener.[2001_0db8_85a3_0000_0000_8a2e_0370_7334]_3543.ssl.ciphers.AES256-SHA",
    "listener.ssl.ciphers",
    {
      listener_address: "[2001_0db8_85a3_0000_0000_8a2e_0370_7334]_3543",
      ssl_cipher: "AES256-SHA",
    },
  );
  check("listener.prefix.notmatching.ssl.ciphers.AES256-SHA", "listener.notmatching.ssl.ciphers", {
    listener_address: "prefix",
    ssl_cipher: "AES256-SHA",
  });
  check("listener.admin.ssl.ciphers.AES256-SHA", "listener.admin.ssl.ciphers", {
    ssl_cipher: "AES256-SHA",
  });
  check("cluster.ratelimit.ssl.ciphers.ECDHE-RSA-AES128-GCM-SHA256", "cluster.ssl.ciphers", {
    cluster_name: "ratelimit",
    ssl_cipher_suite: "ECDHE-RSA-AES128-GCM-SHA256",
  });
  check("listener.127.0.0.1_443.ssl.versions.TLSv1.3", "listener.ssl.versions", {
    listener_address: "127.0.0.1_443",
    ssl_version: "TLSv1.3",
  });
  check("cluster.grpc_cluster.grpc.grpc_service_1.grpc_method_1.success", "cluster.grpc.success", {
    cluster_name: "grpc_cluster",
    grpc_bridge_service: "grpc_service_1",
    grpc_bridge_method: "grpc_method_1",
  });
  check("mongo.mongo_filter.op_reply", "mongo.op_reply", { mongo_prefix: "mongo_filter" });
  check("mongo.mongo_filter.cmd.foo_cmd.reply_size", "mongo.cmd.reply_size", {
    mongo_prefix: "mongo_filter",
    mongo_cmd: "foo_cmd",
  });
  check(
    "mongo.mongo_filter.collection.bar_collection.query.multi_get",
    "mongo.collection.query.multi_get",
    {
      mongo_prefix: "mongo_filter",
      mongo_collection: "bar_collection",
    },
  );
  check(
    "mongo.mongo_filter.collection.bar_collection.callsite.baz_callsite.query.scatter_get",
    "mongo.collection.callsite.query.scatter_get",
    {
      mongo_prefix: "mongo_filter",
      mongo_collection: "bar_collection",
      mongo_callsite: "baz_callsite",
    },
  );
  check(
    "http.egress_dynamodb_iad.dynamodb.operation.Query.upstream_rq_time",
    "http.dynamodb.operation.upstream_rq_time",
    {
      http_conn_manager_prefix: "egress_dynamodb_iad",
      dynamo_operation: "Query",
    },
  );
  check(
    "http.egress_dynamodb_iad.dynamodb.table.bar_table.capacity.Query.__partition_id=ABC1234",
    "http.dynamodb.table.capacity",
    {
      http_conn_manager_prefix: "egress_dynamodb_iad",
      dynamo_table: "bar_table",
      dynamo_operation: "Query",
      dynamo_partition_id: "ABC1234",
    },
  );
});

Deno.test("names without tags are left alone", () => {
  check("server.live", "server.live", {});
  check("cluster_manager.active_clusters", "cluster_manager.active_clusters", {});
  check("runtime", "runtime", {});
});

Deno.test("stats_tags: custom regexes, fixed values and default names", () => {
  const config: TagConfig = {
    useAllDefaultTags: false,
    statsTags: specs([
      { tag_name: "envoy.cluster_name" },
      { tag_name: "method", regex: String.raw`^cluster\.[^.]+\.grpc\.\w+\.((\w+)\.)` },
      { tag_name: "port", regex: String.raw`^listener\.(\d+?\.)` },
      { tag_name: "region", fixed_value: "eu-west-1" },
    ]),
  };
  const p = new TagProducer(config);
  check("cluster.a.grpc.svc.Get.success", "cluster.grpc.svc.success", {
    cluster_name: "a",
    method: "Get",
    region: "eu-west-1",
  }, p);
  // One capture group: it is both the tag value and the text removed.
  check("listener.80.downstream_cx_total", "listener.downstream_cx_total", {
    port: "80.",
    region: "eu-west-1",
  }, p);
  // Without the defaults, response codes stay in the name.
  check("cluster.a.upstream_rq_2xx", "cluster.upstream_rq_2xx", {
    cluster_name: "a",
    region: "eu-west-1",
  }, p);
});

Deno.test("stats_tags add to the defaults; a second extractor for a tag counts once", () => {
  const p = new TagProducer({
    statsTags: specs([{ tag_name: "envoy.cluster_name", regex: String.raw`^cluster\.((.+?)\.)` }]),
  });
  check("cluster.a.upstream_rq_total", "cluster.upstream_rq_total", { cluster_name: "a" }, p);
});

Deno.test("stats_tags errors name the specifier", () => {
  const cases: [JsonValue, RegExp][] = [
    [{ tag_name: "nope" }, /stats_config\.stats_tags\[0\]: No regex specified .* name: 'nope'/],
    [{ tag_name: "x", regex: "(" }, /stats_config\.stats_tags\[0\]\.regex: Invalid regex '\('/],
    [
      { tag_name: "", regex: "(a)" },
      /stats_config\.stats_tags\[0\]\.tag_name: tag_name cannot be empty/,
    ],
  ];
  for (const [json, want] of cases) {
    let err = "";
    try {
      new TagProducer({ statsTags: specs([json]) });
    } catch (e) {
      err = String(e);
    }
    assertMatch(err, want);
  }
});

Deno.test("results are cached per name", () => {
  const p = new TagProducer();
  assert(
    p.produceTags("cluster.a.upstream_rq_total") === p.produceTags("cluster.a.upstream_rq_total"),
  );
});

Deno.test("regexPrefix follows Envoy's rule", () => {
  assertEquals(regexPrefix(String.raw`^prefix\.foo`), "prefix");
  assertEquals(regexPrefix(String.raw`^prefix_optional(?=\.)`), "prefix_optional");
  assertEquals(regexPrefix("^onlyToken$"), "onlyToken");
  assertEquals(regexPrefix("^prefix(foo)."), "");
  assertEquals(regexPrefix("^notACompleteToken"), "");
  assertEquals(regexPrefix("(prefix)"), "");
  assertEquals(regexPrefix("prefix(foo)"), "");
});
