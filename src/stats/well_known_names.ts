/**
 * Envoy's well-known tag names and the default extractors that pull them out of stat names
 * (Envoy's `well_known_names.cc`), so Prometheus sees `envoy_cluster_upstream_rq_xx
 * {envoy_response_code_class="2",envoy_cluster_name="service_a"}` exactly as from Envoy and
 * existing dashboards keep working.
 *
 * An extractor is either a regex (the first capture group is cut out of the name, the second,
 * when there is one, is the tag value) or a token pattern over the dot-separated name: `$` is
 * the tag value, `*` any one token, `**` any run of tokens.
 *
 * The extractors for `envoy.scoped_rds_config`, `envoy.connection_limit_prefix`,
 * `envoy.rbac_*` and `envoy.proxy_protocol_*` were written here to give the results Envoy's
 * own tests expect; the rest follow Envoy's patterns. `envoy.google_grpc_client_prefix`,
 * `envoy.tls_certificate` and `envoy.xds_resource_name` have no extractor yet: denvoy does not
 * emit the stats they tag.
 */

/** Envoy's well-known tag names (`envoy.cluster_name`, ...). */
export const TAG_NAMES = Object.freeze({
  CLUSTER_NAME: "envoy.cluster_name",
  LISTENER_ADDRESS: "envoy.listener_address",
  HTTP_CONN_MANAGER_PREFIX: "envoy.http_conn_manager_prefix",
  HTTP_USER_AGENT: "envoy.http_user_agent",
  SSL_CIPHER: "envoy.ssl_cipher",
  SSL_CURVE: "envoy.ssl_curve",
  SSL_SIGALG: "envoy.ssl_sigalg",
  SSL_VERSION: "envoy.ssl_version",
  SSL_CIPHER_SUITE: "envoy.ssl_cipher_suite",
  CLIENTSSL_PREFIX: "envoy.clientssl_prefix",
  MONGO_PREFIX: "envoy.mongo_prefix",
  MONGO_CMD: "envoy.mongo_cmd",
  MONGO_COLLECTION: "envoy.mongo_collection",
  MONGO_CALLSITE: "envoy.mongo_callsite",
  RATELIMIT_PREFIX: "envoy.ratelimit_prefix",
  LOCAL_HTTP_RATELIMIT_PREFIX: "envoy.local_http_ratelimit_prefix",
  LOCAL_NETWORK_RATELIMIT_PREFIX: "envoy.local_network_ratelimit_prefix",
  LOCAL_LISTENER_RATELIMIT_PREFIX: "envoy.local_listener_ratelimit_prefix",
  DNS_FILTER_PREFIX: "envoy.dns_filter_prefix",
  CONNECTION_LIMIT_PREFIX: "envoy.connection_limit_prefix",
  RBAC_PREFIX: "envoy.rbac_prefix",
  RBAC_HTTP_PREFIX: "envoy.rbac_http_prefix",
  RBAC_POLICY_NAME: "envoy.rbac_policy_name",
  TCP_PREFIX: "envoy.tcp_prefix",
  UDP_PREFIX: "envoy.udp_prefix",
  FAULT_DOWNSTREAM_CLUSTER: "envoy.fault_downstream_cluster",
  DYNAMO_OPERATION: "envoy.dynamo_operation",
  DYNAMO_TABLE: "envoy.dynamo_table",
  DYNAMO_PARTITION_ID: "envoy.dynamo_partition_id",
  GRPC_BRIDGE_SERVICE: "envoy.grpc_bridge_service",
  GRPC_BRIDGE_METHOD: "envoy.grpc_bridge_method",
  VIRTUAL_HOST: "envoy.virtual_host",
  VIRTUAL_CLUSTER: "envoy.virtual_cluster",
  RESPONSE_CODE: "envoy.response_code",
  RESPONSE_CODE_CLASS: "envoy.response_code_class",
  RDS_ROUTE_CONFIG: "envoy.rds_route_config",
  SCOPED_RDS_CONFIG: "envoy.scoped_rds_config",
  ROUTE: "envoy.route",
  EXT_AUTHZ_PREFIX: "envoy.ext_authz_prefix",
  WORKER_ID: "envoy.worker_id",
  THRIFT_PREFIX: "envoy.thrift_prefix",
  REDIS_PREFIX: "envoy.redis_prefix",
  PROXY_PROTOCOL_VERSION: "envoy.proxy_protocol_version",
  PROXY_PROTOCOL_PREFIX: "envoy.proxy_protocol_prefix",
});

/** A default extractor given by a regex. */
export interface RegexDescriptor {
  readonly name: string;
  /** JavaScript regex source. */
  readonly regex: string;
  /** Text every matching name contains: names without it skip the regex. */
  readonly substr: string;
  /** A tag value that does not count as a match (`listener.admin.` is not an address). */
  readonly negativeMatch: string;
}

/** A default extractor given by a token pattern. */
export interface TokenDescriptor {
  readonly name: string;
  readonly pattern: string;
}

