import { assert, assertEquals } from "../testing/assert.ts";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { HealthCheckSchema } from "../../proto/gen/envoy/config/core/v3/health_check_pb.ts";
import { Store } from "../stats/store.ts";
import {
  type HealthCheckConfig,
  HealthChecker,
  HealthCheckStats,
  parseHealthCheck,
  payloadsMatch,
} from "./health_checker.ts";
import { HostHealthTracker, type HostState } from "./host_health.ts";
import { PrioritySet } from "./priority_set.ts";
import type { HostDescription } from "./host.ts";

const BASE = {
  timeout: { seconds: 1n },
  interval: { nanos: 20_000_000 },
  noTrafficInterval: { nanos: 20_000_000 },
  unhealthyThreshold: 3,
  healthyThreshold: 2,
};

function parse(extra: Record<string, unknown>) {
  const problems: string[] = [];
  const c = parseHealthCheck(
    create(HealthCheckSchema, { ...BASE, ...extra } as never),
    "health_checks[0]",
    problems,
  );
  return { c, problems };
}

Deno.test("parse: intervals default as Envoy's; HTTP/3 HTTP checks and event sinks refused", () => {
  const { c, problems } = parse({
    healthChecker: { case: "httpHealthCheck", value: { path: "/hc" } },
  });
  assertEquals(problems, []);
  assertEquals(c!.unhealthyIntervalMs, 20);
  assertEquals(c!.unhealthyEdgeIntervalMs, 20);
  assertEquals(c!.healthyEdgeIntervalMs, 20);
  assertEquals(c!.noTrafficHealthyIntervalMs, 20);
  assertEquals(c!.reuseConnection, true);
  assertEquals(c!.check.type === "http" && c!.check.expected, [[200, 300]]);
  const grpc = parse({
    healthChecker: { case: "grpcHealthCheck", value: { serviceName: "s", authority: "a" } },
  });
  assertEquals(grpc.problems, []);
  assertEquals(grpc.c!.check, {
    type: "grpc",
    serviceName: "s",
    authority: "a",
    initialMetadata: [],
  });
  const h2 = parse({
    healthChecker: { case: "httpHealthCheck", value: { path: "/", codecClientType: 1 } },
  });
  assertEquals(h2.problems, []);
  assert(h2.c!.check.type === "http" && h2.c!.check.http2);
  assert(
    parse({
      healthChecker: { case: "httpHealthCheck", value: { path: "/", codecClientType: 2 } },
    }).problems[0].includes("codec_client_type"),
  );
  assert(
    parse({
      eventLogger: [{ name: "envoy.health_check.event_sinks.file" }],
      healthChecker: { case: "tcpHealthCheck", value: {} },
    }).problems[0].includes("event_logger"),
  );
  const hex = parse({
    healthChecker: {
      case: "tcpHealthCheck",
      value: { send: { payload: { case: "text", value: "zz" } } },
    },
  });
  assert(hex.problems[0].includes("is not a hex string"), hex.problems[0]);
});

Deno.test("payloads match in order, not necessarily adjacent", () => {
  const e = (s: string) => new TextEncoder().encode(s);
  assert(payloadsMatch(e("hello big world"), [e("hello"), e("world")]));
  assert(!payloadsMatch(e("world hello"), [e("hello"), e("world")]));
  assert(payloadsMatch(e("x"), []));
});

/** A checker over one host of a real server whose health status the test sets. */
function setup(config: HealthCheckConfig, port: number, extra: Partial<HostDescription> = {}) {
  const raw = new PrioritySet();
  const out = new PrioritySet();
  const host: HostDescription = {
    address: "127.0.0.1",
    port,
    weight: 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
    ...extra,
  };
  raw.updateHosts(0, [host]);
  const health = new HostHealthTracker(raw, out, {}, { activeHc: true });
  const store = new Store();
  const checker = new HealthChecker(config, new HealthCheckStats(store.scope("cluster.c")), {
    clusterName: "c",
    hadTraffic: () => true,
    changed: () => health.publish(),
    checkSucceeded: () => {},
  });
  const st = [...health.states.values()][0] as HostState;
  return { checker, st, out, store };
}

