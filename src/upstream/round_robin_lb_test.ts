import { assert, assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import type { LbSettings } from "./lb_base.ts";
import { PrioritySet } from "./priority_set.ts";
import { RoundRobinLoadBalancer } from "./round_robin_lb.ts";

const settings: LbSettings = {
  healthyPanicThreshold: 50,
  localityWeighted: false,
  choiceCount: 2,
  activeRequestBias: 1,
};

function host(i: number, weight = 1, healthy = true): HostDescription {
  return {
    address: `10.0.0.${i}`,
    port: 80,
    weight,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy,
  };
}

function balancer(hosts: HostDescription[], random = () => 0) {
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  return new RoundRobinLoadBalancer(set, settings, random);
}

function picks(lb: RoundRobinLoadBalancer, n: number): string[] {
  return Array.from({ length: n }, () => lb.chooseHost()!.address.slice(-1));
}

Deno.test("round robin: equal weights rotate", () => {
  const lb = balancer([host(1), host(2), host(3)]);
  assertEquals(picks(lb, 7).join(""), "1231231");
});

Deno.test("round robin: each balancer starts at a random offset", () => {
  // 0.5 * 2^32 % 3 = 2: this worker starts at the third host.
  const lb = balancer([host(1), host(2), host(3)], () => 0.5);
  assertEquals(picks(lb, 4).join(""), "3123");
});

Deno.test("round robin: weights 1:3 over 4000 picks give exactly 1000:3000", () => {
  const lb = balancer([host(1, 1), host(2, 3)], () => 0.123);
  const seen = picks(lb, 4000);
  assertEquals(seen.filter((h) => h === "1").length, 1000);
  assertEquals(seen.filter((h) => h === "2").length, 3000);
});

Deno.test("round robin: weighted picks interleave", () => {
  const lb = balancer([host(1, 1), host(2, 3)]);
  const seen = picks(lb, 40).join("");
  assert(!seen.includes("11"), seen);
  assert(!seen.includes("2222"), seen);
});

Deno.test("round robin: unhealthy hosts are skipped", () => {
  const lb = balancer([host(1), host(2, 1, false), host(3), host(4)]);
  assertEquals(picks(lb, 6).join(""), "134134");
});

Deno.test("round robin: membership changes take effect on the next pick", () => {
  const set = new PrioritySet();
  set.updateHosts(0, [host(1), host(2)]);
  const lb = new RoundRobinLoadBalancer(set, settings, () => 0);
  assertEquals(picks(lb, 2).join(""), "12");
  set.updateHosts(0, [host(3), host(4), host(5)]);
  assertEquals(picks(lb, 3).join(""), "345");
});
