/**
 * Upstream HTTP/1.1 connection pools, one set per worker: per host, idle keep-alive connections
 * are reused, new ones are opened with the cluster's connect timeout, a connection serves at
 * most max_requests_per_connection requests, and idle connections close after the idle timeout.
 * The pool implements the codec-independent ConnectionPoolInstance (http/conn_pool.ts): a
 * request gets an UpstreamStream (request out through our encoder, response in through our
 * parser to its ResponseDecoder), with flow control in both directions.
 */
import { connectUpstream } from "./upstream_connect.ts";
import {
  connectionAddresses,
  type UpstreamProxyProtocol,
  upstreamProxyProtocolHeader,
} from "../extensions/transport_sockets/proxy_protocol/upstream_proxy_protocol.ts";
import { CoarseTimer } from "../common/coarse_timer.ts";
import { SlotList } from "../common/slot_list.ts";
import { type CloseReason, Connection, type ConnectionCallbacks } from "../network/connection.ts";
import type { HeaderMap } from "../http/header_map.ts";
import type { Protocol, StreamResetReason } from "../http/codec.ts";
import type {
  Cancellable,
  ConnectionPoolCallbacks,
  ConnectionPoolInstance,
  PoolFailureReason,
  UpstreamStream,
  UpstreamStreamDecoder,
} from "../http/conn_pool.ts";
import { encodeChunk, encodeLastChunk, encodeRequestHead } from "../http/http1/encoder.ts";
import {
  type CodecOptions,
  type MessageHead,
  type ParserLimits,
  ResponseParser,
} from "../http/http1/parser.ts";
import { HostStats, type HostStatsSnapshot, type HostStatsValues } from "./host_stats.ts";
import {
  preserveCaseFormatterFactory,
  type PreserveCaseSettings,
} from "../extensions/http/header_formatters/preserve_case/preserve_case_formatter.ts";
import type { ClusterStats, ClusterStatsCache } from "../stats/data_path_stats.ts";
import { type BugScope, containBug } from "../common/error_boundary.ts";
import { monotonicNow } from "../common/monotonic_time.ts";
import type { Any } from "@bufbuild/protobuf/wkt";
import type {
  SslConnectionInfo,
  UpstreamHandshake,
  UpstreamTransportSocketFactory,
} from "../network/transport_socket.ts";
import type { TransportSocketContext } from "../config/extensions.ts";
import { type HostMetadata, TRANSPORT_SOCKET_MATCH } from "./host.ts";
import {
  allocateCircuitBreakerMemory,
  DEFAULT_THRESHOLDS,
  ResourceManager,
} from "./resource_manager.ts";
import { Http2ConnPool } from "./http2_conn_pool.ts";
import { LimitedConnPools } from "./conn_pool_limit.ts";
import type { KeepaliveConfig } from "../http/http2/keepalive.ts";
import { applyConnectionOptions, type RawSocketOption } from "../network/socket_options.ts";
import { DEFAULT_HTTP2_OPTIONS, type Http2Options } from "../http/http2/connection.ts";
import { hostConnectionClosed, hostConnections } from "./host_monitor.ts";
import {
  AlpnConnPool,
  type AlpnPoolLink,
  type PendingRequest,
  type TlsTarget,
} from "./alpn_conn_pool.ts";

/** The ALPN an HTTP/1.1 pool offers when the TLS context names none (Envoy's fallback). */
const HTTP11_ALPN: readonly string[] = ["http/1.1"];

/** What a pool needs to know about its cluster. */
export interface PoolClusterInfo {
  name: string;
  /** The name in stat names (`alt_stat_name`, else `name`). */
  statName: string;
  connectTimeoutMs: number;
  /** 0 = unlimited. */
  maxRequestsPerConnection: number;
  idleTimeoutMs: number;
  perConnectionBufferLimitBytes: number;
  /** `common_http_protocol_options.max_headers_count` for responses; Envoy's 100 if unset. */
  maxResponseHeadersCount?: number;
  /** `http_protocol_options.header_key_format.proper_case_words` for requests. */
  properCaseHeaders?: boolean;
  /** `http_protocol_options.allow_chunked_length` for responses. */
  allowChunkedLength?: boolean;
  /** `http_protocol_options.enable_trailers`: trailers are sent and received only with it. */
  enableTrailers?: boolean;
  /** `header_key_format.stateful_formatter` (preserve_case) for responses. */
  preserveCase?: PreserveCaseSettings;
  /** `upstream_connection_options.tcp_keepalive`: SO_KEEPALIVE on upstream sockets. */
  tcpKeepalive?: boolean;
  /** Its timers (TCP_KEEPIDLE, ...), set through the socket's descriptor. */
  upstreamSocketOptions?: readonly RawSocketOption[];
  /** HTTP/2 upstream, the downstream's protocol, or ALPN's; HTTP/1.1 when absent. */
  upstreamProtocol?: "HTTP/2" | "downstream" | "auto";
  /** The codec options of upstream HTTP/2 connections (with `upstreamProtocol`). */
  http2Options?: Http2Options;
  /** `http2_protocol_options.connection_keepalive`. */
  http2Keepalive?: KeepaliveConfig;
  /** upstream_proxy_protocol: each connection starts with a PROXY protocol header. */
  upstreamProxyProtocol?: UpstreamProxyProtocol;
  /** `circuit_breakers.per_host_thresholds` `max_connections`: per host, process wide. */
  perHostMaxConnections?: number;
  /** `max_connection_pools` is set: pools are counted and deleted once idle. */
  connectionPoolsLimited?: boolean;
  /** `transport_socket` when it is not plaintext (TLS), its config unpacked. */
  transportSocket?: Any;
  /** auto_sni / auto_san_validation (router_filter.ts picks the pool's host). */
  autoSni?: { sni: boolean; sanValidation: boolean; header: string };
  /** `transport_socket_matches`: per-endpoint transport sockets by metadata. */
  transportSocketMatches?: readonly {
    match: Readonly<Record<string, unknown>>;
    transportSocket?: Any;
  }[];
}

