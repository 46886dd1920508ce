/** Factory of the upstream PROXY protocol transport socket (see upstream_proxy_protocol.ts). */
import type { ExtensionFactory } from "../../../config/extensions.ts";
import type { ProxyProtocolUpstreamTransport } from "../../../../proto/gen/envoy/extensions/transport_sockets/proxy_protocol/v3/upstream_proxy_protocol_pb.ts";
import { innerProblem, UPSTREAM_PROXY_PROTOCOL } from "./upstream_proxy_protocol.ts";

/** Factory for upstream_proxy_protocol. */
export const upstreamProxyProtocolFactory: ExtensionFactory = {
  name: "envoy.transport_sockets.upstream_proxy_protocol",
  category: "envoy.transport_sockets.upstream",
  configTypes: [UPSTREAM_PROXY_PROTOCOL],
  fields: {
    implemented: {
      [UPSTREAM_PROXY_PROTOCOL]: ["config", "transport_socket"],
      "envoy.config.core.v3.ProxyProtocolConfig": ["version", "pass_through_tlvs"],
      "envoy.config.core.v3.ProxyProtocolPassThroughTLVs": ["match_type", "tlv_type"],
    },
  },
  validate(config, ctx) {
    const problem = innerProblem((config as ProxyProtocolUpstreamTransport).transportSocket);
    if (problem) ctx.unsupported(problem, "transport_socket");
  },
};
