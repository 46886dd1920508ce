/**
 * Fields of listeners and filter chains that listener.ts, filter_chain_match.ts and the worker
 * implement (see config/field_support.ts). Listener filters, socket options and UDP are refused.
 */
import type { FieldTable } from "../config/field_support.ts";

/** Listener, filter chain and filter chain match fields. */
export const LISTENER_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.listener.v3.Listener": [
      "name",
      "address",
      "stat_prefix",
      "filter_chains",
      "default_filter_chain",
      "per_connection_buffer_limit_bytes",
      "metadata",
      "drain_type",
      "traffic_direction",
      "access_log",
      "bind_to_port",
      "ignore_global_conn_limit",
    ],
    "envoy.config.listener.v3.FilterChain": [
      "filter_chain_match",
      "filters",
      "metadata",
      "transport_socket",
      "name",
    ],
    "envoy.config.listener.v3.FilterChainMatch": [
      "destination_port",
      "prefix_ranges",
      "source_type",
      "source_prefix_ranges",
      "source_ports",
      "server_names",
      "transport_protocol",
      "application_protocols",
    ],
    "envoy.config.listener.v3.Filter": ["name", "typed_config"],
  },
  // Refused with its reason by config/semantic.ts.
  checked: { "envoy.config.listener.v3.Listener": ["connection_balance_config"] },
};