async function waitFor(pred: () => boolean) {
  const deadline = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("http checks: first check decides; a bad status fails at once, a retriable one after unhealthy_threshold", async () => {
  let status = 200;
  let hostHeader = "";
  let hits = 0;
  const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    hostHeader = req.headers.get("host") ?? "";
    hits++;
    return new Response("ok", { status });
  });
  const { c } = parse({
    healthChecker: {
      case: "httpHealthCheck",
      value: { path: "/hc", retriableStatuses: [{ start: 429n, end: 430n }] },
    },
  });
  const { checker, st, out, store } = setup(c!, srv.addr.port);
  try {
    assert(st.failedActiveHc && st.pendingActiveHc);
    assert(!out.allHosts()[0].healthy);
    checker.hostsChanged([st], []);
    await checker.firstChecks();
    assert(!st.failedActiveHc && !st.pendingActiveHc);
    assert(out.allHosts()[0].healthy);
    assertEquals(hostHeader, "c");
    // Retriable: unhealthy only after three in a row.
    status = 429;
    const from = hits;
    await waitFor(() => st.failedActiveHc);
    assert(hits - from >= 3, `${hits - from}`);
    status = 200;
    await waitFor(() => !st.failedActiveHc);
    // Non-retriable: the very next check fails it.
    status = 503;
    const at = hits;
    await waitFor(() => st.failedActiveHc);
    assertEquals(hits - at, 1);
    assert(out.allHosts()[0].flags!.failedActiveHc);
    assert(store.counter("cluster.c.health_check.failure").value >= 4);
    assertEquals(store.gauge("cluster.c.health_check.healthy", "Accumulate").value, 0);
  } finally {
    checker.stop();
    await srv.shutdown();
  }
});

Deno.test("a check that times out is a network failure and flags active_hc_timeout", async () => {
  // A server that accepts and never answers.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const c of l) conns.push(c);
  })().catch(() => {});
  const { c } = parse({
    timeout: { nanos: 30_000_000 },
    unhealthyThreshold: 2,
    healthChecker: {
      case: "tcpHealthCheck",
      value: { receive: [{ payload: { case: "text", value: "6f6b" } }] },
    },
  });
  const { checker, st, store } = setup(c!, (l.addr as Deno.NetAddr).port);
  try {
    checker.hostsChanged([st], []);
    await checker.firstChecks();
    assert(st.failedActiveHc && st.activeHcTimeout && !st.pendingActiveHc);
    assertEquals(store.counter("cluster.c.health_check.network_failure").value, 1);
  } finally {
    checker.stop();
    l.close();
    for (const c of conns) c.close();
  }
});

Deno.test("health_check_config: port_value, address and hostname of the endpoint are used", async () => {
  let hostHeader = "";
  const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    hostHeader = req.headers.get("host") ?? "";
    return new Response("ok");
  });
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (dead.addr as Deno.NetAddr).port;
  dead.close();
  const { c } = parse({
    healthChecker: { case: "httpHealthCheck", value: { path: "/hc", host: "configured" } },
  });
  const { checker, st } = setup(c!, deadPort, {
    address: "192.0.2.1",
    healthCheckAddress: "127.0.0.1",
    healthCheckPort: srv.addr.port,
    healthCheckHostname: "per-endpoint",
  });
  try {
    checker.hostsChanged([st], []);
    await checker.firstChecks();
    assert(!st.failedActiveHc);
    assertEquals(hostHeader, "per-endpoint");
  } finally {
    checker.stop();
    await srv.shutdown();
  }
});