/** Whether every key of `match` is in `labels` with an equal value (an empty match: always). */
function labelsMatch(
  match: Readonly<Record<string, unknown>>,
  labels: Readonly<Record<string, unknown>> | undefined,
): boolean {
  for (const k in match) {
    if (labels === undefined || JSON.stringify(labels[k]) !== JSON.stringify(match[k])) {
      return false;
    }
  }
  return true;
}

/** The socket options every upstream connection of `cluster` gets once connected. */
export function applySocketOptions(
  conn: Pick<Deno.TcpConn, "setNoDelay" | "setKeepAlive" | "localAddr" | "remoteAddr">,
  cluster: PoolClusterInfo,
): void {
  conn.setNoDelay(true);
  if (cluster.tcpKeepalive) conn.setKeepAlive(true);
  if (cluster.upstreamSocketOptions) {
    applyConnectionOptions(conn as unknown as Deno.Conn, cluster.upstreamSocketOptions);
  }
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

const EMPTY = new Uint8Array(0);

/** One pooled upstream connection. */
class PooledConnection implements ConnectionCallbacks, BugScope {
  conn!: Connection;
  /** Index in the pool's list of connections. */
  slot = -1;
  parser: ResponseParser;
  stream: Http1UpstreamStream | undefined;
  requests = 0;
  /** Closes the connection after it sat idle for the cluster's idle timeout. */
  readonly idleTimer = new CoarseTimer(() => {
    this.pool.clusterStats.cxIdleTimeout.inc();
    this.conn.close();
  }, this);
  closed = false;
  /** The response said the connection closes after it. */
  noReuse = false;
  /** The upstream closed its side (FIN): a remote close for the stats. */
  peerClosed = false;
  /** A stream gave up on this connection and closed it while its request was in flight. */
  closedWithActiveRequest = false;
  /** The upstream's FIN is being handed to the parser (a premature end is a termination). */
  #atEof = false;
  /** Where this connection is counted per host (the monitor when it was opened). */
  hostMonitor: Int32Array | undefined;
  /** The response parser is running (inside `onData`). */
  parsing = false;
  /** A response ended inside the running parse: the pool gets the connection back after it. */
  releaseAfterParse = false;
  /**
   * When the connect attempt began and completed (`performance.now()`): access log timings,
   * upstream_cx_connect_ms and upstream_cx_length_ms.
   */
  connectStart = monotonicNow();
  connectComplete = 0;

  constructor(readonly pool: Http1ConnPool, readonly rm: ResourceManager) {
    this.parser = new ResponseParser({
      onHead: (h, head) => this.stream?.onHead(h, head),
      onBody: (chunk) => this.stream?.decoder.decodeData(chunk, false),
      onMessageComplete: (trailers) => {
        // Whatever follows a response on the wire is not parsed (see onData).
        this.parser.pause();
        this.stream?.onComplete(trailers);
      },
      onError: (_status, detail) => {
        // A response cut short by the upstream closing is a connection termination, as in
        // Envoy, not a protocol error; onClose fails the stream.
        if (this.#atEof) return;
        this.pool.clusterStats.cxProtocolError.inc();
        this.stream?.fail("protocol_error", detail);
      },
    }, pool.parserOptions);
  }

  onData(chunk: Uint8Array): void {
    const s = this.stream;
    if (!s) {
      // Bytes on an idle connection answer no request: a protocol error, and the connection
      // is not reused (they would be read as the next request's response).
      this.#extraBytes();
      return;
    }
    s.wireBytesReceived += chunk.length;
    if (s.tunnel) {
      s.decoder.decodeData(chunk, false);
      return;
    }
    // The parser pauses after each response, so bytes after the end of one come back
    // unconsumed instead of starting the next request's response.
    this.parsing = true;
    const used = this.parser.execute(chunk);
    this.parsing = false;
    if (used < chunk.length) {
      if (s.tunnel) s.decoder.decodeData(chunk.subarray(used), false);
      else this.#extraBytes();
    }
    if (this.releaseAfterParse) {
      this.releaseAfterParse = false;
      this.pool.release(this);
    }
  }

  /**
   * Bytes after a complete response (or on an idle connection): Envoy treats them as a
   * protocol error and closes the connection, so nothing of one response can reach another
   * request.
   */
  #extraBytes(): void {
    this.noReuse = true;
    this.pool.clusterStats.cxProtocolError.inc();
    this.conn.close();
  }

  /**
   * BugScope: an exception escaped this connection's callbacks or timer. The request on it
   * ends (its router answers 500 or resets downstream) and the connection is not reused.
   */
  onBug(error: unknown): void {
    this.noReuse = true;
    const s = this.stream;
    if (s && !s.done) {
      s.resetStream("local_reset");
      s.callbacks.onBug(error);
    } else this.conn.close();
  }

  onEnd(): void {
    this.peerClosed = true;
    const s = this.stream;
    // An upstream ending a tunnel resets the stream (onClose: connection_termination), as
    // Envoy's HTTP/1 codec, without half-close, does.
    if (!s?.tunnel) {
      this.#atEof = true;
      this.parser.onEof();
    }
    this.conn.close();
  }

  onClose(reason: CloseReason): void {
    this.closed = true;
    this.idleTimer.disarm();
    this.rm.connections.dec();
    if (this.hostMonitor) hostConnectionClosed(this.hostMonitor);
    this.pool.removeConnection(this);
    const s = this.stream;
    this.pool.clusterStats.connectionClosed(
      reason !== "local" || this.peerClosed,
      (s !== undefined && !s.done) || this.closedWithActiveRequest,
      monotonicNow() - this.connectStart,
    );
    if (s && !s.done) s.fail("connection_termination", "upstream connection closed");
    this.pool.onConnectionGone();
  }

  onWritable(): void {
    this.stream?.decoder.onBelowWriteBufferLowWatermark();
  }
}

/** A request/response on one upstream HTTP/1.1 connection. */
class Http1UpstreamStream implements UpstreamStream, Cancellable {
  readonly protocol: Protocol = "HTTP/1.1";
  done = false;
  requestEnded = false;
  responseEnded = false;
  tunnel = false;
  chunked = false;
  /** Bytes of this request/response on the wire, framing included, and of their heads. */
  wireBytesSent = 0;
  wireBytesReceived = 0;
  headerBytesSent = 0;
  headerBytesReceived = 0;
  #upgradeRequested = false;

  constructor(
    readonly pc: PooledConnection,
    readonly decoder: UpstreamStreamDecoder,
    readonly callbacks: ConnectionPoolCallbacks,
    /** The circuit breakers its request counts against. */
    readonly rm: ResourceManager,
  ) {}

  /** Hands the stream to its owner, from a microtask (see Http1ConnPool.newStream). */
  onReady(): void {
    if (!this.done) ready(this.callbacks, this);
  }

  /** Cancellable: the owner gave up before or after the stream was ready. */
  cancel(): void {
    this.resetStream("local_reset");
  }

  get connectStart(): number {
    return this.pc.connectStart;
  }

  get connectComplete(): number {
    return this.pc.connectComplete;
  }

  get bufferLimit(): number {
    return this.pc.conn.highWatermark;
  }

  /** Address of the local side of the upstream connection. */
  get localAddress(): string {
    return this.pc.conn.localAddress;
  }

  /** Address of the upstream side of the connection. */
  get remoteAddress(): string {
    return this.pc.conn.remoteAddress;
  }

  /** The upstream connection's id (`%UPSTREAM_CONNECTION_ID%`). */
  get connectionId(): number {
    return this.pc.conn.id;
  }

  /** What the connection's TLS negotiated; undefined in plaintext. */
  get ssl(): SslConnectionInfo | undefined {
    return this.pc.conn.ssl;
  }

  #write(bytes: Uint8Array): void {
    this.wireBytesSent += bytes.length;
    this.pc.conn.write(bytes);
  }

  /** Stops (true) or resumes (false) reading the response: downstream flow control. */
  readDisable(disable: boolean): void {
    if (!this.pc.closed) this.pc.conn.readDisable(disable);
  }

  /** Whether the upstream connection's write buffer is full (wait for the low watermark). */
  get aboveHighWatermark(): boolean {
    return this.pc.conn.aboveHighWatermark;
  }

  /** Sends the request head. `endStream` when there is no body. */
  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    const method = headers.get(":method") ?? "GET";
    this.pc.parser.setRequestMethod(method);
    this.pc.parser.resume();
    this.#upgradeRequested = headers.has("upgrade");
    const hasLength = headers.has("content-length");
    this.chunked = !endStream && !hasLength && !this.#upgradeRequested;
    if (endStream && !hasLength && (method === "POST" || method === "PUT")) {
      headers.set("content-length", "0");
    }
    const bytes = encodeRequestHead(headers, this.chunked, this.pc.pool.properCaseHeaders);
    this.headerBytesSent += bytes.length;
    this.#write(bytes);
    if (endStream) this.requestEnded = true;
  }

  /** Sends request body bytes. */
  encodeData(data: Uint8Array, endStream: boolean): void {
    if (this.done) return;
    if (data.length > 0) {
      if (this.chunked) {
        const parts = encodeChunk(data);
        if (parts instanceof Uint8Array) this.#write(parts);
        else for (const p of parts) this.#write(p);
      } else this.#write(data);
    }
    if (endStream) {
      if (this.tunnel) this.pc.conn.shutdownWrite();
      else if (this.chunked) this.#write(encodeLastChunk());
      this.requestEnded = true;
      this.#maybeRelease();
    }
  }

  /**
   * HTTP/1 has no metadata: the map is dropped and counted
   * (`cluster.<name>.http1.metadata_not_supported_error`), as Envoy's HTTP/1 codec does.
   */
  encodeMetadata(): void {
    this.pc.pool.clusterStats.scope.counter("http1.metadata_not_supported_error").inc();
  }

  /** Sends request trailers (chunked requests only; otherwise they are dropped). */
  encodeTrailers(trailers: HeaderMap): void {
    if (this.done) return;
    const pool = this.pc.pool;
    this.#write(
      this.chunked
        ? encodeLastChunk(pool.enableTrailers ? trailers : undefined, pool.properCaseHeaders)
        : EMPTY,
    );
    this.requestEnded = true;
    this.#maybeRelease();
  }

  onHead(headers: HeaderMap, head: MessageHead): void {
    this.headerBytesReceived += head.headersBytes;
    const status = Number(headers.get(":status"));
    if (status === 101) {
      this.pc.noReuse = true;
      if (this.#upgradeRequested) {
        this.tunnel = true;
        this.decoder.decodeHeaders(headers, false);
        return;
      }
      // Envoy's codec allows an upgrade only for a request that asked for one: any other 101
      // is the whole response, without a body; the bytes after it are not HTTP, so the
      // connection is not reused.
      this.responseEnded = true;
      this.#maybeRelease();
      this.decoder.decodeHeaders(headers, true);
      return;
    }
    if (!head.keepAlive) {
      this.pc.noReuse = true;
      this.pc.pool.clusterStats.cxCloseNotify.inc();
    }
    const endStream = head.endStream;
    if (status >= 100 && status < 200) {
      this.decoder.decodeHeaders(headers, false);
      return;
    }
    this.decoder.decodeHeaders(headers, endStream);
  }

  onComplete(trailers: HeaderMap | undefined): void {
    if (this.done || this.tunnel) return;
    this.responseEnded = true;
    // Release before telling the router: finishing the downstream response destroys the
    // router, which resets streams that are not done yet.
    this.#maybeRelease();
    if (trailers) this.decoder.decodeTrailers(trailers);
    else this.decoder.decodeData(EMPTY, true);
  }

  #maybeRelease(): void {
    if (this.done || !this.requestEnded || !this.responseEnded) return;
    this.done = true;
    const pc = this.pc;
    pc.pool.streamEnded(this);
    // Inside the parse, the connection goes back only once the rest of the read is known
    // to be empty; a request taking it before would get those bytes as its response.
    if (pc.parsing) {
      pc.stream = undefined;
      pc.releaseAfterParse = true;
    } else pc.pool.release(pc);
  }

  /** The stream failed; the connection is not reused. */
  fail(reason: StreamResetReason, detail: string): void {
    if (this.done) return;
    this.done = true;
    this.pc.pool.streamEnded(this);
    this.pc.pool.clusterStats.rqRxReset.inc();
    this.#abandon();
    this.decoder.onResetStream(reason, detail);
  }

  /** The owner gives up on the stream (timeout, downstream went away): no callback follows. */
  resetStream(_reason: StreamResetReason): void {
    if (this.done) return;
    this.done = true;
    this.pc.pool.streamEnded(this);
    this.pc.pool.clusterStats.rqTxReset.inc();
    this.#abandon();
  }

  /** HTTP/1 cannot end a stream alone: the connection closes with the request on it. */
  #abandon(): void {
    const pc = this.pc;
    pc.stream = undefined;
    if (pc.closed) return;
    pc.closedWithActiveRequest = true;
    pc.conn.close();
  }
}

