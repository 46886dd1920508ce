import { ClusterSchema } from "../../../../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { assertEquals } from "../../../../testing/assert.ts";
import type { StoreSnapshot } from "../../../../stats/snapshot.ts";
import { Store } from "../../../../stats/store.ts";
import { ClusterManager } from "../../../../upstream/cluster_manager.ts";
import { ClusterStreamWriter, type StreamWriter, TcpStatsdSink } from "./tcp_statsd_sink.ts";
import { fromJson } from "@bufbuild/protobuf";
import { apiRegistry } from "../../../../config/api.ts";

const snap: StoreSnapshot = {
  counters: [
    { name: "cluster.a.upstream_rq_2xx", value: 5, delta: 2, used: true },
    { name: "cluster.a.upstream_rq_5xx", value: 0, delta: 0, used: false },
  ],
  gauges: [{ name: "server.live", value: 1, importMode: "NeverImport", used: true }],
  histograms: [],
  textReadouts: [],
};

Deno.test("tcp statsd: newline-ended lines with full names, one write per flush", () => {
  const writes: string[] = [];
  const w: StreamWriter = { write: (t) => writes.push(t), close: () => Promise.resolve() };
  const sink = new TcpStatsdSink("", w);
  sink.flush(snap);
  sink.onHistogramComplete({ name: "cluster.a.upstream_rq_time", unit: "Milliseconds" }, 8.2);
  sink.onHistogramComplete({ name: "x.ratio", unit: "Percent" }, 10_000);
  assertEquals(writes, [
    "envoy.cluster.a.upstream_rq_2xx:2|c\nenvoy.server.live:1|g\n",
    "envoy.cluster.a.upstream_rq_time:8|ms\n",
    "envoy.x.ratio:0.01|h\n",
  ]);
  // Nothing used: nothing written.
  sink.flush({ counters: [], gauges: [], histograms: [], textReadouts: [] });
  assertEquals(writes.length, 3);
});

function clusterManager(
  port: number,
  connectTimeout = "1s",
  extra: Record<string, unknown> = {},
): ClusterManager {
  const cluster = fromJson(ClusterSchema, {
    ...extra,
    name: "statsd",
    type: "STATIC",
    connect_timeout: connectTimeout,
    load_assignment: {
      cluster_name: "statsd",
      endpoints: [{
        lb_endpoints: [{
          endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } },
        }],
      }],
    },
  }, { registry: apiRegistry() });
  return new ClusterManager([cluster]);
}

function writerDeps(cm: ClusterManager, store: Store, maxBufferedBytes?: number) {
  const s = store.scope("cluster.statsd");
  return {
    clusterManager: cm,
    cluster: "statsd",
    clusterStats: {
      cxTotal: s.counter("upstream_cx_total"),
      cxConnectFail: s.counter("upstream_cx_connect_fail"),
    },
    cxOverflow: store.counter("statsd.cx_overflow"),
    maxBufferedBytes,
  };
}

/** A TCP server collecting what each connection sends. */
function collector() {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.TcpConn[] = [];
  let text = "";
  let waiter: { re: RegExp; resolve: () => void } | undefined;
  let connWaiter: { n: number; resolve: () => void } | undefined;
  const serving = (async () => {
    for await (const c of l) {
      conns.push(c);
      if (connWaiter && conns.length >= connWaiter.n) connWaiter.resolve();
      (async () => {
        const dec = new TextDecoder();
        try {
          for await (const chunk of c.readable) {
            text += dec.decode(chunk);
            if (waiter && waiter.re.test(text)) waiter.resolve();
          }
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    conns,
    get text() {
      return text;
    },
    /** Resolves when `n` connections were accepted; rejects after `ms`. */
    waitForConnections(n: number, ms = 5000): Promise<void> {
      if (conns.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no connection #${n}`)), ms);
        connWaiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    },
    waitFor(re: RegExp): Promise<void> {
      if (re.test(text)) return Promise.resolve();
      return new Promise((resolve) => waiter = { re, resolve });
    },
    async close() {
      l.close();
      await serving;
    },
  };
}

Deno.test("ClusterStreamWriter connects on first write and reconnects after a close", async () => {
  const server = collector();
  const cm = clusterManager(server.port);
  await cm.initialize();
  const store = new Store();
  const w = new ClusterStreamWriter(writerDeps(cm, store));
  w.write("a:1|c\n");
  w.write("b:2|c\n");
  await server.waitFor(/a:1\|c\nb:2\|c\n/);
  assertEquals(store.counter("cluster.statsd.upstream_cx_total").value, 1);
  // The collector hangs up: a write after the writer noticed opens a new connection (stats
  // keep coming, as flushes do, until it does).
  server.conns[0].close();
  const flushes = setInterval(() => w.write("c:1|c\n"), 5);
  try {
    await server.waitForConnections(2);
  } finally {
    clearInterval(flushes);
  }
  assertEquals(store.counter("cluster.statsd.upstream_cx_total").value, 2);
  await server.waitFor(/c:1\|c\n/);
  await w.close();
  await server.close();
  cm.destroy();
});

Deno.test("ClusterStreamWriter: connect failures are counted and drop the data", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const cm = clusterManager(port);
  await cm.initialize();
  const store = new Store();
  const w = new ClusterStreamWriter(writerDeps(cm, store));
  w.write("a:1|c\n");
  await w.close();
  assertEquals(store.counter("cluster.statsd.upstream_cx_connect_fail").value, 1);
  cm.destroy();
});

Deno.test("ClusterStreamWriter: a backed-up connection is closed and counted as cx_overflow", async () => {
  // A server that accepts and never reads lets the queue grow past the (small) limit.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.TcpConn[] = [];
  const acceptLoop = (async () => {
    for await (const c of l) accepted.push(c);
  })().catch(() => {});
  const cm = clusterManager((l.addr as Deno.NetAddr).port);
  await cm.initialize();
  const store = new Store();
  const w = new ClusterStreamWriter(writerDeps(cm, store, 1024));
  // Before the connection is up everything queues; the write after the limit (the 95th of
  // 11 bytes) overflows, drops the queue, and queueing starts over.
  for (let i = 0; i < 100; i++) w.write("0123456789\n");
  assertEquals(store.counter("statsd.cx_overflow").value, 1);
  for (let i = 0; i < 100; i++) w.write("0123456789\n");
  assertEquals(store.counter("statsd.cx_overflow").value, 2);
  await w.close();
  l.close();
  await acceptLoop;
  for (const c of accepted) c.close();
  cm.destroy();
});

Deno.test("a cluster with upstream_proxy_protocol gets the PROXY header before the stats", async () => {
  const server = collector();
  const cm = clusterManager(server.port, "1s", {
    transport_socket: {
      name: "envoy.transport_sockets.upstream_proxy_protocol",
      typed_config: {
        "@type":
          "type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport",
        config: { version: "V1" },
      },
    },
  });
  await cm.initialize();
  const w = new ClusterStreamWriter(writerDeps(cm, new Store()));
  w.write("a:1|c\n");
  await server.waitFor(/a:1\|c\n/);
  assertEquals(
    /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\na:1\|c\n$/.test(server.text),
    true,
    server.text,
  );
  await w.close();
  await server.close();
});
