/**
 * How load is split across priority levels, as Envoy computes it: each level's health is its
 * share of available hosts times the overprovisioning factor (capped at 100); load fills the
 * highest priorities first and spills to lower ones as health drops; a level whose available
 * hosts fall under the panic threshold, while the levels together cannot carry all the load,
 * is "in panic" and balances over all of its hosts. Integer percentages throughout, like
 * Envoy, so the documented tables come out exactly.
 *
 * @module
 */
import { DEFAULT_OVERPROVISIONING_FACTOR, type HostSet } from "./priority_set.ts";

/** The result of the priority computation, per level. */
export interface PriorityLoad {
  /** Percent of requests sent to the healthy hosts of each level. */
  readonly healthy: readonly number[];
  /** Percent of requests sent to the degraded hosts of each level. */
  readonly degraded: readonly number[];
  /** Levels that balance over all their hosts, ignoring health. */
  readonly panic: readonly boolean[];
}

/** Envoy's default `common_lb_config.healthy_panic_threshold`, in percent. */
export const DEFAULT_PANIC_THRESHOLD = 50;

/** Health (0-100) of one level: its available share times the overprovisioning factor. */
function availability(set: HostSet, pick: (h: HostSet["hosts"][number]) => boolean): number {
  let total = 0;
  let available = 0;
  for (const h of set.hosts) {
    // Weighted priority health counts weight instead of hosts, so one heavy host that fails
    // moves as much load as it carried.
    const n = set.weightedPriorityHealth ? h.weight : 1;
    total += n;
    if (pick(h)) available += n;
  }
  if (total === 0) return 0;
  return Math.min(100, Math.floor(set.overprovisioningFactor * available / total));
}

const isHealthy = (h: HostSet["hosts"][number]) => h.healthy;
const isDegraded = (h: HostSet["hosts"][number]) => !h.healthy && h.degraded === true;

/** A level's healthy and degraded health (0-100 each), as the priority load weighs them. */
export function levelHealth(set: HostSet): { healthy: number; degraded: number } {
  return { healthy: availability(set, isHealthy), degraded: availability(set, isDegraded) };
}

/**
 * Gives each level `availability * 100 / normalizedTotal` percent, capped by what is left;
 * returns the first level with any availability and the load left over.
 */
function distribute(
  out: number[],
  avail: readonly number[],
  total: number,
  normalizedTotal: number,
): { first: number; left: number } {
  let first = -1;
  let left = total;
  avail.forEach((a, i) => {
    if (first < 0 && a > 0) first = i;
    out[i] = Math.min(left, Math.floor(a * 100 / normalizedTotal));
    left -= out[i];
  });
  return { first, left };
}

function inPanic(set: HostSet, threshold: number): boolean {
  const n = set.hosts.length;
  let available = 0;
  for (const h of set.hosts) if (h.healthy || h.degraded) available++;
  return (n === 0 ? 0 : 100 * available / n) < threshold;
}

// A cluster always has P=0, even before it has hosts.
const NO_LEVELS: readonly HostSet[] = [
  {
    priority: 0,
    hosts: [],
    overprovisioningFactor: DEFAULT_OVERPROVISIONING_FACTOR,
    weightedPriorityHealth: false,
  },
];

/**
 * Splits 100% of the load over the levels of `sets` (index = priority).
 * `panicThreshold` is in percent; 0 disables panic mode.
 */
export function computePriorityLoad(
  levels: readonly HostSet[],
  panicThreshold = DEFAULT_PANIC_THRESHOLD,
): PriorityLoad {
  const sets = levels.length > 0 ? levels : NO_LEVELS;
  const n = sets.length;
  const healthy = new Array<number>(n).fill(0);
  const degraded = new Array<number>(n).fill(0);
  const health = sets.map((s) => availability(s, isHealthy));
  const degradedHealth = sets.map((s) => availability(s, isDegraded));
  const sum = [...health, ...degradedHealth].reduce((a, b) => a + b, 0);
  const normalizedTotal = Math.min(100, sum);

  if (normalizedTotal > 0) {
    const h = distribute(healthy, health, 100, normalizedTotal);
    const d = distribute(degraded, degradedHealth, h.left, normalizedTotal);
    // What integer division leaves over goes to the first level that can take it.
    if (d.left > 0) {
      if (h.first >= 0) healthy[h.first] += d.left;
      else degraded[d.first] += d.left;
    }
  }

  const threshold = Math.min(100, panicThreshold);
  if (threshold === 0 && normalizedTotal === 0) {
    // Nothing is available and panic is off: the load must still sum to 100, so P=0 gets it
    // and picks there find no host ("no healthy upstream").
    healthy[0] = 100;
    return { healthy, degraded, panic: new Array<boolean>(n).fill(false) };
  }
  // Panic is only considered when the levels together cannot carry all the load.
  const panic = sets.map((s) => normalizedTotal === 100 ? false : inPanic(s, threshold));
  if (panic.every(Boolean)) {
    return { healthy: totalPanicLoad(sets, n), degraded: new Array<number>(n).fill(0), panic };
  }
  return { healthy, degraded, panic };
}

/** When every level is in panic, load follows the number of hosts per level, health aside. */
function totalPanicLoad(sets: readonly HostSet[], n: number): number[] {
  const load = new Array<number>(n).fill(0);
  const total = sets.reduce((a, s) => a + s.hosts.length, 0);
  if (total === 0) {
    load[0] = 100;
    return load;
  }
  let left = 100;
  let first = -1;
  sets.forEach((s, i) => {
    if (first < 0 && s.hosts.length > 0) first = i;
    load[i] = Math.floor(100 * s.hosts.length / total);
    left -= load[i];
  });
  load[first] += left;
  return load;
}

/** The level a request goes to, and whether to its degraded hosts. */
export interface PriorityChoice {
  readonly priority: number;
  readonly degraded: boolean;
}

/**
 * Picks a level for a request from a uniformly distributed non-negative integer `hash`
 * (random, or a consistent hash so hash-based policies pick levels stably).
 */
export function choosePriority(load: PriorityLoad, hash: number): PriorityChoice {
  const point = (hash % 100) + 1;
  let acc = 0;
  for (let p = 0; p < load.healthy.length; p++) {
    acc += load.healthy[p];
    if (point <= acc) return { priority: p, degraded: false };
  }
  for (let p = 0; p < load.degraded.length; p++) {
    acc += load.degraded[p];
    if (point <= acc) return { priority: p, degraded: true };
  }
  return { priority: 0, degraded: false };
}
