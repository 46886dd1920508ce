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
