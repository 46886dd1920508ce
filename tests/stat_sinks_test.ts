/**
 * Stat sinks on a running proxy: statsd (UDP and TCP cluster) and DogStatsD sinks flushing to
 * a real statsd server, the flush on admin, the last flush at shutdown, and config errors.
 */
import dgram from "node:dgram";
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { runMain, ServerProcess, tempFile } from "./helpers.ts";
import { curl, httpConfig, Proxy, staticCluster, upstream } from "./proxy.ts";
import { Statsd } from "./statsd.ts";

const ROUTES = `- match: { prefix: "/" }\n  route: { cluster: backend }`;

/** A `stats_sinks` entry. */
function sink(kind: "statsd" | "dog_statsd", body: string): string {
  const type = kind === "statsd" ? "StatsdSink" : "DogStatsdSink";
  return `- name: envoy.stat_sinks.${kind}
  typed_config:
    "@type": type.googleapis.com/envoy.config.metrics.v3.${type}
${body.replace(/^/gm, "    ")}`;
}

const udpAddress = (port: number) =>
  `address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }`;

/** A UDP socket on loopback collecting datagrams. */
async function receiver() {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  const got: string[] = [];
  let waiter: { re: RegExp; resolve: () => void } | undefined;
  socket.on("message", (m) => {
    got.push(...m.toString().split("\n"));
    if (waiter && got.some((g) => waiter!.re.test(g))) waiter.resolve();
  });
  return {
    port: socket.address().port,
    got,
    /** Resolves when a received metric matches `re`; rejects after `ms`. */
    waitFor(re: RegExp, ms = 20_000): Promise<void> {
      if (got.some((g) => re.test(g))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${re} in ${JSON.stringify(got)}`)),
          ms,
        );
        waiter = {
          re,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

async function get(url: string): Promise<void> {
  const r = await curl(["-o", "/dev/null", "-w", "%{http_code}", url]);
  assertEquals(r.out, "200");
}

Deno.test("statsd (UDP, TCP) and dog_statsd sinks deliver every count to a real statsd", async () => {
  const statsd = await Statsd.start();
  const up = upstream(() => new Response("ok"));
  const config = httpConfig({
    routes: ROUTES,
    clusters: staticCluster("backend", up.port) + staticCluster("statsd_tcp", statsd.tcpPort),
  }) + `node: { id: test-node, cluster: test-cluster }
stats_flush_interval: 0.1s
stats_sinks:
${sink("statsd", `${udpAddress(statsd.udpPort)}\nprefix: udp`)}
${sink("statsd", "tcp_cluster_name: statsd_tcp\nprefix: tcp")}
${sink("dog_statsd", `${udpAddress(statsd.udpPort)}\nprefix: dog\nmax_bytes_per_datagram: 512`)}
`;
  const p = new ServerProcess(["-c", tempFile(config), "--concurrency", "2"]);
  const N = 8;
  try {
    await p.waitFor(/all 2 workers serving\n/);
    const port = Number(/'http' on port (\d+)/.exec(p.stderr)![1]);
    const adminPort = Number(/admin address: .*:(\d+)\n/.exec(p.stderr)![1]);
    for (let i = 0; i < N; i++) {
      await get(`http://127.0.0.1:${port}/${i}`);
      // The admin reading stats must not take increases away from the sinks.
      if (i % 3 === 0) await curl([`http://127.0.0.1:${adminPort}/stats`]);
    }
    const rqTotal = {
      udp: "udp.http.test.downstream_rq_total",
      tcp: "tcp.http.test.downstream_rq_total",
      dog: "dog.http.downstream_rq_total;envoy.http_conn_manager_prefix=test",
    };
    const rqTime = {
      udp: "udp.cluster.backend.upstream_rq_time",
      tcp: "tcp.cluster.backend.upstream_rq_time",
      dog: "dog.cluster.upstream_rq_time;envoy.cluster_name=backend",
    };
    const rq2xx = [
      "udp.cluster.backend.upstream_rq_2xx",
      "tcp.cluster.backend.upstream_rq_2xx",
      "dog.cluster.upstream_rq_xx;envoy.response_code_class=2;envoy.cluster_name=backend",
    ];
    // A flush may fall between a request's start (rq_total) and its response (rq_2xx): wait for
    // every count, each from whichever flush carries it.
    const state = await statsd.waitFor(({ counters, timers }) =>
      Object.values(rqTotal).every((k) => counters[k] === N) &&
      rq2xx.every((k) => counters[k] === N) &&
      Object.values(rqTime).every((k) => timers[k]?.length === N)
    );
    const c = state.counters;
    assertEquals(c["statsd.bad_lines_seen"], 0);
    assertEquals(c["udp.cluster.backend.upstream_rq_2xx"], N);
    assertEquals(c["tcp.cluster.backend.upstream_rq_2xx"], N);
    assertEquals(
      c["dog.cluster.upstream_rq_xx;envoy.response_code_class=2;envoy.cluster_name=backend"],
      N,
    );
    // Every request's time went out as its own timer value, from the worker that served it.
    for (const values of Object.values(rqTime).map((k) => state.timers[k])) {
      assert(values.every((v) => Number.isInteger(v) && v >= 0), String(values));
    }
    const gauges = await statsd.numbers("gauges");
    assertEquals(gauges["udp.server.concurrency"], 2);
    assertEquals(gauges["tcp.server.live"], 1);
    assertEquals(gauges["dog.server.live"], 1);
  } finally {
    await p.stop();
    await up.close();
    await statsd.stop();
  }
});

