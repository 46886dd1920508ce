/**
 * Coarse timers for the per-request path. Every request used to create and clear several
 * `setTimeout`s (stream idle, route timeout, connection idle, pool idle): in Deno each one
 * builds a timer object and calls into the runtime, which a profile put at ~16% of CPU.
 * These timers only store a deadline; one interval per isolate, running only while some timer
 * is armed, fires those that are due. Timeouts fire up to RESOLUTION_MS late, which is far
 * finer than any proxy timeout.
 *
 * Armed timers form intrusive doubly linked lists (the `prev`/`next` fields of the timers
 * themselves): a near one that every tick scans, and a far one for timers due 2 s or more
 * after arming, scanned once a second (see FAR_MS). A `Set` was used first, and it made every
 * request's objects outlive the young-generation GC: a Set that keeps growing and shrinking
 * reallocates its hash table, and V8 keeps each replaced table linked to its successor with its
 * old entries in place, so a replaced table that had been promoted kept every stream timer it
 * once held (and through its closure the whole stream) alive until the next full GC. That made
 * scavenges ~30x slower (0.5 ms to 15+ ms) and was the main source of denvoy's latency tail. A
 * list allocates nothing, and an unlinked timer keeps no pointers.
 *
 * The interval ticks every RESOLUTION_MS only while a near timer is armed. With only far ones
 * (the idle timers of keep-alive connections, up- and downstream, once no request is in flight)
 * it ticks once per FAR_SCAN_MS, the only work left being the far scan: an idle worker with
 * open connections used to wake 40 times a second for nothing. Arming a near timer goes back to
 * the fast tick at once.
 */

import { type BugScope, containBug } from "./error_boundary.ts";
import { monotonicNow } from "./monotonic_time.ts";

/** Granularity of coarse timers. */
export const RESOLUTION_MS = 25;

/**
 * Timers due later than this go to the far list, which a tick looks at only once per
 * FAR_SCAN_MS (moving those that come due into the near list): an idle keep-alive connection's
 * idle timer (an hour, say) is then visited once a second instead of forty times.
 */
const FAR_MS = 2000;
const FAR_SCAN_MS = 1000;

/** Armed timers due within FAR_MS when armed (scanned every tick). */
let head: CoarseTimer | undefined;
/** Armed timers due later (scanned once per FAR_SCAN_MS). */
let farHead: CoarseTimer | undefined;
let count = 0;
let interval: ReturnType<typeof setInterval> | undefined;
/** The interval's period now: RESOLUTION_MS, or FAR_SCAN_MS while only far timers are armed. */
let period = RESOLUTION_MS;
/** When the far list was last scanned. */
let farScannedAt = 0;
/** Timers found due by a tick, fired after the scan (a callback may re-arm or disarm others). */
const due: (CoarseTimer | undefined)[] = [];
/** The deadline of a timer that a tick found due and is about to fire. */
const DUE = -Infinity;

/** (Re)starts the interval at `ms` (unref'd: an armed timer must not keep a process alive). */
function runEvery(ms: number): void {
  if (interval !== undefined) clearInterval(interval);
  period = ms;
  interval = setInterval(tick, ms);
  // Deno's timers are Node-style Timeout objects here.
  (interval as unknown as { unref?: () => void }).unref?.();
}

/** How often the tick runs now, in ms (undefined: not at all, no timer is armed). */
export function tickPeriod(): number | undefined {
  return interval === undefined ? undefined : period;
}

function tick(): void {
  const now = performance.now();
  // A slow tick is itself the far scan (its interval may fire a little under FAR_SCAN_MS).
  if (period === FAR_SCAN_MS || now - farScannedAt >= FAR_SCAN_MS) {
    farScannedAt = now;
    // What comes due before the next far scan moves to the near list.
    const horizon = now + FAR_SCAN_MS + RESOLUTION_MS;
    for (let t = farHead; t !== undefined;) {
      const next = t.next;
      if (t.deadline <= horizon) {
        t.unlink();
        t.link(false);
      }
      t = next;
    }
  }
  let n = 0;
  for (let t = head; t !== undefined;) {
    const next = t.next;
    if (t.deadline <= now) {
      t.unlink();
      t.deadline = DUE;
      due[n++] = t;
    }
    t = next;
  }
  for (let i = 0; i < n; i++) {
    const t = due[i]!;
    due[i] = undefined;
    // An earlier callback of this tick may have disarmed or re-armed it.
    if (t.deadline === DUE) {
      t.deadline = Infinity;
      // A timer is an entry point into the data path: what escapes it ends its owner's
      // stream or connection, not the other timers of this tick or the isolate.
      try {
        t.fire();
      } catch (e) {
        containBug(t.scope, "timer", e);
      }
    }
  }
  if (count === 0) {
    if (interval !== undefined) clearInterval(interval);
    interval = undefined;
  } else if (head === undefined && period !== FAR_SCAN_MS) runEvery(FAR_SCAN_MS);
}

/** A re-armable timer owned by one object (a stream, a connection). */
export class CoarseTimer {
  /** When it fires, in `performance.now()` ms; Infinity when disarmed (-Infinity: firing). */
  deadline = Infinity;
  /** Neighbours in the armed list (internal). */
  prev: CoarseTimer | undefined = undefined;
  next: CoarseTimer | undefined = undefined;
  /** Which armed list it is on (internal). */
  far = false;

  /** `scope` abandons the owner's work if `fire` throws (see error_boundary.ts). */
  constructor(readonly fire: () => void, readonly scope?: BugScope) {}

  /** Fires `ms` from now (replacing any earlier arming). */
  arm(ms: number): void {
    const linked = this.deadline !== Infinity && this.deadline !== DUE;
    this.deadline = monotonicNow() + ms;
    if (linked) {
      // Re-armed (the common case: a stream's activity): a near timer stays where it is; a far
      // one that is now due soon must not wait for the next far scan.
      if (this.far && ms < FAR_MS) {
        this.unlink();
        this.link(false);
      }
      return;
    }
    if (interval === undefined) farScannedAt = performance.now();
    this.link(ms >= FAR_MS);
    if (interval === undefined) runEvery(ms >= FAR_MS ? FAR_SCAN_MS : RESOLUTION_MS);
  }

  /** Puts it at the head of the near or the far list (internal; its deadline is set). */
  link(far: boolean): void {
    this.far = far;
    const h = far ? farHead : head;
    this.next = h;
    if (h !== undefined) h.prev = this;
    if (far) farHead = this;
    else {
      head = this;
      // Due within FAR_MS: the slow tick would fire it up to a second late.
      if (period !== RESOLUTION_MS && interval !== undefined) runEvery(RESOLUTION_MS);
    }
    count++;
  }

  /** Cancels it. */
  disarm(): void {
    if (this.deadline === DUE) this.deadline = Infinity;
    if (this.deadline === Infinity) return;
    this.unlink();
    this.deadline = Infinity;
  }

  /** Takes it off its armed list (internal; `disarm` is the public way). */
  unlink(): void {
    const { prev, next } = this;
    if (prev !== undefined) prev.next = next;
    else if (this.far) farHead = next;
    else head = next;
    if (next !== undefined) next.prev = prev;
    this.prev = undefined;
    this.next = undefined;
    count--;
  }

  /** Whether it is armed. */
  get armed(): boolean {
    return this.deadline !== Infinity && this.deadline !== DUE;
  }
}
