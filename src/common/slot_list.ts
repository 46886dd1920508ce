/**
 * A set of objects for the data path, held in an array with each member remembering its
 * index: add and remove are O(1) and allocate nothing once the array has grown.
 *
 * Why not a `Set`: a Set that keeps growing and shrinking (connections coming and going)
 * reallocates its hash table, and V8 keeps each replaced table, entries included, linked to
 * its successor. A replaced table that had reached the old generation then kept the removed
 * members (and all they point to) alive through every young-generation GC until a full GC,
 * which made scavenges an order of magnitude slower under connection churn.
 */

/** What a member stores: its index in the list, -1 when not in it. */
export interface Slotted {
  slot: number;
}

/** The list. A member belongs to at most one SlotList at a time. */
export class SlotList<T extends Slotted> {
  readonly #items: (T | undefined)[] = [];
  #size = 0;

  /** Number of members. */
  get size(): number {
    return this.#size;
  }

  /** Adds `item` (no-op when already in). */
  add(item: T): void {
    if (item.slot >= 0) return;
    item.slot = this.#size;
    this.#items[this.#size++] = item;
  }

  /**
   * Removes `item` (no-op when not in): the last member moves into its place. Returns whether
   * it was in.
   */
  remove(item: T): boolean {
    const i = item.slot;
    if (i < 0 || this.#items[i] !== item) return false;
    const last = this.#items[--this.#size]!;
    this.#items[i] = last;
    last.slot = i;
    this.#items[this.#size] = undefined;
    item.slot = -1;
    return true;
  }

  /** The members now, as a new array (safe to iterate while members are removed). */
  toArray(): T[] {
    return this.#items.slice(0, this.#size) as T[];
  }
}
