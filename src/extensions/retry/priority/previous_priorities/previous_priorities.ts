/**
 * `envoy.retry_priorities.previous_priorities`: retries move away from the priority levels
 * already attempted. Every `update_frequency` attempts, the levels of the hosts attempted so far
 * are excluded and the load is spread again over the rest by their health, the way Envoy's
 * PreviousPrioritiesRetryPriority does it. When that would leave no level with any health, the
 * attempts are forgotten and the original load applies — and, as in Envoy (whose reset of the
 * excluded levels does not take effect), it keeps applying for the rest of that request.
 *
 * One instance per request (per retry state).
 *
 * @module
 */
import type { HostDescription } from "../../../../upstream/host.ts";
import { levelHealth, type PriorityLoad } from "../../../../upstream/priority_load.ts";
import type { HostSet } from "../../../../upstream/priority_set.ts";

/** The retry priority state of one request. */
export class PreviousPrioritiesRetryPriority {
  readonly #updateFrequency: number;
  /** Priorities of the hosts attempted since the last reset. */
  #attempted: number[] = [];
  readonly #excluded: boolean[] = [];
  /** The adjusted load, once one was computed. */
  #load: PriorityLoad | undefined;

  constructor(updateFrequency: number) {
    this.#updateFrequency = updateFrequency;
  }

  /** An attempt went to `host`. */
  onHostAttempted(host: HostDescription): void {
    this.#attempted.push(host.priority);
  }

  /** The priority load for the next pick, given the balancer's own. */
  determinePriorityLoad(sets: readonly HostSet[], original: PriorityLoad): PriorityLoad {
    const n = this.#attempted.length;
    if (n < this.#updateFrequency) return original;
    if (n % this.#updateFrequency === 0) {
      for (const p of this.#attempted) this.#excluded[p] = true;
      const adjusted = this.#adjust(sets, original);
      if (!adjusted) return original;
      this.#load = adjusted;
    }
    return this.#load ?? original;
  }

  #adjust(sets: readonly HostSet[], original: PriorityLoad): PriorityLoad | undefined {
    const healthy = sets.map(() => 0);
    const degraded = sets.map(() => 0);
    let total = 0;
    sets.forEach((set, i) => {
      if (this.#excluded[i]) return;
      const h = levelHealth(set);
      healthy[i] = h.healthy;
      degraded[i] = h.degraded;
      total += h.healthy + h.degraded;
    });
    total = Math.min(total, 100);
    if (total === 0) {
      this.#attempted = [];
      return undefined;
    }
    const outHealthy = sets.map(() => 0);
    const outDegraded = sets.map(() => 0);
    let left = 100;
    // Repeated passes hand what integer division leaves over to the first levels again.
    while (left !== 0) {
      for (let i = 0; i < healthy.length; i++) {
        const delta = Math.min(left, Math.floor(healthy[i] * 100 / total));
        outHealthy[i] += delta;
        left -= delta;
      }
      for (let i = 0; i < degraded.length; i++) {
        const delta = Math.min(left, Math.floor(degraded[i] * 100 / total));
        outDegraded[i] += delta;
        left -= delta;
      }
    }
    return { healthy: outHealthy, degraded: outDegraded, panic: original.panic };
  }
}
