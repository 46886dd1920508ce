/**
 * Upstream HTTP protocol options (`envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
 * set per cluster in `typed_extension_protocol_options`): connection limits and timeouts of
 * the upstream pools, and which HTTP version to speak upstream.
 */
import type { HttpProtocolOptions } from "../../../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.ts";
import type { ExtensionFactory } from "../../../config/extensions.ts";
import { upstreamProtocolProblem } from "../../../upstream/cluster_info.ts";

const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Factory for the upstream HTTP protocol options (read by the cluster manager). */
export const httpProtocolOptionsFactory: ExtensionFactory = {
  name: "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  category: "envoy.upstream_options",
  configTypes: [OPTIONS],
  fields: {
    implemented: {
      [OPTIONS]: [
        "common_http_protocol_options",
        "explicit_http_config",
        "use_downstream_protocol_config",
        // ALPN picks HTTP/2 or HTTP/1.1 per connection (upstream/alpn_conn_pool.ts).
        "auto_config",
        // Per-request SNI and SAN checks of upstream TLS (router_filter.ts, client_context.ts).
        "upstream_http_protocol_options",
      ],
      "envoy.config.core.v3.UpstreamHttpProtocolOptions": [
        "auto_sni",
        "auto_san_validation",
        "override_auto_sni_header",
      ],
      [`${OPTIONS}.ExplicitHttpConfig`]: ["http_protocol_options", "http2_protocol_options"],
      [`${OPTIONS}.UseDownstreamHttpConfig`]: ["http_protocol_options", "http2_protocol_options"],
      [`${OPTIONS}.AutoHttpConfig`]: ["http_protocol_options", "http2_protocol_options"],
    },
    // upstreamProtocolProblem names the protocols the upstream pools lack.
    checked: {
      [`${OPTIONS}.ExplicitHttpConfig`]: ["http3_protocol_options"],
      [`${OPTIONS}.AutoHttpConfig`]: [
        "http3_protocol_options",
        "alternate_protocols_cache_options",
      ],
      [`${OPTIONS}.UseDownstreamHttpConfig`]: ["http3_protocol_options"],
    },
  },
  validate(config, ctx) {
    const problem = upstreamProtocolProblem(config as HttpProtocolOptions);
    if (problem) ctx.unsupported(problem.replace(/ is not supported yet$/, ""));
  },
};
