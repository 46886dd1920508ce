import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { ClusterManager } from "./cluster_manager.ts";
import type { Timers } from "./dns_cluster.ts";
import { Store } from "../stats/store.ts";
import { ClusterStatsCache } from "../stats/data_path_stats.ts";

function config(json: JsonObject): ClusterConfig {
  return fromJson(messageSchema<ClusterConfig>("envoy.config.cluster.v3.Cluster"), json, {
    registry: apiRegistry(),
  });
}

function cluster(name: string, addresses: string[], extra: JsonObject = {}): ClusterConfig {
  return config({
    name,
    load_assignment: {
      cluster_name: name,
      endpoints: [{
        lb_endpoints: addresses.map((address) => ({
          endpoint: { address: { socket_address: { address, port_value: 80 } } },
        })),
      }],
    },
    ...extra,
  });
}

const noTimers: Timers = { setTimeout: () => 0, clearTimeout: () => {} };

Deno.test("ClusterManager: clusters by name, initialized together", async () => {
  const cm = new ClusterManager([
    cluster("static", ["10.0.0.1"]),
    cluster("dns", ["svc.example"], { type: "STRICT_DNS" }),
  ], {
    resolver: { resolve: () => Promise.resolve({ addresses: ["10.0.1.1", "10.0.1.2"] }) },
    timers: noTimers,
  });
  assertEquals(cm.names(), ["static", "dns"]);
  assertEquals(cm.get("nope"), undefined);
  await cm.initialize();
  assertEquals(cm.get("dns")!.prioritySet.allHosts().length, 2);
  cm.destroy();
});

Deno.test("ClusterManager: one load balancer per cluster, following its policy", async () => {
  const cm = new ClusterManager([cluster("rr", ["10.0.0.1", "10.0.0.2"])], {
    random: () => 0,
  });
  await cm.initialize();
  const lb = cm.loadBalancer("rr")!;
  assert(cm.loadBalancer("rr") === lb);
  assertEquals(cm.loadBalancer("nope"), undefined);
  assertEquals(
    [lb.chooseHost(), lb.chooseHost(), lb.chooseHost()].map((h) => h?.address),
    ["10.0.0.1", "10.0.0.2", "10.0.0.1"],
  );
  cm.destroy();
});

Deno.test("ClusterManager: one error lists every problem of every cluster", () => {
  let message = "";
  try {
    new ClusterManager([
      cluster("a", ["backend"]),
      cluster("b", ["10.0.0.1"], { type: "EDS" }),
      cluster("ok", ["10.0.0.1"]),
      cluster("ok", ["10.0.0.2"]),
      cluster("c", ["10.0.0.1"], { lb_policy: "MAGLEV", maglev_lb_config: { table_size: 9 } }),
    ]);
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message.split("\n"), [
    "cluster 'a': load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address" +
    ".address: 'backend' is not an IP address; STATIC clusters take IP addresses (use STRICT_DNS" +
    " or LOGICAL_DNS for host names)",
    "cluster 'b': eds_cluster_config.eds_config: an EDS cluster needs an EDS config source",
    "cluster 'ok': duplicate cluster name",
    "cluster 'c': The table size of maglev must be prime number",
  ]);
});

Deno.test("ClusterManager: cluster_manager.* and per-cluster membership stats on the main thread", async () => {
  const store = new Store();
  let answer = ["10.0.1.1"];
  const cm = new ClusterManager([
    cluster("static", ["10.0.0.1", "10.0.0.2"], {
      load_assignment: {
        cluster_name: "static",
        endpoints: [{
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } } },
            {
              endpoint: { address: { socket_address: { address: "10.0.0.2", port_value: 80 } } },
              load_balancing_weight: 7,
              health_status: "DEGRADED",
            },
          ],
        }],
      },
    }),
    cluster("dns", ["svc.example"], { type: "STRICT_DNS", alt_stat_name: "dns_alt" }),
  ], {
    resolver: { resolve: () => Promise.resolve({ addresses: answer }) },
    timers: noTimers,
    stats: store,
  });
  await cm.initialize();
  const updated: string[] = [];
  cm.watchUpdates((name) => updated.push(name));
  const stats = () => {
    const out: Record<string, number> = {};
    const s = store.snapshot({ latch: false });
    for (const m of [...s.counters, ...s.gauges]) out[m.name] = m.value;
    return out;
  };
  let v = stats();
  assertEquals(v["cluster_manager.cluster_added"], 2);
  assertEquals(v["cluster_manager.active_clusters"], 2);
  assertEquals(v["cluster_manager.cluster_updated"], 0);
  assertEquals(v["cluster.static.membership_total"], 2);
  assertEquals(v["cluster.static.membership_healthy"], 1);
  assertEquals(v["cluster.static.membership_degraded"], 1);
  assertEquals(v["cluster.static.max_host_weight"], 7);
  assertEquals(v["cluster.static.membership_change"], 1);
  assertEquals(v["cluster.dns_alt.membership_total"], 1);
  assertEquals(v["cluster.dns_alt.membership_change"], 1);
  assertEquals(v["cluster.dns_alt.update_attempt"], 1);
  assertEquals(v["cluster.dns_alt.update_success"], 1);
  // A re-resolution with new addresses is an update the workers get.
  answer = ["10.0.1.2", "10.0.1.3"];
  const dns = cm.get("dns")!;
  dns.prioritySet.updateHosts(0, [
    { ...dns.prioritySet.allHosts()[0], address: "10.0.1.2" },
    { ...dns.prioritySet.allHosts()[0], address: "10.0.1.3" },
  ]);
  v = stats();
  assertEquals(updated, ["dns"]);
  assertEquals(v["cluster_manager.cluster_updated"], 1);
  assertEquals(v["cluster.dns_alt.membership_change"], 2);
  assertEquals(v["cluster.dns_alt.membership_total"], 2);
  cm.destroy();
});

