/**
 * Fields of listeners and filter chains that listener.ts, filter_chain_match.ts and the worker
 * implement (see config/field_support.ts). UDP is refused.
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
      "filter_chain_matcher",
      "default_filter_chain",
      "per_connection_buffer_limit_bytes",
      "metadata",
      "drain_type",
      "traffic_direction",
      "access_log",
      "bind_to_port",
      "listener_filters",
      "listener_filters_timeout",
      "continue_on_listener_filters_timeout",
      "ignore_global_conn_limit",
      // STATE_BOUND / STATE_LISTENING, after Deno's listen() (network/socket_options.ts);
      // STATE_PREBIND is refused there.
      "socket_options",
      // The hand-off to the listener of the restored address (original_dst_handoff.ts).
      "use_original_dst",
    ],
    "envoy.config.core.v3.SocketOption": [
      "description",
      "level",
      "name",
      "int_value",
      "buf_value",
      "state",
    ],
    // listener_filters (listener_filter.ts, listener_filters_config.ts); config_discovery:
    // ECDS (listener/ecds_filters.ts, xds/ecds_provider.ts).
    "envoy.config.listener.v3.ListenerFilter": [
      "name",
      "typed_config",
      "config_discovery",
      "filter_disabled",
    ],
    "envoy.config.listener.v3.ListenerFilterChainMatchPredicate": [
      "or_match",
      "and_match",
      "not_match",
      "any_match",
      "destination_port_range",
    ],
    "envoy.config.listener.v3.ListenerFilterChainMatchPredicate.MatchSet": ["rules"],
    "envoy.type.v3.Int32Range": ["start", "end"],
    "envoy.config.listener.v3.FilterChain": [
      "filter_chain_match",
      "filters",
      "metadata",
      "transport_socket",
      // The TLS handshake timeout (extensions/transport_sockets/tls/server_context.ts).
      "transport_socket_connect_timeout",
      "name",
    ],
    "envoy.config.listener.v3.FilterChainMatch": [
      "destination_port",
      "prefix_ranges",
      "direct_source_prefix_ranges",
      "source_type",
      "source_prefix_ranges",
      "source_ports",
      "server_names",
      "transport_protocol",
      "application_protocols",
    ],
    // config_discovery: ECDS (listener/ecds_filters.ts, xds/ecds_provider.ts).
    "envoy.config.listener.v3.Filter": ["name", "typed_config", "config_discovery"],
    // filter_chain_matcher (filter_chain_matcher_tree.ts).
    "xds.type.matcher.v3.Matcher": ["matcher_list", "matcher_tree", "on_no_match"],
    "xds.type.matcher.v3.Matcher.OnMatch": ["matcher", "action"],
    "xds.type.matcher.v3.Matcher.MatcherList": ["matchers"],
    "xds.type.matcher.v3.Matcher.MatcherList.FieldMatcher": ["predicate", "on_match"],
    "xds.type.matcher.v3.Matcher.MatcherList.Predicate": [
      "single_predicate",
      "or_matcher",
      "and_matcher",
      "not_matcher",
    ],
    "xds.type.matcher.v3.Matcher.MatcherList.Predicate.SinglePredicate": ["input", "value_match"],
    "xds.type.matcher.v3.Matcher.MatcherList.Predicate.PredicateList": ["predicate"],
    "xds.type.matcher.v3.Matcher.MatcherTree": [
      "input",
      "exact_match_map",
      "prefix_match_map",
      "custom_match",
    ],
    "xds.type.matcher.v3.Matcher.MatcherTree.MatchMap": ["map"],
    "xds.core.v3.TypedExtensionConfig": ["name", "typed_config"],
    "xds.type.matcher.v3.StringMatcher": [
      "exact",
      "prefix",
      "suffix",
      "safe_regex",
      "contains",
      "ignore_case",
    ],
    "xds.type.matcher.v3.RegexMatcher": ["google_re2", "regex"],
    "xds.type.matcher.v3.RegexMatcher.GoogleRE2": [],
  },
  // exact_balance (connection_balancer.ts); extend_balance and LDS listeners are refused by
  // config/semantic.ts.
  checked: { "envoy.config.listener.v3.Listener": ["connection_balance_config"] },
};
