import { assert, assertEquals } from "../testing/assert.ts";
import { LimitedConnPools, type LimitedPool, PoolSlotLimit } from "./conn_pool_limit.ts";
import {
  allocateCircuitBreakerMemory,
  ClusterResources,
  DEFAULT_THRESHOLDS,
} from "./resource_manager.ts";
import { HostStats } from "./host_stats.ts";

/** A pool that is idle until told otherwise. */
function fakePool(hostname: string): LimitedPool & { busy: boolean; drained: number } {
  return {
    protocol: "HTTP/1.1",
    cluster: { name: "c" },
    hostname,
    port: 80,
    stats: new HostStats(),
    size: 0,
    busy: true,
    drained: 0,
    get idle() {
      return !this.busy;
    },
    onIdle: undefined,
    newStream: () => ({ cancel() {} }),
    drain() {
      this.drained++;
    },
    close() {},
  };
}

function resources(max: number) {
  return new ClusterResources(
    [{ ...DEFAULT_THRESHOLDS, maxConnectionPools: max }, DEFAULT_THRESHOLDS],
    allocateCircuitBreakerMemory(),
  ).forPriority(0);
}

Deno.test("LimitedConnPools: pools up to the limit, then overflow; an idle pool is deleted and frees its place", () => {
  const rm = resources(2);
  const pools = new LimitedConnPools();
  let overflows = 0;
  const overflow = { inc: () => overflows++ };
  const made: ReturnType<typeof fakePool>[] = [];
  const get = (host: string, sni = "") =>
    pools.get(`c|${host}|80${sni}|p0`, `c|${host}|80`, rm.connectionPools, () => {
      const p = fakePool(host);
      made.push(p);
      return p;
    }, overflow);
  const a = get("a")!;
  assertEquals(get("a"), a, "the same key: the same pool");
  const b = get("b")!;
  assertEquals(rm.connectionPools.count(), 2);
  assertEquals(get("c"), undefined);
  assertEquals(overflows, 1);
  // a's last connection closed: it is deleted and gives its place back.
  a.stats.cx_total = 3;
  (a as ReturnType<typeof fakePool>).busy = false;
  a.onIdle!();
  assertEquals(rm.connectionPools.count(), 1);
  assertEquals(pools.forHost("c|a|80"), []);
  assertEquals(pools.retired.map((r) => [r.hostname, r.stats.cx_total]), [["a", 3]]);
  const c = get("c")!;
  assert(c !== undefined && made.length === 3);
  // At the limit an idle pool of the same host makes room (Envoy's freeOnePool); one of
  // another host does not.
  (b as ReturnType<typeof fakePool>).busy = false;
  assertEquals(get("d"), undefined);
  assertEquals(overflows, 2);
  const b2 = get("b", "|sni")!;
  assert(b2 !== b);
  assertEquals(pools.forHost("c|b|80"), [b2]);
  assertEquals(rm.connectionPools.count(), 2);
  // A removed cluster's pools drain and stop counting.
  pools.drainCluster("c");
  assertEquals(rm.connectionPools.count(), 0);
  assertEquals(pools.size, 0);
  assertEquals((c as ReturnType<typeof fakePool>).drained, 1);
  assertEquals(pools.retired, []);
});

Deno.test("acquireTcp and PoolSlotLimit: a host's TCP pool lasts while a tcp_proxy connection uses it", () => {
  const rm = new ClusterResources(
    [{ ...DEFAULT_THRESHOLDS, maxConnectionPools: 1, maxConnections: 2 }, DEFAULT_THRESHOLDS],
    allocateCircuitBreakerMemory(),
  ).forPriority(0);
  const pools = new LimitedConnPools();
  let overflows = 0;
  const overflow = { inc: () => overflows++ };
  const a1 = pools.acquireTcp("c|a|80", rm.connectionPools, overflow)!;
  const first = new PoolSlotLimit(rm.connections, a1);
  assert(first.tryCreate());
  // The same host shares its pool; another host needs a second one.
  const a2 = pools.acquireTcp("c|a|80", rm.connectionPools, overflow)!;
  const second = new PoolSlotLimit(rm.connections, a2);
  assert(second.tryCreate());
  assertEquals(rm.connectionPools.count(), 1);
  assertEquals(pools.acquireTcp("c|b|80", rm.connectionPools, overflow), undefined);
  assertEquals(overflows, 1);
  // max_connections refuses a third connection: it gives its use of the pool back at once.
  const a3 = pools.acquireTcp("c|a|80", rm.connectionPools, overflow)!;
  assert(!new PoolSlotLimit(rm.connections, a3).tryCreate());
  first.dec();
  assertEquals(rm.connectionPools.count(), 1, "the second connection still uses it");
  second.dec();
  assertEquals([rm.connections.count(), rm.connectionPools.count()], [0, 0]);
  assert(pools.acquireTcp("c|b|80", rm.connectionPools, overflow) !== undefined);
});
