/**
 * Earliest-deadline-first scheduling, Envoy's way to interleave weighted picks smoothly: an item
 * of weight w is due every 1/w; each pick takes the item due soonest (ties go to the item queued
 * first) and queues it again one period later. Over any run each item is picked in proportion
 * to its weight, without the bursts a naive "repeat each host w times" list gives.
 *
 * An item's deadline is kept as `base + picks / weight` rather than summed pick by pick, so
 * fixed weights accumulate no rounding error: weights 1:3 give exactly 1000:3000 in 4000 picks.
 *
 * @module
 */

interface Entry<T> {
  readonly item: T;
  weight: number;
  /** Deadline at which the current weight took effect. */
  base: number;
  /** Picks since then. */
  picks: number;
  deadline: number;
  /** Queue order, for ties. */
  seq: number;
}

/** A weighted scheduler over items of positive weight. */
export class EdfScheduler<T> {
  readonly #heap: Entry<T>[] = [];
  #seq = 0;
  /** The deadline of the last pick: the scheduler's clock. */
  #now = 0;

  /** Number of items queued. */
  get size(): number {
    return this.#heap.length;
  }

  /** Queues `item`, first due one period of `weight` from now. `weight` must be positive. */
  add(item: T, weight: number): void {
    const now = this.#now;
    this.#push({ item, weight, base: now, picks: 1, deadline: now + 1 / weight, seq: this.#seq++ });
  }

  /**
   * Takes the item due soonest and queues it again. `weightOf` gives its weight for the next
   * period, for policies whose weights move with load (least request); fixed weights keep
   * their exact schedule.
   */
  pickAndAdd(weightOf?: (item: T) => number): T | undefined {
    const e = this.#heap[0];
    if (!e) return undefined;
    this.#now = e.deadline;
    const w = weightOf ? weightOf(e.item) : e.weight;
    if (w === e.weight) {
      e.picks++;
    } else {
      e.base = e.deadline;
      e.weight = w;
      e.picks = 1;
    }
    e.deadline = e.base + e.picks / e.weight;
    e.seq = this.#seq++;
    this.#siftDown(0);
    return e.item;
  }

  #push(e: Entry<T>): void {
    this.#heap.push(e);
    let i = this.#heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(e, this.#heap[parent])) break;
      this.#heap[i] = this.#heap[parent];
      i = parent;
    }
    this.#heap[i] = e;
  }

  #siftDown(i: number): void {
    const h = this.#heap;
    const e = h[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r], h[l]) ? r : l;
      if (!before(h[c], e)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = e;
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}
