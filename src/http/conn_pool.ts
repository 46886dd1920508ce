/**
 * The upstream connection-pool interface (Envoy's Http::ConnectionPool::Instance): the router
 * and the mirror ask a pool for a stream and talk to it only through these types, so an
 * HTTP/1.1 pool (upstream/conn_pool.ts) and a multiplexed HTTP/2 pool serve it alike. The
 * circuit breakers (`max_connections`, `max_pending_requests`, `max_requests`) are enforced by
 * the pool with the cluster's ResourceManager that each request passes in.
 */
import type { SslConnectionInfo } from "../network/transport_socket.ts";
import type { BugScope } from "../common/error_boundary.ts";
import type { ResourceManager } from "../upstream/resource_manager.ts";
import type { HostStats } from "../upstream/host_stats.ts";
import type {
  Protocol,
  RequestEncoder,
  ResponseDecoder,
  StreamCallbacks,
  StreamResetReason,
} from "./codec.ts";

/** Why a pool could not give a stream (Envoy's PoolFailureReason, with its reset reason names). */
export type PoolFailureReason = "overflow" | "connection_failure" | "connection_timeout";

/** Why an upstream request failed: no stream from the pool, or its stream was reset. */
export type UpstreamFailure = PoolFailureReason | StreamResetReason;

/** A stream the pool gave: the request encoder, and what is known of its connection. */
export interface UpstreamStream extends RequestEncoder {
  readonly protocol: Protocol;
  /** Addresses of the upstream connection's two ends. */
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** The upstream connection's id (`%UPSTREAM_CONNECTION_ID%`). */
  readonly connectionId: number;
  /** What its connection's TLS negotiated (`%UPSTREAM_TLS_*%`); undefined in plaintext. */
  readonly ssl?: SslConnectionInfo;
  /** When the connection's connect began and completed (`performance.now()` time). */
  readonly connectStart: number;
  readonly connectComplete: number;
  /** Bytes of this stream on the wire, framing included, and of its header blocks. */
  readonly wireBytesSent: number;
  readonly wireBytesReceived: number;
  readonly headerBytesSent: number;
  readonly headerBytesReceived: number;
}

/** The pool's answer to newStream (Envoy's ConnectionPool::Callbacks). */
export interface ConnectionPoolCallbacks extends BugScope {
  /** A stream is ready: the request may be sent. Always called asynchronously. */
  onPoolReady(stream: UpstreamStream): void;
  /** No stream: `transportFailureReason` says why a connect failed (else ""). */
  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void;
}

/** A pool request that may be given up (Envoy's Cancellable). */
export interface Cancellable {
  cancel(): void;
}

/** A stream's user: the response, and the stream's reset and watermark events. */
export type UpstreamStreamDecoder = ResponseDecoder & StreamCallbacks;

/** The connections to one upstream host of one cluster (Envoy's ConnectionPool::Instance). */
export interface ConnectionPoolInstance {
  readonly protocol: Protocol;
  /** The cluster and the upstream host the pool connects to (Envoy's host()). */
  readonly cluster: { readonly name: string };
  readonly hostname: string;
  readonly port: number;
  /** This worker's stats of the host (`/clusters`). */
  readonly stats: HostStats;
  /** Open connections, busy and idle. */
  readonly size: number;
  /**
   * The host's shared monitor (clusters with health checks, outlier detection or
   * `per_host_thresholds`), where connections to the host are counted across isolates.
   */
  hostMonitor?: Int32Array;
  /**
   * Asks for a stream: `callbacks.onPoolReady` or `onPoolFailure` follows, asynchronously; the
   * response then goes to `decoder`. `rm` is the cluster's circuit breakers for the request's
   * priority.
   */
  newStream(
    decoder: UpstreamStreamDecoder,
    callbacks: ConnectionPoolCallbacks,
    rm?: ResourceManager,
  ): Cancellable;
  /** Idle connections close; busy ones once their streams are done (DrainExistingConnections). */
  drain(): void;
  /** Closes every connection. */
  close(): void;
}