/**
 * Envoy's transport failure reason for a failed connect: `delayed connect error: <errno>`
 * (the socket error the kernel reported, 111 for ECONNREFUSED on Linux).
 */
export function connectFailureReason(err: Error): string {
  const m = /os error (\d+)/.exec(err.message);
  return m ? `delayed connect error: ${m[1]}` : err.message;
}

const NOT_PENDING: Cancellable = { cancel() {} };

/** The circuit breakers of a pool used without a cluster's (tests): Envoy's defaults. */
const UNSHARED_RESOURCES = new ResourceManager(
  new Int32Array(allocateCircuitBreakerMemory()),
  0,
  DEFAULT_THRESHOLDS,
);

/** A request queued for a connection (Envoy's pending stream). */
class PendingStream implements Cancellable, PendingRequest {
  constructor(
    readonly pool: Http1ConnPool,
    readonly decoder: UpstreamStreamDecoder,
    readonly callbacks: ConnectionPoolCallbacks,
    readonly rm: ResourceManager,
  ) {}

  cancel(): void {
    if (this.pool.removePending(this)) this.pool.clusterStats.rqCancelled.inc();
  }
}

/** The HTTP/1.1 pool for one upstream host. */
export class Http1ConnPool implements ConnectionPoolInstance {
  readonly protocol: Protocol = "HTTP/1.1";
  readonly #idle: PooledConnection[] = [];
  readonly #all = new SlotList<PooledConnection>();
  /** Requests waiting for a connection, oldest first; under an ALPN pool, the shared queue. */
  readonly #pending: PendingRequest[];
  /** Connections being established. */
  #connecting = 0;
  /** This worker's stats of the host (for `/clusters`). */
  readonly stats: HostStats;
  /** The ALPN pool this one serves under (auto_config), which makes its connections. */
  readonly #alpn: AlpnPoolLink | undefined;
  /** What every connection's response parser is built with (one shared object). */
  readonly parserOptions: Partial<ParserLimits & CodecOptions>;
  /** Request header names go out in proper case. */
  readonly properCaseHeaders: boolean;
  /** Request trailers go out (response trailers are read) only with enable_trailers. */
  readonly enableTrailers: boolean;
  hostMonitor: Int32Array | undefined;

