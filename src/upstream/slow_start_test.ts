import { assert, assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import type { LbSettings } from "./lb_base.ts";
import { LeastRequestLoadBalancer } from "./least_request_lb.ts";
import { PrioritySet } from "./priority_set.ts";
import { RoundRobinLoadBalancer } from "./round_robin_lb.ts";
import { SlowStart, type SlowStartSettings } from "./slow_start.ts";

function host(i: number, healthy = true): HostDescription {
  return {
    address: `10.0.0.${i}`,
    port: 80,
    weight: 10,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy,
  };
}

const window60: SlowStartSettings = { windowMs: 60_000, aggression: 1, minWeightFraction: 0.1 };

Deno.test("slow start: Envoy's formula (time factor, aggression, min weight)", () => {
  let now = 1000;
  const set = new PrioritySet();
  const a = host(1);
  set.updateHosts(0, [a]);
  const slow = new SlowStart(window60, set, () => now);
  // At the start the 1 ms floor applies and min_weight_percent (10%) wins.
  assertEquals(slow.apply(10, a), 1);
  now += 30_000;
  assertEquals(slow.apply(10, a), 5);
  now += 30_000;
  assertEquals(slow.apply(10, a), 10, "out of the window");
  assert(!slow.anyInWindow([a]));
  const aggressive = new SlowStart({ ...window60, aggression: 2 }, set, () => now);
  now += 15_000;
  // (15 / 60) ^ (1 / 2) = 0.5
  assertEquals(aggressive.apply(10, a), 5);
  const bad = new SlowStart({ ...window60, aggression: -1 }, set, () => now);
  now += 15_000;
  assertEquals(bad.apply(10, a), 2.5, "a non-positive aggression counts as 1.0");
});

Deno.test("slow start: a host re-enters the window after being unhealthy or absent", () => {
  let now = 0;
  const set = new PrioritySet();
  set.updateHosts(0, [host(1)]);
  const slow = new SlowStart(window60, set, () => now);
  now = 120_000;
  assertEquals(slow.apply(10, set.hostSets[0].hosts[0]), 10);
  set.updateHosts(0, [host(1, false)]);
  assertEquals(slow.apply(10, set.hostSets[0].hosts[0]), 10, "unhealthy: not scaled");
  set.updateHosts(0, [host(1)]);
  const back = set.hostSets[0].hosts[0];
  assert(slow.anyInWindow([back]));
  now += 6_000;
  assertEquals(slow.apply(10, back), 1);
  now += 24_000;
  assertEquals(slow.apply(10, back), 5);
});

const settings: LbSettings = {
  healthyPanicThreshold: 50,
  localityWeighted: false,
  choiceCount: 2,
  activeRequestBias: 1,
  slowStart: window60,
};

function share(picks: (HostDescription | undefined)[], address: string): number {
  return picks.filter((h) => h?.address === address).length / picks.length;
}

Deno.test("slow start: round robin ramps a new host up over the window", () => {
  let now = 0;
  const set = new PrioritySet();
  set.updateHosts(0, [host(1), host(2)]);
  const lb = new RoundRobinLoadBalancer(set, settings, () => 0, undefined, { clock: () => now });
  now = 100_000;
  set.updateHosts(0, [host(1), host(2), host(3)]);
  now += 15_000;
  // Host 3 weighs 25% of the others: 2.5 of 22.5.
  const early = Array.from({ length: 900 }, () => lb.chooseHost());
  assert(Math.abs(share(early, "10.0.0.3") - 2.5 / 22.5) < 0.02, `${share(early, "10.0.0.3")}`);
  now += 60_000;
  const late = Array.from({ length: 900 }, () => lb.chooseHost());
  assert(Math.abs(share(late, "10.0.0.3") - 1 / 3) < 0.02, `${share(late, "10.0.0.3")}`);
  lb.destroy();
});

Deno.test("slow start: least request weighs a host in its window down", () => {
  let now = 0;
  const set = new PrioritySet();
  set.updateHosts(0, [host(1)]);
  const lb = new LeastRequestLoadBalancer(set, settings, Math.random, undefined, {
    clock: () => now,
  });
  now = 100_000;
  set.updateHosts(0, [host(1), host(2)]);
  now += 6_000;
  // Host 2 at 10% weight: about 1 pick in 11.
  const picks = Array.from({ length: 1100 }, () => lb.chooseHost());
  assert(Math.abs(share(picks, "10.0.0.2") - 1 / 11) < 0.02, `${share(picks, "10.0.0.2")}`);
  lb.destroy();
});
