import { assertEquals } from "../testing/assert.ts";
import { create } from "@bufbuild/protobuf";
import { OverloadManagerSchema } from "../../proto/gen/envoy/config/overload/v3/overload_pb.ts";
import { OverloadState, Slot, TimerType } from "./overload_state.ts";
import { setRuntimeSnapshot } from "../runtime/runtime.ts";
import { Store } from "../stats/store.ts";

Deno.test("without overload_manager nothing is enabled and nothing is shed", () => {
  const s = new OverloadState();
  assertEquals(s.enabled, false);
  assertEquals(s.shedRequest(), undefined);
  assertEquals(s.disableKeepalive(), false);
  assertEquals(s.acceptPaused, false);
  assertEquals(s.scaledTimeout(TimerType.httpDownstreamConnectionIdle, 5000), 5000);
});

Deno.test("values published on one view are read by another over the same memory", () => {
  const config = create(OverloadManagerSchema, {
    actions: [{ name: "envoy.overload_actions.stop_accepting_requests" }],
  });
  const main = new OverloadState(undefined, config);
  const worker = new OverloadState(main.memory, config);
  assertEquals(main.publish(new Map([[Slot.stopAcceptingRequests, 1]])), true);
  assertEquals(main.publish(new Map([[Slot.stopAcceptingRequests, 1]])), false);
  assertEquals(worker.saturated(Slot.stopAcceptingRequests), true);
  assertEquals(worker.shedRequest(), "stop_accepting_requests");
  main.publish(new Map([[Slot.stopAcceptingRequests, 0.25]]));
  assertEquals(worker.value(Slot.stopAcceptingRequests), 0.25);
});

Deno.test("shed_load_count counts each request or connection a load shed point refuses", () => {
  const config = create(OverloadManagerSchema, {
    loadshedPoints: [{ name: "envoy.load_shed_points.http_connection_manager_decode_headers" }],
  });
  const s = new OverloadState(undefined, config);
  const stats = new Store();
  s.attach(stats);
  s.publish(new Map([[Slot.shedHcmDecodeHeaders, 1]]));
  assertEquals(s.shedRequest(), "shed");
  const name =
    "overload.envoy.load_shed_points.http_connection_manager_decode_headers.shed_load_count";
  assertEquals(stats.counter(name).value, 1);
});

Deno.test("stop_accepting_connections: accepting() resolves when the action clears", async () => {
  const s = new OverloadState(
    undefined,
    create(OverloadManagerSchema, {
      actions: [{ name: "envoy.overload_actions.stop_accepting_connections" }],
    }),
  );
  s.publish(new Map([[Slot.stopAcceptingConnections, 1]]));
  let resumed = false;
  const waiting = s.accepting().then(() => resumed = true);
  await Promise.resolve();
  assertEquals(resumed, false);
  s.publish(new Map([[Slot.stopAcceptingConnections, 0.5]]));
  await waiting;
  assertEquals(resumed, true);
});

Deno.test("the global connection limit counts every admitted connection", () => {
  const s = new OverloadState();
  s.setGlobalMaxConnections(2);
  assertEquals(s.admit(false, -1), undefined);
  assertEquals(s.admit(false, -1), undefined);
  assertEquals(s.admit(false, -1), "global_limit");
  // A listener that ignores the limit is still counted.
  assertEquals(s.admit(true, -1), undefined);
  assertEquals(s.globalConnections, 3);
  s.release(-1);
  s.release(-1);
  assertEquals(s.admit(false, -1), undefined);
});

Deno.test("without a monitor, the runtime key sets the global connection limit", () => {
  const s = new OverloadState();
  setRuntimeSnapshot({
    layers: [{
      name: "l",
      entries: { "overload.global_downstream_max_connections": { raw: "1", uint: 1 } },
    }],
  });
  try {
    assertEquals(s.admit(false, -1), undefined);
    assertEquals(s.admit(false, -1), "global_limit");
  } finally {
    setRuntimeSnapshot({ layers: [] });
  }
});

