/**
 * Downstream TLS (`DownstreamTlsContext`): terminates TLS on an accepted connection before its
 * filter chain starts. One `node:tls` secure context per certificate, built once per filter
 * chain; with several certificates the one whose names match the SNI is chosen (exact name, then
 * `*.` wildcard, else the first, as Envoy's default selector does). The client certificate is
 * validated (cert_validator.ts) before any byte reaches the filter chain; a refused or failed
 * handshake closes the connection and bumps the listener's `ssl.*` counter for why.
 *
 * @module
 */
import tls from "node:tls";
import type { SecureContext } from "node:tls";
import { getLogger } from "../../../common/logger.ts";
import { containBug } from "../../../common/error_boundary.ts";
import { CoarseTimer } from "../../../common/coarse_timer.ts";
import type { Connection } from "../../../network/connection.ts";
import type { DownstreamTransportSocketFactory } from "../../../network/transport_socket.ts";
import type { TlsConnectionInfo } from "../../../stream_info/stream_info.ts";
import type { Scope } from "../../../stats/store.ts";
import type { CertificateSettings, ServerTlsSettings } from "./context_config.ts";
import { CertValidator } from "./cert_validator.ts";
import {
  ConnDuplex,
  connectionInfo,
  localCertificateFacts,
  peerChain,
  TlsStream,
} from "./tls_stream.ts";
import { nativeSocket } from "./native_socket.ts";
import { sslStats } from "./ssl_stats.ts";

const log = getLogger("connection");

interface ServedCertificate {
  settings: CertificateSettings;
  context: SecureContext;
  facts: TlsConnectionInfo;
}

/**
 * Builds the server's TLS handshakes for one filter chain. With secrets from SDS files the
 * settings are read again when a file changes (`rebuild`); handshakes that started keep the
 * contexts they started with.
 */
export class ServerTlsFactory implements DownstreamTransportSocketFactory {
  readonly secure = true;
  #s!: ServerTlsSettings;
  #certs!: ServedCertificate[];
  #validator: CertValidator | undefined;
  #options!: tls.TLSSocketOptions;
  #ready = false;
  /** The listener scopes seen, for `server_ssl_socket_factory.ssl_context_update_by_sds`. */
  readonly #scopes = new Set<Scope>();

  constructor(s: ServerTlsSettings) {
    this.#build(s);
  }

  /**
   * Secrets changed: builds from `read()` (the whole context read again); on failure keeps the
   * current contexts and says why.
   */
  rebuild(read: () => ServerTlsSettings): void {
    try {
      this.#build(read());
    } catch (e) {
      log.warn(`TLS context not updated, keeping the previous one: ${(e as Error).message}`);
      return;
    }
    for (const scope of this.#scopes) {
      scope.counter("server_ssl_socket_factory.ssl_context_update_by_sds").inc();
    }
  }

