import { assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import { choosePriority, computePriorityLoad } from "./priority_load.ts";
import type { HostSet } from "./priority_set.ts";

function host(i: number, health: "healthy" | "degraded" | "unhealthy", weight = 1) {
  return {
    address: `10.0.0.${i}`,
    port: 80,
    weight,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: health === "healthy",
    ...(health === "degraded" ? { degraded: true } : {}),
  } satisfies HostDescription;
}

/** A level of `total` hosts of which `healthy` are healthy and `degraded` degraded. */
function level(priority: number, total: number, healthy: number, degraded = 0): HostSet {
  const hosts = Array.from(
    { length: total },
    (_, i) => host(i, i < healthy ? "healthy" : i < healthy + degraded ? "degraded" : "unhealthy"),
  );
  return { priority, hosts, overprovisioningFactor: 140, weightedPriorityHealth: false };
}

/** Levels of 100 hosts each with the given percentages healthy. */
function percents(...healthy: number[]): HostSet[] {
  return healthy.map((h, p) => level(p, 100, h));
}

Deno.test("priority load: P=1 fully healthy takes what P=0 cannot (Envoy's table)", () => {
  for (
    const [p0, expected] of [[100, [100, 0]], [72, [100, 0]], [71, [99, 1]], [50, [70, 30]], [
      25,
      [35, 65],
    ], [0, [0, 100]]] as const
  ) {
    assertEquals(computePriorityLoad(percents(p0, 100)).healthy, expected, `P0 ${p0}%`);
  }
});

Deno.test("priority load: normalized when the levels together are short (Envoy's table)", () => {
  const rows: [number, number, number[]][] = [
    [100, 100, [100, 0]],
    [72, 72, [100, 0]],
    [71, 71, [99, 1]],
    [50, 50, [70, 30]],
    [25, 100, [35, 65]],
    [25, 25, [50, 50]],
  ];
  for (const [p0, p1, expected] of rows) {
    assertEquals(computePriorityLoad(percents(p0, p1)).healthy, expected, `${p0}% / ${p1}%`);
  }
});

Deno.test("priority load: three levels (Envoy's table)", () => {
  const rows: [number, number, number, number[]][] = [
    [100, 100, 100, [100, 0, 0]],
    [72, 72, 100, [100, 0, 0]],
    [71, 71, 100, [99, 1, 0]],
    [50, 50, 100, [70, 30, 0]],
    [25, 100, 100, [35, 65, 0]],
    [25, 25, 100, [35, 35, 30]],
  ];
  for (const [p0, p1, p2, expected] of rows) {
    assertEquals(computePriorityLoad(percents(p0, p1, p2)).healthy, expected);
  }
});

Deno.test("priority load: integer rounding leftovers go to the first available level", () => {
  // Health 35/35/28 sums to 98: scaled by 100/98 they floor to 35/35/28, and the 2 left over go
  // to P=0, as Envoy's implementation does (the docs table, which leaves panic aside, rounds to
  // 36/36/28). Panic is disabled: with it, all three levels would be in panic.
  assertEquals(computePriorityLoad(percents(25, 25, 20), 0).healthy, [37, 35, 28]);
  assertEquals(computePriorityLoad(percents(25, 25, 20)).healthy, [34, 33, 33]);
});

Deno.test("priority load: degraded hosts take what healthy ones cannot (Envoy's example)", () => {
  // Health 10/20/10 and degraded 20/10/0 give 16/28/14 healthy and 28/14/0 degraded load.
  const sets = [level(0, 14, 1, 2), level(1, 14, 2, 1), level(2, 14, 1, 0)];
  const load = computePriorityLoad(sets, 0);
  assertEquals(load.healthy, [16, 28, 14]);
  assertEquals(load.degraded, [28, 14, 0]);
  assertEquals(load.panic, [false, false, false]);
});

Deno.test("priority load: panic only when the levels together cannot carry the load", () => {
  // P=0 at 5% is not in panic while P=1 can take the rest...
  assertEquals(computePriorityLoad([level(0, 20, 1), level(1, 20, 20)]).panic, [false, false]);
  // ...but is once the sum of health drops below 100 (Envoy's panic table: 5% / 65%).
  assertEquals(computePriorityLoad([level(0, 20, 1), level(1, 20, 13)]).panic, [true, false]);
  for (const [p0, p1] of [[72, 72], [71, 71], [25, 100]]) {
    assertEquals(computePriorityLoad(percents(p0, p1)).panic, [false, false]);
  }
});

Deno.test("priority load: when every level is in panic, load follows host counts", () => {
  const load = computePriorityLoad(percents(25, 25));
  assertEquals(load.panic, [true, true]);
  assertEquals(load.healthy, [50, 50]);
  const uneven = computePriorityLoad([level(0, 3, 0), level(1, 1, 0)]);
  assertEquals(uneven.healthy, [75, 25]);
  assertEquals(uneven.degraded, [0, 0]);
});

Deno.test("priority load: threshold 0 disables panic; all load stays on P=0", () => {
  const load = computePriorityLoad([level(0, 3, 0), level(1, 2, 0)], 0);
  assertEquals(load.panic, [false, false]);
  assertEquals(load.healthy, [100, 0]);
  // Below the threshold but not in panic: traffic spills by health as usual.
  assertEquals(computePriorityLoad(percents(25, 25), 0).healthy, [50, 50]);
});

Deno.test("priority load: a custom panic threshold", () => {
  assertEquals(computePriorityLoad(percents(25, 25), 20).panic, [false, false]);
  assertEquals(computePriorityLoad(percents(25, 25), 30).panic, [true, true]);
});

Deno.test("priority load: a cluster without hosts is in panic at P=0", () => {
  assertEquals(computePriorityLoad([]), { healthy: [100], degraded: [0], panic: [true] });
});

Deno.test("priority load: the overprovisioning factor comes from the level", () => {
  const exact = { ...level(0, 100, 80), overprovisioningFactor: 100 };
  assertEquals(computePriorityLoad([exact, level(1, 100, 100)]).healthy, [80, 20]);
});

Deno.test("priority load: weighted priority health counts weights", () => {
  const hosts = [{ ...host(0, "unhealthy"), weight: 3 }, host(1, "healthy")];
  const set = (weighted: boolean): HostSet => ({
    priority: 0,
    hosts,
    overprovisioningFactor: 140,
    weightedPriorityHealth: weighted,
  });
  const p1 = { ...level(1, 4, 4) };
  assertEquals(computePriorityLoad([set(false), p1]).healthy, [70, 30]);
  assertEquals(computePriorityLoad([set(true), p1]).healthy, [35, 65]);
});

Deno.test("choosePriority maps hashes onto the cumulative load", () => {
  const load = { healthy: [70, 20], degraded: [0, 10], panic: [false, false] };
  assertEquals(choosePriority(load, 0), { priority: 0, degraded: false });
  assertEquals(choosePriority(load, 69), { priority: 0, degraded: false });
  assertEquals(choosePriority(load, 70), { priority: 1, degraded: false });
  assertEquals(choosePriority(load, 89), { priority: 1, degraded: false });
  assertEquals(choosePriority(load, 90), { priority: 1, degraded: true });
  assertEquals(choosePriority(load, 199), { priority: 1, degraded: true });
});
