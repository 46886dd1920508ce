/**
 * Graceful shutdown (SIGTERM by default, unlike Envoy which exits at once: Envoy GitHub issue
 * 3837): the listeners stop accepting, every open connection drains (HTTP/1.1 responses carry
 * `connection: close`, idle connections close after the HCM's `drain_timeout`), and the server
 * stops as soon as no connection is left, or when the drain time is over, whichever is first.
 *
 * @module
 */

/** How often the workers are asked how many connections they still hold. */
const POLL_MS = 100;

/**
 * Resolves once `count()` reports no open connection (true) or `timeoutMs` has passed (false).
 * A `count()` that fails counts as connections still open.
 */
export async function waitForDrain(
  count: () => Promise<number>,
  timeoutMs: number,
  pollMs = POLL_MS,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const open = await count().catch(() => 1);
    if (open === 0) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await new Promise((r) => setTimeout(r, Math.min(pollMs, left)));
  }
}