Deno.test("stats_flush_on_admin: sinks get counters only when the admin serves stats", async () => {
  const r = await receiver();
  const up = upstream(() => new Response("ok"));
  const p = await Proxy.start(
    httpConfig({ routes: ROUTES, clusters: staticCluster("backend", up.port) }) +
      `stats_flush_on_admin: true\nstats_sinks:\n${sink("statsd", udpAddress(r.port))}\n`,
  );
  try {
    await get(`http://127.0.0.1:${p.port()}/`);
    await get(`http://127.0.0.1:${p.port()}/`);
    // Histogram values do not wait for a flush.
    await r.waitFor(/^envoy\.http\.test\.downstream_rq_time:\d+\|ms$/);
    assertEquals(r.got.filter((g) => g.endsWith("|c")), []);
    await curl([`http://127.0.0.1:${p.adminPort}/stats`]);
    await r.waitFor(/^envoy\.http\.test\.downstream_rq_total:2\|c$/);
  } finally {
    await p.stop();
    await up.close();
    await r.close();
  }
});

Deno.test("the last flush at shutdown sends what the interval had not flushed yet", async () => {
  const r = await receiver();
  const up = upstream(() => new Response("ok"));
  const p = await Proxy.start(
    httpConfig({ routes: ROUTES, clusters: staticCluster("backend", up.port) }) +
      `stats_flush_interval: 120s\nstats_sinks:\n${sink("statsd", udpAddress(r.port))}\n`,
  );
  try {
    for (let i = 0; i < 3; i++) await get(`http://127.0.0.1:${p.port()}/`);
  } finally {
    await p.stop();
    await up.close();
  }
  try {
    await r.waitFor(/^envoy\.http\.test\.downstream_rq_total:3\|c$/);
    await r.waitFor(/^envoy\.cluster\.backend\.upstream_rq_2xx:3\|c$/);
  } finally {
    await r.close();
  }
});

Deno.test("--mode validate reports sink and flush settings Envoy rejects", async () => {
  const path = tempFile(`stats_flush_interval: 1s
stats_flush_on_admin: true
stats_sinks:
${sink("statsd", "tcp_cluster_name: nowhere")}
${sink("statsd", "address: { socket_address: { address: statsd.local, port_value: 8125 } }")}
- name: envoy.stat_sinks.statsd
`);
  const r = await runMain(["--mode", "validate", "-c", path]);
  assertEquals(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assertMatch(lines.at(-1), /is invalid: 4 errors$/);
  const text = r.stderr.replaceAll(path, "F");
  assertMatch(
    text,
    /^F:2:\d+: stats_flush_on_admin: Only one of stats_flush_interval or stats_flush_on_admin should be set!$/m,
  );
  assertMatch(
    text,
    /^F:7:\d+: stats_sinks\[0\]\.typed_config\.tcp_cluster_name: tcp statsd: unknown cluster 'nowhere'$/m,
  );
  assertMatch(text, /stats_sinks\[1\].*: malformed IP address: statsd\.local$/m);
  assertMatch(
    text,
    /stats_sinks\[2\]: named without typed_config, its empty StatsdSink fails: one of "address", "tcp_cluster_name" must be set$/m,
  );
});

Deno.test("--mode validate: max_bytes_per_datagram must be positive", async () => {
  const path = tempFile(
    `stats_sinks:\n${sink("dog_statsd", `${udpAddress(8125)}\nmax_bytes_per_datagram: 0`)}\n`,
  );
  const r = await runMain(["--mode", "validate", "-c", path]);
  assertEquals(r.code, 1, r.stderr);
  assertMatch(r.stderr, /max_bytes_per_datagram: must be greater than 0 \(is 0\)$/m);
});

Deno.test("a TCP statsd sink without node id and cluster stops start-up, naming why", async () => {
  const path = tempFile(
    httpConfig({ routes: ROUTES, clusters: staticCluster("backend", 9) }) +
      `stats_sinks:\n${sink("statsd", "tcp_cluster_name: backend")}\n`,
  );
  const proc = new ServerProcess(["-c", path]);
  const status = await proc.child.status;
  await proc.stop();
  assert(status.code !== 0, proc.stderr);
  assertMatch(
    proc.stderr,
    /stats_sinks\[0\] 'envoy\.stat_sinks\.statsd': tcp statsd: node 'id' and 'cluster' are required/,
  );
});
