/**
 * Upstream hosts as plain data. A host is what a cluster's membership lists and a load balancer
 * picks; it holds no sockets, timers or counters, so the main thread can post a cluster's hosts
 * to worker isolates as-is (structured clone) and health checking, outlier detection or EDS
 * change a host by publishing a new description rather than mutating a shared object.
 *
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { isIP } from "../common/ip.ts";

/** Where a host runs, as Envoy's `core.v3.Locality` names it. */
export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/** The endpoint metadata key `transport_socket_matches` look at. */
export const TRANSPORT_SOCKET_MATCH = "envoy.transport_socket_match";

/** An endpoint's `metadata.filter_metadata`: JSON per filter name (e.g. `envoy.lb`). */
export type HostMetadata = Readonly<Record<string, JsonObject>>;

/** One upstream host of a cluster. */
export interface HostDescription {
  /** IP address as resolved (a STATIC endpoint's IP, or one address a DNS name resolved to). */
  readonly address: string;
  readonly port: number;
  /** `lb_endpoint.load_balancing_weight`; 1 when unset. */
  readonly weight: number;
  /** The priority level of its `LocalityLbEndpoints`; 0 is the highest. */
  readonly priority: number;
  readonly locality: Locality;
  /**
   * The locality's `load_balancing_weight`, used only by locality weighted load balancing, where
   * a locality without a weight gets no traffic (as in Envoy).
   */
  readonly localityWeight?: number;
  /**
   * The name `auto_host_rewrite` sends: `endpoint.hostname` when set, otherwise the DNS name a
   * DNS cluster resolved (empty for a STATIC endpoint without one).
   */
  readonly hostname: string;
  /** False once the host must not take traffic (EDS UNHEALTHY/DRAINING/TIMEOUT, failed checks). */
  readonly healthy: boolean;
  /**
   * A host that is not healthy but still usable (EDS DEGRADED): it takes traffic only when the
   * healthy hosts of all priorities cannot take it all. Only meaningful when `healthy` is false.
   */
  readonly degraded?: boolean;
  readonly metadata?: HostMetadata;
  /**
   * Shared result counters of a cluster with outlier detection or health checks (see
   * host_monitor.ts); the same memory in every isolate.
   */
  readonly monitor?: Int32Array;
  /** Where active health checks go instead (`endpoint.health_check_config.address`/`port_value`). */
  readonly healthCheckAddress?: string;
  readonly healthCheckPort?: number;
  /** `endpoint.health_check_config.hostname`: the Host an HTTP health check sends. */
  readonly healthCheckHostname?: string;
  /**
   * Why a host is not healthy beyond its EDS status (Envoy's health flags), set by the main
   * thread's health checker and outlier detector; `healthy`/`degraded` already include them.
   */
  readonly flags?: HostFlags;
}

/** Active health check and outlier detection flags, with the EDS health they combine with. */
export interface HostFlags {
  readonly edsHealthy: boolean;
  readonly edsDegraded: boolean;
  readonly failedActiveHc: boolean;
  readonly pendingActiveHc: boolean;
  readonly degradedActiveHc: boolean;
  readonly activeHcTimeout: boolean;
  readonly excludedViaImmediateHcFail: boolean;
  readonly failedOutlierCheck: boolean;
  /** Service discovery removed the host; it stays while it passes active health checks. */
  readonly pendingDynamicRemoval: boolean;
}

/** A host's health from `LbEndpoint.health_status` (a `core.v3.HealthStatus` value). */
export function healthFromStatus(status: number): { healthy: boolean; degraded: boolean } {
  // core.v3.HealthStatus: UNKNOWN = 0, HEALTHY = 1, UNHEALTHY = 2, DRAINING = 3, TIMEOUT = 4,
  // DEGRADED = 5. Envoy routes to UNKNOWN like HEALTHY, since most endpoints are never checked.
  switch (status) {
    case 2:
    case 3:
    case 4:
      return { healthy: false, degraded: false };
    case 5:
      return { healthy: false, degraded: true };
    default:
      return { healthy: true, degraded: false };
  }
}

/** `ip:port`, with IPv6 addresses bracketed (`[::1]:80`): a host's identity within a cluster. */
export function hostKey(h: { readonly address: string; readonly port: number }): string {
  // Asked for on every request (stream info, least-request bookkeeping): built once per host.
  let key = hostKeys.get(h);
  if (key === undefined) {
    key = isIP(h.address) === 6 ? `[${h.address}]:${h.port}` : `${h.address}:${h.port}`;
    hostKeys.set(h, key);
  }
  return key;
}

/** hostKey's memory; host descriptions are immutable, so a key never goes stale. */
const hostKeys = new WeakMap<object, string>();

/** A string that is equal for equal localities, for grouping hosts by locality. */
export function localityKey(l: Locality): string {
  return `${l.region}\u0000${l.zone}\u0000${l.subZone}`;
}

/** True when two descriptions are the same in everything a load balancer or pool reads. */
export function sameHost(a: HostDescription, b: HostDescription): boolean {
  return a.address === b.address && a.port === b.port && a.weight === b.weight &&
    a.priority === b.priority && localityKey(a.locality) === localityKey(b.locality) &&
    a.localityWeight === b.localityWeight && a.hostname === b.hostname &&
    a.healthy === b.healthy && (a.degraded ?? false) === (b.degraded ?? false) &&
    JSON.stringify(a.metadata) === JSON.stringify(b.metadata) && a.monitor === b.monitor &&
    JSON.stringify(a.flags) === JSON.stringify(b.flags);
}
