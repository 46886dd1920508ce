/**
 * tcp_proxy: relays a downstream connection to a host of the configured cluster (or of one of
 * the weighted clusters), retrying the connect up to max_connect_attempts, with flow control in
 * both directions, half-close passed through, an idle timeout, and an access log at the end.
 */
import type { TcpProxy } from "../../../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.ts";
import { CoarseTimer } from "../../../../common/coarse_timer.ts";
import type { ServerContext } from "../../../../config/extensions.ts";
import { durationMs } from "../../../../http/conn_manager_config.ts";
import { Connection, type ConnectionCallbacks } from "../../../../network/connection.ts";
import type { ConnectionContext } from "../../../../network/filter.ts";
import { StreamInfo } from "../../../../stream_info/stream_info.ts";
import { hostKey } from "../../../../upstream/host.ts";
import { type AccessLogInstance, createAccessLogs } from "../../../access_loggers/access_log.ts";
import type { ByteCounters, ClusterStats } from "../../../../stats/data_path_stats.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";

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
}

/** Compiles the TcpProxy proto. */
export function compileTcpProxy(c: TcpProxy): TcpProxyConfig {
  let clusters: { name: string; weight: number }[];
  if (c.clusterSpecifier.case === "cluster") {
    clusters = [{ name: c.clusterSpecifier.value, weight: 1 }];
  } else if (c.clusterSpecifier.case === "weightedClusters") {
    clusters = c.clusterSpecifier.value.clusters.map((w) => ({ name: w.name, weight: w.weight }));
  } else throw new Error("tcp_proxy needs cluster or weighted_clusters");
  return {
    statPrefix: c.statPrefix,
    clusters,
    totalWeight: clusters.reduce((a, w) => a + w.weight, 0),
    idleTimeoutMs: durationMs(c.idleTimeout, 3_600_000),
    maxConnectAttempts: c.maxConnectAttempts ?? 1,
    accessLogs: createAccessLogs(c.accessLog),
  };
}

/** One proxied connection. */
class TcpProxySession {
  readonly si = new StreamInfo();
  upstream: Connection | undefined;
  downEnded = false;
  upEnded = false;
  closed = false;
  attempts = 0;
  readonly idleTimer = new CoarseTimer(() => {
    this.si.connectionTerminationDetails = "tcp_proxy_idle_timeout";
    this.stats.idleTimeout.inc();
    this.#close();
  });
  /** Downstream bytes that arrived before the upstream connection was up. */
  early: Uint8Array[] = [];

  /** The upstream cluster's stats on this worker, and when the current attempt began. */
  #cs: ClusterStats | undefined;
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
    const si = this.si;
    si.downstreamRemoteAddress = down.remoteAddress;
    si.downstreamDirectRemoteAddress = down.remoteAddress;
    si.downstreamLocalAddress = down.localAddress;
    si.connectionId = down.id;
    si.requestedServerName = ctx.requestedServerName;
    down.start(this.#downCallbacks(), ctx.initialData);
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
    if (!cluster) {
      this.stats.cxNoRoute.inc();
      this.si.setFlag("NC");
      this.#close();
      return;
    }
    const cs = this.server.clusterStats.get(cluster.info.statName);
    this.#cs = cs;
    const host = cm.loadBalancer(name)?.chooseHost();
    if (!host) {
      cs.cxNoneHealthy.inc();
      this.si.setFlag("UH");
      this.#close();
      return;
    }
    this.attempts++;
    this.si.upstreamHost = hostKey(host);
    cs.cxTotal.inc();
    cs.cxActive.inc();
    this.#attemptMs = performance.now();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cs.cxConnectTimeout.inc();
      cs.cxConnectFail.inc();
      cs.connectionClosed(false, false, performance.now() - this.#attemptMs);
      this.#connectFailed("connect timeout");
    }, cluster.info.connectTimeoutMs);
    Deno.connect({ hostname: host.address, port: host.port }).then((conn) => {
      clearTimeout(timer);
      if (timedOut) {
        conn.close();
        return;
      }
      if (this.closed) {
        cs.connectionClosed(false, false, performance.now() - this.#attemptMs);
        conn.close();
        return;
      }
      cs.cxConnectMs.record(performance.now() - this.#attemptMs);
      conn.setNoDelay(true);
      const up = new Connection(conn, cluster.info.perConnectionBufferLimitBytes);
      up.byteCounters = cs.cxBytes;
      this.upstream = up;
      this.si.upstreamLocalAddress = up.localAddress;
      up.start(this.#upCallbacks());
      for (const c of this.early) up.write(c);
      this.early = [];
      if (this.downEnded) up.shutdownWrite();
      this.down.readDisable(false);
      this.#touch();
    }, (err: Error) => {
      clearTimeout(timer);
      if (timedOut) return;
      cs.cxConnectFail.inc();
      cs.connectionClosed(true, false, performance.now() - this.#attemptMs);
      if (!this.closed) this.#connectFailed(err.message);
    });
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
        up.write(chunk);
        if (up.aboveHighWatermark) this.#pauseDownstream(true);
        this.#touch();
      },
      onEnd: () => {
        this.downEnded = true;
        this.upstream?.shutdownWrite();
        if (this.upEnded) this.#close();
      },
      onClose: () => {
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
        this.#cs?.connectionClosed(
          reason !== "local" || this.upEnded,
          false,
          performance.now() - this.#attemptMs,
        );
        if (!this.closed) {
          if (!this.upEnded) this.si.setFlag("UC");
          this.#close();
        }
      },
      onWritable: () => this.#pauseDownstream(false),
    };
  }

  #close(): void {
    if (this.closed) return;
    this.closed = true;
    this.idleTimer.disarm();
    this.upstream?.closeAfterFlush();
    this.down.closeAfterFlush();
    this.si.finish();
    for (const al of this.cfg.accessLogs) al.log({ streamInfo: this.si });
  }
}

/** Starts a tcp_proxy session on each connection. */
export function tcpProxyFilterFactory(cfg: TcpProxyConfig, server: ServerContext) {
  const stats = new TcpProxyStats(server.stats, cfg.statPrefix);
  return (conn: Connection, ctx: ConnectionContext) => {
    new TcpProxySession(cfg, server, conn, ctx, stats);
  };
}
