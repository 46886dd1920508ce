import { assert, assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { create } from "@bufbuild/protobuf";
import { OutlierDetectionSchema } from "../../proto/gen/envoy/config/cluster/v3/outlier_detection_pb.ts";
import {
  failurePercentageOutliers,
  type OutlierConfig,
  OutlierDetector,
  OutlierHostState,
  OutlierStats,
  parseOutlierDetection,
  successRateEjectionThreshold,
} from "./outlier_detection.ts";
import {
  CONNECT_FAILED,
  CONNECT_SUCCESS,
  CONSECUTIVE_5XX,
  type HostEvent,
  newHostMonitor,
  putHttpStatus,
  putLocalResult,
  setConsecutiveNotifier,
  TIMEOUT,
} from "./host_monitor.ts";

Deno.test("success rate threshold: mean minus stdev_factor/1000 population stdevs", () => {
  // Mean 90, population stdev 20: 90 - 1.9 * 20 = 52.
  const t = successRateEjectionThreshold([100, 100, 100, 100, 50], 1900);
  assertEquals(t.mean, 90);
  assert(Math.abs(t.threshold - 52) < 1e-9);
  // All equal: stdev 0, nobody below the mean.
  assertEquals(successRateEjectionThreshold([80, 80, 80], 1900), { mean: 80, threshold: 80 });
});

Deno.test("failure percentage: ejected at or above the threshold", () => {
  const out = failurePercentageOutliers([["a", 100], ["b", 15], ["c", 14], ["d", 50]], 85);
  assertEquals(out.map(([k]) => k), ["b", "c"]);
});

Deno.test("parse: Envoy's defaults, and contradictions refused", () => {
  const problems: string[] = [];
  const c = parseOutlierDetection(create(OutlierDetectionSchema, {}), problems);
  assertEquals(problems, []);
  assertEquals(c.consecutive5xx, 5);
  assertEquals(c.intervalMs, 10_000);
  assertEquals(c.baseEjectionTimeMs, 30_000);
  assertEquals(c.maxEjectionPercent, 10);
  assertEquals(c.enforcingConsecutiveGatewayFailure, 0);
  assertEquals(c.enforcingFailurePercentage, 0);
  assertEquals(c.successRateStdevFactor, 1900);
  assertEquals(c.maxEjectionTimeMs, 300_000);
  assertEquals(c.successfulActiveHealthCheckUnejectHost, true);
  parseOutlierDetection(
    create(OutlierDetectionSchema, {
      baseEjectionTime: { seconds: 60n },
      maxEjectionTime: { seconds: 30n },
    }),
    problems,
  );
  assertEquals(problems, [
    "outlier_detection: max_ejection_time cannot be smaller than base_ejection_time",
  ]);
});

function config(over: Partial<OutlierConfig> = {}): OutlierConfig {
  return { ...parseOutlierDetection(create(OutlierDetectionSchema, {}), []), ...over };
}

function detector(n: number, over: Partial<OutlierConfig> = {}, now = { t: 0 }) {
  const states = new Map<string, OutlierHostState>();
  const c = config(over);
  for (let i = 0; i < n; i++) {
    states.set(
      `h${i}`,
      new OutlierHostState(newHostMonitor(i + 1, {
        c5xx: c.consecutive5xx,
        gateway: c.consecutiveGatewayFailure,
        localOrigin: c.consecutiveLocalOriginFailure,
        split: c.splitExternalLocalOriginErrors,
      }, false)),
    );
  }
  let changes = 0;
  const store = new Store();
  const d = new OutlierDetector(c, new OutlierStats(store.scope("cluster.x")), {
    get: (k) => states.get(k),
    all: () => states.values(),
    count: () => states.size,
    changed: () => changes++,
  }, { random: () => 0, now: () => now.t });
  return { d, states, store, changes: () => changes, now };
}

Deno.test("consecutive 5xx: the worker posts at the threshold; ejection and return", () => {
  const events: [number, HostEvent][] = [];
  setConsecutiveNotifier((id, e) => events.push([id, e]));
  try {
    const { d, states, store, now } = detector(4, {
      consecutive5xx: 3,
      maxEjectionPercent: 50,
      baseEjectionTimeMs: 1000,
    });
    const h0 = states.get("h0")!;
    putHttpStatus(h0.monitor, 500);
    putHttpStatus(h0.monitor, 200); // a success restarts the count
    for (let i = 0; i < 3; i++) putHttpStatus(h0.monitor, 500);
    assertEquals(events, [[1, "5xx"]]);
    d.onConsecutiveError("h0", "5xx");
    assert(h0.ejected);
    assertEquals(h0.monitor[CONSECUTIVE_5XX], 0);
    const v = (n: string) => store.counter(`cluster.x.outlier_detection.${n}`).value;
    assertEquals(v("ejections_enforced_consecutive_5xx"), 1);
    assertEquals(v("ejections_detected_consecutive_5xx"), 1);
    assertEquals(
      store.gauge("cluster.x.outlier_detection.ejections_active", "Accumulate").value,
      1,
    );
    now.t = 999;
    d.sweep();
    assert(h0.ejected);
    now.t = 1000;
    d.sweep();
    assert(!h0.ejected);
    // Ejected again soon: twice the base time (the backoff decays one step per healthy sweep).
    now.t = 1100;
    d.onConsecutiveError("h0", "5xx");
    now.t = 3099;
    d.sweep();
    assert(h0.ejected);
    now.t = 3100;
    d.sweep();
    assert(!h0.ejected);
  } finally {
    setConsecutiveNotifier(undefined);
  }
});

Deno.test("gateway failures: detected, enforced only with enforcing_consecutive_gateway_failure", () => {
  const events: HostEvent[] = [];
  setConsecutiveNotifier((_, e) => events.push(e));
  try {
    const { d, states, store } = detector(2, {
      consecutiveGatewayFailure: 2,
      maxEjectionPercent: 100,
    });
    const m = states.get("h1")!.monitor;
    putHttpStatus(m, 502);
    putHttpStatus(m, 500); // a 5xx that is no gateway error restarts gateway counting
    putHttpStatus(m, 503);
    putHttpStatus(m, 504);
    assertEquals(events, ["gateway"]);
    d.onConsecutiveError("h1", "gateway");
    assert(!states.get("h1")!.ejected); // enforcing_consecutive_gateway_failure defaults to 0
    assertEquals(
      store.counter("cluster.x.outlier_detection.ejections_detected_consecutive_gateway_failure")
        .value,
      1,
    );
  } finally {
    setConsecutiveNotifier(undefined);
  }
});

Deno.test("local origin results: mapped to 503/504 unless split", () => {
  const events: HostEvent[] = [];
  setConsecutiveNotifier((_, e) => events.push(e));
  try {
    const plain = newHostMonitor(1, { c5xx: 2, gateway: 0, localOrigin: 2, split: false }, false);
    putLocalResult(plain, CONNECT_SUCCESS);
    putLocalResult(plain, CONNECT_FAILED);
    putLocalResult(plain, TIMEOUT);
    assertEquals(events, ["5xx"]);
    events.length = 0;
    const split = newHostMonitor(2, { c5xx: 2, gateway: 0, localOrigin: 2, split: true }, false);
    putLocalResult(split, CONNECT_FAILED);
    putLocalResult(split, CONNECT_SUCCESS);
    putLocalResult(split, CONNECT_FAILED);
    putLocalResult(split, TIMEOUT);
    assertEquals(events, ["local_origin"]);
  } finally {
    setConsecutiveNotifier(undefined);
  }
});

Deno.test("max_ejection_percent: overflow beyond it; always_eject_one_host ejects one anyway", () => {
  const { d, store } = detector(3, { maxEjectionPercent: 10 });
  d.onConsecutiveError("h0", "5xx");
  assertEquals(store.counter("cluster.x.outlier_detection.ejections_overflow").value, 1);
  const one = detector(3, { maxEjectionPercent: 10, alwaysEjectOneHost: true });
  one.d.onConsecutiveError("h0", "5xx");
  one.d.onConsecutiveError("h1", "5xx");
  assert(one.states.get("h0")!.ejected);
  assert(!one.states.get("h1")!.ejected);
});

Deno.test("success rate ejection over an interval's results", () => {
  const { d, states, store } = detector(5, {
    successRateRequestVolume: 10,
    maxEjectionPercent: 100,
  });
  const rates = [100, 100, 100, 100, 50];
  [...states.values()].forEach((st, i) => {
    for (let r = 0; r < 10; r++) putHttpStatus(st.monitor, r * 10 < rates[i] ? 200 : 500);
  });
  d.sweep();
  assert(states.get("h4")!.ejected);
  assertEquals(states.get("h4")!.successRate, 50);
  assertEquals(d.successRateAverage, 90);
  assertEquals(
    store.counter("cluster.x.outlier_detection.ejections_enforced_success_rate").value,
    1,
  );
  // Too few hosts with enough requests: nothing computed.
  d.sweep();
  assertEquals(d.successRateAverage, -1);
});

Deno.test("failure percentage ejection needs enforcing_failure_percentage", () => {
  const { d, states, store } = detector(2, {
    failurePercentageRequestVolume: 4,
    failurePercentageMinimumHosts: 2,
    enforcingFailurePercentage: 100,
    maxEjectionPercent: 100,
  });
  for (let r = 0; r < 4; r++) {
    putHttpStatus(states.get("h0")!.monitor, 200);
    putHttpStatus(states.get("h1")!.monitor, 503);
  }
  d.sweep();
  assert(!states.get("h0")!.ejected);
  assert(states.get("h1")!.ejected);
  assertEquals(
    store.counter("cluster.x.outlier_detection.ejections_enforced_failure_percentage").value,
    1,
  );
});

Deno.test("runtime overrides (outlier_detection.<field>) apply from the next sweep or ejection", async () => {
  const { setRuntimeSnapshot } = await import("../runtime/runtime.ts");
  const { Snapshot } = await import("../runtime/snapshot.ts");
  const before = (await import("../runtime/runtime.ts")).runtimeSnapshot();
  try {
    setRuntimeSnapshot(
      new Snapshot({
        layers: [{
          name: "t",
          entries: {
            "outlier_detection.consecutive_5xx": { raw: "2", uint: 2 },
            "outlier_detection.max_ejection_percent": { raw: "100", uint: 100 },
          },
        }],
      }),
    );
    const events: HostEvent[] = [];
    setConsecutiveNotifier((_, e) => events.push(e));
    const { d, states } = detector(3, { maxEjectionPercent: 10 });
    d.sweep();
    const m = states.get("h0")!.monitor;
    putHttpStatus(m, 500);
    putHttpStatus(m, 500);
    assertEquals(events, ["5xx"]);
    d.onConsecutiveError("h0", "5xx");
    assert(states.get("h0")!.ejected);
  } finally {
    setConsecutiveNotifier(undefined);
    setRuntimeSnapshot(before);
  }
});