  #build(s: ServerTlsSettings): void {
    this.#s = s;
    // Envoy's NotReadySslSocket: until SDS supplies every secret, handshakes are refused.
    this.#ready = !s.pending;
    if (!this.#ready) return;
    const v = s.validation;
    this.#validator = v ? new CertValidator(v) : undefined;
    this.#certs = s.certificates.map((c) => ({
      settings: c,
      context: tls.createSecureContext({
        cert: c.chainPem,
        key: c.keyPem,
        minVersion: s.minVersion,
        maxVersion: s.maxVersion,
      }),
      facts: localCertificateFacts(c.leaf),
    }));
    // A client certificate is asked for only when there is something to check it against.
    const requestCert = v !== undefined &&
      (v.trustedCas.length > 0 || v.certHashes.length > 0 || v.spkiHashes.length > 0);
    this.#options = {
      isServer: true,
      secureContext: this.#certs[0].context,
      requestCert,
      // Checked by the validator after the handshake (node:tls in Deno does not check `ca`).
      rejectUnauthorized: false,
      ALPNProtocols: s.alpn.length > 0 ? s.alpn : undefined,
      SNICallback: this.#certs.length > 1 ? this.#selectBySni : undefined,
    } as tls.TLSSocketOptions;
  }

  /** The listener's `ssl.*` and handshake timeout counters exist from the start, as in Envoy. */
  declareStats(scope: Scope): void {
    sslStats(scope);
    if (this.#s.handshakeTimeoutMs > 0) {
      scope.counter("downstream_cx_transport_socket_connect_timeout");
    }
  }

  /** Envoy's default certificate selection: exact name, then wildcard, then the first. */
  readonly #selectBySni = (
    name: string,
    cb: (err: Error | null, ctx?: SecureContext) => void,
  ): void => {
    const lower = name.toLowerCase();
    const dot = lower.indexOf(".");
    const wildcard = dot > 0 ? "*" + lower.slice(dot) : "";
    const found = this.#certs.find((c) => c.settings.names.includes(lower)) ??
      this.#certs.find((c) => wildcard !== "" && c.settings.names.includes(wildcard)) ??
      this.#certs[0];
    cb(null, found.context);
  };

  start(
    conn: Connection,
    raw: Deno.Conn,
    initial: Uint8Array | undefined,
    scope: Scope,
    onReady: () => void,
  ): void {
    if (!this.#scopes.has(scope)) this.#scopes.add(scope);
    if (!this.#ready) {
      scope.counter("server_ssl_socket_factory.downstream_context_secrets_not_ready").inc();
      log.debug(() => `[C${conn.id}] TLS error: Secret is not supplied by SDS`);
      conn.close();
      return;
    }
    const stats = sslStats(scope);
    // node:tls on the socket's native handle where descriptors can be reached (the cheap path),
    // else over the Deno.Conn as a JavaScript stream.
    const sock = new tls.TLSSocket(
      nativeSocket(raw, initial) ?? new ConnDuplex(raw, initial),
      this.#options,
    );
    let done = false;
    let timer: CoarseTimer | undefined;
    /** Ends a handshake that will not finish: counted in `counter` when given, then closed. */
    const abandon = (why: string, counter?: { inc(): void }) => {
      if (done) return;
      done = true;
      timer?.disarm();
      counter?.inc();
      log.debug(() => `[C${conn.id}] ${why}`);
      sock.destroy();
      conn.close();
    };
    if (this.#s.handshakeTimeoutMs > 0) {
      timer = new CoarseTimer(
        () =>
          abandon(
            "TLS handshake timed out",
            scope.counter("downstream_cx_transport_socket_connect_timeout"),
          ),
        conn,
      );
      timer.arm(this.#s.handshakeTimeoutMs);
    }
    const fail = (e: Error) => abandon(`TLS error: ${e.message}`, stats.connectionError);
    // A peer that closes before its handshake finished (a TCP health check, a port scan, wrk's
    // connect test) ends the TLS socket without an error: the connection closes with it, as a
    // remote close; nothing failed to verify, so no `ssl.*` counter moves.
    const gone = () => abandon("closed by the peer during the TLS handshake");
    // The listeners stay after the handshake (each returns at once once `done`): cheaper per
    // connection than `once` wrappers or taking them off; the TLS stream adds its own.
    sock.on("error", fail);
    sock.on("end", gone);
    sock.on("close", gone);
    sock.on("secure", () => {
      if (done) return;
      done = true;
      timer?.disarm();
      try {
        this.#established(conn, sock, stats, onReady);
      } catch (e) {
        containBug(conn, "TLS handshake", e);
      }
    });
  }

  #established(
    conn: Connection,
    sock: tls.TLSSocket,
    stats: ReturnType<typeof sslStats>,
    onReady: () => void,
  ): void {
    // Without a certificate request the client sends none: no chain to ask node:tls for.
    const chain = this.#options.requestCert ? peerChain(sock) : [];
    const closeRefused = (why: string) => {
      log.debug(() => `[C${conn.id}] TLS peer refused: ${why}`);
      sock.destroy();
      conn.close();
    };
    // require_sni: node:tls asks for a certificate by name only when there is one, so a
    // handshake without SNI is refused here, before any byte reaches the filter chain.
    // deno-lint-ignore no-explicit-any
    if (this.#s.requireSni && !(sock as any).servername) {
      stats.connectionError.inc();
      return closeRefused("no SNI");
    }
    if (chain.length === 0) {
      if (this.#s.requireClientCertificate) {
        stats.failVerifyNoCert.inc();
        return closeRefused("no client certificate");
      }
      stats.noCertificate.inc();
    } else if (this.#validator) {
      const failure = this.#validator.verify(chain, Date.now());
      if (failure) {
        stats.failure(failure).inc();
        return closeRefused(failure);
      }
    }
    // deno-lint-ignore no-explicit-any
    const serverName: string = (sock as any).servername || "";
    const info = connectionInfo(
      sock,
      chain,
      this.#localFacts(serverName),
      serverName,
      this.#validator?.verifiesChain === true,
    );
    stats.handshakeDone(info.cipherSuite!, info.tlsVersion ?? "", info.sessionReused);
    conn.setTransport(new TlsStream(sock), info);
    onReady();
  }

  /** Our certificate's facts for `%DOWNSTREAM_LOCAL_*%`: the one SNI selection chose. */
  #localFacts(serverName: string): TlsConnectionInfo {
    const name = serverName.toLowerCase();
    const c = this.#certs.length === 1
      ? this.#certs[0]
      : this.#certs.find((c) => c.settings.names.includes(name)) ?? this.#certs[0];
    return c.facts;
  }
}
