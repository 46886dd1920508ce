/**
 * Envoy's slow start mode for ROUND_ROBIN and LEAST_REQUEST (`slow_start_config`): a host that
 * joined the cluster (or came back healthy) less than `slow_start_window` ago has its weight
 * scaled by `max(min_weight_percent, time_factor ^ (1 / aggression))`, with
 * `time_factor = max(1 ms, time in window) / window`. The weight is recomputed each time the
 * weighted schedule re-adds the host, so traffic ramps up as the window passes.
 *
 * Hosts are plain data, so this tracks when each host address became healthy, per balancer
 * (per worker); a health change publishes a new host description, which re-enters the window
 * after being unhealthy.
 *
 * @module
 */
import { runtimeSnapshot } from "../runtime/runtime.ts";
import { type HostDescription, hostKey } from "./host.ts";
import type { PrioritySet } from "./priority_set.ts";

/** `slow_start_config`, resolved. */
export interface SlowStartSettings {
  /** `slow_start_window` in ms; slow start is off when 0. */
  readonly windowMs: number;
  /** `aggression.default_value` (default 1.0). */
  readonly aggression: number;
  /** `aggression.runtime_key`, read at each weight computation. */
  readonly aggressionRuntimeKey?: string;
  /** `min_weight_percent` as a fraction (default 0.1). */
  readonly minWeightFraction: number;
}

/** Milliseconds on a monotonic clock; injectable for tests. */
export type Clock = () => number;

/** When each host entered its window, for one balancer. */
export class SlowStart {
  readonly #settings: SlowStartSettings;
  readonly #now: Clock;
  /** Since when each healthy host address has been healthy and present. */
  readonly #since = new Map<string, number>();
  /** The same, by host description, so picks need no address key. */
  #byHost = new WeakMap<HostDescription, number>();
  readonly #unsubscribe: () => void;

  constructor(
    settings: SlowStartSettings,
    prioritySet: PrioritySet,
    now: Clock = () => performance.now(),
  ) {
    this.#settings = settings;
    this.#now = now;
    this.#track(prioritySet);
    this.#unsubscribe = prioritySet.onUpdate((set) => this.#track(set));
  }

  /** Stops following membership. */
  destroy(): void {
    this.#unsubscribe();
  }

  /** Whether any of `hosts` is within its window now. */
  anyInWindow(hosts: readonly HostDescription[]): boolean {
    const now = this.#now();
    for (const h of hosts) {
      const since = this.#byHost.get(h);
      if (since !== undefined && now - since < this.#settings.windowMs) return true;
    }
    return false;
  }

  /** `weight` scaled for `host`'s place in its window (unchanged outside it). */
  apply(weight: number, host: HostDescription): number {
    const since = this.#byHost.get(host);
    if (since === undefined) return weight;
    const s = this.#settings;
    const elapsed = this.#now() - since;
    if (elapsed >= s.windowMs) return weight;
    let aggression = s.aggressionRuntimeKey
      ? runtimeSnapshot().getDouble(s.aggressionRuntimeKey, s.aggression)
      : s.aggression;
    // Envoy falls back to 1.0 for a non-positive or NaN runtime value.
    if (!(aggression > 0)) aggression = 1;
    const timeFactor = Math.max(1, Math.floor(elapsed)) / s.windowMs;
    const scaled = aggression === 1 || timeFactor === 1
      ? timeFactor
      : Math.pow(timeFactor, 1 / aggression);
    return weight * Math.max(scaled, s.minWeightFraction);
  }

  #track(set: PrioritySet): void {
    const now = this.#now();
    const present = new Set<string>();
    const byHost = new WeakMap<HostDescription, number>();
    for (const h of set.allHosts()) {
      if (!h.healthy) continue;
      const k = hostKey(h);
      present.add(k);
      let since = this.#since.get(k);
      if (since === undefined) {
        since = now;
        this.#since.set(k, now);
      }
      byHost.set(h, since);
    }
    // A host that left or turned unhealthy starts a new window when it is back.
    for (const k of this.#since.keys()) if (!present.has(k)) this.#since.delete(k);
    this.#byHost = byHost;
  }
}
