import { assertEquals } from "../testing/assert.ts";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { AdminView, commandLineOptions, healthFlags, localNode } from "./admin_view.ts";
import { HOT_RESTART_VERSION } from "../version.ts";
import { parseOptions } from "./options.ts";
import { messageSchema } from "../config/api.ts";

Deno.test("command line options and the local node as Envoy reports them", () => {
  const parsed = parseOptions(
    [
      "-c",
      "x.yaml",
      "--service-node",
      "n1",
      "--service-zone",
      "z",
      "--drain-time-s",
      "30",
      "--stats-tag",
      "a:b",
    ],
    { hardwareConcurrency: 4, cpusetCpuCount: () => undefined },
  );
  if (!parsed.ok) throw new Error(parsed.message);
  const o = commandLineOptions(parsed.options);
  assertEquals(
    [o.config_path, o.drain_time, o.drain_strategy, o.mode, o.stats_tag, o.concurrency],
    ["x.yaml", "30s", "Gradual", "Serve", ["a:b"], 4],
  );
  // Every CommandLineOptions field is there.
  const fields = messageSchema("envoy.admin.v3.CommandLineOptions").fields.map((f) => f.name);
  assertEquals(Object.keys(o).sort(), fields.sort());
  const bootstrap = { node: undefined } as unknown as Bootstrap;
  const node = localNode(bootstrap, parsed.options);
  assertEquals([node.id, node.locality, node.user_agent_name], ["n1", { zone: "z" }, "envoy"]);
});

Deno.test("/clusters health flags in Envoy's order, pending_dynamic_removal included", () => {
  const flags = {
    edsHealthy: false,
    edsDegraded: true,
    failedActiveHc: true,
    pendingActiveHc: true,
    degradedActiveHc: true,
    activeHcTimeout: true,
    excludedViaImmediateHcFail: true,
    failedOutlierCheck: true,
    pendingDynamicRemoval: true,
  };
  const host = {
    address: "10.0.0.1",
    port: 80,
    weight: 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: false,
    flags,
  };
  assertEquals(healthFlags(host), [
    "failed_active_hc",
    "failed_outlier_check",
    "degraded_active_hc",
    "degraded_eds_health",
    "pending_dynamic_removal",
    "pending_active_hc",
    "excluded_via_immediate_hc_fail",
    "active_hc_timeout",
  ]);
  assertEquals(
    healthFlags({
      ...host,
      healthy: true,
      flags: { ...flags, ...NONE, pendingDynamicRemoval: true },
    }),
    ["pending_dynamic_removal"],
  );
});

const NONE = {
  edsHealthy: true,
  edsDegraded: false,
  failedActiveHc: false,
  pendingActiveHc: false,
  degradedActiveHc: false,
  activeHcTimeout: false,
  excludedViaImmediateHcFail: false,
  failedOutlierCheck: false,
};

Deno.test("server_info's hot restart version is 'disabled' with --disable-hot-restart", () => {
  const view = (argv: string[]) => {
    const parsed = parseOptions(["-c", "x.yaml", ...argv], {
      hardwareConcurrency: 1,
      cpusetCpuCount: () => undefined,
    });
    if (!parsed.ok) throw new Error(parsed.message);
    const bootstrap = {} as Bootstrap;
    return new AdminView(bootstrap, parsed.options, () => undefined, () => {});
  };
  assertEquals(view([]).serverInfo("LIVE").hotRestartVersion, HOT_RESTART_VERSION);
  assertEquals(view(["--disable-hot-restart"]).serverInfo("LIVE").hotRestartVersion, "disabled");
});
