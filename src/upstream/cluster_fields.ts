/**
 * Fields of clusters and endpoints that cluster_info.ts, the cluster manager, DNS clusters,
 * load balancers and connection pools implement (see config/field_support.ts). Health checks,
 * outlier detection and circuit breakers are refused until they are implemented.
 */
import type { FieldTable } from "../config/field_support.ts";

/** Cluster, load assignment and endpoint fields. */
export const CLUSTER_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.cluster.v3.Cluster": [
      "name",
      "alt_stat_name",
      "type",
      "connect_timeout",
      "per_connection_buffer_limit_bytes",
      "lb_policy",
      "load_assignment",
      "max_requests_per_connection",
      "common_http_protocol_options",
      // The deprecated HTTP/1 options, used when no typed protocol options are given (as Envoy).
      "http_protocol_options",
      "typed_extension_protocol_options",
      "dns_refresh_rate",
      "dns_failure_refresh_rate",
      "respect_dns_ttl",
      "dns_lookup_family",
      "wait_for_warm_on_init",
      "least_request_lb_config",
      "round_robin_lb_config",
      "common_lb_config",
      "transport_socket",
      "metadata",
      "cleanup_interval",
      "original_dst_lb_config",
      "upstream_connection_options",
      "close_connections_on_host_health_failure",
      "ignore_health_on_host_removal",
    ],
    "envoy.config.cluster.v3.UpstreamConnectionOptions": ["tcp_keepalive"],
    // SO_KEEPALIVE is switched on; the kernel's tcp_keepalive_* settings apply (conn_pool.ts).
    "envoy.config.core.v3.TcpKeepalive": [],
    // original_dst_cluster.ts; metadata_key is refused by cluster_info.ts.
    "envoy.config.cluster.v3.Cluster.OriginalDstLbConfig": [
      "use_http_header",
      "http_header_name",
      "upstream_port_override",
    ],
    "envoy.config.cluster.v3.Cluster.RefreshRate": ["base_interval", "max_interval"],
    "envoy.config.cluster.v3.Cluster.LeastRequestLbConfig": ["choice_count", "active_request_bias"],
    "envoy.config.cluster.v3.Cluster.RoundRobinLbConfig": [],
    "envoy.config.cluster.v3.Cluster.CommonLbConfig": [
      "healthy_panic_threshold",
      "locality_weighted_lb_config",
      "update_merge_window",
    ],
    "envoy.config.cluster.v3.Cluster.CommonLbConfig.LocalityWeightedLbConfig": [],
    "envoy.config.endpoint.v3.ClusterLoadAssignment": ["cluster_name", "endpoints", "policy"],
    "envoy.config.endpoint.v3.ClusterLoadAssignment.Policy": [
      "overprovisioning_factor",
      "weighted_priority_health",
    ],
    "envoy.config.endpoint.v3.LocalityLbEndpoints": [
      "locality",
      "metadata",
      "lb_endpoints",
      "load_balancing_weight",
      "priority",
    ],
    "envoy.config.endpoint.v3.LbEndpoint": [
      "endpoint",
      "health_status",
      "metadata",
      "load_balancing_weight",
    ],
    "envoy.config.endpoint.v3.Endpoint": ["address", "hostname"],
  },
  // Refused with their own message by cluster_info.ts (parseCluster), which validate runs too.
  checked: {
    "envoy.config.cluster.v3.Cluster": [
      "cluster_type",
      "lb_subset_config",
      "load_balancing_policy",
      "http2_protocol_options",
      "dns_resolvers",
      "use_tcp_for_dns_lookups",
      "dns_resolution_config",
      "typed_dns_resolver_config",
    ],
    "envoy.config.cluster.v3.Cluster.LeastRequestLbConfig": ["slow_start_config"],
    "envoy.config.cluster.v3.Cluster.RoundRobinLbConfig": ["slow_start_config"],
    "envoy.config.cluster.v3.Cluster.OriginalDstLbConfig": ["metadata_key"],
    "envoy.config.cluster.v3.UpstreamConnectionOptions": [
      "set_local_interface_name_on_upstream_connections",
      "happy_eyeballs_config",
    ],
    "envoy.config.core.v3.TcpKeepalive": [
      "keepalive_probes",
      "keepalive_time",
      "keepalive_interval",
    ],
    "envoy.config.endpoint.v3.LocalityLbEndpoints": [
      "load_balancer_endpoints",
      "leds_cluster_locality_config",
    ],
    "envoy.config.endpoint.v3.LbEndpoint": ["endpoint_name"],
  },
};
