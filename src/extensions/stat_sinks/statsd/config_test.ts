import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import type { Cluster } from "../../../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { assert, assertEquals } from "../../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../../config/api.ts";
import { ExtensionRegistry } from "../../../config/extensions.ts";
import { ClusterStatsCache } from "../../../stats/data_path_stats.ts";
import type { StatsSinkContext } from "../../../stats/sink.ts";
import { Store } from "../../../stats/store.ts";
import { TagProducer } from "../../../stats/tag_extractor.ts";
import { ClusterManager } from "../../../upstream/cluster_manager.ts";
import { TcpStatsdSink } from "../common/statsd/tcp_statsd_sink.ts";
import { UdpStatsdSink } from "../common/statsd/udp_statsd_sink.ts";
import { statsdSinkFactory } from "./config.ts";

function config(json: JsonValue) {
  return fromJson(messageSchema("envoy.config.metrics.v3.StatsdSink"), json, {
    registry: apiRegistry(),
  });
}

function validate(json: JsonValue, clusters = new Set<string>()): [string, string | undefined][] {
  const reports: [string, string | undefined][] = [];
  statsdSinkFactory.validate!(config(json), {
    report: (message, field) => reports.push([message, field]),
    extensions: new ExtensionRegistry(),
    unsupported: (feature, field) => reports.push([`unsupported: ${feature}`, field]),
    clusters,
  });
  return reports;
}

function context(nodeId = "n", clusterName = "c"): StatsSinkContext {
  const stats = new Store();
  const cluster = fromJson(messageSchema<Cluster>("envoy.config.cluster.v3.Cluster"), {
    name: "statsd",
    type: "STATIC",
    load_assignment: { cluster_name: "statsd" },
  }, { registry: apiRegistry() });
  return {
    clusterManager: new ClusterManager([cluster]),
    stats,
    clusterStats: new ClusterStatsCache(stats),
    tags: new TagProducer(),
    localInfo: { nodeId, clusterName },
  };
}

const udp = (address: string, port: JsonValue = { port_value: 8125 }) => ({
  address: { socket_address: { address, ...(port as object) } },
});

Deno.test("statsd validation: UDP addresses are IP literals with a numeric port", () => {
  assertEquals(validate(udp("127.0.0.1")), []);
  assertEquals(validate(udp("::1")), []);
  assertEquals(validate(udp("statsd.local")), [[
    "malformed IP address: statsd.local",
    "address.socket_address.address",
  ]]);
  assertEquals(validate(udp("127.0.0.1", { named_port: "statsd" })), [[
    "IP resolver can't handle port specifier type named_port",
    "address.socket_address.named_port",
  ]]);
  assertEquals(validate({ address: { pipe: { path: "/tmp/statsd.sock" } } }), [[
    "unsupported: a pipe (Unix datagram) address",
    "address.pipe",
  ]]);
});

Deno.test("statsd validation: tcp_cluster_name must name a static cluster", () => {
  assertEquals(validate({ tcp_cluster_name: "statsd" }, new Set(["statsd"])), []);
  assertEquals(validate({ tcp_cluster_name: "nope" }, new Set(["statsd"])), [[
    "tcp statsd: unknown cluster 'nope'",
    "tcp_cluster_name",
  ]]);
});

Deno.test("statsd create: UDP or TCP sink, with the default prefix", () => {
  const ctx = context();
  const u = statsdSinkFactory.createStatsSink!(config(udp("127.0.0.1")), ctx);
  assert(u instanceof UdpStatsdSink);
  assertEquals(u.prefix, "envoy");
  const t = statsdSinkFactory.createStatsSink!(
    config({ tcp_cluster_name: "statsd", prefix: "p" }),
    ctx,
  );
  assert(t instanceof TcpStatsdSink);
  assertEquals(t.prefix, "p");
  ctx.clusterManager.destroy();
});

Deno.test("statsd create: a TCP sink needs node id and cluster, and a known cluster", () => {
  const ctx = context("", "c");
  let err = "";
  try {
    statsdSinkFactory.createStatsSink!(config({ tcp_cluster_name: "statsd" }), ctx);
  } catch (e) {
    err = (e as Error).message;
  }
  assertEquals(
    err,
    "tcp statsd: node 'id' and 'cluster' are required. Set it either in 'node' config or via " +
      "--service-node and --service-cluster options.",
  );
  try {
    statsdSinkFactory.createStatsSink!(config({ tcp_cluster_name: "x" }), context());
  } catch (e) {
    err = (e as Error).message;
  }
  assertEquals(err, "tcp statsd: unknown cluster 'x'");
  ctx.clusterManager.destroy();
});

Deno.test("statsd answers to its legacy name", () => {
  assertEquals(statsdSinkFactory.aliases, ["envoy.statsd"]);
});
