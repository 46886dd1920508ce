/**
 * Fields of the HTTP connection manager's config that conn_manager_config.ts, the HCM, the
 * HTTP/1 codec and local_reply.ts implement (see config/field_support.ts). The shared
 * `HttpProtocolOptions` is also read by clusters (upstream idle timeout and request limit).
 */
import type { FieldTable } from "../config/field_support.ts";
import { HTTP2_PROTOCOL_OPTIONS_FIELDS } from "./http2/http2_options.ts";

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3";

/** HttpConnectionManager and its nested messages. */
export const CONN_MANAGER_FIELDS: FieldTable = {
  implemented: {
    ...HTTP2_PROTOCOL_OPTIONS_FIELDS.implemented,
    [`${HCM}.HttpConnectionManager`]: [
      "codec_type",
      "http2_protocol_options",
      "stream_error_on_invalid_http_message",
      "stat_prefix",
      "route_config",
      "rds",
      "http_filters",
      "common_http_protocol_options",
      "http_protocol_options",
      "server_name",
      "server_header_transformation",
      "scheme_header_transformation",
      "max_request_headers_kb",
      "stream_idle_timeout",
      "request_timeout",
      "request_headers_timeout",
      "drain_timeout",
      // network/connection.ts (closeAfterFlushAndDelay)
      "delayed_close_timeout",
      "access_log",
      "access_log_flush_interval",
      "flush_access_log_on_new_request",
      "access_log_options",
      "use_remote_address",
      // xfcc.ts
      "forward_client_cert_details",
      "set_current_client_cert_details",
      "xff_num_trusted_hops",
      "skip_xff_append",
      "via",
      "add_user_agent",
      "proxy_100_continue",
      "generate_request_id",
      "preserve_external_request_id",
      "always_set_request_id_in_response",
      "upgrade_configs",
      "normalize_path",
      "merge_slashes",
      "path_with_escaped_slashes_action",
      "local_reply_config",
      "strip_matching_host_port",
      "strip_any_host_port",
      "strip_trailing_host_dot",
    ],
    [`${HCM}.HttpFilter`]: ["name", "typed_config", "config_discovery", "is_optional"],
    // ECDS (http/ecds_filter.ts, xds/ecds_provider.ts).
    "envoy.config.core.v3.ExtensionConfigSource": [
      "config_source",
      "default_config",
      "apply_default_config_without_warming",
      "type_urls",
    ],
    [`${HCM}.HttpConnectionManager.HcmAccessLogOptions`]: [
      "access_log_flush_interval",
      "flush_access_log_on_new_request",
      "flush_log_on_tunnel_successfully_established",
    ],
    [`${HCM}.HttpConnectionManager.UpgradeConfig`]: ["upgrade_type", "enabled"],
    [`${HCM}.HttpConnectionManager.SetCurrentClientCertDetails`]: [
      "subject",
      "cert",
      "chain",
      "dns",
      "uri",
    ],
    [`${HCM}.LocalReplyConfig`]: ["mappers", "body_format"],
    [`${HCM}.ResponseMapper`]: [
      "filter",
      "status_code",
      "body",
      "body_format_override",
      "headers_to_add",
    ],
    "envoy.config.core.v3.HttpProtocolOptions": [
      "idle_timeout",
      "max_connection_duration",
      "max_headers_count",
      "max_requests_per_connection",
      "max_stream_duration",
      "headers_with_underscores_action",
    ],
    "envoy.config.core.v3.Http1ProtocolOptions": [
      "accept_http_10",
      "default_host_for_http_10",
      "enable_trailers",
      "header_key_format",
      "allow_chunked_length",
    ],
    "envoy.config.core.v3.Http1ProtocolOptions.HeaderKeyFormat": [
      "proper_case_words",
      "stateful_formatter",
    ],
    "envoy.config.core.v3.Http1ProtocolOptions.HeaderKeyFormat.ProperCaseWords": [],
    "envoy.config.core.v3.SchemeHeaderTransformation": ["scheme_to_overwrite"],
  },
  // The route specifiers denvoy lacks are refused by the factory's validation.
  checked: { [`${HCM}.HttpConnectionManager`]: ["rds", "scoped_routes"] },
};
