/**
 * tcp_proxy: relays a downstream connection to a host of the configured cluster (or of one of
 * the weighted clusters), retrying the connect up to max_connect_attempts, with flow control in
 * both directions, half-close passed through, an idle timeout, and access logs: at the end, and
 * optionally when the upstream connects and periodically (`access_log_options`).
 */
import {
  PROXY_PROTOCOL_FILTER_STATE_KEY,
  type ProxyProtocolData,
} from "../../../common/proxy_protocol/proxy_protocol_header.ts";
import {
  connectionAddresses,
  type UpstreamProxyProtocol,
  upstreamProxyProtocolHeader,
} from "../../../transport_sockets/proxy_protocol/upstream_proxy_protocol.ts";
import { type BugScope, containBug } from "../../../../common/error_boundary.ts";
import type { TcpProxy } from "../../../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.ts";
import { CoarseTimer } from "../../../../common/coarse_timer.ts";
import type { ServerContext } from "../../../../config/extensions.ts";
import { durationMs } from "../../../../common/duration.ts";
import type { ResourceLimit } from "../../../../upstream/resource_manager.ts";
import type { UpstreamHandshake } from "../../../../network/transport_socket.ts";
import { Connection, type ConnectionCallbacks } from "../../../../network/connection.ts";
import type { ConnectionContext } from "../../../../network/filter.ts";
import type { AccessLogType } from "../../../../formatter/provider.ts";
import { StreamInfo } from "../../../../stream_info/stream_info.ts";
import { hostKey } from "../../../../upstream/host.ts";
import { applySocketOptions } from "../../../../upstream/conn_pool.ts";
import { PoolSlotLimit } from "../../../../upstream/conn_pool_limit.ts";
import { xxHash64 } from "../../../../common/hash.ts";
import { hashOfFilterState, ipOf } from "../../../../router/hash_policy.ts";
import { type AccessLogInstance, createAccessLogs } from "../../../access_loggers/access_log.ts";
import type { ByteCounters, ClusterStats } from "../../../../stats/data_path_stats.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import { monotonicNow } from "../../../../common/monotonic_time.ts";

/**
 * `tcp.<stat_prefix>.*` (Envoy's `ALL_TCP_PROXY_STATS` that denvoy's tcp_proxy moves; the
 * buffered-bytes gauges and the on-demand and flush stats arrive with those features).
 */
export class TcpProxyStats {
  readonly cxTotal: Counter;
  readonly cxNoRoute: Counter;
  readonly cxBytes: ByteCounters;
  readonly idleTimeout: Counter;
  readonly flowControlPaused: Counter;
  readonly flowControlResumed: Counter;

  constructor(store: Scope, statPrefix: string) {
    const s = store.scope(`tcp.${statPrefix}`);
    this.cxTotal = s.counter("downstream_cx_total");
    this.cxNoRoute = s.counter("downstream_cx_no_route");
    this.cxBytes = {
      rx: s.counter("downstream_cx_rx_bytes_total"),
      tx: s.counter("downstream_cx_tx_bytes_total"),
    };
    this.idleTimeout = s.counter("idle_timeout");
    this.flowControlPaused = s.counter("downstream_flow_control_paused_reading_total");
    this.flowControlResumed = s.counter("downstream_flow_control_resumed_reading_total");
  }
}

/** tcp_proxy's compiled config. */
export interface TcpProxyConfig {
  statPrefix: string;
  clusters: { name: string; weight: number }[];
  totalWeight: number;
  idleTimeoutMs: number;
  maxConnectAttempts: number;
  accessLogs: AccessLogInstance[];
  /** Log every this many ms while the connection lives (TcpPeriodic); 0 = only at the end. */
  accessLogFlushIntervalMs: number;
  /** Log once the upstream connection is up (TcpUpstreamConnected). */
  flushAccessLogOnConnected: boolean;
  /** `hash_policy` (at most one): the hash key for consistent-hash clusters. */
  hashPolicy?: { readonly sourceIp: true } | { readonly filterStateKey: string };
}

