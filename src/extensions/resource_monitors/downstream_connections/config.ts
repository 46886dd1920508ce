/**
 * `envoy.resource_monitors.global_downstream_max_connections`: a proactive monitor, the limit
 * on downstream connections open across every listener and worker. Listeners check it as they
 * accept (the shared count lives in the overload state, see server/overload_state.ts) and
 * close a connection over the limit, counted in `downstream_global_cx_overflow`. It has no
 * pressure for triggers.
 */
import type { Message } from "@bufbuild/protobuf";
import type { DownstreamConnectionsConfig } from "../../../../proto/gen/envoy/extensions/resource_monitors/downstream_connections/v3/downstream_connections_pb.ts";
import type { ExtensionFactory } from "../../../config/extensions.ts";
import type { ResourceMonitor } from "../resource_monitor.ts";

const CONFIG =
  "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig";

/** Factory for global_downstream_max_connections. */
export const downstreamConnectionsFactory: ExtensionFactory = {
  name: "envoy.resource_monitors.global_downstream_max_connections",
  category: "envoy.resource_monitors",
  configTypes: [CONFIG],
  fields: { implemented: { [CONFIG]: ["max_active_downstream_connections"] } },
  createResourceMonitor(config: Message): ResourceMonitor {
    const max = (config as DownstreamConnectionsConfig).maxActiveDownstreamConnections;
    return { globalMaxConnections: Number(max) };
  },
};
