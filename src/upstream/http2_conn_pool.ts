/**
 * Upstream HTTP/2 connection pools (Envoy's Http2::ConnPoolImpl over the multiplexed
 * ConnPoolImplBase), one per worker and host: each connection carries many streams, up to the
 * peer's SETTINGS_MAX_CONCURRENT_STREAMS and the cluster's `max_concurrent_streams`; a
 * connection serves `max_requests_per_connection` streams in all, then drains; a GOAWAY from
 * the upstream drains it (streams above its last stream id are reset as refused, which the
 * router may retry); `connection_keepalive` PINGs it; `idle_timeout` closes it once it has no
 * streams. The pool implements the codec-independent ConnectionPoolInstance (http/conn_pool.ts)
 * with the client role of the HTTP/2 codec (http/http2/connection.ts). Over TLS it offers ALPN
 * `h2` (unless the UpstreamTlsContext names its own protocols) and speaks HTTP/2 whatever the
 * upstream picks, as Envoy's HTTP/2 pool does; under an ALPN pool (alpn_conn_pool.ts) it takes
 * the connections that negotiated `h2`.
 */
import { connectUpstream } from "./upstream_connect.ts";
import { CoarseTimer } from "../common/coarse_timer.ts";
import { type BugScope, containBug } from "../common/error_boundary.ts";
import { monotonicNow } from "../common/monotonic_time.ts";
import { type CloseReason, Connection, type ConnectionCallbacks } from "../network/connection.ts";
import type { HeaderMap } from "../http/header_map.ts";
import type { MetadataMap } from "../http/http2/metadata.ts";
import type { Protocol, StreamResetReason } from "../http/codec.ts";
import type {
  Cancellable,
  ConnectionPoolCallbacks,
  ConnectionPoolInstance,
  PoolFailureReason,
  UpstreamStream,
  UpstreamStreamDecoder,
} from "../http/conn_pool.ts";
import { Http2Connection, type Http2Options, type Http2Stream } from "../http/http2/connection.ts";
import { Http2Keepalive, type KeepaliveConfig } from "../http/http2/keepalive.ts";
import {
  CODEC_BUFFER_FLOOD,
  type CodecStatus,
  type Http2ConnectionCallbacks,
  type StreamHandler,
  type StreamResetReason as Http2ResetReason,
} from "../http/http2/codec_types.ts";
import type { ClusterStats } from "../stats/data_path_stats.ts";
import { HostStats } from "./host_stats.ts";
import {
  allocateCircuitBreakerMemory,
  DEFAULT_THRESHOLDS,
  ResourceManager,
} from "./resource_manager.ts";
import type { PoolClusterInfo } from "./conn_pool.ts";
import { hostConnectionClosed, hostConnections } from "./host_monitor.ts";
import {
  connectionAddresses,
  upstreamProxyProtocolHeader,
} from "../extensions/transport_sockets/proxy_protocol/upstream_proxy_protocol.ts";
import type {
  SslConnectionInfo,
  UpstreamHandshake,
  UpstreamTransportSocketFactory,
} from "../network/transport_socket.ts";
import type { AlpnPoolLink, PendingRequest, TlsTarget } from "./alpn_conn_pool.ts";

/** The ALPN an HTTP/2 pool offers when the TLS context names none (Envoy's fallback). */
const H2_ALPN: readonly string[] = ["h2"];

/** The codec's reset reasons in the router's words. */
function resetReason(r: Http2ResetReason): StreamResetReason {
  switch (r) {
    case "local reset":
    case "local refused stream reset":
      return "local_reset";
    case "remote reset":
      return "remote_reset";
    case "remote refused stream reset":
      return "remote_refused_stream_reset";
    case "connection termination":
      return "connection_termination";
    default:
      return "protocol_error";
  }
}

/** Uncompressed bytes of a header block, as Envoy's byteSize counts them. */
function headerBytes(h: HeaderMap): number {
  const kv = h.raw();
  let n = 0;
  for (let i = 0; i < kv.length; i++) n += kv[i].length;
  return n;
}

