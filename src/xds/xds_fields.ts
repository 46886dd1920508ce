/**
 * Fields of the dynamic configuration messages that src/xds implements (see
 * config/field_support.ts): `dynamic_resources`, config sources, EDS clusters, RDS.
 * Config sources that name a transport not implemented yet are refused with their own
 * message (config_source.ts), so their fields are declared here.
 */
import type { FieldTable } from "../config/field_support.ts";

/** Config source, dynamic resources and xDS reference fields. */
export const XDS_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.bootstrap.v3.Bootstrap.DynamicResources": [
      "lds_config",
      "lds_resources_locator",
      "cds_config",
      "cds_resources_locator",
      "ads_config",
    ],
    "envoy.config.core.v3.ConfigSource": [
      "path",
      "path_config_source",
      "api_config_source",
      "ads",
      "initial_fetch_timeout",
      "resource_api_version",
      "authorities",
    ],
    "xds.core.v3.Authority": ["name"],
    "envoy.config.core.v3.PathConfigSource": ["path", "watched_directory"],
    "envoy.config.core.v3.WatchedDirectory": ["path"],
    "envoy.config.core.v3.ApiConfigSource": [
      "api_type",
      "transport_api_version",
      "cluster_names",
      "refresh_delay",
      "request_timeout",
      "grpc_services",
      "set_node_on_first_message_only",
      "rate_limit_settings",
    ],
    "envoy.config.core.v3.RateLimitSettings": ["max_tokens", "fill_rate"],
    "envoy.config.core.v3.GrpcService": ["envoy_grpc", "google_grpc"],
    "envoy.config.core.v3.GrpcService.GoogleGrpc": ["target_uri", "stat_prefix"],
    "envoy.config.core.v3.GrpcService.EnvoyGrpc": ["cluster_name", "authority"],
    "envoy.config.core.v3.AggregatedConfigSource": [],
    "envoy.config.cluster.v3.Cluster.EdsClusterConfig": ["eds_config", "service_name"],
    "envoy.config.route.v3.Vhds": ["config_source"],
    "envoy.extensions.filters.network.http_connection_manager.v3.ScopedRoutes": [
      "name",
      "scope_key_builder",
      "rds_config_source",
      "scoped_route_configurations_list",
      "scoped_rds",
    ],
    "envoy.extensions.filters.network.http_connection_manager.v3.ScopedRoutes.ScopeKeyBuilder": [
      "fragments",
    ],
    "envoy.extensions.filters.network.http_connection_manager.v3.ScopedRoutes.ScopeKeyBuilder.FragmentBuilder":
      ["header_value_extractor"],
    "envoy.extensions.filters.network.http_connection_manager.v3.ScopedRoutes.ScopeKeyBuilder.FragmentBuilder.HeaderValueExtractor":
      [
        "name",
        "element_separator",
        "index",
        "element",
      ],
    "envoy.extensions.filters.network.http_connection_manager.v3.ScopedRoutes.ScopeKeyBuilder.FragmentBuilder.HeaderValueExtractor.KvElement":
      [
        "separator",
        "key",
      ],
    "envoy.extensions.filters.network.http_connection_manager.v3.ScopedRouteConfigurationsList": [
      "scoped_route_configurations",
    ],
    "envoy.extensions.filters.network.http_connection_manager.v3.ScopedRds": [
      "scoped_rds_config_source",
      "srds_resources_locator",
    ],
    "envoy.config.route.v3.ScopedRouteConfiguration": [
      "name",
      "route_configuration_name",
      "route_configuration",
      "key",
    ],
    "envoy.config.route.v3.ScopedRouteConfiguration.Key": ["fragments"],
    "envoy.config.route.v3.ScopedRouteConfiguration.Key.Fragment": ["string_key"],
    "envoy.extensions.filters.network.http_connection_manager.v3.Rds": [
      "config_source",
      "route_config_name",
    ],
  },
  // Checked with their own message (scoped_routes.ts): on_demand scopes serve over SRDS and
  // are refused in scoped_route_configurations_list.
  checked: {
    "envoy.config.route.v3.ScopedRouteConfiguration": ["on_demand"],
  },
};