Deno.test("ClusterManager: load balancers count lb_healthy_panic into the isolate's stats", () => {
  const store = new Store();
  const cm = new ClusterManager([
    config({
      name: "sick",
      load_assignment: {
        cluster_name: "sick",
        endpoints: [{
          lb_endpoints: [{
            endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } },
            health_status: "UNHEALTHY",
          }],
        }],
      },
    }),
  ], { clusterStats: new ClusterStatsCache(store) });
  const lb = cm.loadBalancer("sick")!;
  assertEquals(lb.chooseHost()?.address, "10.0.0.1");
  lb.chooseHost();
  assertEquals(store.counter("cluster.sick.lb_healthy_panic").value, 2);
  cm.destroy();
});

/** Fake timers whose pending callbacks the test runs. */
function manualTimers() {
  const pending = new Map<number, () => void>();
  let next = 1;
  const timers: Timers = {
    setTimeout: (cb) => {
      pending.set(next, cb);
      return next++;
    },
    clearTimeout: (h) => void pending.delete(h as number),
  };
  const fire = () => {
    const cbs = [...pending.values()];
    pending.clear();
    for (const cb of cbs) cb();
  };
  return { timers, pending, fire };
}

Deno.test("ClusterManager: updates that add or remove no host merge over update_merge_window", () => {
  const store = new Store();
  const t = manualTimers();
  let now = 10_000;
  const cm = new ClusterManager([
    cluster("c", ["10.0.0.1", "10.0.0.2"], {
      common_lb_config: { update_merge_window: "2s" },
    }),
  ], { stats: store, timers: t.timers, now: () => now });
  const delivered: boolean[][] = [];
  cm.watchUpdates((_n, set) => delivered.push(set.allHosts().map((h) => h.healthy)));
  const ps = cm.get("c")!.prioritySet;
  const setHealth = (...healthy: boolean[]) =>
    ps.updateHosts(0, ps.allHosts().map((h, i) => ({ ...h, healthy: healthy[i] })));
  const v = (name: string) => store.counter(`cluster_manager.${name}`).value;

  // The first health change is out of any window: delivered at once.
  setHealth(false, true);
  assertEquals(delivered, [[false, true]]);
  assertEquals(v("update_out_of_merge_window"), 1);
  // Two more within the window wait, and go out once, merged.
  now += 500;
  setHealth(false, false);
  now += 500;
  setHealth(true, false);
  assertEquals(delivered.length, 1);
  assertEquals(t.pending.size, 1);
  t.fire();
  assertEquals(delivered, [[false, true], [true, false]]);
  assertEquals(v("cluster_updated_via_merge"), 1);
  assertEquals(v("cluster_updated"), 1);
  // A pending merge is cancelled (delivered at once) by an update that removes a host.
  now += 100;
  setHealth(true, true);
  assertEquals(t.pending.size, 1);
  ps.updateHosts(0, ps.allHosts().slice(0, 1));
  assertEquals(t.pending.size, 0);
  assertEquals(v("update_merge_cancelled"), 1);
  assertEquals(v("cluster_updated"), 2);
  assertEquals(delivered.at(-1), [true]);
  cm.destroy();
});

Deno.test("ClusterManager: update_merge_window 0 delivers every update at once", () => {
  const t = manualTimers();
  const cm = new ClusterManager([
    cluster("c", ["10.0.0.1"], { common_lb_config: { update_merge_window: "0s" } }),
  ], { timers: t.timers, now: () => 0 });
  let n = 0;
  cm.watchUpdates(() => n++);
  const ps = cm.get("c")!.prioritySet;
  ps.updateHosts(0, [{ ...ps.allHosts()[0], healthy: false }]);
  ps.updateHosts(0, [{ ...ps.allHosts()[0], healthy: true }]);
  assertEquals([n, t.pending.size], [2, 0]);
  cm.destroy();
});

Deno.test("ClusterManager.updateMembership: removed hosts drain; a health failure closes connections only when configured", () => {
  for (const close of [true, false]) {
    const cm = new ClusterManager([
      cluster("c", ["10.0.0.1", "10.0.0.2", "10.0.0.3"], {
        close_connections_on_host_health_failure: close,
      }),
    ]);
    const calls: string[] = [];
    cm.setHostPools({
      hasConnections: () => false,
      drainConnectionsTo: (c, a, p) => void calls.push(`drain ${c} ${a}:${p}`),
      closeConnectionsTo: (c, a, p) => void calls.push(`close ${c} ${a}:${p}`),
    });
    const before = cm.get("c")!.prioritySet.snapshot();
    const [h1, h2] = before.hostSets[0].hosts;
    cm.updateMembership("c", {
      hostSets: [{ ...before.hostSets[0], hosts: [{ ...h1, healthy: false }, h2] }],
    });
    assertEquals(cm.get("c")!.prioritySet.allHosts().length, 2);
    assertEquals(
      calls,
      close ? ["drain c 10.0.0.3:80", "close c 10.0.0.1:80"] : ["drain c 10.0.0.3:80"],
    );
    cm.destroy();
  }
});

Deno.test("ClusterManager: the local cluster of zone aware routing must exist", () => {
  let message = "";
  try {
    new ClusterManager([cluster("a", ["10.0.0.1"])], {
      local: { clusterName: "me", locality: { region: "", zone: "z", subZone: "" } },
    });
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "local cluster 'me' must be defined");
  const cm = new ClusterManager([cluster("a", ["10.0.0.1"])], {
    local: { clusterName: "a", locality: { region: "", zone: "z", subZone: "" } },
  });
  assertEquals(cm.loadBalancer("a")?.chooseHost()?.address, "10.0.0.1");
});
