/**
 * `/clusters`: every cluster's settings and hosts with their stats, as Envoy's text
 * (`cluster::host::stat::value` lines) or as `admin.v3.Clusters` JSON (`format=json`).
 *
 * @module
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { FORMAT, type Handler, json, queryParam, text } from "./handler.ts";
import { protoJson } from "./proto_json.ts";

/** A host's stats, by Envoy's names (`ALL_HOST_STATS`): counters, then gauges. */
export interface HostStatValues {
  cx_connect_fail: number;
  cx_total: number;
  rq_error: number;
  rq_success: number;
  rq_timeout: number;
  rq_total: number;
  cx_active: number;
  rq_active: number;
}

/** The host stats that are gauges; the others are counters. */
const HOST_GAUGES = new Set(["cx_active", "rq_active"]);

/** Host health as Envoy's health flags name it. */
export type HealthFlag =
  | "failed_active_hc"
  | "failed_outlier_check"
  | "failed_eds_health"
  | "degraded_active_hc"
  | "degraded_eds_health"
  | "pending_dynamic_removal"
  | "pending_active_hc"
  | "excluded_via_immediate_hc_fail"
  | "active_hc_timeout"
  | "eds_status_draining";

/** One upstream host for `/clusters`. */
export interface HostInfo {
  /** "ip:port", "[v6]:port" for IPv6. */
  address: string;
  hostname: string;
  /** Empty when the host is healthy. */
  healthFlags: HealthFlag[];
  weight: number;
  priority: number;
  region: string;
  zone: string;
  subZone: string;
  canary: boolean;
  stats: HostStatValues;
  /** The outlier detector's last interval success rates (percent), -1 when unknown. */
  successRate?: number;
  localOriginSuccessRate?: number;
}

/** A cluster's outlier detector figures of its last interval (-1 when not computed). */
export interface OutlierInfo {
  successRateAverage: number;
  successRateEjectionThreshold: number;
  localOriginSuccessRateAverage: number;
  localOriginSuccessRateEjectionThreshold: number;
}

/** One priority's circuit breaker thresholds. */
export interface CircuitBreakerThresholds {
  priority: "DEFAULT" | "HIGH";
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

/** One cluster for `/clusters`. */
export interface ClusterInfo {
  name: string;
  /** `alt_stat_name`, else the name. */
  observabilityName: string;
  addedViaApi: boolean;
  edsServiceName?: string;
  /** DEFAULT then HIGH. */
  circuitBreakers: CircuitBreakerThresholds[];
  hosts: HostInfo[];
  /** Present when the cluster has outlier detection. */
  outlier?: OutlierInfo;
}

/** Envoy's `healthFlagsToString`: "healthy", or each flag as "/flag". */
export function healthFlagsText(flags: readonly HealthFlag[]): string {
  return flags.length === 0 ? "healthy" : flags.map((f) => `/${f}`).join("");
}

/** Envoy's text form. */
export function clustersText(clusters: readonly ClusterInfo[]): string {
  let out = "";
  for (const c of clusters) {
    const n = c.name;
    out += `${n}::observability_name::${c.observabilityName}\n`;
    const o = c.outlier;
    if (o) {
      out += `${n}::outlier::success_rate_average::${o.successRateAverage}\n` +
        `${n}::outlier::success_rate_ejection_threshold::${o.successRateEjectionThreshold}\n` +
        `${n}::outlier::local_origin_success_rate_average::${o.localOriginSuccessRateAverage}\n` +
        `${n}::outlier::local_origin_success_rate_ejection_threshold::` +
        `${o.localOriginSuccessRateEjectionThreshold}\n`;
    }
    for (const t of c.circuitBreakers) {
      const p = `${n}::${t.priority.toLowerCase()}_priority::`;
      out += `${p}max_connections::${t.maxConnections}\n` +
        `${p}max_pending_requests::${t.maxPendingRequests}\n` +
        `${p}max_requests::${t.maxRequests}\n${p}max_retries::${t.maxRetries}\n`;
    }
    out += `${n}::added_via_api::${c.addedViaApi}\n`;
    if (c.edsServiceName) out += `${n}::eds_service_name::${c.edsServiceName}\n`;
    for (const h of c.hosts) {
      const p = `${n}::${h.address}::`;
      // Stats sorted by name, as Envoy's std::map prints them.
      for (const k of Object.keys(h.stats).sort()) {
        out += `${p}${k}::${h.stats[k as keyof HostStatValues]}\n`;
      }
      out += `${p}hostname::${h.hostname}\n${p}health_flags::${healthFlagsText(h.healthFlags)}\n` +
        `${p}weight::${h.weight}\n${p}region::${h.region}\n${p}zone::${h.zone}\n` +
        `${p}sub_zone::${h.subZone}\n${p}canary::${h.canary}\n${p}priority::${h.priority}\n` +
        `${p}success_rate::${h.successRate ?? -1}\n` +
        `${p}local_origin_success_rate::${h.localOriginSuccessRate ?? -1}\n`;
    }
  }
  return out;
}

/** Splits "ip:port" / "[v6]:port" into Envoy's address JSON; anything else is a pipe path. */
export function addressJson(address: string): JsonObject {
  const m = /^\[([^\]]*)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address);
  if (m) return { socket_address: { address: m[1], port_value: Number(m[2]) } };
  return { pipe: { path: address } };
}

