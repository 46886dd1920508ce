import { assert, assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import { type HostSource, type LbSettings, PriorityLoadBalancer, randomInt } from "./lb_base.ts";
import { PrioritySet } from "./priority_set.ts";

/** Deterministic uniform numbers (mulberry32). */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks uniformly at random, so tests see which group the base class chose. */
class UniformLb extends PriorityLoadBalancer<undefined> {
  protected sourceState(): undefined {
    return undefined;
  }
  protected pick(source: HostSource<undefined>): HostDescription {
    return source.hosts[Math.floor(this.random() * source.hosts.length)];
  }
}

const settings: LbSettings = {
  healthyPanicThreshold: 50,
  localityWeighted: false,
  choiceCount: 2,
  activeRequestBias: 1,
};

let next = 0;
function host(opts: Partial<HostDescription> = {}): HostDescription {
  next++;
  return {
    address: `10.${next >> 16 & 255}.${next >> 8 & 255}.${next & 255}`,
    port: 80,
    weight: 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
    ...opts,
  };
}

function hosts(n: number, healthy: number, opts: Partial<HostDescription> = {}) {
  return Array.from({ length: n }, (_, i) => host({ ...opts, healthy: i < healthy }));
}

function tally(lb: UniformLb, picks: number, key: (h: HostDescription) => string) {
  const seen = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const h = lb.chooseHost();
    const k = h ? key(h) : "none";
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return seen;
}

Deno.test("randomInt spans 32 bits", () => {
  assertEquals(randomInt(() => 0), 0);
  assertEquals(randomInt(() => 0.9999999999), 4294967295);
});

Deno.test("LB base: priority spill-over follows the priority load", () => {
  const set = new PrioritySet();
  set.updateHosts(0, hosts(10, 5));
  set.updateHosts(1, hosts(10, 10, { priority: 1 }));
  const lb = new UniformLb(set, settings, seeded(1));
  const seen = tally(lb, 10000, (h) => `P${h.priority}${h.healthy ? "" : " unhealthy"}`);
  // P=0 at 50% healthy takes 70% (50 * 1.4), only on healthy hosts.
  assertEquals(seen.get("P0 unhealthy"), undefined);
  assert(Math.abs(seen.get("P0")! - 7000) < 300, `P0 ${seen.get("P0")}`);
  assert(Math.abs(seen.get("P1")! - 3000) < 300, `P1 ${seen.get("P1")}`);
});

Deno.test("LB base: panic balances over all hosts of the level", () => {
  const set = new PrioritySet();
  set.updateHosts(0, hosts(4, 1));
  const lb = new UniformLb(set, settings, seeded(2));
  const seen = tally(lb, 4000, (h) => h.healthy ? "healthy" : "unhealthy");
  assert(Math.abs(seen.get("unhealthy")! - 3000) < 200, `${seen.get("unhealthy")}`);
});

Deno.test("LB base: no panic above the threshold, only healthy hosts", () => {
  const set = new PrioritySet();
  set.updateHosts(0, hosts(4, 2));
  const lb = new UniformLb(set, { ...settings, healthyPanicThreshold: 40 }, seeded(3));
  assertEquals(tally(lb, 1000, (h) => String(h.healthy)).get("false"), undefined);
});

Deno.test("LB base: no host when nothing is healthy and panic is off, or no hosts at all", () => {
  const set = new PrioritySet();
  set.updateHosts(0, hosts(3, 0));
  assertEquals(
    new UniformLb(set, { ...settings, healthyPanicThreshold: 0 }, seeded(4)).chooseHost(),
    undefined,
  );
  assertEquals(new UniformLb(new PrioritySet(), settings, seeded(4)).chooseHost(), undefined);
});

Deno.test("LB base: degraded hosts take the load healthy hosts cannot", () => {
  const set = new PrioritySet();
  // 1 healthy of 10 gives health 14; the 9 degraded take the other 86%.
  set.updateHosts(0, [
    host(),
    ...Array.from({ length: 9 }, () => host({ healthy: false, degraded: true })),
  ]);
  const lb = new UniformLb(set, settings, seeded(5));
  const seen = tally(lb, 10000, (h) => h.healthy ? "healthy" : "degraded");
  assert(Math.abs(seen.get("healthy")! - 1400) < 200, `${seen.get("healthy")}`);
});

Deno.test("LB base: follows membership updates", () => {
  const set = new PrioritySet();
  const a = host();
  set.updateHosts(0, [a]);
  const lb = new UniformLb(set, settings, seeded(6));
  assertEquals(lb.chooseHost(), a);
  const b = host();
  set.updateHosts(0, [b]);
  assertEquals(lb.chooseHost(), b);
  lb.destroy();
});

function locality(zone: string, weight: number | undefined, n: number, healthy: number) {
  return hosts(n, healthy, {
    locality: { region: "r", zone, subZone: "" },
    ...(weight === undefined ? {} : { localityWeight: weight }),
  });
}

Deno.test("LB base: locality weighted picks follow Envoy's table", () => {
  // Localities X (weight 1) and Y (weight 2), Y fully healthy. X's effective weight is
  // min(1, 1.4 * healthy share); the docs table shows these shares rounded (33, 33, 26, 15, 0).
  // Y is large so that the level as a whole stays out of panic.
  const rows: [number, number][] = [[100, 33.33], [70, 32.89], [50, 25.93], [25, 14.89], [0, 0]];
  for (const [healthyX, percentX] of rows) {
    const set = new PrioritySet();
    set.updateHosts(0, [...locality("x", 1, 100, healthyX), ...locality("y", 2, 300, 300)]);
    const lb = new UniformLb(set, { ...settings, localityWeighted: true }, seeded(7));
    const seen = tally(lb, 2700, (h) => h.locality.zone);
    const share = 100 * (seen.get("x") ?? 0) / 2700;
    assert(Math.abs(share - percentX) < 0.1, `X ${healthyX}/10: ${share}%`);
  }
});

Deno.test("LB base: unweighted localities get no load; with no weights, no locality pick", () => {
  const set = new PrioritySet();
  set.updateHosts(0, [...locality("x", undefined, 2, 2), ...locality("y", 1, 2, 2)]);
  const lb = new UniformLb(set, { ...settings, localityWeighted: true }, seeded(8));
  assertEquals([...tally(lb, 100, (h) => h.locality.zone).keys()], ["y"]);
  const unweighted = new PrioritySet();
  unweighted.updateHosts(0, [...locality("x", undefined, 2, 2), ...locality("y", undefined, 2, 2)]);
  const all = new UniformLb(unweighted, { ...settings, localityWeighted: true }, seeded(8));
  assertEquals(tally(all, 100, (h) => h.locality.zone).size, 2);
});
