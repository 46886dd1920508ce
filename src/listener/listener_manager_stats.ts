/**
 * `listener_manager.*` (Envoy's `ALL_LISTENER_MANAGER_STATS`) for static listeners. The main
 * thread knows the configured listeners and when workers start; each worker counts the
 * listeners it builds (`listener_create_success` is per worker in Envoy too), and the merge
 * sums them. The warming and draining gauges and `listener_modified` and `_removed` move with
 * LDS updates and bootstrap reloads (xds/xds_manager.ts); listeners drain on shutdown and hot
 * restart too.
 *
 * @module
 */
import type { Counter, Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";

/** The main thread's `listener_manager.*`. */
export class ListenerManagerStats {
  readonly listenerAdded: Counter;
  readonly listenerStopped: Counter;
  readonly totalListenersActive: Gauge;
  readonly totalListenersDraining: Gauge;
  readonly workersStarted: Gauge;
  /** LDS and bootstrap reloads: listeners changed, removed, warming and draining. */
  readonly listenerModified: Counter;
  readonly listenerRemoved: Counter;
  readonly totalListenersWarming: Gauge;
  /** In-place filter chain updates, and the updates whose removed chains still drain. */
  readonly listenerInPlaceUpdated: Counter;
  readonly totalFilterChainsDraining: Gauge;
  /** Listeners already counted as stopped (a second drain stops nothing new). */
  readonly #stopped = new Set<string>();

  constructor(store: Scope) {
    const s = store.scope("listener_manager");
    this.listenerAdded = s.counter("listener_added");
    this.listenerStopped = s.counter("listener_stopped");
    this.totalListenersActive = s.gauge("total_listeners_active", "NeverImport");
    this.totalListenersDraining = s.gauge("total_listeners_draining", "NeverImport");
    this.workersStarted = s.gauge("workers_started", "NeverImport");
    this.listenerModified = s.counter("listener_modified");
    this.listenerRemoved = s.counter("listener_removed");
    this.totalListenersWarming = s.gauge("total_listeners_warming", "NeverImport");
    this.listenerInPlaceUpdated = s.counter("listener_in_place_updated");
    this.totalFilterChainsDraining = s.gauge("total_filter_chains_draining", "NeverImport");
    // Declared here too so the stat exists before a worker reports (and with zero workers).
    listenerCreateSuccess(store);
  }

  /** The configured listeners were added (static listeners are added at start-up). */
  added(count: number): void {
    this.listenerAdded.inc(count);
  }

  /** Every worker serves: the listeners are active (static listeners need no warming). */
  started(activeListeners: number): void {
    this.totalListenersActive.set(activeListeners);
    this.workersStarted.set(1);
  }

  /**
   * Every listener stopped accepting and drains its connections (graceful shutdown, the parent
   * of a hot restart): active ones become draining ones.
   */
  drainingAll(names: readonly string[]): void {
    this.stopped(names);
    this.totalListenersDraining.set(names.length);
    this.totalListenersActive.set(0);
  }

  /** Every worker stopped accepting on these listeners (`/drain_listeners`). */
  stopped(names: readonly string[]): void {
    for (const n of names) {
      if (this.#stopped.has(n)) continue;
      this.#stopped.add(n);
      this.listenerStopped.inc();
    }
  }
}

/** `listener_manager.listener_create_success` of this isolate: a worker counts each listener. */
export function listenerCreateSuccess(store: Scope): Counter {
  return store.counter("listener_manager.listener_create_success");
}
