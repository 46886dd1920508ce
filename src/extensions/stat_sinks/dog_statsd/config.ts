/**
 * `envoy.stat_sinks.dog_statsd`: statsd over UDP with DogStatsD tags. Names are
 * tag-extracted (`stats_config` decides the tags, as for Prometheus) and the tags follow the
 * value: `envoy.cluster.upstream_rq_xx:3|c|#envoy.response_code_class:2,envoy.cluster_name:a`.
 * `max_bytes_per_datagram` packs several flushed metrics into one datagram.
 */
import type { Message } from "@bufbuild/protobuf";
import type { DogStatsdSink } from "../../../../proto/gen/envoy/config/metrics/v3/stats_pb.ts";
import type { ExtensionFactory, ExtensionValidationContext } from "../../../config/extensions.ts";
import type { StatsSink, StatsSinkContext } from "../../../stats/sink.ts";
import { isTarget, udpTarget } from "../common/statsd/address.ts";
import { UdpStatsdSink } from "../common/statsd/udp_statsd_sink.ts";

function validate(config: Message, ctx: ExtensionValidationContext): void {
  const c = config as DogStatsdSink;
  if (c.dogStatsdSpecifier.case !== "address") return; // the schema requires one
  const t = udpTarget(c.dogStatsdSpecifier.value);
  if (isTarget(t)) return;
  const field = t.field ? `address.${t.field}` : "address";
  if (t.unsupported) ctx.unsupported(t.message, field);
  else ctx.report(t.message, field);
}

function create(config: Message, ctx: StatsSinkContext): StatsSink {
  const c = config as DogStatsdSink;
  if (c.dogStatsdSpecifier.case !== "address") {
    throw new Error('dog_statsd: "address" must be set');
  }
  const t = udpTarget(c.dogStatsdSpecifier.value);
  if (!isTarget(t)) throw new Error(`dog_statsd: ${t.message}`);
  return new UdpStatsdSink({
    address: t,
    prefix: c.prefix,
    tags: ctx.tags,
    bufferSize: c.maxBytesPerDatagram === undefined ? 0 : Number(c.maxBytesPerDatagram),
  });
}

/** Factory for the DogStatsD sink. */
export const dogStatsdSinkFactory: ExtensionFactory = {
  name: "envoy.stat_sinks.dog_statsd",
  aliases: ["envoy.dog_statsd"],
  category: "envoy.stats_sinks",
  configTypes: ["envoy.config.metrics.v3.DogStatsdSink"],
  fields: {
    implemented: {
      "envoy.config.metrics.v3.DogStatsdSink": ["address", "prefix", "max_bytes_per_datagram"],
    },
  },
  validate,
  createStatsSink: create,
};