Deno.test("a kept-alive connection the host closed while idle is no failure: the check reconnects", async () => {
  // Answers one request per connection, then closes without saying so (an idle timeout).
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  (async () => {
    for await (const c of l) {
      accepted++;
      (async () => {
        try {
          await c.read(new Uint8Array(4096));
          await c.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
        } catch { /* gone */ }
        c.close();
      })();
    }
  })().catch(() => {});
  const { c } = parse({
    unhealthyThreshold: 1,
    healthChecker: { case: "httpHealthCheck", value: { path: "/hc" } },
  });
  const { checker, st, store } = setup(c!, (l.addr as Deno.NetAddr).port);
  try {
    checker.hostsChanged([st], []);
    await checker.firstChecks();
    await waitFor(() => store.counter("cluster.c.health_check.success").value >= 4);
    assertEquals(store.counter("cluster.c.health_check.failure").value, 0);
    assert(!st.failedActiveHc);
    assert(accepted >= 4);
  } finally {
    checker.stop();
    l.close();
  }
});

Deno.test(
  "http checks over HTTP/2 (h2c): statuses, receive payloads and one connection for every check",
  { sanitizeOps: false, sanitizeResources: false },
  async () => {
    let status = 200;
    let body = "all good";
    const seen: http2.IncomingHttpHeaders[] = [];
    let sessions = 0;
    const srv = http2.createServer();
    srv.on("session", () => sessions++);
    srv.on("stream", (stream, headers) => {
      seen.push(headers);
      stream.respond({ ":status": status });
      stream.end(body);
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const { c } = parse({
      unhealthyThreshold: 1,
      healthChecker: {
        case: "httpHealthCheck",
        value: {
          path: "/hc",
          host: "hc.test",
          codecClientType: 1,
          expectedStatuses: [{ start: 200n, end: 201n }, { start: 204n, end: 205n }],
          receive: [{ payload: { case: "text", value: "676f6f64" } }],
          requestHeadersToAdd: [{ header: { key: "x-hc", value: "1" } }],
        },
      },
    });
    const { checker, st, store } = setup(c!, (srv.address() as AddressInfo).port);
    const count = (n: string) => store.counter(`cluster.c.health_check.${n}`).value;
    try {
      checker.hostsChanged([st], []);
      await checker.firstChecks();
      assert(!st.failedActiveHc);
      assertEquals(seen[0][":authority"], "hc.test");
      assertEquals(seen[0][":method"], "GET");
      assertEquals(seen[0][":path"], "/hc");
      assertEquals(seen[0][":scheme"], "http");
      assertEquals(seen[0]["user-agent"], "Envoy/HC");
      assertEquals(seen[0]["x-hc"], "1");
      await waitFor(() => count("success") >= 3);
      assertEquals(sessions, 1);
      // The body no longer has the payload: an active failure.
      body = "bad";
      await waitFor(() => st.failedActiveHc);
      body = "good";
      await waitFor(() => !st.failedActiveHc);
      // 201 is outside expected_statuses.
      status = 201;
      await waitFor(() => st.failedActiveHc);
      assertEquals(count("network_failure"), 0);
      assertEquals(sessions, 1);
    } finally {
      checker.stop();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  },
);

Deno.test(
  "http checks over HTTP/2 with reuse_connection false: a connection per check",
  { sanitizeOps: false, sanitizeResources: false },
  async () => {
    let sessions = 0;
    const srv = http2.createServer();
    srv.on("session", () => sessions++);
    srv.on("stream", (stream) => {
      stream.respond({ ":status": 200 });
      stream.end();
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const { c } = parse({
      reuseConnection: false,
      healthChecker: { case: "httpHealthCheck", value: { path: "/hc", codecClientType: 1 } },
    });
    const { checker, st, store } = setup(c!, (srv.address() as AddressInfo).port);
    try {
      checker.hostsChanged([st], []);
      await waitFor(() => store.counter("cluster.c.health_check.success").value >= 3);
      assert(sessions >= 3, `${sessions}`);
      assertEquals(store.counter("cluster.c.health_check.failure").value, 0);
    } finally {
      checker.stop();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  },
);
