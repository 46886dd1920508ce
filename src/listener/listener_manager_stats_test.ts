import { assertEquals } from "../testing/assert.ts";
import { mergeSnapshots } from "../stats/snapshot.ts";
import { Store } from "../stats/store.ts";
import { listenerCreateSuccess, ListenerManagerStats } from "./listener_manager_stats.ts";

Deno.test("listener_manager.*: added at start-up, created per worker, active once started", () => {
  const main = new Store();
  const lm = new ListenerManagerStats(main);
  lm.added(2);
  const workers = [new Store(), new Store()];
  for (const w of workers) listenerCreateSuccess(w).inc(2);
  lm.started(2);
  lm.stopped(["a"]);
  lm.stopped(["a", "b"]);
  const merged = mergeSnapshots([main, ...workers].map((s) => s.snapshot({ latch: false })));
  const v = Object.fromEntries(
    [...merged.counters, ...merged.gauges].map((m) => [m.name, m.value]),
  );
  assertEquals(v, {
    "listener_manager.listener_added": 2,
    "listener_manager.listener_create_success": 4,
    "listener_manager.listener_in_place_updated": 0,
    "listener_manager.listener_modified": 0,
    "listener_manager.listener_removed": 0,
    "listener_manager.listener_stopped": 2,
    "listener_manager.total_filter_chains_draining": 0,
    "listener_manager.total_listeners_active": 2,
    "listener_manager.total_listeners_draining": 0,
    "listener_manager.total_listeners_warming": 0,
    "listener_manager.workers_started": 1,
  });
});

Deno.test("listener_manager.*: a shutdown or hot restart drain moves active listeners to draining", () => {
  const main = new Store();
  const lm = new ListenerManagerStats(main);
  lm.started(2);
  lm.stopped(["a"]);
  lm.drainingAll(["a", "b"]);
  assertEquals(lm.totalListenersActive.value, 0);
  assertEquals(lm.totalListenersDraining.value, 2);
  assertEquals(lm.listenerStopped.value, 2);
});
