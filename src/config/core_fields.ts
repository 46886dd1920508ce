/**
 * Fields of the small shared messages (`envoy.config.core.v3`, `envoy.type.v3`) that several
 * modules read the same way: addresses, header options, data sources, runtime values, metadata
 * (see field_support.ts). Also the list of every module's declarations, for the registry.
 */
import type { FieldTable } from "./field_support.ts";
import { BOOTSTRAP_FIELDS } from "../server/bootstrap_fields.ts";
import { RUNTIME_FIELDS } from "../runtime/runtime_fields.ts";
import { STATS_FIELDS } from "../stats/stats_fields.ts";
import { MATCHER_FIELDS } from "../router/matcher_fields.ts";
import { ROUTE_FIELDS } from "../router/route_fields.ts";
import { LISTENER_FIELDS } from "../listener/listener_fields.ts";
import { CLUSTER_FIELDS } from "../upstream/cluster_fields.ts";
import { ACCESS_LOG_FIELDS } from "../extensions/access_loggers/access_log_fields.ts";
import { FORMAT_FIELDS } from "../formatter/format_fields.ts";
import { XDS_FIELDS } from "../xds/xds_fields.ts";
import { OVERLOAD_FIELDS } from "../server/overload_fields.ts";
import { HTTP2_PROTOCOL_OPTIONS_FIELDS } from "../http/http2/http2_options.ts";

/** Shared core messages. */
export const CORE_MESSAGE_FIELDS: FieldTable = {
  implemented: {
    // Listeners, endpoints and the admin bind or connect TCP sockets only.
    "envoy.config.core.v3.Address": ["socket_address"],
    "envoy.config.core.v3.SocketAddress": ["address", "port_value"],
    "envoy.config.core.v3.HeaderValueOption": [
      "header",
      "append",
      "append_action",
      "keep_empty_value",
    ],
    "envoy.config.core.v3.HeaderValue": ["key", "value", "raw_value"],
    "envoy.config.core.v3.DataSource": [
      "filename",
      "inline_bytes",
      "inline_string",
      "environment_variable",
    ],
    "envoy.config.core.v3.Metadata": ["filter_metadata"],
    "envoy.config.core.v3.TypedExtensionConfig": ["name", "typed_config"],
    "xds.core.v3.TypedExtensionConfig": ["name", "typed_config"],
    "envoy.config.core.v3.TransportSocket": ["name", "typed_config"],
    "envoy.config.core.v3.RuntimeFractionalPercent": ["default_value", "runtime_key"],
    "envoy.config.core.v3.RuntimeUInt32": ["default_value", "runtime_key"],
    "envoy.config.core.v3.RuntimeDouble": ["default_value", "runtime_key"],
    "envoy.type.v3.FractionalPercent": ["numerator", "denominator"],
    "envoy.type.v3.Percent": ["value"],
    "envoy.config.core.v3.Locality": ["region", "zone", "sub_zone"],
    "envoy.config.core.v3.CidrRange": ["address_prefix", "prefix_len"],
    // A filesystem xDS resource file (config/bootstrap.ts loadResourceFile).
    "envoy.service.discovery.v3.DiscoveryResponse": [
      "version_info",
      "resources",
      "type_url",
      "nonce",
    ],
    // A resource wrapped for its TTL (resource-in-sotw): unwrapped; a file or REST response
    // has no TTL to honour, so `ttl` is ignored there, as Envoy does.
    "envoy.service.discovery.v3.Resource": ["name", "version", "resource", "ttl"],
  },
};

/** Every core module's declarations; extensions add theirs when registered. */
export const CORE_FIELDS: readonly FieldTable[] = [
  CORE_MESSAGE_FIELDS,
  BOOTSTRAP_FIELDS,
  RUNTIME_FIELDS,
  STATS_FIELDS,
  MATCHER_FIELDS,
  ROUTE_FIELDS,
  LISTENER_FIELDS,
  CLUSTER_FIELDS,
  ACCESS_LOG_FIELDS,
  FORMAT_FIELDS,
  XDS_FIELDS,
  OVERLOAD_FIELDS,
  HTTP2_PROTOCOL_OPTIONS_FIELDS,
];