function healthStatusJson(flags: readonly HealthFlag[]): JsonObject {
  const has = (f: HealthFlag) => flags.includes(f);
  const out: JsonObject = {
    failed_active_health_check: has("failed_active_hc"),
    failed_outlier_check: has("failed_outlier_check"),
    failed_active_degraded_check: has("degraded_active_hc"),
    pending_dynamic_removal: has("pending_dynamic_removal"),
    pending_active_hc: has("pending_active_hc"),
    excluded_via_immediate_hc_fail: has("excluded_via_immediate_hc_fail"),
    active_hc_timeout: has("active_hc_timeout"),
    eds_health_status: has("failed_eds_health")
      ? "UNHEALTHY"
      : has("degraded_eds_health")
      ? "DEGRADED"
      : "HEALTHY",
  };
  if (has("eds_status_draining")) out.eds_health_status = "DRAINING";
  return out;
}

/** `admin.v3.Clusters` as Envoy prints it. */
export function clustersJson(clusters: readonly ClusterInfo[]): JsonValue {
  return protoJson("envoy.admin.v3.Clusters", {
    cluster_statuses: clusters.map((c) => ({
      name: c.name,
      added_via_api: c.addedViaApi,
      host_statuses: c.hosts.map((h) => ({
        address: addressJson(h.address),
        // Counters first, then gauges, as Envoy lists them.
        stats: [
          ...Object.entries(h.stats).filter(([k]) => !HOST_GAUGES.has(k)),
          ...Object.entries(h.stats).filter(([k]) => HOST_GAUGES.has(k)),
        ].map(([name, value]) => ({
          name,
          value: String(value),
          type: HOST_GAUGES.has(name) ? "GAUGE" : "COUNTER",
        })),
        health_status: healthStatusJson(h.healthFlags),
        ...((h.successRate ?? -1) >= 0 ? { success_rate: { value: h.successRate! } } : {}),
        ...((h.localOriginSuccessRate ?? -1) >= 0
          ? { local_origin_success_rate: { value: h.localOriginSuccessRate! } }
          : {}),
        weight: h.weight,
        hostname: h.hostname,
        priority: h.priority,
        locality: {
          region: h.region,
          zone: h.zone,
          sub_zone: h.subZone,
        },
      })),
      circuit_breakers: {
        thresholds: c.circuitBreakers.map((t) => ({
          priority: t.priority,
          max_connections: t.maxConnections,
          max_pending_requests: t.maxPendingRequests,
          max_requests: t.maxRequests,
          max_retries: t.maxRetries,
        })),
      },
      ...((c.outlier?.successRateEjectionThreshold ?? -1) >= 0
        ? { success_rate_ejection_threshold: { value: c.outlier!.successRateEjectionThreshold } }
        : {}),
      ...((c.outlier?.localOriginSuccessRateEjectionThreshold ?? -1) >= 0
        ? {
          local_origin_success_rate_ejection_threshold: {
            value: c.outlier!.localOriginSuccessRateEjectionThreshold,
          },
        }
        : {}),
      observability_name: c.observabilityName,
      ...(c.edsServiceName ? { eds_service_name: c.edsServiceName } : {}),
    })),
  });
}

/** The `/clusters` endpoint. */
export function clustersHandler(clusters: () => Promise<ClusterInfo[]>): Handler {
  return {
    path: "/clusters",
    help: "upstream cluster status",
    post: false,
    params: [FORMAT],
    run: async (c, q) =>
      queryParam(q, "format") === "json"
        ? json(c, clustersJson(await clusters()))
        : text(c, clustersText(await clusters())),
  };
}
