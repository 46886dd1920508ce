/**
 * Envoy's defence against HTTP/2 rapid reset (CVE-2023-44487), kept per downstream connection
 * by the connection manager: a stream the client resets within
 * `overload.premature_reset_min_stream_lifetime_seconds` (1) of opening it, before any
 * response was sent, is premature. Once `overload.premature_reset_total_stream_count` (500)
 * streams have closed, the connection is closed if at least half were premature; before that,
 * as soon as premature resets reach half of that count (the ratio can no longer recover).
 * The owner then counts `http.<prefix>.downstream_rq_too_many_premature_resets`, sends GOAWAY
 * (`envoy.restart_features.send_goaway_for_premature_rst_streams`) and closes.
 *
 * @module
 */
import { runtimeSnapshot } from "../../runtime/runtime.ts";

/** Runtime key of the lifetime under which a reset stream is premature. */
export const PREMATURE_RESET_MIN_STREAM_LIFETIME_SECONDS_KEY =
  "overload.premature_reset_min_stream_lifetime_seconds";
/** Runtime key of the closed stream count the premature share is judged over. */
export const PREMATURE_RESET_TOTAL_STREAM_COUNT_KEY = "overload.premature_reset_total_stream_count";

/** Counts closed and prematurely reset streams of one connection. */
export class PrematureResetTracker {
  #closed = 0;
  #premature = 0;

  /** Streams closed so far, and how many of them were premature. */
  get closedStreams(): number {
    return this.#closed;
  }
  get prematureResets(): number {
    return this.#premature;
  }

  /**
   * A stream closed (one the connection manager did not destroy itself). `lifetimeMs`: time
   * since it opened; `responseStarted`: a response code was sent. Returns true when the
   * connection must now be closed for too many premature resets.
   */
  onStreamClosed(lifetimeMs: number, responseStarted: boolean): boolean {
    const snapshot = runtimeSnapshot();
    this.#closed++;
    const minLifetime = snapshot.getInteger(PREMATURE_RESET_MIN_STREAM_LIFETIME_SECONDS_KEY, 1);
    // Whole seconds, as Envoy truncates the duration before comparing.
    if (Math.floor(lifetimeMs / 1000) <= minLifetime && !responseStarted) this.#premature++;
    else return false;
    const limit = snapshot.getInteger(PREMATURE_RESET_TOTAL_STREAM_COUNT_KEY, 500);
    if (this.#closed < limit) return this.#premature * 2 >= limit;
    return this.#premature * 2 >= this.#closed;
  }
}