/** Runs `onPoolReady` from the pool's own continuation, inside the error boundary. */
function ready(cb: ConnectionPoolCallbacks, s: UpstreamStream): void {
  try {
    cb.onPoolReady(s);
  } catch (e) {
    containBug(cb, "upstream ready callback", e);
  }
}

/** Runs `onPoolFailure` from the pool's own continuation, inside the error boundary. */
function failed(cb: ConnectionPoolCallbacks, reason: PoolFailureReason, detail: string): void {
  try {
    cb.onPoolFailure(reason, detail);
  } catch (e) {
    containBug(cb, "upstream failure callback", e);
  }
}

/** One upstream HTTP/2 connection of the pool (Envoy's multiplexed ActiveClient). */
class Http2ActiveClient implements ConnectionCallbacks, Http2ConnectionCallbacks, BugScope {
  conn!: Connection;
  h2!: Http2Connection;
  /** Streams the pool handed out on this connection that are not done. */
  active = 0;
  /** Streams ever started on it (max_requests_per_connection). */
  total = 0;
  /** No new streams: GOAWAY received, max requests reached, or the pool drains. */
  draining = false;
  closed = false;
  /** The upstream closed the connection (for the destroy stats). */
  peerClosed = false;
  connectStart = monotonicNow();
  connectComplete = 0;
  readonly idleTimer = new CoarseTimer(() => {
    this.pool.clusterStats.cxIdleTimeout.inc();
    this.conn.close();
  }, this);
  /** connection_keepalive: PINGs, and the wait for their ACKs. */
  keepalive: Http2Keepalive | undefined;
  /** The host's process-wide counters (per_host_thresholds max_connections). */
  hostMonitor: Int32Array | undefined;

  constructor(readonly pool: Http2ConnPool, readonly rm: ResourceManager) {}

  /** Connected: the codec sends the preface and SETTINGS; streams may start at once. */
  start(conn: Connection): void {
    this.conn = conn;
    this.h2 = new Http2Connection(
      "client",
      conn,
      this,
      this.pool.http2Options,
      this.pool.clusterStats.http2(),
    );
    conn.start(this);
    const ka = this.pool.keepalive;
    if (ka) this.keepalive = new Http2Keepalive(this.h2, ka, this);
  }

  /** Streams this connection may still take. */
  get capacity(): number {
    if (this.draining || this.closed || this.h2.failed || this.h2.goAwayReceived) return 0;
    const concurrent = Math.min(this.h2.peerMaxConcurrentStreams, this.pool.maxConcurrentStreams);
    let n = concurrent - this.active;
    const max = this.pool.cluster.maxRequestsPerConnection;
    if (max > 0) n = Math.min(n, max - this.total);
    return n;
  }

  // ---- ConnectionCallbacks ----

  onData(chunk: Uint8Array): void {
    this.h2.dispatch(chunk);
  }

  onEnd(): void {
    this.peerClosed = true;
    this.conn.close();
  }

  onClose(_reason: CloseReason): void {
    this.closed = true;
    this.idleTimer.disarm();
    this.keepalive?.stop();
    this.rm.connections.dec();
    if (this.hostMonitor) hostConnectionClosed(this.hostMonitor);
    const hadStreams = this.active > 0;
    // Every stream still open ends with connection termination.
    this.h2.onConnectionClosed();
    this.pool.removeClient(this, hadStreams);
  }

  onWritable(): void {
    this.h2.onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }

  /** An exception escaped this connection's callbacks: its streams end with it. */
  onBug(_error: unknown): void {
    this.conn.close();
  }

  // ---- Http2ConnectionCallbacks ----

  /** Envoy's onGoAway: `upstream_cx_close_notify`; the connection drains. */
  onGoAway(_errorCode: number, _lastStreamId: number): void {
    this.pool.clusterStats.cxCloseNotify.inc();
    this.draining = true;
    if (this.active === 0) this.conn.close();
  }

