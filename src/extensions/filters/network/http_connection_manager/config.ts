/** The HTTP connection manager network filter: HTTP codecs, HTTP filters, routing. */
import type { HttpConnectionManager } from "../../../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import { checkTerminalOrder, type ExtensionFactory } from "../../../../config/extensions.ts";
import { ConnectionManager } from "../../../../http/conn_manager.ts";
import {
  compileConnectionManager,
  connectionManagerProblems,
} from "../../../../http/conn_manager_config.ts";
import { RouteTable } from "../../../../router/route_table.ts";
import { statefulFormatterSettings } from "../../../http/header_formatters/preserve_case/config.ts";
import { CONN_MANAGER_FIELDS } from "../../../../http/conn_manager_fields.ts";
import { configSourceProblems } from "../../../../xds/config_source.ts";
import { xdstpNameProblem } from "../../../../xds/xdstp.ts";
import { RDS } from "../../../../xds/resource_types.ts";
import { scopedRoutesProblems } from "../../../../xds/scoped_route_provider.ts";
import { ecdsFilterProblems } from "../../../../http/ecds_filter.ts";

/** Factory for the HTTP connection manager. */
export const httpConnectionManagerFactory: ExtensionFactory = {
  name: "envoy.filters.network.http_connection_manager",
  aliases: ["envoy.http_connection_manager"],
  category: "envoy.filters.network",
  configTypes: [
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  ],
  terminal: true,
  fields: CONN_MANAGER_FIELDS,
  validate(config, ctx) {
    const hcm = config as HttpConnectionManager;
    const chain = hcm.httpFilters.map((f) => ({
      name: f.name,
      typeUrl: f.configType.case === "typedConfig"
        ? f.configType.value.typeUrl
        : f.configType.case === "configDiscovery"
        ? f.configType.value.typeUrls[0]
        : undefined,
    }));
    hcm.httpFilters.forEach((f, i) => {
      if (f.configType.case !== "configDiscovery") return;
      for (const p of ecdsFilterProblems(f.name, f.configType.value, ctx.extensions)) {
        const field = `http_filters[${i}].config_discovery.${p.field}`;
        if (p.unsupported) ctx.unsupported(p.message, field);
        else ctx.report(p.message, field);
      }
    });
    checkTerminalOrder(
      ctx.extensions,
      chain,
      "http",
      (i, msg) => ctx.report(msg, `http_filters[${i}]`),
    );
    const keyFormat = hcm.httpProtocolOptions?.headerKeyFormat?.headerFormat;
    if (keyFormat?.case === "statefulFormatter") {
      try {
        statefulFormatterSettings(keyFormat.value);
      } catch (e) {
        ctx.report((e as Error).message, "http_protocol_options.header_key_format");
      }
    }
    for (const p of connectionManagerProblems(hcm)) {
      if (p.unsupported) ctx.unsupported(p.message, p.field);
      else ctx.report(p.message, p.field);
    }
    // Compile the inline route table as serving would: bad regexes and unsupported route
    // features surface in --mode validate too. (Cluster names are checked separately.)
    if (hcm.routeSpecifier.case === "routeConfig") {
      try {
        new RouteTable(hcm.routeSpecifier.value);
      } catch (e) {
        const msg = (e as Error).message;
        if (/not supported/.test(msg)) ctx.unsupported(msg, "route_config");
        else ctx.report(msg, "route_config");
      }
    } else if (hcm.routeSpecifier.case === "rds") {
      const rds = hcm.routeSpecifier.value;
      if (!rds.configSource) ctx.report("rds needs a config_source", "rds");
      for (const p of configSourceProblems(rds.configSource, RDS)) {
        const field = `rds.config_source${p.field ? `.${p.field}` : ""}`;
        if (p.unsupported) ctx.unsupported(p.message, field);
        else ctx.report(p.message, field);
      }
      const bad = xdstpNameProblem(rds.routeConfigName);
      if (bad) ctx.report(bad, "rds.route_config_name");
    } else if (hcm.routeSpecifier.case === "scopedRoutes") {
      for (const p of scopedRoutesProblems(hcm.routeSpecifier.value)) {
        const field = `scoped_routes.${p.field}`;
        if (p.unsupported) ctx.unsupported(p.message, field);
        else ctx.report(p.message, field);
      }
    }
  },
  createNetworkFilter(config, server) {
    const hcm = config && unpackAny<HttpConnectionManager>(config);
    if (!hcm) throw new Error("http_connection_manager needs a typed_config");
    const cfg = compileConnectionManager(hcm, server);
    return (conn, ctx) => {
      new ConnectionManager(conn, cfg, ctx);
    };
  },
};
