import { assertEquals } from "../testing/assert.ts";
import { create } from "@bufbuild/protobuf";
import {
  OverloadManagerSchema,
  TriggerSchema,
} from "../../proto/gen/envoy/config/overload/v3/overload_pb.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import { Store } from "../stats/store.ts";
import { OverloadManager, triggerValue } from "./overload_manager.ts";
import { OverloadState, Slot } from "./overload_state.ts";
import { setRuntimeSnapshot } from "../runtime/runtime.ts";

Deno.test("threshold and scaled triggers, as Envoy computes them", () => {
  const threshold = create(TriggerSchema, {
    triggerOneof: { case: "threshold", value: { value: 0.9 } },
  });
  assertEquals(triggerValue(threshold, 0.89), 0);
  assertEquals(triggerValue(threshold, 0.9), 1);
  const scaled = create(TriggerSchema, {
    triggerOneof: { case: "scaled", value: { scalingThreshold: 0.5, saturationThreshold: 0.9 } },
  });
  assertEquals(triggerValue(scaled, 0.4), 0);
  assertEquals(Math.round(triggerValue(scaled, 0.7) * 1000), 500);
  assertEquals(triggerValue(scaled, 0.95), 1);
});

Deno.test("refresh: pressure, action state (max over triggers) and stats", () => {
  const file = Deno.makeTempFileSync();
  Deno.writeTextFileSync(file, "0.7");
  const b = create(OverloadManagerSchema, {
    resourceMonitors: [{
      name: "injected",
      configType: {
        case: "typedConfig",
        value: {
          typeUrl:
            "type.googleapis.com/envoy.extensions.resource_monitors.injected_resource.v3.InjectedResourceConfig",
          value: new Uint8Array([0x0a, file.length, ...new TextEncoder().encode(file)]),
        },
      },
    }],
    actions: [{
      name: "envoy.overload_actions.disable_http_keepalive",
      triggers: [
        { name: "injected", triggerOneof: { case: "threshold", value: { value: 0.9 } } },
        {
          name: "injected",
          triggerOneof: {
            case: "scaled",
            value: { scalingThreshold: 0.6, saturationThreshold: 0.8 },
          },
        },
      ],
    }],
  });
  const stats = new Store();
  const state = new OverloadState(undefined, b);
  const om = new OverloadManager(b, builtinExtensions(), stats, state);
  om.refresh();
  const g = (n: string) => stats.gauge(n, "NeverImport").value;
  assertEquals(g("overload.injected.pressure"), 70);
  assertEquals(g("overload.envoy.overload_actions.disable_http_keepalive.scale_percent"), 49);
  assertEquals(g("overload.envoy.overload_actions.disable_http_keepalive.active"), 0);
  Deno.writeTextFileSync(file, "0.95");
  om.refresh();
  assertEquals(g("overload.envoy.overload_actions.disable_http_keepalive.active"), 1);
  assertEquals(state.saturated(Slot.disableHttpKeepalive), true);
  Deno.writeTextFileSync(file, "bad");
  om.refresh();
  assertEquals(stats.counter("overload.injected.failed_updates").value, 1);
  assertEquals(g("overload.injected.pressure"), 95);
  Deno.removeSync(file);
});

Deno.test("start-up warnings about the global connection limit, as Envoy's", () => {
  const none = new OverloadManager(
    undefined,
    builtinExtensions(),
    new Store(),
    new OverloadState(),
  );
  assertEquals(none.startupWarnings(), [
    "There is no configured limit to the number of allowed active downstream connections. " +
    "Configure a limit in `envoy.resource_monitors.global_downstream_max_connections` " +
    "resource monitor.",
  ]);
  setRuntimeSnapshot({
    layers: [{
      name: "l",
      entries: { "overload.global_downstream_max_connections": { raw: "10", uint: 10 } },
    }],
  });
  try {
    assertEquals(none.startupWarnings().length, 1);
    assertEquals(none.startupWarnings()[0].startsWith("Usage of the deprecated runtime key"), true);
  } finally {
    setRuntimeSnapshot({ layers: [] });
  }
  const limited = create(OverloadManagerSchema, {
    resourceMonitors: [{
      name: "cx",
      configType: {
        case: "typedConfig",
        value: {
          typeUrl:
            "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
          value: new Uint8Array([0x08, 0x0a]),
        },
      },
    }],
  });
  const state = new OverloadState();
  const om = new OverloadManager(limited, builtinExtensions(), new Store(), state);
  assertEquals(om.startupWarnings(), []);
  for (let i = 0; i < 10; i++) assertEquals(state.admit(false, -1), undefined);
  assertEquals(state.admit(false, -1), "global_limit");
});