/** Envoy's TCP hash policy: the source IP's xxHash64, or a Hashable filter state object's. */
function tcpHashKey(
  policy: NonNullable<TcpProxyConfig["hashPolicy"]>,
  si: StreamInfo,
): bigint | undefined {
  if ("sourceIp" in policy) {
    const ip = ipOf(si.downstreamRemoteAddress);
    return ip === "" ? undefined : xxHash64(ip);
  }
  return hashOfFilterState(si.filterState.get(policy.filterStateKey));
}

/** Compiles the TcpProxy proto. */
export function compileTcpProxy(c: TcpProxy): TcpProxyConfig {
  let clusters: { name: string; weight: number }[];
  if (c.clusterSpecifier.case === "cluster") {
    clusters = [{ name: c.clusterSpecifier.value, weight: 1 }];
  } else if (c.clusterSpecifier.case === "weightedClusters") {
    clusters = c.clusterSpecifier.value.clusters.map((w) => ({ name: w.name, weight: w.weight }));
  } else throw new Error("tcp_proxy needs cluster or weighted_clusters");
  // access_log_options replaces the two deprecated top-level fields.
  const options = c.accessLogOptions;
  const interval = options ? options.accessLogFlushInterval : c.accessLogFlushInterval;
  const accessLogFlushIntervalMs = durationMs(interval, 0);
  if (interval && accessLogFlushIntervalMs < 1) {
    throw new Error("tcp_proxy access_log_flush_interval must be at least 1ms");
  }
  return {
    statPrefix: c.statPrefix,
    clusters,
    totalWeight: clusters.reduce((a, w) => a + w.weight, 0),
    idleTimeoutMs: durationMs(c.idleTimeout, 3_600_000),
    maxConnectAttempts: c.maxConnectAttempts ?? 1,
    accessLogs: createAccessLogs(c.accessLog),
    accessLogFlushIntervalMs,
    flushAccessLogOnConnected: options
      ? options.flushAccessLogOnConnected
      : c.flushAccessLogOnConnected,
    hashPolicy: tcpHashPolicy(c),
  };
}

function tcpHashPolicy(c: TcpProxy): TcpProxyConfig["hashPolicy"] {
  const spec = c.hashPolicy[0]?.policySpecifier;
  if (spec?.case === "sourceIp") return { sourceIp: true };
  if (spec?.case === "filterState") return { filterStateKey: spec.value.key };
  return undefined;
}

/** One proxied connection. */
class TcpProxySession implements BugScope {
  readonly si: StreamInfo;
  upstream: Connection | undefined;
  downEnded = false;
  upEnded = false;
  closed = false;
  attempts = 0;
  /** The upstream connection failed with an error (a reset) rather than closing cleanly. */
  upstreamReset = false;
  readonly idleTimer = new CoarseTimer(() => {
    const why = "tcp_proxy_idle_timeout";
    this.si.connectionTerminationDetails = why;
    this.si.downstreamLocalCloseReason = why;
    if (this.upstream) this.si.upstreamLocalCloseReason = why;
    this.stats.idleTimeout.inc();
    this.#close();
  }, this);
  #flushTimer: CoarseTimer | undefined;
  /** Downstream bytes that arrived before the upstream connection was up. */
  early: Uint8Array[] = [];

  /** The upstream cluster's stats on this worker, and when the current attempt began. */
  #cs: ClusterStats | undefined;
  /** Unregisters the upstream connection from close_connections_on_host_health_failure. */
  #untrack: (() => void) | undefined;
  /** The cluster's DEFAULT connection circuit breaker this session's upstream counts in. */
  #connections: ResourceLimit | undefined;
  #attemptMs = 0;
  /** Whether this session paused downstream reads (flow control, counted per pause). */
  #downPaused = false;

