/**
 * Fields of the bootstrap's own messages that the server implements (see
 * config/field_support.ts): node, admin, watchdogs, stats flushing, layered runtime.
 */
import type { FieldTable } from "../config/field_support.ts";

/** Bootstrap, node, admin and watchdog fields read by the server's start-up. */
export const BOOTSTRAP_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.bootstrap.v3.Bootstrap": [
      "node",
      "static_resources",
      "dynamic_resources",
      "cluster_manager",
      "stats_sinks",
      "stats_config",
      "stats_flush_interval",
      "stats_flush_on_admin",
      "watchdog",
      "watchdogs",
      "layered_runtime",
      "admin",
      "stats_server_version_override",
      "overload_manager",
      "config_sources",
      "default_config_source",
    ],
    "envoy.config.bootstrap.v3.Bootstrap.StaticResources": ["listeners", "clusters", "secrets"],
    // local_cluster_name drives zone aware routing; its other fields are not implemented.
    "envoy.config.bootstrap.v3.ClusterManager": ["local_cluster_name"],
    // The node describes this proxy (admin /server_info, stat sinks); none of it changes traffic.
    "envoy.config.core.v3.Node": [
      "id",
      "cluster",
      "metadata",
      "locality",
      "user_agent_name",
      "user_agent_version",
      "user_agent_build_version",
      "extensions",
      "client_features",
    ],
    "envoy.config.core.v3.BuildVersion": ["version", "metadata"],
    "envoy.type.v3.SemanticVersion": ["major_number", "minor_number", "patch"],
    "envoy.config.core.v3.Extension": ["name", "category", "version", "disabled", "type_urls"],
    "envoy.config.bootstrap.v3.Admin": [
      "address",
      "access_log",
      "access_log_path",
      "ignore_global_conn_limit",
    ],
    "envoy.config.bootstrap.v3.Watchdogs": ["main_thread_watchdog", "worker_watchdog"],
    // Misses and mega misses are counted; kill and multikill act on workers only (see
    // config/semantic.ts); watchdog action extensions and kill jitter are not implemented.
    "envoy.config.bootstrap.v3.Watchdog": [
      "miss_timeout",
      "megamiss_timeout",
      "kill_timeout",
      "multikill_timeout",
      "multikill_threshold",
    ],
  },
};
