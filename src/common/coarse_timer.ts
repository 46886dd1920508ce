/**
 * Coarse timers for the per-request path. Every request used to create and clear several
 * `setTimeout`s (stream idle, route timeout, connection idle, pool idle): in Deno each one
 * builds a timer object and calls into the runtime, which a profile put at ~16% of CPU.
 * These timers only store a deadline; one interval per isolate, running only while some timer
 * is armed, fires those that are due. Timeouts fire up to RESOLUTION_MS late, which is far
 * finer than any proxy timeout.
 *
 * Armed timers form an intrusive doubly linked list (the `prev`/`next` fields of the timers
 * themselves). A `Set` was used first, and it made every request's objects outlive the
 * young-generation GC: a Set that keeps growing and shrinking reallocates its hash table, and
 * V8 keeps each replaced table linked to its successor with its old entries in place, so a
 * replaced table that had been promoted kept every stream timer it once held (and through its
 * closure the whole stream) alive until the next full GC. That made scavenges ~30x slower
 * (0.5 ms to 15+ ms) and was the main source of denvoy's latency tail. A list allocates
 * nothing, and an unlinked timer keeps no pointers.
 */

import { type BugScope, containBug } from "./error_boundary.ts";
import { monotonicNow } from "./monotonic_time.ts";

/** Granularity of coarse timers. */
export const RESOLUTION_MS = 25;

let head: CoarseTimer | undefined;
let count = 0;
let interval: ReturnType<typeof setInterval> | undefined;
/** Timers found due by a tick, fired after the scan (a callback may re-arm or disarm others). */
const due: (CoarseTimer | undefined)[] = [];
/** The deadline of a timer that a tick found due and is about to fire. */
const DUE = -Infinity;

function tick(): void {
  const now = performance.now();
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
  if (count === 0 && interval !== undefined) {
    clearInterval(interval);
    interval = undefined;
  }
}

/** A re-armable timer owned by one object (a stream, a connection). */
export class CoarseTimer {
  /** When it fires, in `performance.now()` ms; Infinity when disarmed (-Infinity: firing). */
  deadline = Infinity;
  /** Neighbours in the armed list (internal). */
  prev: CoarseTimer | undefined = undefined;
  next: CoarseTimer | undefined = undefined;

  /** `scope` abandons the owner's work if `fire` throws (see error_boundary.ts). */
  constructor(readonly fire: () => void, readonly scope?: BugScope) {}

  /** Fires `ms` from now (replacing any earlier arming). */
  arm(ms: number): void {
    const linked = this.deadline !== Infinity && this.deadline !== DUE;
    this.deadline = monotonicNow() + ms;
    if (linked) return;
    this.next = head;
    if (head !== undefined) head.prev = this;
    head = this;
    count++;
    if (interval === undefined) {
      interval = setInterval(tick, RESOLUTION_MS);
      // An armed timer must not keep a finished process alive (tests, shutdown). Deno's
      // timers are Node-style Timeout objects here.
      (interval as unknown as { unref?: () => void }).unref?.();
    }
  }

  /** Cancels it. */
  disarm(): void {
    if (this.deadline === DUE) this.deadline = Infinity;
    if (this.deadline === Infinity) return;
    this.unlink();
  }

  /** Takes it off the armed list (internal; `disarm` is the public way). */
  unlink(): void {
    this.deadline = Infinity;
    const { prev, next } = this;
    if (prev !== undefined) prev.next = next;
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
