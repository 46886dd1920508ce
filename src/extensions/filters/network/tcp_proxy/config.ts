/** The TCP proxy network filter (`envoy.filters.network.tcp_proxy`): L4 forwarding. */
import type { TcpProxy } from "../../../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { accessLogProblems } from "../../../access_loggers/access_log.ts";
import { compileTcpProxy, tcpProxyFilterFactory } from "./tcp_proxy.ts";

const TCP_PROXY = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** Factory for tcp_proxy. */
export const tcpProxyFactory: ExtensionFactory = {
  name: "envoy.filters.network.tcp_proxy",
  aliases: ["envoy.tcp_proxy"],
  category: "envoy.filters.network",
  configTypes: [TCP_PROXY],
  terminal: true,
  fields: {
    implemented: {
      [TCP_PROXY]: [
        "stat_prefix",
        "cluster",
        "weighted_clusters",
        "idle_timeout",
        "access_log",
        "max_connect_attempts",
        // The hash key of RING_HASH and MAGLEV clusters (source IP or filter state).
        "hash_policy",
        "access_log_flush_interval",
        "flush_access_log_on_connected",
        "access_log_options",
      ],
      [`${TCP_PROXY}.WeightedCluster`]: ["clusters"],
      [`${TCP_PROXY}.WeightedCluster.ClusterWeight`]: ["name", "weight"],
      [`${TCP_PROXY}.TcpAccessLogOptions`]: [
        "access_log_flush_interval",
        "flush_access_log_on_connected",
      ],
      "envoy.type.v3.HashPolicy": ["source_ip", "filter_state"],
      "envoy.type.v3.HashPolicy.SourceIp": [],
      "envoy.type.v3.HashPolicy.FilterState": ["key"],
    },
  },
  // What compiling it refuses beyond the schema: access log filters (files are not opened).
  validate(config, ctx) {
    (config as TcpProxy).accessLog.forEach((log, i) => {
      for (const p of accessLogProblems(log)) ctx.report(p.message, `access_log[${i}]${p.field}`);
    });
  },
  createNetworkFilter(config, server) {
    const c = config && unpackAny<TcpProxy>(config);
    if (!c) throw new Error("tcp_proxy needs a typed_config");
    return tcpProxyFilterFactory(compileTcpProxy(c), server);
  },
};