  constructor(
    readonly cluster: PoolClusterInfo,
    readonly hostname: string,
    readonly port: number,
    /** This worker's stats of the cluster (`cluster.<name>.upstream_*`). */
    readonly clusterStats: ClusterStats,
    /** The cluster's transport socket (TLS); undefined for plaintext. */
    readonly transportSocket?: UpstreamTransportSocketFactory,
    /** auto_sni / auto_san_validation: the request host this pool's connections are for. */
    serverName?: { sni?: string; verifySan?: string },
    alpn?: AlpnPoolLink,
  ) {
    this.#tlsTarget = { address: hostname, ...serverName, alpn: HTTP11_ALPN };
    this.#alpn = alpn;
    this.#pending = alpn?.pending ?? [];
    this.stats = alpn?.stats ?? new HostStats();
    this.parserOptions = {
      allowChunkedLength: cluster.allowChunkedLength ?? false,
      enableTrailers: cluster.enableTrailers ?? false,
      ...(cluster.preserveCase
        ? { statefulFormatter: preserveCaseFormatterFactory(cluster.preserveCase) }
        : {}),
      ...(cluster.maxResponseHeadersCount !== undefined
        ? { maxHeadersCount: cluster.maxResponseHeadersCount }
        : {}),
    };
    this.properCaseHeaders = cluster.properCaseHeaders ?? false;
    this.enableTrailers = cluster.enableTrailers ?? false;
  }

