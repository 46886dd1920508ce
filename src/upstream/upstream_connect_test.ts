/** The connect attempt every upstream pool shares: what it holds and counts, both outcomes. */
import { assert, assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { ClusterStats } from "../stats/data_path_stats.ts";
import { HostStats } from "./host_stats.ts";
import {
  allocateCircuitBreakerMemory,
  DEFAULT_THRESHOLDS,
  ResourceManager,
} from "./resource_manager.ts";
import { hostConnections, newHostMonitor } from "./host_monitor.ts";
import type { PoolClusterInfo } from "./conn_pool.ts";
import { connectUpstream } from "./upstream_connect.ts";

/** A pool-shaped target for `port`, with fresh stats. */
function target(port: number) {
  return {
    cluster: { connectTimeoutMs: 5000 } as PoolClusterInfo,
    hostname: "127.0.0.1",
    port,
    stats: new HostStats(),
    clusterStats: new ClusterStats(new Store(), "c"),
  };
}

/** Runs one attempt; resolves with its outcome. */
function attempt(pool: ReturnType<typeof target>, rm: ResourceManager, monitor: Int32Array) {
  return new Promise<{ tcp?: Deno.Conn; reason?: string; detail?: string }>((resolve) =>
    connectUpstream(pool, rm, monitor, undefined, performance.now(), {
      connected: (tcp) => resolve({ tcp }),
      connectFailed: (reason, detail) => resolve({ reason, detail }),
      bugScope: () => undefined,
    })
  );
}

Deno.test("connectUpstream: a connection holds the circuit breaker and the host count", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const rm = new ResourceManager(
    new Int32Array(allocateCircuitBreakerMemory()),
    0,
    DEFAULT_THRESHOLDS,
  );
  const monitor = newHostMonitor(1, undefined, false);
  const pool = target((listener.addr as Deno.NetAddr).port);
  const accepted = listener.accept();
  const r = await attempt(pool, rm, monitor);
  assert(r.tcp !== undefined, `failed: ${r.reason} ${r.detail}`);
  assertEquals(rm.connections.count(), 1);
  assertEquals(hostConnections(monitor), 1);
  assertEquals([pool.stats.cx_total, pool.stats.cx_active, pool.stats.cx_connect_fail], [1, 1, 0]);
  assertEquals(pool.clusterStats.cxTotal.value, 1);
  r.tcp.close();
  (await accepted).close();
  listener.close();
});

Deno.test("connectUpstream: a refused connect gives everything back (connection_failure)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const rm = new ResourceManager(
    new Int32Array(allocateCircuitBreakerMemory()),
    0,
    DEFAULT_THRESHOLDS,
  );
  const monitor = newHostMonitor(1, undefined, false);
  const pool = target(port);
  const r = await attempt(pool, rm, monitor);
  assertEquals(r.reason, "connection_failure");
  assertEquals(r.detail, "delayed connect error: 111");
  assertEquals(rm.connections.count(), 0);
  assertEquals(hostConnections(monitor), 0);
  assertEquals([pool.stats.cx_total, pool.stats.cx_active, pool.stats.cx_connect_fail], [1, 0, 1]);
  assertEquals(pool.clusterStats.cxConnectFail.value, 1);
  assertEquals(pool.clusterStats.cxConnectTimeout.value, 0);
});
