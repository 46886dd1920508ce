/**
 * What a resource monitor extension gives the overload manager (Envoy's `ResourceMonitor` and
 * `ProactiveResourceMonitor`): a pressure the manager samples every `refresh_interval`, or a
 * limit the data path enforces itself.
 *
 * @module
 */

/** A configured resource monitor. */
export interface ResourceMonitor {
  /**
   * The resource's pressure now, from 0 (idle) to 1 (at its limit); throws an Error when it
   * cannot be read (counted in `overload.<name>.failed_updates`). Reactive monitors only.
   */
  pressure?(): number;
  /**
   * Proactive monitors: the global downstream connection limit the listeners enforce at
   * accept time.
   */
  globalMaxConnections?: number;
}
