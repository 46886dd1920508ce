import { assertEquals } from "../testing/assert.ts";
import {
  CONSECUTIVE_5XX,
  EXTERNAL_SUCCESS,
  EXTERNAL_TOTAL,
  type HostEvent,
  newHostMonitor,
  putHttpStatus,
  putImmediateHealthCheckFail,
  recordTraffic,
  setConsecutiveNotifier,
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
