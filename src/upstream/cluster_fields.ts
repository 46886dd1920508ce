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
      "ring_hash_lb_config",
      "maglev_lb_config",
      "load_balancing_policy",
      "lb_subset_config",
      "common_lb_config",
      "transport_socket",
      "metadata",
    ],
    "envoy.config.cluster.v3.Cluster.RefreshRate": ["base_interval", "max_interval"],
    "envoy.config.cluster.v3.Cluster.LeastRequestLbConfig": [
      "choice_count",
      "active_request_bias",
      "slow_start_config",
    ],
    "envoy.config.cluster.v3.Cluster.RoundRobinLbConfig": ["slow_start_config"],
    "envoy.config.cluster.v3.Cluster.SlowStartConfig": [
      "slow_start_window",
      "aggression",
      "min_weight_percent",
    ],
    "envoy.config.cluster.v3.Cluster.RingHashLbConfig": [
      "minimum_ring_size",
      "maximum_ring_size",
      "hash_function",
    ],
    "envoy.config.cluster.v3.Cluster.MaglevLbConfig": ["table_size"],
    "envoy.config.cluster.v3.Cluster.LbSubsetConfig": [
      "fallback_policy",
      "default_subset",
      "subset_selectors",
      "list_as_any",
    ],
    "envoy.config.cluster.v3.Cluster.LbSubsetConfig.LbSubsetSelector": [
      "keys",
      "fallback_policy",
      "fallback_keys_subset",
    ],
    // The first policy whose typed config is a registered envoy.load_balancing_policies
    // extension wins; others must be registered extensions too (or they are refused).
    "envoy.config.cluster.v3.LoadBalancingPolicy": ["policies"],
    "envoy.config.cluster.v3.LoadBalancingPolicy.Policy": ["typed_extension_config"],
    "envoy.config.cluster.v3.Cluster.CommonLbConfig": [
      "healthy_panic_threshold",
      "locality_weighted_lb_config",
      "zone_aware_lb_config",
      "consistent_hashing_lb_config",
    ],
    "envoy.config.cluster.v3.Cluster.CommonLbConfig.ZoneAwareLbConfig": [
      "routing_enabled",
      "min_cluster_size",
      "fail_traffic_on_panic",
    ],
    "envoy.config.cluster.v3.Cluster.CommonLbConfig.ConsistentHashingLbConfig": [
      "use_hostname_for_hashing",
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
      "http2_protocol_options",
      "dns_resolvers",
      "use_tcp_for_dns_lookups",
      "dns_resolution_config",
      "typed_dns_resolver_config",
    ],
    "envoy.config.cluster.v3.Cluster.CommonLbConfig.ConsistentHashingLbConfig": [
      "hash_balance_factor",
    ],
    "envoy.config.cluster.v3.Cluster.LbSubsetConfig": [
      "locality_weight_aware",
      "scale_locality_weight",
      "panic_mode_any",
      "metadata_fallback_policy",
    ],
    "envoy.config.cluster.v3.Cluster.LbSubsetConfig.LbSubsetSelector": ["single_host_per_subset"],
    "envoy.config.endpoint.v3.LocalityLbEndpoints": [
      "load_balancer_endpoints",
      "leds_cluster_locality_config",
    ],
    "envoy.config.endpoint.v3.LbEndpoint": ["endpoint_name"],
  },
};
