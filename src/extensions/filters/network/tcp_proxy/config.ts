/** The TCP proxy network filter (`envoy.filters.network.tcp_proxy`): L4 forwarding. */
import type { TcpProxy } from "../../../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { compileTcpProxy, tcpProxyFilterFactory } from "./tcp_proxy.ts";

/** Factory for tcp_proxy. */
export const tcpProxyFactory: ExtensionFactory = {
  name: "envoy.filters.network.tcp_proxy",
  aliases: ["envoy.tcp_proxy"],
  category: "envoy.filters.network",
  configTypes: ["envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"],
  terminal: true,
  createNetworkFilter(config, server) {
    const c = config && unpackAny<TcpProxy>(config);
    if (!c) throw new Error("tcp_proxy needs a typed_config");
    return tcpProxyFilterFactory(compileTcpProxy(c), server);
  },
};
