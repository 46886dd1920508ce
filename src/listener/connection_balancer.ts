/**
 * Envoy's exact connection balancer (`connection_balance_config.exact_balance`): every
 * connection a listener accepts goes to the worker whose instance of that listener has the
 * fewest connections, the first such worker on a tie, decided under a lock so the counts stay
 * exact. Workers are isolates, so the lock and the counts live in a SharedArrayBuffer the main
 * thread makes and every worker maps (DESIGN principle 8).
 *
 * Layout, per balanced listener (Int32): `[lock, instances accepting × workers,
 * connections × workers]`.
 * A worker's instance takes part once it accepts (Envoy's `registerHandler`) and leaves when it
 * stops accepting; its connections are counted from the pick until they close, wherever they
 * go (listener filters, a filter chain, or closed for want of one).
 *
 * @module
 */

/** Int32 slots one listener takes for `workers` workers. */
export function balancerSlots(workers: number): number {
  return 1 + 2 * workers;
}

/** The shared memory of the balanced listeners, made on the main thread. */
export interface BalancerMemory {
  memory: SharedArrayBuffer;
  workers: number;
  /** Each balanced listener's index in the memory, by name. */
  listeners: Record<string, number>;
}

/** Shared memory for the `listeners` (names) balanced over `workers` workers. */
export function newBalancerMemory(listeners: readonly string[], workers: number): BalancerMemory {
  const index: Record<string, number> = {};
  listeners.forEach((n, i) => index[n] = i);
  return {
    memory: new SharedArrayBuffer(Math.max(1, listeners.length * balancerSlots(workers)) * 4),
    workers,
    listeners: index,
  };
}

/** One listener's exact balancer, as one isolate sees it. */
export class ExactConnectionBalancer {
  readonly #v: Int32Array;
  readonly #workers: number;

  constructor(memory: BalancerMemory, listener: number) {
    const n = balancerSlots(memory.workers);
    this.#v = new Int32Array(memory.memory, listener * n * 4, n);
    this.#workers = memory.workers;
  }

  /**
   * An instance of the listener on worker `w` accepts from now on (a candidate of every pick).
   * Counted: a reload's new instance registers before the old one it replaces leaves.
   */
  register(w: number): void {
    Atomics.add(this.#v, 1 + w, 1);
  }

  /** An instance on worker `w` stopped accepting. */
  unregister(w: number): void {
    Atomics.sub(this.#v, 1 + w, 1);
  }

  /**
   * The worker the next connection goes to: the registered one with the fewest connections
   * (the lowest numbered of those), counted now. `self` when none is registered (the acceptor
   * is itself about to stop accepting).
   */
  pick(self: number): number {
    const v = this.#v, base = 1 + this.#workers;
    // A spin lock: the critical section is a scan of a few integers.
    while (Atomics.compareExchange(v, 0, 0, 1) !== 0) { /* another worker picks */ }
    let best = -1, min = 0;
    for (let w = 0; w < this.#workers; w++) {
      if (Atomics.load(v, 1 + w) <= 0) continue;
      const n = Atomics.load(v, base + w);
      if (best < 0 || n < min) [best, min] = [w, n];
    }
    if (best < 0) best = self;
    Atomics.add(v, base + best, 1);
    Atomics.store(v, 0, 0);
    return best;
  }

  /** A connection of worker `w` is gone. */
  release(w: number): void {
    Atomics.sub(this.#v, 1 + this.#workers + w, 1);
  }

  /** Worker `w`'s connections, as counted. */
  connections(w: number): number {
    return Atomics.load(this.#v, 1 + this.#workers + w);
  }

  /** Worker `w` is gone (crashed, replaced): it is no candidate and counts nothing. */
  reset(w: number): void {
    Atomics.store(this.#v, 1 + w, 0);
    Atomics.store(this.#v, 1 + this.#workers + w, 0);
  }
}
