/**
 * `envoy.stat_sinks.statsd`: plain statsd (full stat names, no tags) over UDP to `address`
 * or over TCP to a host of the static cluster `tcp_cluster_name`.
 */
import type { Message } from "@bufbuild/protobuf";
import type { StatsdSink } from "../../../../proto/gen/envoy/config/metrics/v3/stats_pb.ts";
import type { ExtensionFactory, ExtensionValidationContext } from "../../../config/extensions.ts";
import type { StatsSink, StatsSinkContext } from "../../../stats/sink.ts";
import { isTarget, udpTarget } from "../common/statsd/address.ts";
import { ClusterStreamWriter, TcpStatsdSink } from "../common/statsd/tcp_statsd_sink.ts";
import { UdpStatsdSink } from "../common/statsd/udp_statsd_sink.ts";

function validate(config: Message, ctx: ExtensionValidationContext): void {
  const c = config as StatsdSink;
  const spec = c.statsdSpecifier;
  if (spec.case === "address") {
    const t = udpTarget(spec.value);
    if (isTarget(t)) return;
    const field = t.field ? `address.${t.field}` : "address";
    if (t.unsupported) ctx.unsupported(t.message, field);
    else ctx.report(t.message, field);
  } else if (spec.case === "tcpClusterName" && ctx.clusters && !ctx.clusters.has(spec.value)) {
    ctx.report(`tcp statsd: unknown cluster '${spec.value}'`, "tcp_cluster_name");
  }
}

function create(config: Message, ctx: StatsSinkContext): StatsSink {
  const c = config as StatsdSink;
  const spec = c.statsdSpecifier;
  if (spec.case === "address") {
    const t = udpTarget(spec.value);
    if (!isTarget(t)) throw new Error(`statsd: ${t.message}`);
    return new UdpStatsdSink({ address: t, prefix: c.prefix });
  }
  if (spec.case === "tcpClusterName") {
    const name = spec.value;
    if (!ctx.localInfo.nodeId || !ctx.localInfo.clusterName) {
      throw new Error(
        "tcp statsd: node 'id' and 'cluster' are required. Set it either in 'node' config or " +
          "via --service-node and --service-cluster options.",
      );
    }
    const cluster = ctx.clusterManager.get(name);
    if (cluster === undefined) throw new Error(`tcp statsd: unknown cluster '${name}'`);
    const writer = new ClusterStreamWriter({
      clusterManager: ctx.clusterManager,
      cluster: name,
      clusterStats: ctx.clusterStats.get(cluster.info.statName),
      cxOverflow: ctx.stats.counter("statsd.cx_overflow"),
    });
    return new TcpStatsdSink(c.prefix, writer);
  }
  throw new Error('statsd: one of "address", "tcp_cluster_name" must be set');
}

/** Factory for the statsd sink. */
export const statsdSinkFactory: ExtensionFactory = {
  name: "envoy.stat_sinks.statsd",
  aliases: ["envoy.statsd"],
  category: "envoy.stats_sinks",
  configTypes: ["envoy.config.metrics.v3.StatsdSink"],
  fields: {
    implemented: {
      "envoy.config.metrics.v3.StatsdSink": ["address", "tcp_cluster_name", "prefix"],
    },
  },
  validate,
  createStatsSink: create,
};
