/**
 * Fields whose implementation is landing from a parallel branch of issue 8 ("config accepted
 * that has no effect"): their readers declare them, but they stay refused until the branch that
 * makes them work is merged. Merging such a branch deletes its entries here, nothing else.
 */
import type { FieldDeclarations } from "./field_support.ts";

/** Declared but not yet wired: refused (`field 'x' is not supported yet`). */
export const PENDING_FIELDS: FieldDeclarations = {
  "envoy.extensions.filters.http.router.v3.Router": ["suppress_envoy_headers"],
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager": [
    "via",
    "strip_trailing_host_dot",
  ],
  "envoy.config.core.v3.Http1ProtocolOptions": ["header_key_format", "allow_chunked_length"],
  "envoy.config.core.v3.HttpProtocolOptions": [
    "headers_with_underscores_action",
    "max_stream_duration",
  ],
  "envoy.config.route.v3.RouteAction": [
    "idle_timeout",
    "upgrade_configs",
    "host_rewrite_path_regex",
    "max_stream_duration",
    "internal_redirect_policy",
  ],
  "envoy.config.route.v3.WeightedCluster": ["runtime_key_prefix"],
};