  /** Number of open connections (busy and idle). */
  get size(): number {
    return this.#all.size;
  }

  /** Set for a counted pool (conn_pool_limit.ts): called once it becomes idle. */
  onIdle: (() => void) | undefined = undefined;

  /** No connection (open or being made) and no request waiting. */
  get idle(): boolean {
    return this.#all.size + this.#connecting + this.#pending.length === 0;
  }

  #checkIdle(): void {
    if (this.onIdle !== undefined && this.idle) this.onIdle();
  }

  /**
   * Gets a connection for a new request; `callbacks.onPoolReady` or `onPoolFailure` follows,
   * always asynchronously. `rm` is the cluster's circuit breakers for the request's priority:
   * over `max_requests` or `max_pending_requests` the request fails with `overflow`; at
   * `max_connections` it waits for a connection another request releases.
   */
  newStream(
    decoder: UpstreamStreamDecoder,
    callbacks: ConnectionPoolCallbacks,
    rm: ResourceManager = UNSHARED_RESOURCES,
  ): Cancellable {
    while (this.#idle.length > 0) {
      const pc = this.#idle.pop()!;
      if (pc.closed) continue;
      if (!rm.requests.tryCreate()) {
        this.#idle.push(pc);
        return this.#overflow(callbacks);
      }
      pc.idleTimer.disarm();
      const s = this.#attach(pc, decoder, callbacks, rm);
      return s;
    }
    if (!rm.pendingRequests.tryCreate()) return this.#overflow(callbacks);
    const p = new PendingStream(this, decoder, callbacks, rm);
    this.#pending.push(p);
    this.clusterStats.rqPendingTotal.inc();
    this.clusterStats.rqPendingActive.inc();
    this.#tryCreateConnection(rm);
    return p;
  }

  /** Envoy's overflow: `upstream_rq_pending_overflow`, and the request fails (UO). */
  #overflow(cb: ConnectionPoolCallbacks): Cancellable {
    this.clusterStats.rqPendingOverflow.inc();
    queueMicrotask(() => failed(cb, "overflow", ""));
    return NOT_PENDING;
  }

  /**
   * Starts a stream on `pc` (taken from the idle list or just connected; the request already
   * took its `max_requests` share); its ready callback runs on a later microtask, so callers
   * see one order of events.
   */
  #attach(
    pc: PooledConnection,
    decoder: UpstreamStreamDecoder,
    callbacks: ConnectionPoolCallbacks,
    rm: ResourceManager,
  ): Http1UpstreamStream {
    const s = new Http1UpstreamStream(pc, decoder, callbacks, rm);
    pc.stream = s;
    pc.requests++;
    this.#streamStarted();
    // Ready callbacks always run asynchronously, so callers see one order of events. The
    // closure is made here, in a method. As a class field (an arrow function per stream), the
    // optimized code allocated it in the old generation under load (`%InYoungGeneration`: old
    // for 99.8% of streams, the stream itself young), and there, dead once the stream ended,
    // it kept the stream and through it the whole request alive through every young GC until
    // the next full one: 30% of young objects survived instead of 2% (bench/RESULTS.md).
    queueMicrotask(() => s.onReady());
    return s;
  }

  /** Removes a pending request (cancelled or served); false if it was not pending. */
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
   * Envoy's tryCreateNewConnection: one more connection when the pending requests outnumber
   * the connections being made, if `max_connections` allows — or anyway when this host has
   * no connection at all, so that its pending requests are not stranded.
   */
  #tryCreateConnection(rm: ResourceManager): void {
    if (this.#alpn !== undefined) {
      this.#alpn.tryCreateConnection(rm);
      return;
    }
    if (this.#pending.length <= this.#connecting) return;
    const hostMax = this.cluster.perHostMaxConnections;
    const can = rm.connections.canCreate() &&
      (hostMax === undefined || this.hostMonitor === undefined ||
        hostConnections(this.hostMonitor) < hostMax);
    if (!can) this.clusterStats.cxOverflow.inc();
    if (can || this.#all.size + this.#connecting === 0) this.#connect(rm);
  }

  /** A connection is free (new, or its stream done): the oldest pending request takes it. */
  #serveNext(pc: PooledConnection): boolean {
    while (this.#pending.length > 0) {
      const p = this.#pending[0];
      this.removePending(p);
      if (!p.rm.requests.tryCreate()) {
        this.clusterStats.rqPendingOverflow.inc();
        queueMicrotask(() => failed(p.callbacks, "overflow", ""));
        continue;
      }
      this.#attach(pc, p.decoder, p.callbacks, p.rm);
      return true;
    }
    return false;
  }

  /** A connection closed: pending requests may need a new one. */
  onConnectionGone(): void {
    const next = this.#pending[0];
    if (next) this.#tryCreateConnection(next.rm);
    else this.#checkIdle();
  }

  /** A connect attempt failed: the oldest pending request fails with it. */
  #connectFailed(reason: PoolFailureReason, detail: string): void {
    const p = this.#pending[0];
    if (p) {
      this.removePending(p);
      failed(p.callbacks, reason, detail);
    }
    this.onConnectionGone();
  }

  /**
   * Counts a stream attached to a connection (Envoy's host and cluster `rq_total` and
   * `rq_active`: a request that never got a connection is not an upstream request).
   */
  #streamStarted(): void {
    this.stats.rq_total++;
    this.stats.rq_active++;
    this.clusterStats.rqTotal.inc();
    this.clusterStats.rqActive.inc();
  }

  /** A stream left its connection (done, failed or reset). */
  streamEnded(s: Http1UpstreamStream): void {
    s.rm.requests.dec();
    this.stats.rq_active--;
    this.clusterStats.rqActive.dec();
  }

  #connect(rm: ResourceManager): void {
    const pc = new PooledConnection(this, rm);
    const monitor = this.hostMonitor;
    pc.hostMonitor = monitor;
    this.#connecting++;
    this.clusterStats.cxHttp1Total.inc();
    const ts = this.transportSocket;
    const tls = ts && { socket: ts, target: this.#tlsTarget };
    connectUpstream(this, rm, monitor, tls, pc.connectStart, {
      connected: (tcp, handshake) => this.#connected(pc, tcp, handshake),
      connectFailed: (reason, detail) => {
        this.#connecting--;
        this.#connectFailed(reason, detail);
      },
      bugScope: () => this.#pending[0]?.callbacks ?? pc,
    });
  }

  readonly #tlsTarget: TlsTarget;

  /** The connection (and its transport socket, if any) is up: serve the next request. */
  #connected(pc: PooledConnection, conn: Deno.Conn, tls: UpstreamHandshake | undefined): void {
    this.#connecting--;
    this.#start(pc, conn, tls);
  }

  /**
   * Takes a connection the ALPN pool made and that negotiated `http/1.1` or nothing (already
   * counted in `upstream_cx_total` and the circuit breakers, which it holds from now on).
   */
  adopt(
    conn: Deno.Conn,
    tls: UpstreamHandshake,
    rm: ResourceManager,
    connectStart: number,
    monitor: Int32Array | undefined,
  ): void {
    const pc = new PooledConnection(this, rm);
    pc.connectStart = connectStart;
    pc.hostMonitor = monitor;
    this.clusterStats.cxHttp1Total.inc();
    this.#start(pc, conn, tls);
  }

  /** Whether an idle connection can take a request now (the ALPN pool asks first). */
  get hasIdle(): boolean {
    const idle = this.#idle;
    for (let i = idle.length - 1; i >= 0; i--) if (!idle[i].closed) return true;
    return false;
  }

  #start(pc: PooledConnection, conn: Deno.Conn, tls: UpstreamHandshake | undefined): void {
    const now = monotonicNow();
    pc.connectComplete = now;
    this.clusterStats.cxConnectMs.record(now - pc.connectStart);
    // Responses are bigger than requests; the buffer still doubles on full reads, so bulk
    // bodies soon read in big pieces while a pool of idle connections holds little.
    pc.conn = new Connection(conn, this.cluster.perConnectionBufferLimitBytes, 16 * 1024);
    if (tls) pc.conn.setTransport(tls.io, tls.ssl);
    pc.conn.byteCounters = this.clusterStats.cxBytes;
    // upstream_proxy_protocol (over raw_buffer only): the header goes first.
    const pp = this.cluster.upstreamProxyProtocol;
    if (pp) pc.conn.write(upstreamProxyProtocolHeader(pp, undefined, connectionAddresses(conn)));
    this.#all.add(pc);
    pc.conn.start(pc);
    // Nobody waits any more (cancelled): the connection is kept for the next request.
    if (!this.#serveNext(pc)) this.#toIdle(pc);
  }

  /** A stream finished cleanly: keep the connection for the next request, or close it. */
  release(pc: PooledConnection): void {
    pc.stream = undefined;
    const max = this.cluster.maxRequestsPerConnection;
    if (pc.closed || pc.noReuse) {
      pc.conn.close();
      return;
    }
    if (max > 0 && pc.requests >= max) {
      this.clusterStats.cxMaxRequests.inc();
      pc.conn.close();
      return;
    }
    // The last response may have left reading paused for a slow client; an idle connection
    // must read again (to notice the upstream closing it).
    pc.conn.readDisable(false);
    if (!this.#serveNext(pc)) this.#toIdle(pc);
  }

  #toIdle(pc: PooledConnection): void {
    this.#idle.push(pc);
    if (this.cluster.idleTimeoutMs > 0) {
      pc.idleTimer.arm(this.cluster.idleTimeoutMs);
    }
  }

  removeConnection(pc: PooledConnection): void {
    if (this.#all.remove(pc)) this.stats.cx_active--;
    const i = this.#idle.indexOf(pc);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  /** Closes every connection (cluster removed, shutdown). */
  close(): void {
    for (const pc of this.#all.toArray()) pc.conn.close();
  }

  /**
   * Envoy's DrainExistingConnections: idle connections close now, busy ones once their
   * response is done; the next request opens a new connection.
   */
  drain(): void {
    for (const pc of this.#all.toArray()) {
      if (pc.stream) pc.noReuse = true;
      else pc.conn.close();
    }
  }
}

/** Adds one pool's host stats to the host's entry (a host may have several pools). */
function addHostStats(
  out: HostStatsSnapshot,
  cluster: string,
  hostname: string,
  port: number,
  stats: HostStatsValues,
): void {
  const host = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  const c = out[cluster] ??= {};
  const h = c[host];
  if (h === undefined) {
    c[host] = { ...stats };
    return;
  }
  for (const k of Object.keys(stats) as (keyof HostStatsValues)[]) h[k] += stats[k];
}

/** This worker's pools, by cluster and host. */
export class ConnPoolManager {
  readonly #pools = new Map<string, ConnectionPoolInstance>();
  /** tcp_proxy connections of clusters with close_connections_on_host_health_failure. */
  readonly #tracked = new Map<string, Set<{ close(): void }>>();

  /**
   * `clusterStats` is this isolate's cluster stats, which the pools count into;
   * `transportSockets` builds clusters' transport sockets (TLS).
   */
  constructor(
    readonly clusterStats: ClusterStatsCache,
    readonly transportSockets?: TransportSocketContext,
  ) {}

  readonly #transportSockets = new WeakMap<Any, UpstreamTransportSocketFactory>();

  /**
   * The transport socket of `cluster`'s endpoint with metadata `metadata`: the first of
   * `transport_socket_matches` whose `match` the endpoint's `envoy.transport_socket_match`
   * metadata satisfies, else the cluster's `transport_socket`. Built once per config;
   * undefined for plaintext.
   */
  transportSocket(
    cluster: PoolClusterInfo,
    metadata?: HostMetadata,
  ): UpstreamTransportSocketFactory | undefined {
    let ts = cluster.transportSocket;
    const matches = cluster.transportSocketMatches;
    if (matches) {
      const labels = metadata?.[TRANSPORT_SOCKET_MATCH];
      const m = matches.find((m) => labelsMatch(m.match, labels));
      if (m) ts = m.transportSocket;
    }
    if (!ts) return undefined;
    let f = this.#transportSockets.get(ts);
    if (!f) {
      const name = ts.typeUrl.slice(ts.typeUrl.lastIndexOf("/") + 1);
      const ctx = this.transportSockets;
      f = ctx?.extensions.byType(name)?.createUpstreamTransportSocket?.(
        ts,
        `cluster '${cluster.name}' transport_socket`,
        ctx,
      );
      if (!f) {
        throw new Error(`cluster '${cluster.name}': transport socket ${name} is not supported`);
      }
      this.#transportSockets.set(ts, f);
    }
    return f;
  }

  /** Builds `cluster`'s transport socket now and declares its stats (`cluster.<name>.ssl.*`). */
  declareTransportSocket(cluster: PoolClusterInfo): void {
    const ts = this.transportSocket(cluster);
    ts?.declareStats?.(this.clusterStats.store.scope(`cluster.${cluster.statName}`));
  }

  /**
   * The pool for `host:port` of `cluster`, created on first use. `downstreamProtocol` picks
   * the pool of a cluster with `use_downstream_protocol_config` (HTTP/2 for HTTP/2, else
   * HTTP/1.1); `metadata` picks the host's transport socket (`transport_socket_matches`) and
   * `serverName` the SNI and SAN of an `auto_sni` request. `rm` is the request's priority: a
   * cluster with `max_connection_pools` keeps a pool per priority, and gives undefined when
   * the limit leaves no room for a new one (conn_pool_limit.ts).
   */
  pool(
    cluster: PoolClusterInfo,
    hostname: string,
    port: number,
    downstreamProtocol?: string,
    metadata?: HostMetadata,
    serverName?: { sni?: string; verifySan?: string },
    rm?: ResourceManager,
  ): ConnectionPoolInstance | undefined {
    const h2 = cluster.upstreamProtocol === "HTTP/2" ||
      (cluster.upstreamProtocol === "downstream" && downstreamProtocol === "HTTP/2");
    // Consecutive requests mostly go to the same host (one upstream, or a sidecar's one app):
    // the last answer spares building the key and the map lookup.
    const last = this.#last;
    if (
      last !== undefined && last.port === port && last.hostname === hostname &&
      last.cluster.name === cluster.name && this.#lastH2 === h2 &&
      serverName === undefined
    ) return last;
    // A cluster with both kinds of pool (use_downstream_protocol_config) keys them apart;
    // connections for different request hosts (auto_sni) are not interchangeable.
    let key = h2 && cluster.upstreamProtocol === "downstream"
      ? `${cluster.name}|${hostname}|${port}|h2`
      : `${cluster.name}|${hostname}|${port}`;
    if (serverName) key += `|${serverName.sni}|${serverName.verifySan}`;
    if (cluster.connectionPoolsLimited && rm !== undefined) {
      return this.#limited.get(
        `${key}|p${rm.priority}`,
        `${cluster.name}|${hostname}|${port}`,
        rm.connectionPools,
        // Validation refuses max_connection_pools with auto_config: never an ALPN pool here.
        () =>
          this.#createPool(cluster, hostname, port, h2, metadata, serverName) as
            | Http1ConnPool
            | Http2ConnPool,
        this.clusterStats.get(cluster.statName).cxPoolOverflow,
      );
    }
    let p = this.#pools.get(key);
    if (!p) {
      p = this.#createPool(cluster, hostname, port, h2, metadata, serverName);
      this.#pools.set(key, p);
    }
    if (!serverName) {
      this.#last = p;
      this.#lastH2 = h2;
    }
    return p;
  }
  #last: ConnectionPoolInstance | undefined;
  /** Whether `#last` answered for an HTTP/2 pool (an ALPN pool's protocol changes). */
  #lastH2 = false;
  /** Pools of clusters with `max_connection_pools`: counted, and deleted once idle. */
  readonly #limited = new LimitedConnPools();

  /** Builds the pool `pool` did not find: HTTP/2, ALPN-chosen (auto_config) or HTTP/1.1. */
  #createPool(
    cluster: PoolClusterInfo,
    hostname: string,
    port: number,
    h2: boolean,
    metadata: HostMetadata | undefined,
    serverName: { sni?: string; verifySan?: string } | undefined,
  ): Http1ConnPool | Http2ConnPool | AlpnConnPool {
    const stats = this.clusterStats.get(cluster.statName);
    const ts = this.transportSocket(cluster, metadata);
    const h2Options = cluster.http2Options ?? DEFAULT_HTTP2_OPTIONS;
    if (h2) {
      return new Http2ConnPool(
        cluster,
        hostname,
        port,
        stats,
        h2Options,
        cluster.http2Keepalive,
        ts,
        serverName,
      );
    }
    if (cluster.upstreamProtocol === "auto") {
      // Validation (cluster_info.ts) made sure every transport socket of the cluster is TLS.
      if (!ts) throw new Error(`cluster '${cluster.name}': auto_config needs a TLS transport`);
      return new AlpnConnPool(
        cluster,
        hostname,
        port,
        stats,
        ts,
        h2Options,
        cluster.http2Keepalive,
        serverName,
      );
    }
    return new Http1ConnPool(cluster, hostname, port, stats, ts, serverName);
  }

  /**
   * max_connection_pools: a tcp_proxy connection to `address:port` of `cluster` takes the
   * host's TCP pool (conn_pool_limit.ts); the function that releases it, or undefined when
   * the limit leaves no room (`upstream_cx_pool_overflow` counted).
   */
  tcpPool(
    cluster: PoolClusterInfo,
    address: string,
    port: number,
    rm: ResourceManager,
  ): (() => void) | undefined {
    return this.#limited.acquireTcp(
      `${cluster.name}|${address}|${port}`,
      rm.connectionPools,
      this.clusterStats.get(cluster.statName).cxPoolOverflow,
    );
  }

  /** Whether a connection to `address:port` of `cluster` is open (busy or idle). */
  hasConnections(cluster: string, address: string, port: number): boolean {
    const key = `${cluster}|${address}|${port}`;
    return (this.#pools.get(key)?.size ?? 0) + (this.#pools.get(`${key}|h2`)?.size ?? 0) > 0 ||
      (this.#limited.size > 0 && this.#limited.forHost(key).some((p) => p.size > 0));
  }

  /**
   * Drains this worker's pooled connections to one host (see {@linkcode Http1ConnPool.drain}):
   * the host left the cluster.
   */
  drainConnectionsTo(cluster: string, address: string, port: number): void {
    const key = `${cluster}|${address}|${port}`;
    this.#pools.get(key)?.drain();
    this.#pools.get(`${key}|h2`)?.drain();
    if (this.#limited.size > 0) { for (const p of this.#limited.forHost(key)) p.drain(); }
  }

  /**
   * Drains every pool of `cluster` and forgets them (CDS replaced or removed the cluster):
   * requests under way finish, and the next request builds a pool with the new settings.
   */
  drainCluster(cluster: string): void {
    const prefix = `${cluster}|`;
    for (const [key, p] of this.#pools) {
      if (!key.startsWith(prefix)) continue;
      p.drain();
      this.#pools.delete(key);
    }
    this.#limited.drainCluster(cluster);
    this.#last = undefined;
  }

  /**
   * `close_connections_on_host_health_failure`, as Envoy does it: the host's HTTP pools drain
   * (Envoy's DrainExistingConnections) and its tracked TCP connections close at once.
   */
  closeConnectionsTo(cluster: string, address: string, port: number): void {
    const key = `${cluster}|${address}|${port}`;
    this.#pools.get(key)?.drain();
    this.#pools.get(`${key}|h2`)?.drain();
    if (this.#limited.size > 0) { for (const p of this.#limited.forHost(key)) p.drain(); }
    const tracked = this.#tracked.get(key);
    if (!tracked) return;
    this.#tracked.delete(key);
    for (const c of tracked) c.close();
  }

  /**
   * Registers a connection to a host made outside the pools (tcp_proxy) so that a health
   * failure of the host closes it; returns the function that unregisters it.
   */
  trackConnection(
    cluster: string,
    address: string,
    port: number,
    conn: { close(): void },
  ): () => void {
    const key = `${cluster}|${address}|${port}`;
    let set = this.#tracked.get(key);
    if (!set) this.#tracked.set(key, set = new Set());
    set.add(conn);
    return () => {
      const s = this.#tracked.get(key);
      if (s?.delete(conn) && s.size === 0) this.#tracked.delete(key);
    };
  }

  /** This worker's stats of every host it has a pool for. */
  hostStats(): HostStatsSnapshot {
    const out: HostStatsSnapshot = {};
    const limited = this.#limited.size > 0 || this.#limited.retired.length > 0;
    for (
      const p of limited
        ? [...this.#pools.values(), ...this.#limited.pools()]
        : this.#pools.values()
    ) {
      addHostStats(out, p.cluster.name, p.hostname, p.port, p.stats);
    }
    // Pools deleted once idle (max_connection_pools) leave their counts to their host.
    for (const r of this.#limited.retired) {
      addHostStats(out, r.cluster, r.hostname, r.port, r.stats);
    }
    return out;
  }

  /** Closes every pool. */
  close(): void {
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
    this.#limited.close();
    this.#last = undefined;
  }
}
