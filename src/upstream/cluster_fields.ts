/**
 * Fields of clusters and endpoints that cluster_info.ts, the cluster manager, DNS clusters,
 * load balancers, connection pools and circuit breakers (resource_manager.ts) implement (see
 * config/field_support.ts). Health checks and outlier detection are refused until they are
 * implemented.
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
      "circuit_breakers",
    ],
    "envoy.config.cluster.v3.CircuitBreakers": ["thresholds"],
    "envoy.config.cluster.v3.CircuitBreakers.Thresholds": [
      "priority",
      "max_connections",
      "max_pending_requests",
      "max_requests",
      "max_retries",
      "retry_budget",
      "track_remaining",
    ],
    "envoy.config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget": [
      "budget_percent",
      "min_retry_concurrency",
    ],
    "envoy.config.cluster.v3.Cluster.RefreshRate": ["base_interval", "max_interval"],
    "envoy.config.cluster.v3.Cluster.LeastRequestLbConfig": ["choice_count", "active_request_bias"],
    "envoy.config.cluster.v3.Cluster.RoundRobinLbConfig": [],
    "envoy.config.cluster.v3.Cluster.CommonLbConfig": [
      "healthy_panic_threshold",
      "locality_weighted_lb_config",
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
    "envoy.config.endpoint.v3.LocalityLbEndpoints": [
      "load_balancer_endpoints",
      "leds_cluster_locality_config",
    ],
    "envoy.config.endpoint.v3.LbEndpoint": ["endpoint_name"],
    "envoy.config.cluster.v3.CircuitBreakers": ["per_host_thresholds"],
    "envoy.config.cluster.v3.CircuitBreakers.Thresholds": ["max_connection_pools"],
  },
};
