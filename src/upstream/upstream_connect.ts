/**
 * One upstream connect attempt with the accounting every connection pool shares (the
 * connecting state of Envoy's ConnPoolImplBase clients), for the HTTP/1.1, HTTP/2 and ALPN
 * pools: the attempt holds a circuit-breaker connection and the host's connection count from
 * the start (given back here if it fails); it counts `upstream_cx_total` and
 * `upstream_cx_active` at once, as Envoy does; `connect_timeout` covers the TCP connect and
 * the transport socket's handshake (`upstream_cx_connect_timeout`, reason
 * `connection_timeout`); a refused or failed connect or handshake counts
 * `upstream_cx_connect_fail` (reason `connection_failure`, with Envoy's transport failure
 * detail). Each pool keeps its own protocol counter and what it does with the connection.
 *
 * @module
 */
import type { PoolFailureReason } from "../http/conn_pool.ts";
import { type BugScope, containBug } from "../common/error_boundary.ts";
import { monotonicNow } from "../common/monotonic_time.ts";
import type {
  UpstreamHandshake,
  UpstreamTransportSocketFactory,
} from "../network/transport_socket.ts";
import type { ClusterStats } from "../stats/data_path_stats.ts";
import type { TlsTarget } from "./alpn_conn_pool.ts";
import { applySocketOptions, connectFailureReason, type PoolClusterInfo } from "./conn_pool.ts";
import { hostConnectionClosed, hostConnectionOpened } from "./host_monitor.ts";
import type { HostStats } from "./host_stats.ts";
import type { ResourceManager } from "./resource_manager.ts";

/** The pool a connect attempt is for: where it connects, and the stats it counts in. */
export interface ConnectingPool {
  readonly cluster: PoolClusterInfo;
  readonly hostname: string;
  readonly port: number;
  readonly stats: HostStats;
  readonly clusterStats: ClusterStats;
}

/** What the pool does with the outcome of its attempt. */
export interface ConnectAttempt {
  /** Connected, handshake done when there is a transport socket (then `tls` is set). */
  connected(tcp: Deno.Conn, tls: UpstreamHandshake | undefined): void;
  /** The attempt failed or timed out; the connection it held is already given back. */
  connectFailed(reason: PoolFailureReason, detail: string): void;
  /** Who abandons its work when one of the callbacks above throws (a bug). */
  bugScope(): BugScope | undefined;
}

/** A transport socket to handshake over once connected, and whom the handshake is for. */
export interface UpstreamTls {
  readonly socket: UpstreamTransportSocketFactory;
  readonly target: TlsTarget;
}

/**
 * Connects to `pool`'s host for `attempt` (see the module doc); `start` is when the attempt
 * began (`monotonicNow()`), for the connection length stat of a failed one.
 */
export function connectUpstream(
  pool: ConnectingPool,
  rm: ResourceManager,
  monitor: Int32Array | undefined,
  tls: UpstreamTls | undefined,
  start: number,
  attempt: ConnectAttempt,
): void {
  rm.connections.inc();
  if (monitor) hostConnectionOpened(monitor);
  const stats = pool.stats;
  const cs = pool.clusterStats;
  stats.cx_total++;
  stats.cx_active++;
  cs.cxTotal.inc();
  cs.cxActive.inc();
  let timedOut = false;
  const fail = (remote: boolean, reason: PoolFailureReason, detail: string) => {
    rm.connections.dec();
    if (monitor) hostConnectionClosed(monitor);
    stats.cx_connect_fail++;
    stats.cx_active--;
    cs.cxConnectFail.inc();
    cs.connectionClosed(remote, false, monotonicNow() - start);
    attempt.connectFailed(reason, detail);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    cs.cxConnectTimeout.inc();
    fail(false, "connection_timeout", "connect timeout");
  }, pool.cluster.connectTimeoutMs);
  Deno.connect({ hostname: pool.hostname, port: pool.port }).then((tcp) => {
    if (timedOut) {
      tcp.close();
      return;
    }
    applySocketOptions(tcp, pool.cluster);
    if (tls === undefined) {
      clearTimeout(timer);
      attempt.connected(tcp, undefined);
      return;
    }
    tls.socket.connect(tcp, tls.target, cs.scope, (err, handshake) => {
      if (timedOut) {
        handshake?.io.close();
        return;
      }
      clearTimeout(timer);
      if (err || !handshake) fail(true, "connection_failure", err?.message ?? "");
      else attempt.connected(tcp, handshake);
    });
  }, (err: Error) => {
    clearTimeout(timer);
    // Refused or unreachable: the upstream side ended the attempt.
    if (!timedOut) fail(true, "connection_failure", connectFailureReason(err));
  }).catch((e) => containBug(attempt.bugScope(), "upstream connect", e));
}
