/** The TCP proxy network filter (`envoy.filters.network.tcp_proxy`): L4 forwarding. */
import type { ExtensionFactory } from "../../../../config/extensions.ts";

/** Factory for tcp_proxy. */
export const tcpProxyFactory: ExtensionFactory = {
  name: "envoy.filters.network.tcp_proxy",
  aliases: ["envoy.tcp_proxy"],
  category: "envoy.filters.network",
  configTypes: ["envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"],
  terminal: true,
};
