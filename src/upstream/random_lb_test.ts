import { assert } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import type { LbSettings } from "./lb_base.ts";
import { PrioritySet } from "./priority_set.ts";
import { RandomLoadBalancer } from "./random_lb.ts";

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

function tally(hosts: HostDescription[], n: number): Map<string, number> {
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  const lb = new RandomLoadBalancer(set, settings, Math.random);
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const a = lb.chooseHost()!.address;
    seen.set(a, (seen.get(a) ?? 0) + 1);
  }
  return seen;
}

Deno.test("random: roughly uniform over healthy hosts", () => {
  const seen = tally([host(1), host(2), host(3), host(4, 1, false)], 30000);
  assert(!seen.has("10.0.0.4"));
  for (const n of seen.values()) assert(Math.abs(n - 10000) < 600, `${[...seen]}`);
});

Deno.test("random: endpoint weights do not bias the pick, as in Envoy", () => {
  const seen = tally([host(1, 1), host(2, 9)], 20000);
  for (const n of seen.values()) assert(Math.abs(n - 10000) < 600, `${[...seen]}`);
});
