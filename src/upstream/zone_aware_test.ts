import { assert, assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import type { LbSettings, LbStats, ZoneStat } from "./lb_base.ts";
import { PrioritySet } from "./priority_set.ts";
import { RoundRobinLoadBalancer } from "./round_robin_lb.ts";
import {
  chooseLocality,
  hostsPerLocality,
  localClusterOf,
  localityRoutingState,
  type ZonePickStat,
} from "./zone_aware.ts";

let next = 0;
function host(zone: string, healthy = true): HostDescription {
  next++;
  return {
    address: `10.0.${next >> 8}.${next & 255}`,
    port: 80,
    weight: 1,
    priority: 0,
    locality: { region: "r", zone, subZone: "" },
    hostname: "",
    healthy,
  };
}

const hosts = (spec: Record<string, number>) =>
  Object.entries(spec).flatMap(([zone, n]) => Array.from({ length: n }, () => host(zone)));
const A = { region: "r", zone: "a", subZone: "" };

Deno.test("zone aware: localities ordered local first, then sorted", () => {
  const per = hostsPerLocality(hosts({ c: 1, b: 2, a: 1 }), {
    region: "r",
    zone: "b",
    subZone: "",
  });
  assertEquals(per.hasLocal, true);
  assertEquals(per.groups.map((g) => g[0].locality.zone), ["b", "a", "c"]);
  assertEquals(hostsPerLocality(hosts({ c: 1 }), A).hasLocal, false);
});

Deno.test("zone aware: all traffic stays local when the upstream has its share there", () => {
  const r = localityRoutingState(
    hostsPerLocality(hosts({ a: 3, b: 3 }), A),
    hostsPerLocality(hosts({ a: 1, b: 1 }), A),
    6,
  );
  assertEquals(r.state, { kind: "direct" });
});

Deno.test("zone aware: Envoy's residual routing (40% upstream vs 50% local here)", () => {
  const r = localityRoutingState(
    hostsPerLocality(hosts({ a: 4, b: 6 }), A),
    hostsPerLocality(hosts({ a: 5, b: 5 }), A),
    6,
  );
  // 4000 / 5000 of the requests stay local; b has 6000 - 5000 spare.
  assertEquals(r.state, {
    kind: "residual",
    localPercentToRoute: 8000,
    residualCapacity: [0, 1000],
  });
});

Deno.test("zone aware: preconditions (local locality, same zones, cluster size)", () => {
  const local = hostsPerLocality(hosts({ a: 1, b: 1 }), A);
  assertEquals(
    localityRoutingState(hostsPerLocality(hosts({ a: 6 }), A), local, 6).state.kind,
    "none",
  );
  assertEquals(
    localityRoutingState(hostsPerLocality(hosts({ b: 3, c: 3 }), A), local, 6).exit,
    "lb_local_cluster_not_ok",
  );
  assertEquals(
    localityRoutingState(hostsPerLocality(hosts({ a: 2, b: 2, c: 2 }), A), local, 6).exit,
    "lb_zone_number_differs",
  );
  assertEquals(
    localityRoutingState(hostsPerLocality(hosts({ a: 2, b: 3 }), A), local, 6).exit,
    "lb_zone_cluster_too_small",
  );
});

Deno.test("zone aware: chooseLocality samples local, then by spare capacity", () => {
  const counted: ZonePickStat[] = [];
  const state = {
    kind: "residual",
    localPercentToRoute: 8000,
    residualCapacity: [0, 1000, 1500],
  } as const;
  const seq = (...v: number[]) => () => v.shift()!;
  assertEquals(chooseLocality(state, 3, seq(7999), (s) => counted.push(s)), 0);
  assertEquals(chooseLocality(state, 3, seq(8000, 999), (s) => counted.push(s)), 1);
  assertEquals(chooseLocality(state, 3, seq(8000, 1000), (s) => counted.push(s)), 2);
  assertEquals(counted, [
    "lb_zone_routing_sampled",
    "lb_zone_routing_cross_zone",
    "lb_zone_routing_cross_zone",
  ]);
  assertEquals(chooseLocality({ kind: "direct" }, 3, seq(), (s) => counted.push(s)), 0);
});

function zoneStats(): { stats: LbStats; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const counter = (n: string) => ({
    inc: () => {
      counts.set(n, (counts.get(n) ?? 0) + 1);
    },
  });
  const names: ZoneStat[] = [
    "lb_recalculate_zone_structures",
    "lb_local_cluster_not_ok",
    "lb_zone_number_differs",
    "lb_zone_cluster_too_small",
    "lb_zone_routing_all_directly",
    "lb_zone_routing_sampled",
    "lb_zone_routing_cross_zone",
    "lb_zone_no_capacity_left",
  ];
  const zone = Object.fromEntries(names.map((n) => [n, counter(n)])) as Record<
    ZoneStat,
    { inc(): void }
  >;
  return { stats: { healthyPanic: counter("lb_healthy_panic"), zone }, counts };
}

const settings: LbSettings = {
  healthyPanicThreshold: 50,
  localityWeighted: false,
  choiceCount: 2,
  activeRequestBias: 1,
};

Deno.test("zone aware: round robin sends the local share to the local zone", () => {
  const upstream = new PrioritySet();
  upstream.updateHosts(0, hosts({ a: 2, b: 4 }));
  const local = new PrioritySet();
  local.updateHosts(0, hosts({ a: 1, b: 1 }));
  const { stats, counts } = zoneStats();
  let x = 1;
  const random = () => ((x = (x * 16807) % 2147483647) / 2147483647);
  const lb = new RoundRobinLoadBalancer(upstream, settings, random, stats, {
    local: { prioritySet: local, locality: A },
  });
  let inA = 0;
  for (let i = 0; i < 3000; i++) if (lb.chooseHost()!.locality.zone === "a") inA++;
  // 3333 / 5000 of the picks stay in zone a.
  assert(Math.abs(inA / 3000 - 0.6666) < 0.04, `${inA}`);
  assert((counts.get("lb_zone_routing_sampled") ?? 0) > 0);
  // The local cluster in panic: plain round robin over all healthy hosts.
  local.updateHosts(0, [host("a", false), host("b", false), host("b")]);
  lb.chooseHost();
  assertEquals(counts.get("lb_local_cluster_not_ok"), 1);
  // Upstream grows to match: everything direct.
  upstream.updateHosts(0, hosts({ a: 3, b: 3 }));
  local.updateHosts(0, hosts({ a: 1, b: 1 }));
  for (let i = 0; i < 20; i++) assertEquals(lb.chooseHost()!.locality.zone, "a");
  assertEquals(counts.get("lb_zone_routing_all_directly"), 20);
  lb.destroy();
});

Deno.test("zone aware: fail_traffic_on_panic answers no host in panic", () => {
  const upstream = new PrioritySet();
  upstream.updateHosts(0, [host("a", false), host("b", false), host("b")]);
  const lb = new RoundRobinLoadBalancer(
    upstream,
    {
      ...settings,
      zoneAware: { routingEnabled: 100, minClusterSize: 6, failTrafficOnPanic: true },
    },
    Math.random,
  );
  assertEquals(lb.chooseHost(), undefined);
});

Deno.test("localClusterOf: local_cluster_name and node locality, --service-zone wins", () => {
  assertEquals(localClusterOf({}), undefined);
  assertEquals(
    localClusterOf(
      {
        clusterManager: { localClusterName: "me" },
        node: { locality: { region: "r", zone: "z", subZone: "s" } },
      },
      "other",
    ),
    { clusterName: "me", locality: { region: "r", zone: "other", subZone: "s" } },
  );
});