  constructor(
    readonly cfg: TcpProxyConfig,
    readonly server: ServerContext,
    readonly down: Connection,
    ctx: ConnectionContext,
    readonly stats: TcpProxyStats,
  ) {
    stats.cxTotal.inc();
    down.byteCounters = stats.cxBytes;
    // The listener's StreamInfo when it keeps one, so its access log sees this proxy's work.
    const si = this.si = ctx.streamInfo ?? new StreamInfo();
    si.downstreamRemoteAddress = down.remoteAddress;
    si.downstreamDirectRemoteAddress = down.directRemoteAddress;
    si.downstreamDirectLocalAddress = down.directLocalAddress;
    si.downstreamLocalAddress = down.localAddress;
    si.connectionId = down.id;
    si.requestedServerName = ctx.requestedServerName;
    si.ja3Hash = ctx.ja3;
    si.ja4Hash = ctx.ja4;
    // What listener filters found lives on the connection's StreamInfo, as in Envoy.
    if (ctx.dynamicMetadata) Object.assign(si.dynamicMetadata, ctx.dynamicMetadata);
    if (ctx.filterState) { for (const [k, v] of ctx.filterState) si.filterState.set(k, v); }
    si.filterChain = ctx.filterChain;
    if (cfg.accessLogs.length > 0 && cfg.accessLogFlushIntervalMs > 0) {
      const interval = cfg.accessLogFlushIntervalMs;
      this.#flushTimer = new CoarseTimer(() => {
        this.#log("TcpPeriodic");
        this.#flushTimer!.arm(interval);
      }, this);
      this.#flushTimer.arm(interval);
    }
    down.start(this.#downCallbacks());
    // Nothing is read from downstream until there is somewhere to send it.
    down.readDisable(true);
    this.#connect();
  }

  #pickCluster(): string {
    const { clusters, totalWeight } = this.cfg;
    if (clusters.length === 1) return clusters[0].name;
    let r = Math.random() * totalWeight;
    for (const c of clusters) if ((r -= c.weight) < 0) return c.name;
    return clusters[clusters.length - 1].name;
  }

  #connect(): void {
    const cm = this.server.clusterManager;
    const name = this.#pickCluster();
    const cluster = cm.get(name);
    this.si.upstreamCluster = name;
    this.si.upstreamClusterDescription = cluster?.info;
    if (!cluster) {
      this.stats.cxNoRoute.inc();
      this.si.setFlag("NC");
      this.#close();
      return;
    }
    const cs = this.server.clusterStats.get(cluster.info.statName);
    this.#cs = cs;
    const lb = cm.loadBalancer(name);
    const policy = this.cfg.hashPolicy;
    const hashKey = lb?.usesHashKey && policy ? tcpHashKey(policy, this.si) : undefined;
    // An ORIGINAL_DST cluster connects to the destination a listener filter restored.
    const local = cluster.info.originalDst && this.si.downstreamDirectLocalAddress !== undefined
      ? this.si.downstreamLocalAddress
      : undefined;
    const host = lb?.chooseHost(
      hashKey === undefined && local === undefined
        ? undefined
        : { hashKey, downstreamLocalAddress: local },
    );
    if (!host) {
      cs.cxNoneHealthy.inc();
      this.si.setFlag("UH");
      this.#close();
      return;
    }
    const rm = cluster.resources.forPriority(0);
    let connections: ResourceLimit = rm.connections;
    if (cluster.info.connectionPoolsLimited) {
      // max_connection_pools: the host's TCP pool (conn_pool_limit.ts); none: as Envoy, UH.
      const release = this.server.pools.tcpPool(cluster.info, host.address, host.port, rm);
      if (release === undefined) {
        this.si.setFlag("UH");
        this.#close();
        return;
      }
      connections = new PoolSlotLimit(rm.connections, release);
    }
    // Envoy checks the cluster's DEFAULT max_connections here: its TCP pool would queue the
    // connection for one that is never released.
    if (!connections.tryCreate()) {
      this.si.setFlag("UO");
      cs.cxOverflow.inc();
      this.#close();
      return;
    }
    this.#connections = connections;
    this.attempts++;
    const si = this.si;
    si.attemptCount = this.attempts;
    si.upstreamHost = hostKey(host);
    si.upstreamHostDescription = host;
    cs.cxTotal.inc();
    cs.cxActive.inc();
    // One clock read: the access log's connect start and the stats' connect and length times.
    const connectStart = monotonicNow();
    this.#attemptMs = connectStart;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cs.cxConnectTimeout.inc();
      cs.cxConnectFail.inc();
      cs.connectionClosed(false, false, monotonicNow() - this.#attemptMs);
      connections.dec();
      this.#connectFailed("connect timeout");
    }, cluster.info.connectTimeoutMs);
    const transportSocket = this.server.pools.transportSocket(cluster.info, host.metadata);
    const established = (conn: Deno.Conn, tls: UpstreamHandshake | undefined) => {
      clearTimeout(timer);
      if (timedOut) {
        (tls?.io ?? conn).close();
        return;
      }
      if (this.closed) {
        cs.connectionClosed(false, false, monotonicNow() - this.#attemptMs);
        connections.dec();
        (tls?.io ?? conn).close();
        return;
      }
      const now = monotonicNow();
      cs.cxConnectMs.record(now - connectStart);
      const up = new Connection(conn, cluster.info.perConnectionBufferLimitBytes);
      if (tls) {
        up.setTransport(tls.io, tls.ssl);
        si.upstreamTls = tls.ssl;
      }
      up.byteCounters = cs.cxBytes;
      this.upstream = up;
      if (cluster.info.closeConnectionsOnHostHealthFailure) {
        this.#untrack = this.server.pools.trackConnection(
          cluster.info.name,
          host.address,
          host.port,
          up,
        );
      }
      si.upstreamLocalAddress = up.localAddress;
      si.upstreamRemoteAddress = up.remoteAddress;
      si.upstreamConnectionId = up.id;
      si.timings.upstreamConnectStart = connectStart - si.startMonotonic;
      si.timings.upstreamConnectComplete = now - si.startMonotonic;
      up.start(this.#upCallbacks());
      const pp = cluster.info.upstreamProxyProtocol;
      if (pp) up.write(this.#proxyProtocolHeader(pp, conn));
      for (const c of this.early) this.#sendUpstream(up, c);
      this.early = [];
      if (this.downEnded) up.shutdownWrite();
      this.down.readDisable(false);
      this.#touch();
      if (this.cfg.flushAccessLogOnConnected) this.#log("TcpUpstreamConnected");
    };
    const failed = (err: Error) => {
      clearTimeout(timer);
      if (timedOut) return;
      cs.cxConnectFail.inc();
      cs.connectionClosed(true, false, monotonicNow() - this.#attemptMs);
      connections.dec();
      if (!this.closed) this.#connectFailed(err.message);
    };
    Deno.connect({ hostname: host.address, port: host.port }).then((conn) => {
      if (timedOut || this.closed || !transportSocket) {
        if (!timedOut && !this.closed) applySocketOptions(conn, cluster.info);
        established(conn, undefined);
        return;
      }
      applySocketOptions(conn, cluster.info);
      // The handshake is part of connecting: connect_timeout covers it, as in Envoy.
      transportSocket.connect(conn, { address: host.address }, cs.scope, (err, tls) => {
        if (err) failed(err);
        else established(conn, tls);
      });
    }, failed).catch((e) => containBug(this, "tcp_proxy connect", e));
  }

  /**
   * The PROXY header of an upstream_proxy_protocol cluster: the downstream PROXY header's
   * facts when a listener filter found one, else (recorded as such, as Envoy does) the
   * downstream connection's own addresses.
   */
  #proxyProtocolHeader(pp: UpstreamProxyProtocol, conn: Deno.Conn): Uint8Array {
    const fs = this.si.filterState;
    let data = fs.get(PROXY_PROTOCOL_FILTER_STATE_KEY) as ProxyProtocolData | undefined;
    if (!data) {
      const d = this.down;
      const local = d.localAddress;
      const colon = local.lastIndexOf(":");
      data = {
        sourceIp: d.remoteIp,
        sourcePort: d.remotePort,
        destinationIp: local.slice(0, colon).replace(/^\[|\]$/g, ""),
        destinationPort: d.localPort,
        tlvs: [],
      };
      fs.set(PROXY_PROTOCOL_FILTER_STATE_KEY, data);
    }
    return upstreamProxyProtocolHeader(pp, data, connectionAddresses(conn));
  }

  /** BugScope: an exception escaped this session's timers or connect continuation. */
  onBug(): void {
    this.#close();
  }

  #connectFailed(reason: string): void {
    if (this.attempts < this.cfg.maxConnectAttempts && !this.closed) {
      this.#connect();
      return;
    }
    this.si.setFlag("UF");
    this.#cs?.cxConnectAttemptsExceeded.inc();
    // Envoy marks running out of connect attempts as a retry limit.
    this.si.setFlag("URX");
    this.si.upstreamTransportFailureReason = reason;
    this.#close();
  }

  #touch(): void {
    if (this.cfg.idleTimeoutMs > 0) this.idleTimer.arm(this.cfg.idleTimeoutMs);
  }

  #downCallbacks(): ConnectionCallbacks {
    return {
      onData: (chunk) => {
        this.si.bytesReceived += chunk.length;
        const up = this.upstream;
        if (!up) {
          this.early.push(chunk);
          return;
        }
        this.#sendUpstream(up, chunk);
        if (up.aboveHighWatermark) this.#pauseDownstream(true);
        this.#touch();
      },
      onEnd: () => {
        this.downEnded = true;
        this.upstream?.shutdownWrite();
        if (this.upEnded) this.#close();
      },
      onClose: (reason) => {
        if (reason === "error") this.si.downstreamDetectedCloseType = "RemoteReset";
        if (!this.closed) {
          this.si.setFlag("DC");
          this.#close();
        }
      },
      onWritable: () => this.upstream?.readDisable(false),
    };
  }

  /** Downstream flow control, counted as Envoy's paused/resumed reading stats. */
  #pauseDownstream(pause: boolean): void {
    if (this.#downPaused === pause) return;
    this.#downPaused = pause;
    (pause ? this.stats.flowControlPaused : this.stats.flowControlResumed).inc();
    this.down.readDisable(pause);
  }

  #upCallbacks(): ConnectionCallbacks {
    return {
      onData: (chunk) => {
        this.si.bytesSent += chunk.length;
        this.si.upstreamWireBytesReceived += chunk.length;
        this.down.write(chunk);
        if (this.down.aboveHighWatermark) this.upstream?.readDisable(true);
        this.#touch();
      },
      onEnd: () => {
        this.upEnded = true;
        this.down.shutdownWrite();
        if (this.downEnded) this.#close();
      },
      onClose: (reason) => {
        if (reason === "error") this.upstreamReset = true;
        this.#cs?.connectionClosed(
          reason !== "local" || this.upEnded,
          false,
          monotonicNow() - this.#attemptMs,
        );
        this.#connections?.dec();
        if (!this.closed) {
          // A local close here is the host failing its health checks, not the upstream.
          if (!this.upEnded && reason !== "local") this.si.setFlag("UC");
          this.#close();
        }
      },
      onWritable: () => this.#pauseDownstream(false),
    };
  }

  #sendUpstream(up: Connection, chunk: Uint8Array): void {
    this.si.upstreamWireBytesSent += chunk.length;
    up.write(chunk);
  }

  #close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#untrack?.();
    this.idleTimer.disarm();
    this.#flushTimer?.disarm();
    this.upstream?.closeAfterFlush();
    this.down.closeAfterFlush();
    const si = this.si;
    si.finish();
    si.downstreamDetectedCloseType ??= "Normal";
    if (this.upstream) si.upstreamDetectedCloseType = this.upstreamReset ? "RemoteReset" : "Normal";
    this.#log("TcpConnectionEnd");
  }

  #log(type: AccessLogType): void {
    const si = this.si;
    // For TCP the wire bytes are the relayed bytes.
    si.downstreamWireBytesReceived = si.bytesReceived;
    si.downstreamWireBytesSent = si.bytesSent;
    const ctx = { streamInfo: si, accessLogType: type };
    for (const al of this.cfg.accessLogs) al.log(ctx);
  }
}

/** Starts a tcp_proxy session on each connection. */
export function tcpProxyFilterFactory(cfg: TcpProxyConfig, server: ServerContext) {
  const stats = new TcpProxyStats(server.stats, cfg.statPrefix);
  return (conn: Connection, ctx: ConnectionContext) => {
    new TcpProxySession(cfg, server, conn, ctx, stats);
  };
}