  onCodecError(status: CodecStatus, details: string): void {
    if (details === "http2.keepalive_timeout") {
      this.conn.close();
      return;
    }
    this.pool.clusterStats.cxProtocolError.inc();
    if (status === CODEC_BUFFER_FLOOD) this.conn.close();
    else this.conn.closeAfterFlush();
  }

  onPingAck(): void {
    this.keepalive?.onPingAck();
  }

  /** The upstream's SETTINGS may raise its concurrent stream limit: pending streams go. */
  onSettings(): void {
    this.pool.onCapacity(this);
  }
}

/** A request/response on one stream of an upstream HTTP/2 connection. */
class Http2UpstreamStream implements UpstreamStream, StreamHandler, Cancellable {
  readonly protocol: Protocol = "HTTP/2";
  stream!: Http2Stream;
  done = false;
  requestEnded = false;
  responseEnded = false;
  wireBytesSent = 0;
  wireBytesReceived = 0;
  headerBytesSent = 0;
  headerBytesReceived = 0;
  #above = false;
  #readDisabled = false;

  constructor(
    readonly client: Http2ActiveClient,
    readonly decoder: UpstreamStreamDecoder,
    readonly callbacks: ConnectionPoolCallbacks,
    readonly rm: ResourceManager,
  ) {}

  cancel(): void {
    this.resetStream("local_reset");
  }

  get connectStart(): number {
    return this.client.connectStart;
  }
  get connectComplete(): number {
    return this.client.connectComplete;
  }
  get localAddress(): string {
    return this.client.conn.localAddress;
  }
  get remoteAddress(): string {
    return this.client.conn.remoteAddress;
  }
  get connectionId(): number {
    return this.client.conn.id;
  }
  get ssl(): SslConnectionInfo | undefined {
    return this.client.conn.ssl;
  }
  get bufferLimit(): number {
    return this.client.conn.highWatermark;
  }
  get aboveHighWatermark(): boolean {
    return this.#above || this.client.conn.aboveHighWatermark;
  }

  // ---- RequestEncoder (from the router) ----

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.done) return;
    this.headerBytesSent += headerBytes(headers);
    this.wireBytesSent += this.headerBytesSent;
    this.stream.encodeHeaders(headers, endStream);
    if (endStream) this.#requestEnd();
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    if (this.done) return;
    this.wireBytesSent += data.length;
    this.stream.encodeData(data, endStream);
    if (endStream) this.#requestEnd();
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.done) return;
    this.wireBytesSent += headerBytes(trailers);
    this.stream.encodeTrailers(trailers);
    this.#requestEnd();
  }

  encodeMetadata(metadata: MetadataMap): void {
    if (!this.done) this.stream.encodeMetadata(metadata);
  }

  /** The owner gives up on the stream: RST_STREAM; no callback follows. */
  resetStream(_reason: StreamResetReason): void {
    if (this.done) return;
    this.done = true;
    this.client.pool.clusterStats.rqTxReset.inc();
    this.stream.resetStream("local reset");
    this.client.pool.streamDone(this);
  }

  /** Stops (true) or resumes (false) granting the upstream window: downstream flow control. */
  readDisable(disable: boolean): void {
    if (disable === this.#readDisabled || this.done) return;
    this.#readDisabled = disable;
    this.stream.readDisable(disable);
  }

  #requestEnd(): void {
    this.requestEnded = true;
    if (this.responseEnded) this.#complete();
  }

  #responseEnd(): void {
    this.responseEnded = true;
    if (this.requestEnded) this.#complete();
  }

  #complete(): void {
    if (this.done) return;
    this.done = true;
    this.client.pool.streamDone(this);
  }

  // ---- StreamHandler (from the codec) ----

  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    const n = headerBytes(headers);
    this.headerBytesReceived += n;
    this.wireBytesReceived += n;
    // Released before the router hears of the end: finishing the downstream response may
    // destroy the router, which resets streams that are not done.
    if (endStream) this.#responseEnd();
    this.decoder.decodeHeaders(headers, endStream);
  }

  decode1xxHeaders(headers: HeaderMap): void {
    this.decoder.decodeHeaders(headers, false);
  }

  decodeMetadata(metadata: MetadataMap): void {
    if (!this.done) this.decoder.decodeMetadata?.(metadata);
  }

  decodeData(data: Uint8Array, endStream: boolean): void {
    this.wireBytesReceived += data.length;
    if (endStream) this.#responseEnd();
    this.decoder.decodeData(data, endStream);
  }

  decodeTrailers(trailers: HeaderMap): void {
    this.wireBytesReceived += headerBytes(trailers);
    this.#responseEnd();
    this.decoder.decodeTrailers(trailers);
  }

  /** The codec reset the stream (the upstream did, a protocol error, or the connection). */
  onResetStream(reason: Http2ResetReason, details: string): void {
    if (this.done) return;
    this.done = true;
    const r = resetReason(reason);
    const cs = this.client.pool.clusterStats;
    // Envoy's MultiplexedActiveClientBase::onStreamReset.
    if (r === "connection_termination") cs.rqPendingFailureEject.inc();
    else if (r === "local_reset") cs.rqTxReset.inc();
    else if (r === "remote_reset") cs.rqRxReset.inc();
    this.client.pool.streamDone(this);
    this.decoder.onResetStream(r, details);
  }

  onAboveWriteBufferHighWatermark(): void {
    this.#above = true;
  }

  onBelowWriteBufferLowWatermark(): void {
    this.#above = false;
    if (!this.done) this.decoder.onBelowWriteBufferLowWatermark();
  }
}

