/**
 * The dispatcher's approximate time, as Envoy's `approximateMonotonicTime()`: the monotonic
 * clock read once per batch of events rather than at every milestone of every request.
 *
 * `performance.now()` is a call into the runtime (about 0.25 µs here), and the per-request path
 * used to make about ten of them (stream start, timings, timers, activity stamps), ~7% of a
 * worker's CPU under load. The first read in a batch caches the clock and queues a microtask
 * that forgets it: every event the runtime delivered in the same turn of the event loop (the
 * reads, writes and timers it resolved together) sees the same time, and the next turn reads
 * the clock again. The value is late by at most the time this batch has run so far.
 */

let cached = -1;
const forget = () => {
  cached = -1;
};

/** Milliseconds on `performance.now()`'s clock, read at most once per batch of events. */
export function monotonicNow(): number {
  if (cached < 0) {
    cached = performance.now();
    queueMicrotask(forget);
  }
  return cached;
}
