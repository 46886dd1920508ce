/**
 * Envoy's exact connection balancer (`connection_balance_config.exact_balance`): every
 * connection a listener accepts goes to the worker whose instance of that listener has the
 * fewest connections, the first such worker on a tie, decided under a lock so the counts stay
 * exact. Workers are isolates, so the lock and the counts live in a SharedArrayBuffer the main
 * thread makes and every worker maps (DESIGN principle 8).
 *
 * Layout (Int32): `[table lock, (name hash hi, lo) × capacity]`, then per balanced listener
 * `[lock, instances accepting × workers, connections × workers]`. A listener's place is found
 * by its name, from any isolate, whenever it first balances: static listeners, LDS listeners
 * and listeners a bootstrap reload adds all take one the same way, and a name keeps its place
 * for the life of the process (its counts return to zero as its connections close).
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

/** How many distinct listener names can balance in one process. */
export const BALANCED_LISTENER_CAPACITY = 256;

/** The shared memory of the balanced listeners, made on the main thread. */
export interface BalancerMemory {
  memory: SharedArrayBuffer;
  workers: number;
  /** Listener places in the memory. */
  capacity: number;
}

/** Shared memory for up to `capacity` balanced listeners over `workers` workers. */
export function newBalancerMemory(
  workers: number,
  capacity = BALANCED_LISTENER_CAPACITY,
): BalancerMemory {
  const slots = 1 + 2 * capacity + capacity * balancerSlots(workers);
  return { memory: new SharedArrayBuffer(slots * 4), workers, capacity };
}

/**
 * Two independent 32-bit FNV-1a hashes of `name` (a 64-bit tag: two names sharing a place
 * would need both to collide); never 0, which marks a free place.
 */
function nameTag(name: string): [number, number] {
  let a = 0x811c9dc5, b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return [a | 1, b | 1];
}

/**
 * The place of listener `name` in `m`, claimed on first use (by whichever isolate asks first);
 * undefined when every place is taken by other names.
 */
export function balancerIndex(m: BalancerMemory, name: string): number | undefined {
  const v = new Int32Array(m.memory, 0, 1 + 2 * m.capacity);
  const [hi, lo] = nameTag(name);
  while (Atomics.compareExchange(v, 0, 0, 1) !== 0) { /* another isolate looks up a name */ }
  try {
    const start = (hi >>> 0) % m.capacity;
    for (let k = 0; k < m.capacity; k++) {
      const i = (start + k) % m.capacity;
      const h = Atomics.load(v, 1 + 2 * i), l = Atomics.load(v, 2 + 2 * i);
      if (h === hi && l === lo) return i;
      if (h === 0) {
        Atomics.store(v, 1 + 2 * i, hi);
        Atomics.store(v, 2 + 2 * i, lo);
        return i;
      }
    }
    return undefined;
  } finally {
    Atomics.store(v, 0, 0);
  }
}

/** The places some listener has claimed (a crashed worker's counts are reset in each). */
export function claimedBalancerIndexes(m: BalancerMemory): number[] {
  const v = new Int32Array(m.memory, 0, 1 + 2 * m.capacity);
  const out: number[] = [];
  for (let i = 0; i < m.capacity; i++) if (Atomics.load(v, 1 + 2 * i) !== 0) out.push(i);
  return out;
}

/** One listener's exact balancer, as one isolate sees it. */
export class ExactConnectionBalancer {
  readonly #v: Int32Array;
  readonly #workers: number;

  constructor(memory: BalancerMemory, listener: number) {
    const n = balancerSlots(memory.workers);
    const table = 1 + 2 * memory.capacity;
    this.#v = new Int32Array(memory.memory, (table + listener * n) * 4, n);
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
