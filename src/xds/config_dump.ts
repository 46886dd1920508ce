/**
 * The dynamic parts of `/config_dump`, as Envoy's config trackers show them: CDS clusters
 * (`dynamic_active_clusters`, `dynamic_warming_clusters`), LDS listeners (`dynamic_listeners`
 * with `active_state`, `warming_state`, `error_state`), RDS route configurations
 * (`dynamic_route_configs`), EDS assignments (`dynamic_endpoint_configs`) and SDS secrets
 * (`dynamic_active_secrets`, `dynamic_warming_secrets`, private keys redacted) and ECDS
 * filter configs (`EcdsConfigDump.ecds_filters`), each with its
 * `version_info` and `last_updated`; `error_state` is the last rejected update of the resource
 * (`admin.v3.UpdateFailureState`).
 *
 * @module
 */
import { type JsonObject, type Message, toJson } from "@bufbuild/protobuf";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { inlineRouteConfigs } from "../server/config_dump.ts";
import { redacted } from "../server/redact.ts";
import type { UpdateFailureState, Versioned, XdsManager } from "./xds_manager.ts";

const ADMIN = "type.googleapis.com/envoy.admin.v3.";
const ROUTE_CONFIG = "envoy.config.route.v3.RouteConfiguration";
const SECRET = "envoy.extensions.transport_sockets.tls.v3.Secret";

/** Proto JSON of a message with its `@type`, secrets redacted. */
function typed(m: Message): JsonObject {
  const schema = messageSchema(m.$typeName);
  const json = toJson(schema, redacted(schema, m), {
    registry: apiRegistry(),
    useProtoFieldName: true,
  }) as JsonObject;
  return { "@type": `type.googleapis.com/${m.$typeName}`, ...json };
}

function errorState(e: UpdateFailureState): JsonObject {
  return {
    ...(e.failedConfiguration ? { failed_configuration: typed(e.failedConfiguration) } : {}),
    last_update_attempt: e.lastUpdateAttempt.toISOString(),
    details: e.details,
    ...(e.versionInfo ? { version_info: e.versionInfo } : {}),
  };
}

function state(v: Versioned<Message>, key: string): JsonObject {
  return {
    ...(v.versionInfo ? { version_info: v.versionInfo } : {}),
    [key]: typed(v.config),
    last_updated: v.lastUpdated.toISOString(),
  };
}

/**
 * Adds the dynamic resources of `xds` to the static sections `configDumpSections` built (in
 * place); an EndpointsConfigDump is added with `include_eds` only.
 */
export function addDynamicSections(
  sections: JsonObject[],
  xds: XdsManager,
  includeEds: boolean,
): JsonObject[] {
  const d = xds.dumpState();
  const section = (type: string) => sections.find((s) => s["@type"] === `${ADMIN}${type}`);
  const set = (s: JsonObject | undefined, key: string, v: unknown[]) => {
    if (s && v.length > 0) s[key] = v as JsonObject[];
  };
  const clusters = section("ClustersConfigDump");
  if (clusters && d.cdsVersion) clusters.version_info = d.cdsVersion;
  const withError = (
    json: JsonObject,
    name: string,
    errors: ReadonlyMap<string, UpdateFailureState>,
  ) => {
    const e = errors.get(name);
    return e ? { ...json, error_state: errorState(e) } : json;
  };
  set(
    clusters,
    "dynamic_active_clusters",
    [...d.clusters].map(([n, v]) => withError(state(v, "cluster"), n, d.clusterErrors)),
  );
  set(
    clusters,
    "dynamic_warming_clusters",
    [...d.warmingClusters.values()].map((v) => state(v, "cluster")),
  );
  const listeners = section("ListenersConfigDump");
  if (listeners && d.ldsVersion) listeners.version_info = d.ldsVersion;
  const names = new Set([
    ...d.listeners.keys(),
    ...d.warmingListeners.keys(),
    ...d.listenerErrors.keys(),
  ]);
  set(
    listeners,
    "dynamic_listeners",
    [...names].sort().map((name) => {
      const active = d.listeners.get(name);
      const warming = d.warmingListeners.get(name);
      const error = d.listenerErrors.get(name);
      return {
        name,
        ...(active ? { active_state: state(active, "listener") } : {}),
        ...(warming ? { warming_state: state(warming, "listener") } : {}),
        ...(error ? { error_state: errorState(error) } : {}),
      };
    }),
  );
  const routes = section("RoutesConfigDump");
  set(
    section("ScopedRoutesConfigDump"),
    "dynamic_scoped_route_configs",
    [...d.scopedRoutes.values()].filter((s) => s.current).map((s) => ({
      name: s.name,
      ...(s.current!.versionInfo ? { version_info: s.current!.versionInfo } : {}),
      scoped_route_configs: s.current!.config.map(typed),
      last_updated: s.current!.lastUpdated.toISOString(),
    })),
  );
  // Inline route tables of dynamic listeners are static route configs, as Envoy dumps them.
  const inline = [...d.listeners.values()].flatMap((l) =>
    inlineRouteConfigs(typed(l.config)).map((rc) => ({
      route_config: { "@type": `type.googleapis.com/${ROUTE_CONFIG}`, ...rc },
      last_updated: l.lastUpdated.toISOString(),
    }))
  );
  if (routes && inline.length > 0) {
    routes.static_route_configs = [
      ...((routes.static_route_configs ?? []) as JsonObject[]),
      ...inline,
    ];
  }
  set(
    routes,
    "dynamic_route_configs",
    [...d.routes.values()].filter((r) => r.current || r.error).map((r) => ({
      ...(r.current ? state(r.current, "route_config") : {}),
      ...(r.error ? { error_state: errorState(r.error) } : {}),
    })),
  );
  const secrets = section("SecretsConfigDump");
  const supplied = d.secrets.filter((st) => st.current);
  set(
    secrets,
    "dynamic_active_secrets",
    supplied.map((st) => ({
      name: st.name,
      ...state(st.current!, "secret"),
      ...(st.error ? { error_state: errorState(st.error) } : {}),
    })),
  );
  // A secret not supplied yet shows its name only, as Envoy's warming secrets do.
  set(
    secrets,
    "dynamic_warming_secrets",
    d.secrets.filter((st) => !st.current).map((st) => ({
      name: st.name,
      secret: { "@type": `type.googleapis.com/${SECRET}`, name: st.name },
      ...(st.error ? { error_state: errorState(st.error) } : {}),
    })),
  );
  // ECDS filter configs get a section of their own, as in Envoy.
  const ecds = d.ecds.filter((st) => st.current || st.error);
  if (ecds.length > 0) {
    sections.push({
      "@type": `${ADMIN}EcdsConfigDump`,
      ecds_filters: ecds.map((st) => ({
        ...(st.current ? state(st.current, "ecds_filter") : {}),
        ...(st.error ? { error_state: errorState(st.error) } : {}),
      })),
    });
  }
  if (includeEds) {
    const eds = d.endpoints.filter((e) => e.current).map((e) =>
      state(e.current!, "endpoint_config")
    );
    if (eds.length > 0) {
      let endpoints = section("EndpointsConfigDump");
      if (!endpoints) {
        endpoints = { "@type": `${ADMIN}EndpointsConfigDump` };
        const at = sections.findIndex((s) => s["@type"] === `${ADMIN}ListenersConfigDump`);
        sections.splice(at < 0 ? sections.length : at, 0, endpoints);
      }
      endpoints.dynamic_endpoint_configs = eds;
    }
  }
  return sections;
}
