/**
 * xDS resource TTLs of one type on a stream (Envoy's `Config::TtlManager`): a resource sent
 * with `Resource.ttl` expires that long after it was last received (updated or heartbeated)
 * unless the control plane refreshes it. One timer per type, set to the earliest deadline,
 * whatever the number of resources; changes made in a {@linkcode ResourceTtls.batch} move it
 * once.
 *
 * @module
 */

/** The longest delay a timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** TTL deadlines of the resources of one type, and the one timer that expires them. */
export class ResourceTtls {
  readonly #deadlines = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The deadline the timer is set for. */
  #scheduled = Infinity;
  #batching = false;
  #stopped = false;

  constructor(
    /** Hears of the resources whose TTL passed (several when their deadlines are close). */
    readonly onExpired: (names: string[]) => void,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** How many resources have a TTL running. */
  get size(): number {
    return this.#deadlines.size;
  }

  /** Starts (or restarts) `name`'s TTL; none, or 0, takes it away (the resource never expires). */
  set(name: string, ttlMs: number | undefined): void {
    if (ttlMs === undefined || ttlMs <= 0) this.#deadlines.delete(name);
    else this.#deadlines.set(name, this.now() + ttlMs);
    this.#refresh();
  }

  /** Forgets `name`'s TTL (the resource was removed or is no longer wanted). */
  clear(name: string): void {
    if (this.#deadlines.delete(name)) this.#refresh();
  }

  /** Runs `f`, whose changes move the timer once at the end (a response's many resources). */
  batch(f: () => void): void {
    if (this.#batching) return f();
    this.#batching = true;
    try {
      f();
    } finally {
      this.#batching = false;
      this.#refresh();
    }
  }

  /** Clears every TTL and the timer for good (the stream stopped, the type is unwatched). */
  stop(): void {
    this.#stopped = true;
    this.#deadlines.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #refresh(): void {
    if (this.#batching || this.#stopped) return;
    let next = Infinity;
    for (const d of this.#deadlines.values()) if (d < next) next = d;
    if (next === this.#scheduled) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#scheduled = next;
    if (next === Infinity) return;
    // A timer cannot wait longer than 2^31-1 ms (it would fire at once, and again, and again):
    // a longer TTL wakes up early, finds nothing due and waits again.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(next - this.now())));
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#scheduled = Infinity;
    const now = this.now();
    const expired: string[] = [];
    for (const [name, d] of this.#deadlines) if (d <= now) expired.push(name);
    for (const name of expired) this.#deadlines.delete(name);
    this.#refresh();
    if (expired.length > 0) this.onExpired(expired);
  }
}
