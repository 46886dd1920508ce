/**
 * Transport sockets, as in Envoy: what a {@linkcode Connection} reads and writes its bytes
 * through. `raw_buffer` is the accepted (or connected) `Deno.Conn` itself — it already has this
 * shape, so a plaintext connection pays nothing for the abstraction; TLS is another
 * implementation (src/extensions/transport_sockets/tls/). Filter chains (downstream) and
 * clusters (upstream) name theirs in `transport_socket`, resolved through the extension registry.
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import type { TlsConnectionInfo } from "../stream_info/stream_info.ts";

/** The byte stream under a connection. `Deno.Conn` is one. */
export interface TransportStream {
  /** Reads into `buf`; the count read, or null at the peer's end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes some of `data`; the count written. */
  write(data: Uint8Array): Promise<number>;
  /** Half-closes the write side (FIN, or TLS close_notify then FIN). */
  closeWrite(): Promise<void>;
  /** Closes both directions now. */
  close(): void;
}

/**
 * What a TLS connection negotiated (Envoy's `Ssl::ConnectionInfo`): the facts access logs read
 * (StreamInfo's `downstreamTls` / `upstreamTls`) plus what headers and filter chains use.
 */
export interface SslConnectionInfo extends TlsConnectionInfo {
  /** The SNI the client sent (downstream) or we sent (upstream), or "". */
  readonly serverName: string;
  /** The negotiated ALPN protocol, or "". */
  readonly alpn: string;
  readonly sessionReused: boolean;
  /** Whether the peer presented a certificate, and whether it was validated against a CA. */
  readonly peerCertificatePresented: boolean;
  readonly peerCertificateValidated: boolean;
  /** The peer's chain as it sent it, PEM (XFCC `Chain=`). */
  readonly peerChainPem?: string;
}

/**
 * A filter chain's transport socket, built once per chain. `start` takes a freshly accepted
 * connection whose stream is still the raw socket (and the bytes listener filters already
 * read), does its handshake, and calls `onReady` when the filter chain may start; on failure
 * it closes the connection (counting why) and never calls `onReady`.
 */
export interface DownstreamTransportSocketFactory {
  /** Whether this is TLS (`x-forwarded-proto: https`, `transport_protocol` "tls"). */
  readonly secure: boolean;
  /** Creates its stats under the listener's scope (`listener.<address>`), once bound. */
  declareStats?(scope: import("../stats/store.ts").Scope): void;
  start(
    conn: Connection,
    raw: Deno.Conn,
    initial: Uint8Array | undefined,
    stats: import("../stats/store.ts").Scope,
    onReady: () => void,
  ): void;
}

/** What an upstream handshake produced. */
export interface UpstreamHandshake {
  io: TransportStream;
  ssl: SslConnectionInfo;
}

/**
 * A cluster's transport socket, built once per cluster in each worker: `connect` runs the
 * handshake over a connected raw socket and calls `done` once, with the stream to use (closing
 * it closes the raw socket too) or the reason it failed (already counted in the cluster's
 * `ssl.*`; the raw socket is closed).
 */
export interface UpstreamTransportSocketFactory {
  /** Creates its stats under the cluster's scope (`cluster.<name>`). */
  declareStats?(scope: import("../stats/store.ts").Scope): void;
  connect(
    raw: Deno.Conn,
    host: {
      address: string;
      /** The SNI to send instead of the configured one (auto_sni). */
      sni?: string;
      /** A DNS SAN the server certificate must have (auto_san_validation). */
      verifySan?: string;
      /**
       * The ALPN protocols the pool speaks, offered when the context sets no
       * `alpn_protocols` (Envoy's ALPN fallback: `http/1.1`, `h2`, or both for auto_config).
       */
      alpn?: readonly string[];
    },
    scope: import("../stats/store.ts").Scope,
    done: (err: Error | undefined, result?: UpstreamHandshake) => void,
  ): void;
}
