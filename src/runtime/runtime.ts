/**
 * The isolate's current runtime snapshot, as Envoy's thread-local `Runtime::Loader::snapshot()`:
 * the main thread and every worker hold one, and the main thread's loader replaces it (and
 * posts it to the workers) on every change. Readers take the snapshot at the moment of the
 * lookup, so a request sees one consistent set of values per lookup and `/runtime_modify`
 * applies to the very next one.
 *
 * One per isolate, like the access log manager: route entries and access log filters are
 * compiled without a server context, and the runtime is process-wide in Envoy too.
 *
 * @module
 */
import { Snapshot, type SnapshotData } from "./snapshot.ts";

let current = new Snapshot();

/** This isolate's current snapshot. */
export function runtimeSnapshot(): Snapshot {
  return current;
}

/** Installs a new snapshot (from the loader on the main thread, from a message on workers). */
export function setRuntimeSnapshot(s: Snapshot | SnapshotData): void {
  current = s instanceof Snapshot ? s : new Snapshot(s);
}
