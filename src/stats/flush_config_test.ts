import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { assertEquals } from "../testing/assert.ts";
import { checkStatsConfig, statsFlushSettings } from "./flush_config.ts";

function bootstrap(json: JsonValue): Bootstrap {
  return fromJson(messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap"), json, {
    registry: apiRegistry(),
  });
}

Deno.test("flush settings: 5 s by default, the configured interval, or on admin", () => {
  assertEquals(statsFlushSettings(bootstrap({})), { intervalMs: 5000, onAdmin: false });
  assertEquals(statsFlushSettings(bootstrap({ stats_flush_interval: "0.25s" })), {
    intervalMs: 250,
    onAdmin: false,
  });
  assertEquals(
    statsFlushSettings(bootstrap({ stats_flush_interval: "61.0015s" })).intervalMs,
    61001,
  );
  assertEquals(statsFlushSettings(bootstrap({ stats_flush_on_admin: true })).onAdmin, true);
});

Deno.test("checkStatsConfig: Envoy's rules on flush settings and sinks", () => {
  assertEquals(checkStatsConfig(bootstrap({ stats_flush_interval: "1s" })), []);
  assertEquals(
    checkStatsConfig(bootstrap({ stats_flush_interval: "1s", stats_flush_on_admin: true })),
    [{
      path: "stats_flush_on_admin",
      message: "Only one of stats_flush_interval or stats_flush_on_admin should be set!",
    }],
  );
  assertEquals(checkStatsConfig(bootstrap({ stats_flush_on_admin: false })), [
    { path: "stats_flush_on_admin", message: "must be true (is false)" },
  ]);
  assertEquals(
    checkStatsConfig(bootstrap({ stats_sinks: [{ name: "envoy.stat_sinks.statsd" }] })),
    [
      {
        path: "stats_sinks[0]",
        message: "stats sink 'envoy.stat_sinks.statsd': typed_config is required",
      },
    ],
  );
});
