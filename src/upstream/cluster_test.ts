import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { Cluster, ClusterConfigError, type Timers } from "./cluster.ts";
import type { DnsResult } from "./dns.ts";
import { Store } from "../stats/store.ts";

function config(json: JsonObject): ClusterConfig {
  return fromJson(messageSchema<ClusterConfig>("envoy.config.cluster.v3.Cluster"), json, {
    registry: apiRegistry(),
  });
}

function endpoints(...groups: [number, string[]][]): JsonObject {
  return {
    cluster_name: "c",
    endpoints: groups.map(([priority, addresses]) => ({
      priority,
      lb_endpoints: addresses.map((address) => ({
        endpoint: { address: { socket_address: { address, port_value: 80 } } },
      })),
    })),
  };
}

/** Timers that never fire, so a test controls every resolution itself. */
function stillTimers(): Timers & { pending: Set<number> } {
  const pending = new Set<number>();
  let next = 1;
  return {
    pending,
    setTimeout: () => {
      pending.add(next);
      return next++;
    },
    clearTimeout: (id) => pending.delete(id as number),
  };
}

Deno.test("Cluster: STATIC membership is known at once, by priority", async () => {
  const c = new Cluster(config({
    name: "c",
    load_assignment: endpoints([0, ["10.0.0.1", "10.0.0.2"]], [1, ["10.0.1.1"]]),
  }));
  await c.initialize();
  assertEquals(c.info.type, "STATIC");
  assertEquals(c.config?.name, "c");
  // Workers read only `info`: they keep no copy of the config.
  const w = new Cluster(config({ name: "w" }), { keepConfig: false });
  assertEquals([w.config, w.info.name], [undefined, "w"]);
  assertEquals(c.keptConfig.name, "c");
  assertMatch(
    (() => {
      try {
        return String(w.keptConfig);
      } catch (e) {
        return (e as Error).message;
      }
    })(),
    /built without keeping its config/,
  );
  assertEquals(
    c.prioritySet.hostSets.map((s) => s.hosts.map((h) => h.address)),
    [["10.0.0.1", "10.0.0.2"], ["10.0.1.1"]],
  );
  c.destroy();
});

Deno.test("Cluster: a STATIC cluster without endpoints has an empty P=0", () => {
  const c = new Cluster(config({ name: "c" }));
  assertEquals(c.prioritySet.hostSets.map((s) => s.hosts.length), [0]);
});

Deno.test("Cluster: STRICT_DNS initializes after the first resolution of every name", async () => {
  const answers = new Map<string, (r: DnsResult) => void>();
  const timers = stillTimers();
  const c = new Cluster(
    config({
      name: "c",
      type: "STRICT_DNS",
      load_assignment: endpoints([0, ["a.example", "b.example"]]),
    }),
    {
      resolver: { resolve: (name) => new Promise((r) => answers.set(name, r)) },
      timers,
    },
  );
  assertEquals(answers.size, 0, "construction resolves nothing");
  const updates: number[] = [];
  c.onMembershipUpdate((set) => updates.push(set.allHosts().length));
  let ready = false;
  const init = c.initialize().then(() => ready = true);
  assert(c.initialize() === c.initialize());
  answers.get("a.example")!({ addresses: ["10.0.0.1"] });
  await Promise.resolve();
  await Promise.resolve();
  assert(!ready);
  answers.get("b.example")!({ addresses: ["10.0.0.2"] });
  await init;
  assertEquals(c.prioritySet.allHosts().map((h) => h.address), ["10.0.0.1", "10.0.0.2"]);
  assertEquals(updates, [1, 2]);
  assertEquals(timers.pending.size, 2);
  c.destroy();
  assertEquals(timers.pending.size, 0);
});

Deno.test("Cluster: a failed first resolution still initializes, with no hosts", async () => {
  const c = new Cluster(
    config({ name: "c", type: "LOGICAL_DNS", load_assignment: endpoints([0, ["a.example"]]) }),
    { resolver: { resolve: () => Promise.reject(new Error("ENOTFOUND")) }, timers: stillTimers() },
  );
  await c.initialize();
  assertEquals(c.prioritySet.allHosts(), []);
  c.destroy();
});

Deno.test("Cluster: wait_for_warm_on_init false initializes without waiting", async () => {
  const c = new Cluster(
    config({
      name: "c",
      type: "STRICT_DNS",
      wait_for_warm_on_init: false,
      load_assignment: endpoints([0, ["a.example"]]),
    }),
    { resolver: { resolve: () => new Promise(() => {}) }, timers: stillTimers() },
  );
  await c.initialize();
  c.destroy();
});

Deno.test("Cluster: STRICT_DNS against the system resolver (localhost)", async () => {
  const c = new Cluster(config({
    name: "c",
    type: "STRICT_DNS",
    dns_lookup_family: "V4_ONLY",
    load_assignment: endpoints([0, ["localhost"]]),
  }));
  await c.initialize();
  const [h] = c.prioritySet.allHosts();
  assertEquals([h.address, h.port, h.hostname], ["127.0.0.1", 80, "localhost"]);
  c.destroy();
});

Deno.test("Cluster: config errors list every problem with the cluster name", () => {
  let error: unknown;
  try {
    new Cluster(config({ name: "web", type: "EDS", lb_policy: "CLUSTER_PROVIDED" }));
  } catch (e) {
    error = e;
  }
  assert(error instanceof ClusterConfigError);
  assertEquals(error.problems, [
    "lb_policy CLUSTER_PROVIDED is not supported yet",
    "eds_cluster_config.eds_config: an EDS cluster needs an EDS config source",
  ]);
  assertMatch(error.message, /^cluster 'web': lb_policy CLUSTER_PROVIDED is not supported yet\n/);
});

