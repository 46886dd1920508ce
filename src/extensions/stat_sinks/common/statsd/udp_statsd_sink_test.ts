import dgram from "node:dgram";
import { assertEquals } from "../../../../testing/assert.ts";
import type { StoreSnapshot } from "../../../../stats/snapshot.ts";
import { TagProducer } from "../../../../stats/tag_extractor.ts";
import { type DatagramWriter, UdpStatsdSink } from "./udp_statsd_sink.ts";

function recorder(): DatagramWriter & { sent: string[] } {
  const sent: string[] = [];
  return { sent, write: (d) => sent.push(d), close: () => Promise.resolve() };
}

function snapshot(): StoreSnapshot {
  return {
    counters: [
      { name: "cluster.a.upstream_rq_2xx", value: 10, delta: 3, used: true },
      { name: "cluster.a.upstream_rq_5xx", value: 0, delta: 0, used: false },
      { name: "cluster.a.upstream_rq_total", value: 10, delta: 0, used: true },
    ],
    gauges: [
      { name: "server.live", value: 1, importMode: "NeverImport", used: true },
      { name: "cluster.a.upstream_cx_active", value: 0, importMode: "Accumulate", used: false },
    ],
    histograms: [],
    textReadouts: [{ name: "server.version", value: "x", used: true }],
  };
}

Deno.test("statsd flush: used counters' increases and used gauges, one per datagram", () => {
  const w = recorder();
  new UdpStatsdSink({ writer: w }).flush(snapshot());
  // Unused stats are not sent; a used counter that did not move is (delta 0), as in Envoy.
  assertEquals(w.sent, [
    "envoy.cluster.a.upstream_rq_2xx:3|c",
    "envoy.cluster.a.upstream_rq_total:0|c",
    "envoy.server.live:1|g",
  ]);
});

Deno.test("dog_statsd flush: tag-extracted names with tags, packed by max bytes", () => {
  const w = recorder();
  const sink = new UdpStatsdSink({
    writer: w,
    tags: new TagProducer(),
    prefix: "dd",
    bufferSize: 100,
  });
  sink.flush(snapshot());
  // The first metric (81 bytes) and the second (53) do not fit in 100 together.
  assertEquals(w.sent, [
    "dd.cluster.upstream_rq_xx:3|c|#envoy.response_code_class:2,envoy.cluster_name:a",
    "dd.cluster.upstream_rq_total:0|c|#envoy.cluster_name:a\ndd.server.live:1|g",
  ]);
});

Deno.test("histogram values go out at once, whatever the buffer size", () => {
  const w = recorder();
  const plain = new UdpStatsdSink({ writer: w, prefix: "p" });
  plain.onHistogramComplete({ name: "cluster.a.upstream_rq_time", unit: "Milliseconds" }, 17.9);
  const dog = new UdpStatsdSink({ writer: w, tags: new TagProducer(), bufferSize: 1000 });
  dog.onHistogramComplete({ name: "cluster.a.upstream_rq_time", unit: "Milliseconds" }, 4);
  dog.onHistogramComplete({ name: "server.ratio", unit: "Percent" }, 250_000);
  assertEquals(w.sent, [
    "p.cluster.a.upstream_rq_time:17|ms",
    "envoy.cluster.upstream_rq_time:4|ms|#envoy.cluster_name:a",
    "envoy.server.ratio:0.25|h",
  ]);
});

Deno.test("a real UDP socket delivers the datagrams; closing waits for them", async () => {
  const receiver = dgram.createSocket("udp4");
  await new Promise<void>((r) => receiver.bind(0, "127.0.0.1", () => r()));
  const got: string[] = [];
  const all = new Promise<void>((resolve) =>
    receiver.on("message", (m) => {
      got.push(m.toString());
      if (got.length === 4) resolve();
    })
  );
  const sink = new UdpStatsdSink({ address: { ip: "127.0.0.1", port: receiver.address().port } });
  sink.flush(snapshot());
  sink.onHistogramComplete({ name: "http.in.downstream_rq_time", unit: "Milliseconds" }, 3);
  await sink.close();
  await all;
  receiver.close();
  assertEquals(got.sort(), [
    "envoy.cluster.a.upstream_rq_2xx:3|c",
    "envoy.cluster.a.upstream_rq_total:0|c",
    "envoy.http.in.downstream_rq_time:3|ms",
    "envoy.server.live:1|g",
  ]);
});

Deno.test("nobody listening: sends fail silently", async () => {
  const probe = dgram.createSocket("udp4");
  await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()));
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const sink = new UdpStatsdSink({ address: { ip: "127.0.0.1", port } });
  for (let i = 0; i < 3; i++) sink.flush(snapshot());
  await sink.close();
});
