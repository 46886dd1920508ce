/**
 * The config dump sections `/config_dump` shows, built from the bootstrap and the cluster
 * manager as Envoy's config trackers build theirs: bootstrap, clusters, (endpoints), listeners,
 * scoped routes, routes and secrets, in Envoy's order, each as proto JSON with its `@type` and
 * with secrets redacted as Envoy redacts them (redact.ts).
 *
 * @module
 */
import { type JsonObject, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { ClusterManager } from "../upstream/cluster_manager.ts";
import { type HostDescription, localityKey } from "../upstream/host.ts";
import { redacted } from "./redact.ts";

const ADMIN = "type.googleapis.com/envoy.admin.v3.";
const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** Every HCM `route_config` (inline route configurations) of a listener's JSON. */
export function inlineRouteConfigs(v: JsonValue, out: JsonObject[] = []): JsonObject[] {
  if (Array.isArray(v)) { for (const x of v) inlineRouteConfigs(x, out); }
  else if (v && typeof v === "object") {
    if (v["@type"] === `type.googleapis.com/${HCM}` && v.route_config) {
      out.push(v.route_config as JsonObject);
    }
    for (const x of Object.values(v)) inlineRouteConfigs(x, out);
  }
  return out;
}

/** An Envoy `core.v3.HealthStatus` name for a host. */
function healthStatus(h: HostDescription): string {
  return h.healthy ? "HEALTHY" : h.degraded ? "DEGRADED" : "UNHEALTHY";
}

function socketAddress(h: HostDescription): JsonObject {
  return { socket_address: { address: h.address, port_value: h.port } };
}

/** `config.endpoint.v3.ClusterLoadAssignment` of a cluster's current hosts, as Envoy dumps it. */
function loadAssignment(name: string, cm: ClusterManager): JsonObject {
  const cluster = cm.get(name)!;
  // One entry per priority and locality, hosts in membership order.
  const groups = new Map<string, JsonObject>();
  for (const h of cluster.prioritySet.allHosts()) {
    const l = h.locality;
    const lbEndpoint: JsonObject = {
      endpoint: {
        address: socketAddress(h),
        health_check_config: {},
        ...(h.hostname ? { hostname: h.hostname } : {}),
      },
      health_status: healthStatus(h),
      load_balancing_weight: h.weight,
      ...(h.metadata ? { metadata: { filter_metadata: h.metadata as JsonObject } } : {}),
    };
    const key = `${h.priority}\u0000${localityKey(l)}`;
    const group = groups.get(key);
    if (group) (group.lb_endpoints as JsonObject[]).push(lbEndpoint);
    else {
      groups.set(key, {
        locality: {
          ...(l.region ? { region: l.region } : {}),
          ...(l.zone ? { zone: l.zone } : {}),
          ...(l.subZone ? { sub_zone: l.subZone } : {}),
        },
        lb_endpoints: [lbEndpoint],
        ...(h.localityWeight !== undefined ? { load_balancing_weight: h.localityWeight } : {}),
        ...(h.priority ? { priority: h.priority } : {}),
      });
    }
  }
  const endpoints = [...groups.values()];
  const info = cluster.info;
  return {
    "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    cluster_name: cluster.config?.edsClusterConfig?.serviceName || info.name,
    endpoints,
    policy: { overprovisioning_factor: info.hostSetPolicy.overprovisioningFactor },
  };
}

/** Builds the sections; `lastUpdated` is when the static config was loaded. */
export function configDumpSections(
  bootstrap: Bootstrap,
  clusterManager: ClusterManager | undefined,
  lastUpdated: string,
  includeEds: boolean,
): JsonObject[] {
  const schema = messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap");
  const b = toJson(schema, redacted(schema, bootstrap), {
    registry: apiRegistry(),
    useProtoFieldName: true,
  }) as JsonObject;
  const sr = (b.static_resources ?? {}) as JsonObject;
  const typed = (type: string, v: JsonValue) => ({
    "@type": `type.googleapis.com/${type}`,
    ...(v as JsonObject),
  });
  const listeners = (sr.listeners ?? []) as JsonObject[];
  const sections: JsonObject[] = [
    { "@type": `${ADMIN}BootstrapConfigDump`, bootstrap: b, last_updated: lastUpdated },
    {
      "@type": `${ADMIN}ClustersConfigDump`,
      static_clusters: ((sr.clusters ?? []) as JsonObject[]).map((c) => ({
        cluster: typed("envoy.config.cluster.v3.Cluster", c),
        last_updated: lastUpdated,
      })),
    },
  ];
  if (includeEds && clusterManager && clusterManager.names().length > 0) {
    sections.push({
      "@type": `${ADMIN}EndpointsConfigDump`,
      static_endpoint_configs: clusterManager.names().map((n) => ({
        endpoint_config: loadAssignment(n, clusterManager),
      })),
    });
  }
  sections.push(
    {
      "@type": `${ADMIN}ListenersConfigDump`,
      static_listeners: listeners.map((l) => ({
        listener: typed("envoy.config.listener.v3.Listener", l),
        last_updated: lastUpdated,
      })),
    },
    { "@type": `${ADMIN}ScopedRoutesConfigDump` },
    {
      "@type": `${ADMIN}RoutesConfigDump`,
      static_route_configs: inlineRouteConfigs(listeners).map((rc) => ({
        route_config: typed("envoy.config.route.v3.RouteConfiguration", rc),
        last_updated: lastUpdated,
      })),
    },
    {
      "@type": `${ADMIN}SecretsConfigDump`,
      static_secrets: ((sr.secrets ?? []) as JsonObject[]).map((s) => ({
        name: s.name ?? "",
        last_updated: lastUpdated,
        secret: typed("envoy.extensions.transport_sockets.tls.v3.Secret", s),
      })),
    },
  );
  // Empty lists are left out, as Envoy's JSON printer does.
  return sections.map((s) =>
    Object.fromEntries(Object.entries(s).filter(([, v]) => !Array.isArray(v) || v.length > 0))
  );
}