/** A TCP health check target: accepts and closes; counts connections; `close()` refuses more. */
function checkTarget() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let open = true;
  const close = () => {
    if (open) listener.close();
    open = false;
  };
  const target = { port: listener.addr.port, accepted: 0, close };
  (async () => {
    try {
      for await (const conn of listener) {
        target.accepted++;
        conn.close();
      }
    } catch { /* closed */ }
  })();
  return target;
}

async function waitFor(what: string, pred: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A health-checked STRICT_DNS cluster whose names `a.example` and `b.example` both resolve to
 * 127.0.0.1 (one check target each, by port); the test edits the answers and runs the DNS
 * refresh itself, the same path a real resolution takes.
 */
async function healthCheckedDns(extra: JsonObject = {}) {
  const targets = { a: checkTarget(), b: checkTarget() };
  const answers = new Map<string, string[]>([["a.example", ["127.0.0.1"]], [
    "b.example",
    ["127.0.0.1"],
  ]]);
  const refreshes: (() => void)[] = [];
  const store = new Store();
  const c = new Cluster(
    config({
      name: "c",
      type: "STRICT_DNS",
      load_assignment: {
        cluster_name: "c",
        endpoints: [{
          lb_endpoints: (["a", "b"] as const).map((n) => ({
            endpoint: {
              address: {
                socket_address: { address: `${n}.example`, port_value: targets[n].port },
              },
            },
          })),
        }],
      },
      health_checks: [{
        timeout: "5s",
        interval: "0.02s",
        no_traffic_interval: "0.02s",
        unhealthy_threshold: 2,
        healthy_threshold: 1,
        reuse_connection: false,
        tcp_health_check: {},
      }],
      ...extra,
    }),
    {
      resolver: {
        resolve: (name) => Promise.resolve({ addresses: answers.get(name) ?? [] }),
      },
      timers: {
        setTimeout: (cb) => refreshes.push(cb),
        clearTimeout: () => {},
      },
      stats: store,
    },
  );
  await c.initialize();
  const hosts = () =>
    c.prioritySet.allHosts().map((h) => ({
      port: h.port,
      healthy: h.healthy,
      pending: h.flags?.pendingDynamicRemoval ?? false,
    }));
  /** Answers `b.example` with `addresses` and runs every pending DNS refresh. */
  const resolveB = async (addresses: string[]) => {
    answers.set("b.example", addresses);
    const due = refreshes.splice(0);
    for (const cb of due) cb();
    await waitFor("DNS refresh", () => refreshes.length === due.length);
  };
  const done = () => {
    c.destroy();
    targets.a.close();
    targets.b.close();
  };
  return { c, targets, hosts, resolveB, store, done };
}

Deno.test("Cluster: STRICT_DNS with active hc keeps a host DNS dropped until it fails its checks", async () => {
  const t = await healthCheckedDns();
  const { a, b } = t.targets;
  try {
    assertEquals(t.hosts(), [
      { port: a.port, healthy: true, pending: false },
      { port: b.port, healthy: true, pending: false },
    ]);
    await t.resolveB([]);
    // Still a healthy member, flagged, and still checked.
    assertEquals(t.hosts(), [
      { port: a.port, healthy: true, pending: false },
      { port: b.port, healthy: true, pending: true },
    ]);
    const seen = b.accepted;
    await waitFor("another check of the kept host", () => b.accepted > seen);
    assertEquals(t.store.gauge("cluster.c.membership_total", "NeverImport").value, 2);
    // It stops answering: after unhealthy_threshold failures it leaves the cluster.
    b.close();
    await waitFor("the kept host's removal", () => t.hosts().length === 1);
    assertEquals(t.hosts(), [{ port: a.port, healthy: true, pending: false }]);
    assertEquals([...t.c.health!.states.keys()], [`127.0.0.1:${a.port}`]);
    assertEquals(t.store.gauge("cluster.c.membership_total", "NeverImport").value, 1);
    assertEquals(t.store.gauge("cluster.c.health_check.healthy", "Accumulate").value, 1);
  } finally {
    t.done();
  }
});

Deno.test("Cluster: a kept host that DNS resolves again is a member as before", async () => {
  const t = await healthCheckedDns();
  const { a, b } = t.targets;
  try {
    const st = t.c.health!.states.get(`127.0.0.1:${b.port}`);
    await t.resolveB([]);
    assertEquals(t.hosts()[1], { port: b.port, healthy: true, pending: true });
    await t.resolveB(["127.0.0.1"]);
    assertEquals(t.hosts(), [
      { port: a.port, healthy: true, pending: false },
      { port: b.port, healthy: true, pending: false },
    ]);
    // The same host, its checks carried on (no new first check).
    assertEquals(t.c.health!.states.get(`127.0.0.1:${b.port}`), st);
    // Failing now marks it unhealthy; it stays a member.
    b.close();
    await waitFor("the host's failure", () => !t.hosts()[1].healthy);
    assertEquals(t.hosts().length, 2);
  } finally {
    t.done();
  }
});

Deno.test("Cluster: ignore_health_on_host_removal removes a host DNS dropped at once", async () => {
  const t = await healthCheckedDns({ ignore_health_on_host_removal: true });
  const { a } = t.targets;
  try {
    await t.resolveB([]);
    assertEquals(t.hosts(), [{ port: a.port, healthy: true, pending: false }]);
  } finally {
    t.done();
  }
});

Deno.test("Cluster: without active hc (outlier detection only) a host DNS dropped goes at once", async () => {
  const t = await healthCheckedDns({ health_checks: [], outlier_detection: {} });
  const { a } = t.targets;
  try {
    await t.resolveB([]);
    assertEquals(t.hosts(), [{ port: a.port, healthy: true, pending: false }]);
  } finally {
    t.done();
  }
});
