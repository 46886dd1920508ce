/**
 * Paces one stream's body at a fixed rate (Envoy's `StreamRateLimiter`, used by the fault
 * filter's `response_rate_limit`): data handed to `writeData` is buffered and released in
 * slices of 1/16 s worth of bytes (`kbps * 1024 / 16`), drawn from a token bucket of 16 tokens
 * that refills at 16 tokens a second. The bucket starts with a single token when the first data
 * arrives, so a short body is paced from its first byte rather than sent as one second's burst;
 * later it may burst up to one second's worth to make up for a bursty producer.
 *
 * Data is never passed on from inside `writeData`: a timer due at once releases it after the
 * caller's stack unwinds, so end of stream can be withheld while bytes remain. Trailers wait
 * until the buffer is empty.
 *
 * @module
 */

/** Ticks (and tokens) per second. */
const TICKS_PER_SECOND = 16;

/** What `FilterTimers.set` returns. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** The clock and timers the limiter runs on (injected by tests). */
export interface FilterTimers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls `cb` once after `ms`; returns a handle for `clear`. */
  set(ms: number, cb: () => void): TimerHandle;
  clear(handle: TimerHandle): void;
}

/** Real timers. */
export const REAL_TIMERS: FilterTimers = {
  now: () => performance.now(),
  set: (ms, cb) => setTimeout(cb, ms),
  clear: (h) => clearTimeout(h),
};

/** What the limiter releases into. */
export interface LimiterOutput {
  /** Passes paced data on (end of stream only with the last byte and no trailers). */
  write(data: Uint8Array, endStream: boolean): void;
  /** The buffer emptied after trailers were held: let them go on. */
  continueTrailers(): void;
  /** An exception escaped a timer callback (see common/error_boundary.ts). */
  onBug(error: unknown): void;
  /** More than `bufferLimit` bytes wait: the producer should pause. */
  aboveHighWatermark(): void;
  /** After that, fewer than half of `bufferLimit` wait: the producer may go on. */
  belowLowWatermark(): void;
}

/** One stream's pacing. */
export class StreamRateLimiter {
  readonly #bytesPerSlice: number;
  #tokens = TICKS_PER_SECOND;
  #lastRefill = 0;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #timer: TimerHandle | undefined;
  #aboveLimit = false;
  #sawData = false;
  #sawEnd = false;
  #sawTrailers = false;
  #destroyed = false;

  /** `bufferLimit`: the bytes held before the producer is asked to pause. */
  constructor(
    kbps: number,
    readonly bufferLimit: number,
    readonly out: LimiterOutput,
    readonly timers: FilterTimers = REAL_TIMERS,
  ) {
    // At least one byte per slice: a tiny rate must still make progress.
    this.#bytesPerSlice = Math.max(1, Math.floor(kbps * 1024 / TICKS_PER_SECOND));
  }

  /** Bytes waiting to be released. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Takes a body chunk; it goes out later, paced. */
  writeData(data: Uint8Array, endStream: boolean): void {
    if (data.length > 0) {
      this.#chunks.push(data);
      this.#buffered += data.length;
    }
    this.#sawEnd ||= endStream;
    if (!this.#aboveLimit && this.#buffered > this.bufferLimit) {
      this.#aboveLimit = true;
      this.out.aboveHighWatermark();
    }
    if (this.#timer === undefined) this.#arm(0);
  }

  /** Trailers arrived: true when they must wait for the buffered data (then `continueTrailers`). */
  onTrailers(): boolean {
    this.#sawEnd = true;
    this.#sawTrailers = true;
    return this.#buffered > 0;
  }

  /** The stream is gone: no more timers. */
  destroy(): void {
    this.#destroyed = true;
    if (this.#timer !== undefined) this.timers.clear(this.#timer);
    this.#timer = undefined;
    this.#chunks = [];
    this.#buffered = 0;
  }

  #arm(ms: number): void {
    this.#timer = this.timers.set(ms, () => {
      this.#timer = undefined;
      if (this.#destroyed) return;
      try {
        this.#onTick();
      } catch (e) {
        this.out.onBug(e);
      }
    });
  }

  #refill(now: number): void {
    const added = (now - this.#lastRefill) * TICKS_PER_SECOND / 1000;
    this.#tokens = Math.min(TICKS_PER_SECOND, this.#tokens + added);
    this.#lastRefill = now;
  }

  #onTick(): void {
    const now = this.timers.now();
    if (!this.#sawData) {
      this.#sawData = true;
      this.#tokens = 1;
      this.#lastRefill = now;
    } else this.#refill(now);
    const needed = Math.ceil(this.#buffered / this.#bytesPerSlice);
    const got = Math.min(Math.floor(this.#tokens), needed);
    this.#tokens -= got;
    const slice = this.#take(Math.min(got * this.#bytesPerSlice, this.#buffered));
    const drained = this.#aboveLimit && this.#buffered < this.bufferLimit / 2;
    if (drained) this.#aboveLimit = false;
    if (this.#buffered > 0) {
      // Fewer than one token is left: wait for the next whole one.
      const wait = Math.max(1, Math.ceil((1 - this.#tokens) * 1000 / TICKS_PER_SECOND));
      this.#arm(wait);
    }
    const last = this.#buffered === 0;
    if (slice.length > 0 || (last && this.#sawEnd && !this.#sawTrailers)) {
      this.out.write(slice, this.#sawEnd && last && !this.#sawTrailers);
    }
    if (this.#destroyed) return;
    if (last && this.#sawTrailers) this.out.continueTrailers();
    if (drained && !this.#destroyed) this.out.belowLowWatermark();
  }

  /** Removes the first `n` buffered bytes, as one array. */
  #take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[0];
    if (first.length === n) {
      this.#chunks.shift();
      this.#buffered -= n;
      return first;
    }
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - o);
      out.set(k === c.length ? c : c.subarray(0, k), o);
      o += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }
}
