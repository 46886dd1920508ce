/**
 * Requests in flight per host, as one load balancer (so one worker) sees them: what
 * LEAST_REQUEST weighs and bounded-load consistent hashing caps. Counts are keyed by host
 * address, so they survive membership updates that replace host objects; a weak map from each
 * host object spares building the address key on every pick.
 *
 * @module
 */
import { type HostDescription, hostKey } from "./host.ts";
import type { PrioritySet } from "./priority_set.ts";

/** Active requests to one host address. */
interface ActiveCount {
  n: number;
}

/** Per-host and total requests in flight. */
export class ActiveRequests {
  readonly #byKey = new Map<string, ActiveCount>();
  readonly #byHost = new WeakMap<HostDescription, ActiveCount>();
  #total = 0;

  /** Requests to `host` that started and have not finished. */
  of(host: HostDescription): number {
    return this.#count(host).n;
  }

  /** Requests in flight to every host (the cluster's `upstream_rq_active` of this worker). */
  get total(): number {
    return this.#total;
  }

  /** A request to `host` started. */
  started(host: HostDescription): void {
    this.#count(host).n++;
    this.#total++;
  }

  /** A request to `host` ended (any outcome). */
  finished(host: HostDescription): void {
    const c = this.#count(host);
    if (c.n > 0) {
      c.n--;
      this.#total--;
    }
  }

  /** Forgets idle hosts that left the cluster (their objects can no longer be picked). */
  prune(set: PrioritySet): void {
    const present = new Set(set.allHosts().map(hostKey));
    for (const [k, c] of this.#byKey) if (c.n === 0 && !present.has(k)) this.#byKey.delete(k);
  }

  #count(host: HostDescription): ActiveCount {
    let c = this.#byHost.get(host);
    if (c) return c;
    const k = hostKey(host);
    c = this.#byKey.get(k);
    if (!c) {
      c = { n: 0 };
      this.#byKey.set(k, c);
    }
    this.#byHost.set(host, c);
    return c;
  }
}
