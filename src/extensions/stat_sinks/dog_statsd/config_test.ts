import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../../config/api.ts";
import { ExtensionRegistry } from "../../../config/extensions.ts";
import { ClusterStatsCache } from "../../../stats/data_path_stats.ts";
import { Store } from "../../../stats/store.ts";
import { TagProducer } from "../../../stats/tag_extractor.ts";
import { ClusterManager } from "../../../upstream/cluster_manager.ts";
import { UdpStatsdSink } from "../common/statsd/udp_statsd_sink.ts";
import { dogStatsdSinkFactory } from "./config.ts";

function config(json: JsonValue) {
  return fromJson(messageSchema("envoy.config.metrics.v3.DogStatsdSink"), json, {
    registry: apiRegistry(),
  });
}

function validate(json: JsonValue): [string, string | undefined][] {
  const reports: [string, string | undefined][] = [];
  dogStatsdSinkFactory.validate!(config(json), {
    report: (message, field) => reports.push([message, field]),
    extensions: new ExtensionRegistry(),
    unsupported: (feature, field) => reports.push([`unsupported: ${feature}`, field]),
  });
  return reports;
}

Deno.test("dog_statsd validation: the address is an IP literal", () => {
  assertEquals(
    validate({ address: { socket_address: { address: "127.0.0.1", port_value: 1 } } }),
    [],
  );
  assertEquals(validate({ address: { socket_address: { address: "dd-agent", port_value: 1 } } }), [
    ["malformed IP address: dd-agent", "address.socket_address.address"],
  ]);
});

Deno.test("dog_statsd create: a tagging UDP sink with its prefix", () => {
  const stats = new Store();
  const sink = dogStatsdSinkFactory.createStatsSink!(
    config({
      address: { socket_address: { address: "127.0.0.1", port_value: 8125 } },
      prefix: "dd",
      max_bytes_per_datagram: "512",
    }),
    {
      clusterManager: new ClusterManager([]),
      stats,
      clusterStats: new ClusterStatsCache(stats),
      tags: new TagProducer(),
      localInfo: { nodeId: "", clusterName: "" },
    },
  );
  assert(sink instanceof UdpStatsdSink);
  assertEquals(sink.prefix, "dd");
});

Deno.test("dog_statsd answers to its legacy name", () => {
  assertEquals(dogStatsdSinkFactory.aliases, ["envoy.dog_statsd"]);
});
