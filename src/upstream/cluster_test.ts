import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { Cluster, ClusterConfigError, type Timers } from "./cluster.ts";
import type { DnsResult } from "./dns.ts";

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
  assertEquals(c.config.name, "c");
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
    "cluster type EDS is not supported yet",
    "lb_policy CLUSTER_PROVIDED is not supported yet",
  ]);
  assertMatch(error.message, /^cluster 'web': cluster type EDS is not supported yet\n/);
});
