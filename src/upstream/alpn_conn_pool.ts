/**
 * The upstream pool of an `auto_config` cluster (Envoy's HttpConnPoolImplMixed): each new
 * connection offers ALPN `h2,http/1.1` (unless the UpstreamTlsContext names its own protocols)
 * and the protocol the upstream picks chooses the codec of that connection — HTTP/2 when it
 * picks `h2`, HTTP/1.1 when it picks `http/1.1` or nothing. The connections then live in an
 * HTTP/1.1 and an HTTP/2 pool under this one, which share its queue of waiting requests and
 * its host stats; this pool makes every connection, so a connection the HTTP/2 pool wants may
 * turn out to be HTTP/1.1 and the other way round, as in Envoy.
 *
 * A request takes a stream on an HTTP/2 connection with room, else an idle HTTP/1.1
 * connection, else it waits; a new connection is expected to carry as many streams as an
 * HTTP/2 one would (Envoy's `allow_concurrency_for_alpn_pool`) until ALPN says otherwise.
 *
 * @module
 */
import { connectUpstream } from "./upstream_connect.ts";
import type { Protocol } from "../http/codec.ts";
import type {
  Cancellable,
  ConnectionPoolCallbacks,
  ConnectionPoolInstance,
  PoolFailureReason,
  UpstreamStreamDecoder,
} from "../http/conn_pool.ts";
import type { Http2Options } from "../http/http2/connection.ts";
import type { KeepaliveConfig } from "../http/http2/keepalive.ts";
import type { UpstreamTransportSocketFactory } from "../network/transport_socket.ts";
import type { ClusterStats } from "../stats/data_path_stats.ts";
import { containBug } from "../common/error_boundary.ts";
import { monotonicNow } from "../common/monotonic_time.ts";
import { getLogger } from "../common/logger.ts";
import { Http1ConnPool, type PoolClusterInfo } from "./conn_pool.ts";
import { Http2ConnPool } from "./http2_conn_pool.ts";
import { HostStats } from "./host_stats.ts";
import { hostConnections } from "./host_monitor.ts";
import { DEFAULT_THRESHOLDS, ResourceManager } from "./resource_manager.ts";

const log = getLogger("pool");

/** A request waiting for a connection, in whichever pool queued it. */
export interface PendingRequest {
  readonly decoder: UpstreamStreamDecoder;
  readonly callbacks: ConnectionPoolCallbacks;
  readonly rm: ResourceManager;
}

/** What the HTTP/1.1 and HTTP/2 pools under an ALPN pool share with it. */
export interface AlpnPoolLink {
  /** The one queue of waiting requests, oldest first. */
  readonly pending: PendingRequest[];
  readonly stats: HostStats;
  /** A sub-pool wants a connection for its waiting requests: the ALPN pool makes it. */
  tryCreateConnection(rm: ResourceManager): void;
}

/** Who an upstream TLS handshake is for, and the ALPN the pool offers by default. */
export interface TlsTarget {
  address: string;
  sni?: string;
  verifySan?: string;
  alpn?: readonly string[];
}

/** What auto_config offers when the TLS context names no ALPN (Envoy's "h2,http/1.1"). */
const AUTO_ALPN: readonly string[] = ["h2", "http/1.1"];

/** The circuit breakers of a pool used without a cluster's (tests): Envoy's defaults. */
const UNSHARED_RESOURCES = new ResourceManager(
  new Int32Array(new SharedArrayBuffer(16)),
  0,
  DEFAULT_THRESHOLDS,
);

/** Runs `onPoolFailure` from the pool's own continuation, inside the error boundary. */
function failed(cb: ConnectionPoolCallbacks, reason: PoolFailureReason, detail: string): void {
  try {
    cb.onPoolFailure(reason, detail);
  } catch (e) {
    containBug(cb, "upstream failure callback", e);
  }
}

/** The auto_config pool for one upstream host. */
export class AlpnConnPool implements ConnectionPoolInstance, AlpnPoolLink {
  /** What the last connection negotiated (HTTP/1.1 until one says `h2`). */
  protocol: Protocol = "HTTP/1.1";
  readonly stats = new HostStats();
  readonly pending: PendingRequest[] = [];
  readonly #h1: Http1ConnPool;
  readonly #h2: Http2ConnPool;
  readonly #target: TlsTarget;
  /** Connections being made, and the streams they are expected to carry. */
  #connecting = 0;
  #connectingCapacity = 0;
  hostMonitor: Int32Array | undefined;

