/**
 * The isolate's drain decisions (Envoy's `DrainManager::drainClose`): whether a connection of a
 * listener should close after its current response, because the server fails health checks
 * (`/healthcheck/fail`, for listeners with `drain_type: DEFAULT`) or because a drain sequence
 * (`/drain_listeners?graceful`) covers the listener. With the gradual strategy the share of
 * connections closed grows linearly over the drain time; with immediate, all close at once.
 *
 * One per isolate, like the runtime: every connection manager asks it on each response.
 *
 * @module
 */
import type { DrainStrategy } from "./options.ts";

interface Drain {
  /** Monotonic ms when the drain started. */
  start: number;
  durationMs: number;
  strategy: DrainStrategy;
}

/** Drain state of one isolate. */
export class DrainManager {
  #healthCheckFailed = false;
  /** Listeners with `drain_type: MODIFY_ONLY`, which do not drain on health check failure. */
  readonly #modifyOnly = new Set<string>();
  readonly #draining = new Map<string, Drain>();

  /** Records a listener's `drain_type` (0 DEFAULT, 1 MODIFY_ONLY). */
  registerListener(name: string, drainType: number): void {
    if (drainType === 1) this.#modifyOnly.add(name);
    else this.#modifyOnly.delete(name);
  }

  /** Follows `/healthcheck/fail` and `/healthcheck/ok`. */
  setHealthCheckFailed(failed: boolean): void {
    this.#healthCheckFailed = failed;
  }

  /** Starts draining `listeners` (a listener already draining keeps its sequence). */
  startDrain(listeners: Iterable<string>, durationMs: number, strategy: DrainStrategy): void {
    const start = performance.now();
    for (const l of listeners) {
      if (!this.#draining.has(l)) this.#draining.set(l, { start, durationMs, strategy });
    }
  }

  /** Whether `listener` is in a drain sequence. */
  draining(listener: string): boolean {
    return this.#draining.has(listener);
  }

  /** Whether a connection of `listener` should close now (Envoy's `drainClose`). */
  drainClose(listener: string, random = Math.random()): boolean {
    if (this.#healthCheckFailed && !this.#modifyOnly.has(listener)) return true;
    if (this.#draining.size === 0) return false;
    const d = this.#draining.get(listener);
    if (!d) return false;
    if (d.strategy === "immediate" || d.durationMs <= 0) return true;
    const elapsed = performance.now() - d.start;
    // P(close) = elapsed / drain time.
    return elapsed >= d.durationMs || random * d.durationMs < elapsed;
  }
}

/**
 * The share of a listener's connections still open that a gradual drain sequence tells to
 * close at a sweep `elapsedMs` into the drain time, when sweeps come every `intervalMs`: the
 * chance a connection is told by time t is then t / drain time, as in Envoy, where each one is
 * told at a uniformly random moment of the drain time.
 */
export function gradualShare(elapsedMs: number, durationMs: number, intervalMs: number): number {
  const left = durationMs - elapsedMs + intervalMs;
  return left <= intervalMs ? 1 : intervalMs / left;
}

let current = new DrainManager();

/** This isolate's drain manager. */
export function drainManager(): DrainManager {
  return current;
}

/** Replaces this isolate's drain manager (tests). */
export function resetDrainManager(): DrainManager {
  return current = new DrainManager();
}
