import { assertEquals } from "../testing/assert.ts";
import {
  CONSECUTIVE_5XX,
  EXTERNAL_SUCCESS,
  EXTERNAL_TOTAL,
  hostConnectionClosed,
  hostConnectionOpened,
  hostConnections,
  type HostEvent,
  newHostMonitor,
  putHttpStatus,
  putImmediateHealthCheckFail,
  recordTraffic,
  releaseWorkerHostConnections,
  setConsecutiveNotifier,
  setHostMonitorWorker,
  TRAFFIC,
} from "./host_monitor.ts";

Deno.test("host monitor: counts results, posts a threshold once, immediate-hc-fail only with hc", () => {
  const events: [number, HostEvent][] = [];
  setConsecutiveNotifier((id, e) => events.push([id, e]));
  try {
    const m = newHostMonitor(7, { c5xx: 2, gateway: 0, localOrigin: 0, split: false }, false);
    recordTraffic(m);
    assertEquals(m[TRAFFIC], 1);
    for (const s of [200, 500, 500, 500]) putHttpStatus(m, s);
    // The third 5xx in a row is past the threshold: only the crossing is posted.
    assertEquals(events, [[7, "5xx"]]);
    assertEquals([m[EXTERNAL_TOTAL], m[EXTERNAL_SUCCESS], m[CONSECUTIVE_5XX]], [4, 1, 3]);
    putImmediateHealthCheckFail(m);
    assertEquals(events.length, 1);
    const hc = newHostMonitor(8, undefined, true);
    putImmediateHealthCheckFail(hc);
    assertEquals(events[1], [8, "immediate_hc_fail"]);
    // No thresholds (health checks only): 5xx are counted, nothing is posted.
    putHttpStatus(hc, 503);
    assertEquals(events.length, 2);
  } finally {
    setConsecutiveNotifier(undefined);
  }
});

Deno.test("host monitor: connections per isolate add up; a dead worker's are given back", () => {
  const m = newHostMonitor(1, undefined, false, 2);
  hostConnectionOpened(m);
  setHostMonitorWorker(1);
  hostConnectionOpened(m);
  hostConnectionOpened(m);
  assertEquals(hostConnections(m), 3);
  hostConnectionClosed(m);
  assertEquals(hostConnections(m), 2);
  releaseWorkerHostConnections(m, 1);
  assertEquals(hostConnections(m), 1);
  // A worker id beyond the cells counts in the first one rather than being lost.
  setHostMonitorWorker(5);
  hostConnectionOpened(m);
  assertEquals(hostConnections(m), 2);
  // Back to the main thread's cell (worker -1 + 1).
  setHostMonitorWorker(-1);
});
