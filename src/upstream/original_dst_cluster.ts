/**
 * The ORIGINAL_DST cluster's load balancer: the host is the destination the request names
 * (`original_dst_lb_config.use_http_header`: `x-envoy-original-dst-host` or `http_header_name`),
 * else the downstream connection's local address when a listener filter restored it (the
 * `original_dst` listener filter's SO_ORIGINAL_DST, or a PROXY protocol destination), with
 * `upstream_port_override` applied. A request with neither finds no host, as in Envoy. A host
 * is created the first time it is named and removed `cleanup_interval` (5 s by default) after
 * it was last picked, once no pooled connection to it is left (Envoy's
 * `original_dst_rely_on_idle_timeout`).
 *
 * Hosts live in each worker's balancer (Envoy shares one map through the main thread); they do
 * not appear in the main thread's membership.
 *
 * @module
 */
import { CoarseTimer } from "../common/coarse_timer.ts";
import { isIPv4, isIPv6 } from "../common/ip.ts";
import { getLogger } from "../common/logger.ts";
import type { HostDescription } from "./host.ts";
import type { LbContext, LoadBalancer } from "./lb_base.ts";

const log = getLogger("upstream");

/** Envoy's default override header (`Http::Headers::EnvoyOriginalDstHost`). */
export const ORIGINAL_DST_HOST_HEADER = "x-envoy-original-dst-host";

/** An ORIGINAL_DST cluster's settings. */
export interface OriginalDstSettings {
  /** The override header, lower case, when `use_http_header` is set. */
  readonly httpHeaderName?: string;
  /** `upstream_port_override`. */
  readonly upstreamPortOverride?: number;
  /** `cleanup_interval`; 5000 by default. */
  readonly cleanupIntervalMs: number;
}

/** What the balancer needs to know of this worker's connection pools. */
export interface HostPoolView {
  /** Whether any pooled connection to the host is open. */
  hasConnections(cluster: string, address: string, port: number): boolean;
  /** Drains the host's pooled connections (the host left the cluster). */
  drainConnectionsTo(cluster: string, address: string, port: number): void;
  /**
   * Drains the host's pooled connections and closes the connections made outside the pools
   * (tcp_proxy): the host failed its health checks.
   */
  closeConnectionsTo(cluster: string, address: string, port: number): void;
  /** Drains every pool of the cluster (it was replaced or removed). */
  drainCluster?(cluster: string): void;
}

/**
 * Envoy's `parseInternetAddressAndPortNoThrow`: `a.b.c.d:port` or `[v6]:port`, the port a
 * decimal in 0..65535. Returns undefined for anything else.
 */
export function parseAddressAndPort(s: string): { address: string; port: number } | undefined {
  let address: string;
  let portText: string;
  if (s.startsWith("[")) {
    const end = s.indexOf("]:");
    if (end < 0) return undefined;
    address = s.slice(1, end);
    portText = s.slice(end + 2);
    if (!isIPv6(address) || address.includes("%")) return undefined;
  } else {
    const colon = s.lastIndexOf(":");
    if (colon < 0) return undefined;
    address = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (!isIPv4(address)) return undefined;
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  return port > 65535 ? undefined : { address, port };
}

interface Entry {
  readonly host: HostDescription;
  /** Picked since the last cleanup. */
  used: boolean;
}

/** One worker's ORIGINAL_DST balancer and host map. */
export class OriginalDstLoadBalancer implements LoadBalancer {
  readonly #hosts = new Map<string, Entry>();
  readonly #timer: CoarseTimer;

  constructor(
    readonly clusterName: string,
    readonly settings: OriginalDstSettings,
    /** `cluster.<name>.original_dst_host_invalid`. */
    readonly hostInvalid: { inc(): void },
    readonly pools: () => HostPoolView | undefined,
  ) {
    this.#timer = new CoarseTimer(() => this.cleanup());
    this.#timer.arm(settings.cleanupIntervalMs);
  }

  /** Number of hosts this worker knows (tests, admin). */
  get size(): number {
    return this.#hosts.size;
  }

  chooseHost(ctx?: LbContext): HostDescription | undefined {
    const local = ctx?.downstreamLocalAddress;
    const dst = this.#overrideHost(ctx) ??
      (local === undefined ? undefined : parseAddressAndPort(local));
    if (!dst) {
      log.debug("original_dst_load_balancer: No downstream connection or no original_dst.");
      return undefined;
    }
    const port = this.settings.upstreamPortOverride ?? dst.port;
    const key = dst.address.includes(":") ? `[${dst.address}]:${port}` : `${dst.address}:${port}`;
    let e = this.#hosts.get(key);
    if (!e) {
      e = {
        host: {
          address: dst.address,
          port,
          weight: 1,
          priority: 0,
          locality: { region: "", zone: "", subZone: "" },
          hostname: "",
          healthy: true,
        },
        used: true,
      };
      this.#hosts.set(key, e);
      log.debug(() => `original_dst cluster '${this.clusterName}': created host ${key}`);
    }
    e.used = true;
    return e.host;
  }

  #overrideHost(ctx: LbContext | undefined): { address: string; port: number } | undefined {
    const name = this.settings.httpHeaderName;
    const headers = ctx?.downstreamHeaders;
    if (name === undefined || !headers) return undefined;
    const value = headers.get(name);
    if (value === undefined) return undefined;
    const dst = parseAddressAndPort(value);
    if (!dst) {
      log.debug(() => `original_dst_load_balancer: invalid override header value. ${value}`);
      this.hostInvalid.inc();
    }
    return dst;
  }

  /**
   * Envoy's cleanup round: a host picked since the last round stays (and must be picked again
   * before the next one), as does a host with open pooled connections; the rest are removed and
   * their pools closed.
   */
  cleanup(): void {
    const pools = this.pools();
    for (const [key, e] of this.#hosts) {
      if (e.used) {
        e.used = false;
        continue;
      }
      const { address, port } = e.host;
      if (pools?.hasConnections(this.clusterName, address, port)) continue;
      this.#hosts.delete(key);
      pools?.drainConnectionsTo(this.clusterName, address, port);
      log.debug(() => `original_dst cluster '${this.clusterName}': removed stale host ${key}`);
    }
    this.#timer.arm(this.settings.cleanupIntervalMs);
  }

  requestStarted(_host: HostDescription): void {}

  requestFinished(_host: HostDescription): void {}

  destroy(): void {
    this.#timer.disarm();
    this.#hosts.clear();
  }
}