Deno.test("admin connections: outside a monitor's limit, inside the runtime key's", () => {
  const monitored = new OverloadState();
  monitored.setGlobalMaxConnections(1);
  assertEquals(monitored.admit(false, -1), undefined);
  assertEquals(monitored.admitAdmin(false), "uncounted");
  assertEquals(monitored.globalConnections, 1);
  const keyed = new OverloadState();
  setRuntimeSnapshot({
    layers: [{
      name: "l",
      entries: { "overload.global_downstream_max_connections": { raw: "1", uint: 1 } },
    }],
  });
  try {
    assertEquals(keyed.admitAdmin(false), "counted");
    assertEquals(keyed.admit(false, -1), "global_limit");
    assertEquals(keyed.admitAdmin(false), "refused");
    assertEquals(keyed.admitAdmin(true), "counted");
    assertEquals(keyed.globalConnections, 2);
  } finally {
    setRuntimeSnapshot({ layers: [] });
  }
});

Deno.test("a listener's runtime connection_limit counts its connections in every worker", () => {
  const main = new OverloadState(undefined, undefined, ["a", "b"]);
  const worker = new OverloadState(main.memory, undefined, ["a", "b"]);
  const a = worker.listenerSlot("a");
  assertEquals(worker.listenerSlot("dynamic"), -1);
  setRuntimeSnapshot({
    layers: [{
      name: "l",
      entries: { "envoy.resource_limits.listener.a.connection_limit": { raw: "1", uint: 1 } },
    }],
  });
  try {
    assertEquals(main.admit(false, a), undefined);
    assertEquals(worker.admit(false, a), "listener_limit");
    // Another listener, and the global count, are not held by it.
    assertEquals(worker.admit(false, worker.listenerSlot("b")), undefined);
    assertEquals(worker.globalConnections, 2);
    main.release(a);
    assertEquals(worker.admit(false, a), undefined);
  } finally {
    setRuntimeSnapshot({ layers: [] });
  }
});

Deno.test("reduce_timeouts scales between the configured timeout and its minimum", () => {
  const config = create(OverloadManagerSchema, {
    actions: [{
      name: "envoy.overload_actions.reduce_timeouts",
      typedConfig: {
        typeUrl: "type.googleapis.com/envoy.config.overload.v3.ScaleTimersOverloadActionConfig",
        // timer_scale_factors: [{ timer: CONNECTION_IDLE, min_timeout: 2s },
        //                       { timer: STREAM_IDLE, min_scale: 10% }]
        value: new Uint8Array([
          0x0a,
          0x06,
          0x08,
          0x01,
          0x12,
          0x02,
          0x08,
          0x02,
          0x0a,
          0x0d,
          0x08,
          0x02,
          0x1a,
          0x09,
          0x09,
          0,
          0,
          0,
          0,
          0,
          0,
          0x24,
          0x40,
        ]),
      },
    }],
  });
  const s = new OverloadState(undefined, config);
  const idle = TimerType.httpDownstreamConnectionIdle;
  const stream = TimerType.httpDownstreamStreamIdle;
  assertEquals(s.scaledTimeout(idle, 600_000), 600_000);
  s.publish(new Map([[Slot.reduceTimeouts, 0.7]]));
  // Envoy's documented example: 2 s + (600 s - 2 s) * 0.3.
  assertEquals(Math.round(s.scaledTimeout(idle, 600_000)), 181_400);
  s.publish(new Map([[Slot.reduceTimeouts, 1]]));
  assertEquals(s.scaledTimeout(idle, 600_000), 2000);
  assertEquals(s.scaledTimeout(stream, 300_000), 30_000);
  // An armed timer looks again at least every second, and fires once the scaled time is up.
  assertEquals(s.rescaleCheckMs(idle), 1000);
  assertEquals(s.timerDelay(idle, 600_000, 0), 1000);
  assertEquals(s.timerDelay(idle, 600_000, 1500), 500);
  assertEquals(s.timerDelay(idle, 600_000, 2500), 0);
  assertEquals(s.rescaleCheckMs(3), Infinity);
  // A timer not configured keeps its value; a disabled one stays disabled.
  assertEquals(s.scaledTimeout(3, 5000), 5000);
  assertEquals(s.scaledTimeout(idle, 0), 0);
});
