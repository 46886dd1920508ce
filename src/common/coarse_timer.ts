/**
 * Coarse timers for the per-request path. Every request used to create and clear several
 * `setTimeout`s (stream idle, route timeout, connection idle, pool idle): in Deno each one
 * builds a timer object and calls into the runtime, which a profile put at ~16% of CPU.
 * These timers only store a deadline; one interval per isolate, running only while some timer
 * is armed, fires those that are due. Timeouts fire up to RESOLUTION_MS late, which is far
 * finer than any proxy timeout.
 */

/** Granularity of coarse timers. */
export const RESOLUTION_MS = 25;

const armed = new Set<CoarseTimer>();
let interval: ReturnType<typeof setInterval> | undefined;

function tick(): void {
  const now = performance.now();
  for (const t of armed) {
    if (t.deadline <= now) {
      armed.delete(t);
      t.deadline = Infinity;
      t.fire();
    }
  }
  if (armed.size === 0 && interval !== undefined) {
    clearInterval(interval);
    interval = undefined;
  }
}

/** A re-armable timer owned by one object (a stream, a connection). */
export class CoarseTimer {
  /** When it fires, in `performance.now()` ms; Infinity when disarmed. */
  deadline = Infinity;

  constructor(readonly fire: () => void) {}

  /** Fires `ms` from now (replacing any earlier arming). */
  arm(ms: number): void {
    this.deadline = performance.now() + ms;
    if (!armed.has(this)) {
      armed.add(this);
      if (interval === undefined) {
        interval = setInterval(tick, RESOLUTION_MS);
        // An armed timer must not keep a finished process alive (tests, shutdown). Deno's
        // timers are Node-style Timeout objects here.
        (interval as unknown as { unref?: () => void }).unref?.();
      }
    }
  }

  /** Cancels it. */
  disarm(): void {
    this.deadline = Infinity;
    armed.delete(this);
  }

  /** Whether it is armed. */
  get armed(): boolean {
    return this.deadline !== Infinity;
  }
}
