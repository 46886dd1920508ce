/**
 * Timers on a clock a test advances by hand (for code that takes `FilterTimers`): delays and
 * pacing are asserted without waiting or measuring wall time.
 *
 * @module
 */
import type {
  FilterTimers,
  TimerHandle,
} from "../extensions/filters/http/common/stream_rate_limiter.ts";

/** Timers on a clock the test advances. */
export class FakeTimers implements FilterTimers {
  time = 0;
  #next = 1;
  readonly #due = new Map<number, { at: number; cb: () => void }>();

  now(): number {
    return this.time;
  }
  set(ms: number, cb: () => void): TimerHandle {
    const h = this.#next++;
    this.#due.set(h, { at: this.time + ms, cb });
    return h as unknown as TimerHandle;
  }
  clear(h: TimerHandle): void {
    this.#due.delete(h as unknown as number);
  }
  get pending(): number {
    return this.#due.size;
  }
  /** Moves the clock to `to`, firing what comes due in order. */
  advance(to: number): void {
    for (;;) {
      let first: [number, { at: number; cb: () => void }] | undefined;
      for (const e of this.#due) if (e[1].at <= to && (!first || e[1].at < first[1].at)) first = e;
      if (!first) break;
      this.#due.delete(first[0]);
      this.time = first[1].at;
      first[1].cb();
    }
    this.time = to;
  }
}
