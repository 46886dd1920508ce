/**
 * The process-wide count of active faults that `max_active_faults` is checked against, as
 * Envoy's `active_faults` gauge is one per process (DESIGN principle 8). Every isolate keeps
 * its own gauge (stats are per worker and summed by the admin) and publishes its value into one
 * SharedArrayBuffer that the main thread makes and hands to each worker; the limit compares
 * the sum over the workers' columns. A replaced worker clears its column when it starts, so
 * what a dead worker held stops counting.
 *
 * A gauge finds its place by its stat name (filters under one stat prefix share the gauge, as
 * in Envoy): linear probing over 32-bit name hashes, a place claimed by compare-and-swap.
 * Layout: Int32 `[tag × CAPACITY, (count × workers) × CAPACITY]`.
 *
 * @module
 */

/** Distinct `active_faults` gauges one process can share. */
const CAPACITY = 256;

/** The shared counts of every worker. */
export interface ActiveFaultMemory {
  readonly memory: SharedArrayBuffer;
  /** Worker columns (`--concurrency`). */
  readonly workers: number;
}

/** New memory for `workers` columns (made by the main thread, posted to workers). */
export function newActiveFaultMemory(workers: number): ActiveFaultMemory {
  const n = Math.max(1, workers);
  return { memory: new SharedArrayBuffer(CAPACITY * (1 + n) * 4), workers: n };
}

let processMemory: ActiveFaultMemory | undefined;
let column = 0;

/** The process's memory: the one the main thread handed over, else this isolate's own. */
export function activeFaultMemory(): ActiveFaultMemory {
  return processMemory ??= newActiveFaultMemory(1);
}

/** Called once in each worker with the memory from its init message; clears its column. */
export function setActiveFaultMemory(m: ActiveFaultMemory, workerId: number): void {
  processMemory = m;
  column = workerId % m.workers;
  const cells = new Int32Array(m.memory);
  for (let p = 0; p < CAPACITY; p++) Atomics.store(cells, CAPACITY + p * m.workers + column, 0);
}

/** A 32-bit FNV-1a hash of `name`, never 0 (a free place). */
function tag(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 1;
}

/** One gauge's shared counts. */
export class ActiveFaultCount {
  readonly #cells: Int32Array;
  readonly #workers: number;
  /** Index of this gauge's first count; -1 when the table is full (then only local counts). */
  readonly #base: number;
  readonly #column: number;
  #local = 0;

  constructor(gaugeName: string, m: ActiveFaultMemory = activeFaultMemory()) {
    this.#cells = new Int32Array(m.memory);
    this.#workers = m.workers;
    this.#column = m === processMemory ? column : 0;
    const t = tag(gaugeName);
    let base = -1;
    for (let k = 0, start = (t >>> 0) % CAPACITY; k < CAPACITY; k++) {
      const p = (start + k) % CAPACITY;
      const prev = Atomics.compareExchange(this.#cells, p, 0, t);
      if (prev === 0 || prev === t) {
        base = CAPACITY + p * m.workers;
        break;
      }
    }
    this.#base = base;
  }

  /** This isolate's count is now `value` (its gauge's value). */
  publish(value: number): void {
    this.#local = value;
    if (this.#base >= 0) Atomics.store(this.#cells, this.#base + this.#column, value);
  }

  /** The count over every worker. */
  total(): number {
    if (this.#base < 0) return this.#local;
    let sum = 0;
    for (let w = 0; w < this.#workers; w++) sum += Atomics.load(this.#cells, this.#base + w);
    return sum;
  }
}