/** Shorthands that keep the regexes below readable. */
const PARTS: Record<string, string> = {
  // An IPv4 or bracketed IPv6 address (colons already turned into underscores) and a port.
  "<ADDRESS>": String.raw`(?:(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[a-fA-F_\d]+\])_\d+)`,
  "<CIPHER>": String.raw`[\w-]+`,
  "<TLS_VERSION>": String.raw`TLSv\d\.\d`,
  // One name token: anything but a dot.
  "<TAG_VALUE>": String.raw`[^\.]+`,
  // Route configuration names may contain dots and slashes (`agg/route_config.1-23`).
  "<ROUTE_CONFIG_NAME>": String.raw`[\w./\-]+`,
  "<LISTENER_OR_CLUSTER_WITH_NAME>": String.raw`(?:listener|cluster)\..*?`,
};

function expand(regex: string): string {
  return regex.replace(/<[A-Z_]+>/g, (part) => PARTS[part] ?? part);
}

function re(name: string, regex: string, substr = "", negativeMatch = ""): RegexDescriptor {
  return { name, regex: expand(regex), substr, negativeMatch };
}

const N = TAG_NAMES;

/**
 * The default regex extractors, in Envoy's order (most specific first). They are written so
 * that the order does not change the result.
 */
export const DEFAULT_REGEX_DESCRIPTORS: readonly RegexDescriptor[] = Object.freeze([
  // *_rq(_<response_code>)
  re(N.RESPONSE_CODE, String.raw`_rq(_(\d{3}))$`, "_rq_"),
  // *_rq_(<response_code_class>)xx
  re(N.RESPONSE_CODE_CLASS, String.raw`_rq_((\d))xx$`, "_rq_"),
  // http.[<stat_prefix>.]dynamodb.table.[<table>.]capacity.[<operation>.](__partition_id=<id>)
  re(
    N.DYNAMO_PARTITION_ID,
    String
      .raw`^http\.<TAG_VALUE>\.dynamodb\.table\.<TAG_VALUE>\.capacity\.<TAG_VALUE>(\.__partition_id=(\w{7}))$`,
    ".dynamodb.table.",
  ),
  // http.[<stat_prefix>.]dynamodb.operation.(<operation>.)* or
  // http.[<stat_prefix>.]dynamodb.table.[<table>.]capacity.(<operation>.)[<partition_id>]
  re(
    N.DYNAMO_OPERATION,
    String
      .raw`^http\.<TAG_VALUE>\.dynamodb.(?:operation|table\.<TAG_VALUE>\.capacity)(\.(<TAG_VALUE>))(?:\.|$)`,
    ".dynamodb.",
  ),
  // http.[<stat_prefix>.]dynamodb.(table|error).(<table>.)*
  re(
    N.DYNAMO_TABLE,
    String.raw`^http\.<TAG_VALUE>\.dynamodb.(?:table|error)\.((<TAG_VALUE>)\.)`,
    ".dynamodb.",
  ),
  // listener.[<address>.]ssl.ciphers.(<cipher>)
  re(N.SSL_CIPHER, String.raw`^listener\..*?\.ssl\.ciphers(\.(<CIPHER>))$`, ".ssl.ciphers."),
  // (listener|cluster).[<name>.]ssl.curves.(<curve>)
  re(
    N.SSL_CURVE,
    String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.curves(\.(<CIPHER>))$`,
    ".ssl.curves.",
  ),
  // (listener|cluster).[<name>.]ssl.sigalgs.(<algorithm>)
  re(
    N.SSL_SIGALG,
    String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.sigalgs(\.(<CIPHER>))$`,
    ".ssl.sigalgs.",
  ),
  // (listener|cluster).[<name>.]ssl.versions.(<version>)
  re(
    N.SSL_VERSION,
    String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.versions(\.(<TLS_VERSION>))$`,
    ".ssl.versions.",
  ),
  // cluster.[<cluster_name>.]ssl.ciphers.(<cipher>)
  re(
    N.SSL_CIPHER_SUITE,
    String.raw`^cluster\.<TAG_VALUE>\.ssl\.ciphers(\.(<CIPHER>))$`,
    ".ssl.ciphers.",
  ),
  // listener.[<address>.]http.(<stat_prefix>.)*
  re(N.HTTP_CONN_MANAGER_PREFIX, String.raw`^listener\..*?\.http\.((<TAG_VALUE>)\.)`, ".http."),
  // listener.<address|stat_prefix>.(worker_<id>.)*, listener_manager.(worker_<id>.)*,
  // server.(worker_<id>.)*
  re(
    N.WORKER_ID,
    String
      .raw`^(?:listener\.(?:<ADDRESS>|<TAG_VALUE>)\.|server\.|listener_manager\.)worker_((\d+)\.)`,
  ),
  // listener.(<address|stat_prefix>.)*, but not listener.admin.
  re(N.LISTENER_ADDRESS, String.raw`^listener\.((<ADDRESS>|<TAG_VALUE>)\.)`, "", "admin"),
  // http.[<stat_prefix>.]rds.(<route_config_name>.)<base_stat>
  re(
    N.RDS_ROUTE_CONFIG,
    String.raw`^http\.<TAG_VALUE>\.rds\.((<ROUTE_CONFIG_NAME>)\.)\w+?$`,
    ".rds.",
  ),
  // http.[<stat_prefix>.]scoped_rds.(<scoped_route_config_name>.)<base_stat>
  re(
    N.SCOPED_RDS_CONFIG,
    String.raw`^http\.<TAG_VALUE>\.scoped_rds\.((<ROUTE_CONFIG_NAME>)\.)\w+?$`,
    ".scoped_rds.",
  ),
  // http.[<stat_prefix>.]rbac.[<rules_stat_prefix>.]policy.(<policy_name>.)<base_stat>
  re(
    N.RBAC_POLICY_NAME,
    String.raw`^http\.<TAG_VALUE>\.rbac\.(?:<TAG_VALUE>\.)?policy\.((<TAG_VALUE>)\.)\w+$`,
    ".rbac.",
  ),
  // http.[<stat_prefix>.]rbac.(<rules_stat_prefix>.)[policy.<policy_name>.]<base_stat>
  re(
    N.RBAC_HTTP_PREFIX,
    String.raw`^http\.<TAG_VALUE>\.rbac\.((<TAG_VALUE>)\.)(?:policy\.<TAG_VALUE>\.)?\w+$`,
    ".rbac.",
  ),
  // (<stat_prefix>.)rbac.*, the network filter's (not a cluster, listener or HTTP stat)
  re(
    N.RBAC_PREFIX,
    String.raw`^(?!(?:cluster|http|listener|vhost|tcp)\.)((<TAG_VALUE>)\.)rbac\.`,
    ".rbac.",
  ),
  // proxy_proto.[<stat_prefix>.](versions.v<version>.)<base_stat>
  re(
    N.PROXY_PROTOCOL_VERSION,
    String.raw`^proxy_proto\.(?:<TAG_VALUE>\.)?(versions\.v(\d)\.)\w+$`,
    ".versions.",
  ),
  // proxy_proto.(<stat_prefix>.)[versions.v<version>.]<base_stat>
  re(
    N.PROXY_PROTOCOL_PREFIX,
    String.raw`^proxy_proto\.((<TAG_VALUE>)\.)(?:versions\.v\d\.)?\w+$`,
  ),
]);

/** The default token extractors, in Envoy's order; they run after the regex ones. */
export const DEFAULT_TOKEN_DESCRIPTORS: readonly TokenDescriptor[] = Object.freeze(
  ([
    [N.MONGO_CALLSITE, "mongo.*.collection.*.callsite.$.query.**"],
    [N.MONGO_COLLECTION, "mongo.*.collection.$.**.query.*"],
    [N.MONGO_CMD, "mongo.*.cmd.$.**"],
    [N.GRPC_BRIDGE_METHOD, "cluster.*.grpc.*.$.**"],
    [N.HTTP_USER_AGENT, "http.*.user_agent.$.**"],
    [N.VIRTUAL_CLUSTER, "vhost.*.vcluster.$.**"],
    [N.FAULT_DOWNSTREAM_CLUSTER, "http.*.fault.$.**"],
    [N.GRPC_BRIDGE_SERVICE, "cluster.*.grpc.$.**"],
    [N.TCP_PREFIX, "tcp.$.**"],
    [N.UDP_PREFIX, "udp.$.**"],
    [N.CLIENTSSL_PREFIX, "auth.clientssl.$.**"],
    [N.RATELIMIT_PREFIX, "ratelimit.$.**"],
    [N.CLUSTER_NAME, "cluster.$.**"],
    [N.EXT_AUTHZ_PREFIX, "cluster.*.ext_authz.$.**"],
    [N.EXT_AUTHZ_PREFIX, "http.*.ext_authz.$.**"],
    [N.HTTP_CONN_MANAGER_PREFIX, "http.$.**"],
    [N.VIRTUAL_HOST, "vhost.$.**"],
    [N.MONGO_PREFIX, "mongo.$.**"],
    [N.ROUTE, "vhost.*.route.$.**"],
    [N.THRIFT_PREFIX, "thrift.$.**"],
    [N.REDIS_PREFIX, "redis.$.**"],
    [N.LOCAL_HTTP_RATELIMIT_PREFIX, "$.http_local_rate_limit.**"],
    [N.LOCAL_NETWORK_RATELIMIT_PREFIX, "local_rate_limit.$.**"],
    [N.LOCAL_LISTENER_RATELIMIT_PREFIX, "listener_local_ratelimit.$.**"],
    [N.DNS_FILTER_PREFIX, "dns_filter.$.**"],
    [N.CONNECTION_LIMIT_PREFIX, "connection_limit.$.**"],
  ] as const).map(([name, pattern]) => ({ name, pattern })),
);
