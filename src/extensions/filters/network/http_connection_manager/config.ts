/** The HTTP connection manager network filter: HTTP codecs, HTTP filters, routing. */
import type { HttpConnectionManager } from "../../../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { checkTerminalOrder, type ExtensionFactory } from "../../../../config/extensions.ts";

/** Factory for the HTTP connection manager. */
export const httpConnectionManagerFactory: ExtensionFactory = {
  name: "envoy.filters.network.http_connection_manager",
  aliases: ["envoy.http_connection_manager"],
  category: "envoy.filters.network",
  configTypes: [
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  ],
  terminal: true,
  validate(config, ctx) {
    const hcm = config as HttpConnectionManager;
    const chain = hcm.httpFilters.map((f) => ({
      name: f.name,
      typeUrl: f.configType.case === "typedConfig" ? f.configType.value.typeUrl : undefined,
    }));
    checkTerminalOrder(
      ctx.extensions,
      chain,
      "http",
      (i, msg) => ctx.report(msg, `http_filters[${i}]`),
    );
  },
};
