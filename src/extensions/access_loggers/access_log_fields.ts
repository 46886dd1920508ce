/**
 * Fields of `access_log` entries and their filters that access_log.ts and filter.ts implement
 * (see config/field_support.ts).
 */
import type { FieldTable } from "../../config/field_support.ts";

/** Access log and access log filter fields. */
export const ACCESS_LOG_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.accesslog.v3.AccessLog": ["name", "filter", "typed_config"],
    "envoy.config.accesslog.v3.AccessLogFilter": [
      "status_code_filter",
      "duration_filter",
      "not_health_check_filter",
      "traceable_filter",
      "runtime_filter",
      "and_filter",
      "or_filter",
      "header_filter",
      "response_flag_filter",
      "grpc_status_filter",
      "extension_filter",
      "metadata_filter",
      "log_type_filter",
    ],
    "envoy.config.accesslog.v3.StatusCodeFilter": ["comparison"],
    "envoy.config.accesslog.v3.DurationFilter": ["comparison"],
    "envoy.config.accesslog.v3.ComparisonFilter": ["op", "value"],
    "envoy.config.accesslog.v3.NotHealthCheckFilter": [],
    "envoy.config.accesslog.v3.TraceableFilter": [],
    "envoy.config.accesslog.v3.RuntimeFilter": [
      "runtime_key",
      "percent_sampled",
      "use_independent_randomness",
    ],
    "envoy.config.accesslog.v3.AndFilter": ["filters"],
    "envoy.config.accesslog.v3.OrFilter": ["filters"],
    "envoy.config.accesslog.v3.HeaderFilter": ["header"],
    "envoy.config.accesslog.v3.ResponseFlagFilter": ["flags"],
    "envoy.config.accesslog.v3.GrpcStatusFilter": ["statuses", "exclude"],
    "envoy.config.accesslog.v3.ExtensionFilter": ["name", "typed_config"],
    "envoy.config.accesslog.v3.MetadataFilter": ["matcher", "match_if_key_not_found"],
    "envoy.config.accesslog.v3.LogTypeFilter": ["types", "exclude"],
  },
};