/** A request waiting for a stream (Envoy's pending stream). */
class PendingStream implements Cancellable, PendingRequest {
  constructor(
    readonly pool: Http2ConnPool,
    readonly decoder: UpstreamStreamDecoder,
    readonly callbacks: ConnectionPoolCallbacks,
    readonly rm: ResourceManager,
  ) {}

  cancel(): void {
    if (this.pool.removePending(this)) this.pool.clusterStats.rqCancelled.inc();
  }
}

const NOT_PENDING: Cancellable = { cancel() {} };

/** The circuit breakers of a pool used without a cluster's (tests): Envoy's defaults. */
const UNSHARED_RESOURCES = new ResourceManager(
  new Int32Array(allocateCircuitBreakerMemory()),
  0,
  DEFAULT_THRESHOLDS,
);

/** The HTTP/2 pool for one upstream host. */
export class Http2ConnPool implements ConnectionPoolInstance {
  readonly protocol: Protocol = "HTTP/2";
  readonly stats: HostStats;
  /** Connected clients, oldest first (a few per host: a plain array). */
  readonly #clients: Http2ActiveClient[] = [];
  /** Waiting requests; under an ALPN pool, the queue it shares with its HTTP/1.1 pool. */
  readonly #pending: PendingRequest[];
  /** The ALPN pool this one serves under (auto_config), which makes its connections. */
  readonly #alpn: AlpnPoolLink | undefined;
  readonly #tlsTarget: TlsTarget;
  /** Connections being established, and the streams they are expected to take. */
  #connecting = 0;
  #connectingCapacity = 0;
  /** Streams per connection this side allows (`max_concurrent_streams`). */
  readonly maxConcurrentStreams: number;
  /** The host's process-wide counters, set by the router (per-host circuit breakers). */
  hostMonitor: Int32Array | undefined;
  /**
   * Streams attached since the last microtask, handed to their owners from one microtask
   * (after `newStream` returned): one task per batch rather than a closure per stream.
   */
  readonly #ready: (Http2UpstreamStream | undefined)[] = [];
  /**
   * Streams in #ready. The list is never shortened (emptying an array gives up its backing
   * store, and the next pass would allocate it again): passed slots are cleared instead.
   */
  #readyCount = 0;
  readonly #readyTask = (): void => {
    const q = this.#ready;
    // Owners may attach more streams from their callback: they join this same pass.
    for (let i = 0; i < this.#readyCount; i++) {
      const s = q[i]!;
      q[i] = undefined;
      if (!s.done) ready(s.callbacks, s);
    }
    this.#readyCount = 0;
  };

  constructor(
    readonly cluster: PoolClusterInfo,
    readonly hostname: string,
    readonly port: number,
    /** This worker's stats of the cluster (`cluster.<name>.upstream_*`, `.http2.*`). */
    readonly clusterStats: ClusterStats,
    /** The cluster's Http2ProtocolOptions, resolved. */
    readonly http2Options: Http2Options,
    readonly keepalive?: KeepaliveConfig,
    /** The cluster's transport socket (TLS); undefined for h2c. */
    readonly transportSocket?: UpstreamTransportSocketFactory,
    /** auto_sni / auto_san_validation: the request host this pool's connections are for. */
    serverName?: { sni?: string; verifySan?: string },
    alpn?: AlpnPoolLink,
  ) {
    this.maxConcurrentStreams = http2Options.maxConcurrentStreams;
    this.#alpn = alpn;
    this.#pending = alpn?.pending ?? [];
    this.stats = alpn?.stats ?? new HostStats();
    this.#tlsTarget = { address: hostname, ...serverName, alpn: H2_ALPN };
  }

  /** Whether a connection can take a stream now (the ALPN pool asks before queueing). */
  get hasCapacity(): boolean {
    return this.#readyClient() !== undefined;
  }

  get size(): number {
    return this.#clients.length;
  }

  /** Set for a counted pool (conn_pool_limit.ts): called once it becomes idle. */
  onIdle: (() => void) | undefined = undefined;

  /** No connection (open or being made) and no stream waiting. */
  get idle(): boolean {
    return this.#clients.length + this.#connecting + this.#pending.length === 0;
  }

  #checkIdle(): void {
    if (this.onIdle !== undefined && this.idle) this.onIdle();
  }

  /**
   * Asks for a stream: on a connection with room at once (`max_requests` allowing), else it
   * waits (`max_pending_requests`) for a connection being made or one that frees a stream.
   */
  newStream(
    decoder: UpstreamStreamDecoder,
    callbacks: ConnectionPoolCallbacks,
    rm: ResourceManager = UNSHARED_RESOURCES,
  ): Cancellable {
    const client = this.#readyClient();
    if (client !== undefined) {
      if (!rm.requests.tryCreate()) return this.#overflow(callbacks);
      return this.#attach(client, decoder, callbacks, rm);
    }
    if (!rm.pendingRequests.tryCreate()) return this.#overflow(callbacks);
    const p = new PendingStream(this, decoder, callbacks, rm);
    this.#pending.push(p);
    this.clusterStats.rqPendingTotal.inc();
    this.clusterStats.rqPendingActive.inc();
    this.#tryCreateConnection(rm);
    return p;
  }

  /** The oldest connected client with room for one more stream (fewest connections). */
  #readyClient(): Http2ActiveClient | undefined {
    const all = this.#clients;
    for (let i = 0; i < all.length; i++) if (all[i].capacity > 0) return all[i];
    return undefined;
  }

  #overflow(cb: ConnectionPoolCallbacks): Cancellable {
    this.clusterStats.rqPendingOverflow.inc();
    queueMicrotask(() => failed(cb, "overflow", ""));
    return NOT_PENDING;
  }

  #attach(
    client: Http2ActiveClient,
    decoder: UpstreamStreamDecoder,
    callbacks: ConnectionPoolCallbacks,
    rm: ResourceManager,
  ): Http2UpstreamStream {
    const s = new Http2UpstreamStream(client, decoder, callbacks, rm);
    s.stream = client.h2.newStream(s)!;
    client.active++;
    client.total++;
    client.idleTimer.disarm();
    const max = this.cluster.maxRequestsPerConnection;
    if (max > 0 && client.total >= max) {
      // Envoy drains a connection that reached its limit; it closes with its last stream.
      this.clusterStats.cxMaxRequests.inc();
      client.draining = true;
    }
    this.stats.rq_total++;
    this.stats.rq_active++;
    this.clusterStats.rqTotal.inc();
    this.clusterStats.rqActive.inc();
    this.#ready[this.#readyCount++] = s;
    if (this.#readyCount === 1) queueMicrotask(this.#readyTask);
    return s;
  }

  removePending(p: PendingRequest): boolean {
    const i = this.#pending.indexOf(p);
    if (i < 0) return false;
    this.#pending.splice(i, 1);
    p.rm.pendingRequests.dec();
    this.clusterStats.rqPendingActive.dec();
    this.#checkIdle();
    return true;
  }

  /**
   * Envoy's tryCreateNewConnections: one more connection while the pending streams outnumber
   * what the connections being made are expected to carry, if `max_connections` allows — or
   * anyway when the host has no connection, so its pending streams are not stranded.
   */
  #tryCreateConnection(rm: ResourceManager): void {
    if (this.#alpn !== undefined) {
      this.#alpn.tryCreateConnection(rm);
      return;
    }
    if (this.#pending.length <= this.#connectingCapacity) return;
    const hostMax = this.cluster.perHostMaxConnections;
    const can = rm.connections.canCreate() &&
      (hostMax === undefined || this.hostMonitor === undefined ||
        hostConnections(this.hostMonitor) < hostMax);
    if (!can) this.clusterStats.cxOverflow.inc();
    if (can || this.#clients.length + this.#connecting === 0) this.#connect(rm);
  }

  /** Streams a new connection is expected to take before its SETTINGS say otherwise. */
  #expectedCapacity(): number {
    const max = this.cluster.maxRequestsPerConnection;
    return max > 0 ? Math.min(max, this.maxConcurrentStreams) : this.maxConcurrentStreams;
  }

  /** `client` may take streams: the oldest pending ones go on it. */
  onCapacity(client: Http2ActiveClient): void {
    while (this.#pending.length > 0 && client.capacity > 0) {
      const p = this.#pending[0];
      this.removePending(p);
      if (!p.rm.requests.tryCreate()) {
        this.clusterStats.rqPendingOverflow.inc();
        queueMicrotask(() => failed(p.callbacks, "overflow", ""));
        continue;
      }
      this.#attach(client, p.decoder, p.callbacks, p.rm);
    }
  }

  /** A stream is done (complete or reset): its connection may take another, drain or idle. */
  streamDone(s: Http2UpstreamStream): void {
    s.rm.requests.dec();
    this.stats.rq_active--;
    this.clusterStats.rqActive.dec();
    const c = s.client;
    c.active--;
    if (c.closed) return;
    if (c.draining || c.h2.goAwayReceived) {
      if (c.active === 0) c.conn.close();
      return;
    }
    if (this.#pending.length > 0) this.onCapacity(c);
    if (c.active === 0 && this.cluster.idleTimeoutMs > 0) {
      c.idleTimer.arm(this.cluster.idleTimeoutMs);
    }
  }

  /** A connection closed: its stats, and pending streams may need a new one. */
  removeClient(c: Http2ActiveClient, hadStreams: boolean): void {
    const i = this.#clients.indexOf(c);
    if (i >= 0) this.#clients.splice(i, 1);
    this.stats.cx_active--;
    this.clusterStats.connectionClosed(
      c.peerClosed,
      hadStreams,
      monotonicNow() - c.connectStart,
    );
    const next = this.#pending[0];
    if (next) this.#tryCreateConnection(next.rm);
    else this.#checkIdle();
  }

  /** A connect attempt failed: as many pending streams fail as it was expected to carry. */
  #connectFailed(capacity: number, reason: PoolFailureReason, detail: string): void {
    this.#connecting--;
    this.#connectingCapacity -= capacity;
    // Envoy fails every pending stream when no other connection is being made for them.
    let n = this.#connecting === 0
      ? this.#pending.length
      : Math.min(capacity, this.#pending.length);
    while (n-- > 0) {
      const p = this.#pending[0];
      this.removePending(p);
      failed(p.callbacks, reason, detail);
    }
    const next = this.#pending[0];
    if (next) this.#tryCreateConnection(next.rm);
    else this.#checkIdle();
  }

  #connect(rm: ResourceManager): void {
    const c = new Http2ActiveClient(this, rm);
    const capacity = this.#expectedCapacity();
    const monitor = this.hostMonitor;
    c.hostMonitor = monitor;
    this.#connecting++;
    this.#connectingCapacity += capacity;
    this.clusterStats.cxHttp2Total.inc();
    const ts = this.transportSocket;
    const tls = ts && { socket: ts, target: this.#tlsTarget };
    connectUpstream(this, rm, monitor, tls, c.connectStart, {
      connected: (tcp, handshake) => this.#connected(c, capacity, tcp, handshake),
      connectFailed: (reason, detail) => this.#connectFailed(capacity, reason, detail),
      bugScope: () => this.#pending[0]?.callbacks ?? c,
    });
  }

  /** This pool's own connect attempt succeeded (TLS included): the client starts. */
  #connected(
    c: Http2ActiveClient,
    capacity: number,
    tcp: Deno.Conn,
    tls: UpstreamHandshake | undefined,
  ): void {
    this.#connecting--;
    this.#connectingCapacity -= capacity;
    this.#start(c, tcp, tls);
  }

  /**
   * Takes a connection the ALPN pool made and that negotiated `h2` (already counted in
   * `upstream_cx_total` and the circuit breakers, which it holds from now on).
   */
  adopt(
    tcp: Deno.Conn,
    tls: UpstreamHandshake,
    rm: ResourceManager,
    connectStart: number,
    monitor: Int32Array | undefined,
  ): void {
    const c = new Http2ActiveClient(this, rm);
    c.connectStart = connectStart;
    c.hostMonitor = monitor;
    this.clusterStats.cxHttp2Total.inc();
    this.#start(c, tcp, tls);
  }

  #start(c: Http2ActiveClient, tcp: Deno.Conn, tls: UpstreamHandshake | undefined): void {
    const cs = this.clusterStats;
    const now = monotonicNow();
    c.connectComplete = now;
    cs.cxConnectMs.record(now - c.connectStart);
    const conn = new Connection(tcp, this.cluster.perConnectionBufferLimitBytes, 16 * 1024);
    if (tls) conn.setTransport(tls.io, tls.ssl);
    conn.byteCounters = cs.cxBytes;
    // upstream_proxy_protocol (over raw_buffer only): the PROXY header goes before the preface.
    const pp = this.cluster.upstreamProxyProtocol;
    if (pp) conn.write(upstreamProxyProtocolHeader(pp, undefined, connectionAddresses(tcp)));
    this.#clients.push(c);
    c.start(conn);
    this.onCapacity(c);
    if (c.active === 0 && this.cluster.idleTimeoutMs > 0) {
      c.idleTimer.arm(this.cluster.idleTimeoutMs);
    }
    // More pending than this connection takes: another one.
    const next = this.#pending[0];
    if (next) this.#tryCreateConnection(next.rm);
  }

  /** Closes every connection (cluster removed, shutdown). */
  close(): void {
    for (const c of this.#clients.slice()) c.conn.close();
  }

  /**
   * Envoy's DrainExistingConnections: idle connections close now, busy ones once their last
   * stream is done; new streams get a new connection.
   */
  drain(): void {
    for (const c of this.#clients.slice()) {
      c.draining = true;
      if (c.active === 0) c.conn.close();
    }
  }
}