  constructor(
    readonly cluster: PoolClusterInfo,
    readonly hostname: string,
    readonly port: number,
    readonly clusterStats: ClusterStats,
    readonly transportSocket: UpstreamTransportSocketFactory,
    http2Options: Http2Options,
    keepalive?: KeepaliveConfig,
    serverName?: { sni?: string; verifySan?: string },
  ) {
    this.#target = { address: hostname, ...serverName, alpn: AUTO_ALPN };
    this.#h1 = new Http1ConnPool(
      cluster,
      hostname,
      port,
      clusterStats,
      transportSocket,
      serverName,
      this,
    );
    this.#h2 = new Http2ConnPool(
      cluster,
      hostname,
      port,
      clusterStats,
      http2Options,
      keepalive,
      transportSocket,
      serverName,
      this,
    );
  }

  get size(): number {
    return this.#h1.size + this.#h2.size;
  }

  /**
   * A stream on an HTTP/2 connection with room, else on an idle HTTP/1.1 connection; else the
   * request waits (in the HTTP/1.1 pool's queue, which is this pool's) for a new connection.
   */
  newStream(
    decoder: UpstreamStreamDecoder,
    callbacks: ConnectionPoolCallbacks,
    rm: ResourceManager = UNSHARED_RESOURCES,
  ): Cancellable {
    if (this.#h2.hasCapacity) return this.#h2.newStream(decoder, callbacks, rm);
    return this.#h1.newStream(decoder, callbacks, rm);
  }

  /** Streams a new connection is expected to take: an HTTP/2 connection's, until ALPN says. */
  #expectedCapacity(): number {
    const streams = this.#h2.maxConcurrentStreams;
    const max = this.cluster.maxRequestsPerConnection;
    return max > 0 ? Math.min(max, streams) : streams;
  }

  /** Envoy's tryCreateNewConnections, for both sub-pools (see Http2ConnPool's). */
  tryCreateConnection(rm: ResourceManager): void {
    if (this.pending.length <= this.#connectingCapacity) return;
    const hostMax = this.cluster.perHostMaxConnections;
    const can = rm.connections.canCreate() &&
      (hostMax === undefined || this.hostMonitor === undefined ||
        hostConnections(this.hostMonitor) < hostMax);
    if (!can) this.clusterStats.cxOverflow.inc();
    if (can || this.size + this.#connecting === 0) this.#connect(rm);
  }

  #connect(rm: ResourceManager): void {
    const start = monotonicNow();
    const capacity = this.#expectedCapacity();
    const monitor = this.hostMonitor;
    this.#connecting++;
    this.#connectingCapacity += capacity;
    const tls = { socket: this.transportSocket, target: this.#target };
    connectUpstream(this, rm, monitor, tls, start, {
      connected: (tcp, handshake) => {
        this.#connecting--;
        this.#connectingCapacity -= capacity;
        // With a transport socket a connection comes with its handshake.
        const hs = handshake!;
        // An old TLS stack that negotiates nothing likely lacks HTTP/2: HTTP/1.1, as Envoy.
        const h2 = hs.ssl.alpn === "h2";
        this.protocol = h2 ? "HTTP/2" : "HTTP/1.1";
        log.debug(() =>
          `${this.hostname}:${this.port}: ALPN '${hs.ssl.alpn}', speaking ${this.protocol}`
        );
        if (h2) this.#h2.adopt(tcp, hs, rm, start, monitor);
        else this.#h1.adopt(tcp, hs, rm, start, monitor);
        // An HTTP/1.1 connection took one request: the rest need more connections.
        const next = this.pending[0];
        if (next) this.tryCreateConnection(next.rm);
      },
      connectFailed: (reason, detail) => this.#connectFailed(capacity, reason, detail),
      bugScope: () => this.pending[0]?.callbacks,
    });
  }

  /** A connect attempt failed: as many waiting requests fail as it was expected to carry. */
  #connectFailed(capacity: number, reason: PoolFailureReason, detail: string): void {
    this.#connecting--;
    this.#connectingCapacity -= capacity;
    let n = this.#connecting === 0 ? this.pending.length : Math.min(capacity, this.pending.length);
    while (n-- > 0) {
      const p = this.pending[0];
      this.#h1.removePending(p);
      failed(p.callbacks, reason, detail);
    }
    const next = this.pending[0];
    if (next) this.tryCreateConnection(next.rm);
  }

  /** Closes every connection (cluster removed, shutdown). */
  close(): void {
    this.#h1.close();
    this.#h2.close();
  }

  /** Envoy's DrainExistingConnections, on both kinds of connection. */
  drain(): void {
    this.#h1.drain();
    this.#h2.drain();
  }
}
