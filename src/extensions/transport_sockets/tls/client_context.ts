/**
 * Upstream TLS (`UpstreamTlsContext`): the handshake on a freshly connected upstream socket,
 * with `sni`, `alpn_protocols` (else the protocols of the pool asking), a client certificate (mTLS to the upstream), the server
 * certificate checked by the validation context (none set: not checked, Envoy's default), and
 * TLS sessions kept for resumption across the cluster's connections (`max_session_keys`, newest
 * first; 0 turns resumption off).
 *
 * Measured in Deno 2.9.6: a `node:tls` client resumes a session only when it is given neither a
 * `secureContext` nor `cert`/`key` (either builds a fresh rustls client per connection, whose
 * session store starts empty). So contexts are passed as plain options, and a cluster that
 * presents a client certificate does a full handshake on every connection.
 *
 * @module
 */
import tls from "node:tls";
import { getLogger } from "../../../common/logger.ts";
import type {
  UpstreamHandshake,
  UpstreamTransportSocketFactory,
} from "../../../network/transport_socket.ts";
import type { Scope } from "../../../stats/store.ts";
import type { ClientTlsSettings } from "./context_config.ts";
import { CertValidator } from "./cert_validator.ts";
import type { TlsConnectionInfo } from "../../../stream_info/stream_info.ts";
import {
  ConnDuplex,
  connectionInfo,
  localCertificateFacts,
  peerChain,
  TlsStream,
} from "./tls_stream.ts";
import { sslStats } from "./ssl_stats.ts";
import { dnsWildcardMatch } from "./cert_validator.ts";
import { parseSans } from "./context_config.ts";
import type { X509Certificate } from "node:crypto";

/** Whether `cert` has `name` as a DNS SAN (exactly, or under a `*.` wildcard). */
function sanCovers(cert: X509Certificate | undefined, name: string): boolean {
  if (!cert) return false;
  const lower = name.toLowerCase();
  return parseSans(cert.subjectAltName ?? "").dns.some((d) =>
    d.toLowerCase() === lower || dnsWildcardMatch(d, lower)
  );
}

const log = getLogger("connection");

/** Envoy's transport failure reason when the upstream's certificate is refused. */
const VERIFY_FAILED =
  "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end";

/** Envoy's transport failure reason while SDS has not supplied a secret. */
const NOT_READY = "TLS error: Secret is not supplied by SDS";

/** Builds a cluster's upstream TLS handshakes. */
export class ClientTlsFactory implements UpstreamTransportSocketFactory {
  #s!: ClientTlsSettings;
  #validator: CertValidator | undefined;
  /** Sessions to resume, newest last. */
  readonly #sessions: Uint8Array[] = [];
  #localFacts: TlsConnectionInfo | undefined;
  #ready = false;
  /** The cluster scopes seen, for `client_ssl_socket_factory.ssl_context_update_by_sds`. */
  readonly #scopes = new Set<Scope>();

  constructor(s: ClientTlsSettings) {
    this.#build(s);
  }

  /** Secrets changed: as ServerTlsFactory.rebuild. */
  rebuild(read: () => ClientTlsSettings): void {
    try {
      this.#build(read());
    } catch (e) {
      log.warn(`TLS context not updated, keeping the previous one: ${(e as Error).message}`);
      return;
    }
    // Sessions of the old context may not fit the new one.
    this.#sessions.length = 0;
    for (const scope of this.#scopes) {
      scope.counter("client_ssl_socket_factory.ssl_context_update_by_sds").inc();
    }
  }

  #build(s: ClientTlsSettings): void {
    this.#s = s;
    // Envoy's NotReadySslSocket: until SDS supplies every secret, connections fail.
    this.#ready = !s.pending;
    this.#validator = s.validation ? new CertValidator(s.validation) : undefined;
    const cert = s.certificates[0];
    this.#localFacts = cert ? localCertificateFacts(cert.leaf) : undefined;
  }

  /** The cluster's `ssl.*` counters exist from the start, as in Envoy. */
  declareStats(scope: Scope): void {
    sslStats(scope);
  }

  connect(
    raw: Deno.Conn,
    host: { address: string; sni?: string; verifySan?: string; alpn?: readonly string[] },
    scope: Scope,
    done: (err: Error | undefined, result?: UpstreamHandshake) => void,
  ): void {
    if (!this.#scopes.has(scope)) this.#scopes.add(scope);
    if (!this.#ready) {
      scope.counter("client_ssl_socket_factory.upstream_context_secrets_not_ready").inc();
      try {
        raw.close();
      } catch { /* already closed */ }
      done(new Error(NOT_READY));
      return;
    }
    const stats = sslStats(scope);
    const s = this.#s;
    const cert = s.certificates[0];
    const sock = tls.connect({
      socket: new ConnDuplex(raw),
      ...(cert ? { cert: cert.chainPem, key: cert.keyPem } : {}),
      minVersion: s.minVersion,
      maxVersion: s.maxVersion,
      // Without `sni` none is sent: rustls sends no SNI for an IP address.
      servername: host.sni || s.sni || host.address,
      // The context's own list wins; else the pool's protocols, as Envoy's ALPN fallback.
      ALPNProtocols: s.alpn.length > 0 ? s.alpn : host.alpn?.slice(),
      // Checked by the validator below: without a validation context Envoy checks nothing.
      rejectUnauthorized: false,
      session: this.#sessions.at(-1),
    } as tls.ConnectionOptions);
    let finished = false;
    const finish = (err: Error | undefined, result?: UpstreamHandshake) => {
      if (finished) return;
      finished = true;
      if (err) {
        log.debug(() => `upstream TLS to ${host.address}: ${err.message}`);
        sock.destroy();
      }
      done(err, result);
    };
    if (s.maxSessionKeys > 0) {
      sock.on("session", (session: Uint8Array) => {
        this.#sessions.push(session);
        if (this.#sessions.length > s.maxSessionKeys) this.#sessions.shift();
      });
    }
    sock.on("error", (e: Error) => {
      if (!finished) stats.connectionError.inc();
      // Envoy's form of a TLS failure reason (its text is BoringSSL's; this is rustls's).
      finish(new Error(`TLS_error:|${e.message}:TLS_error_end`));
    });
    sock.once("secureConnect", () => {
      const chain = peerChain(sock);
      if (this.#validator) {
        const failure = chain.length === 0
          ? "fail_verify_no_cert"
          : this.#validator.verify(chain, Date.now());
        if (failure) {
          (failure === "fail_verify_no_cert" ? stats.failVerifyNoCert : stats.failure(failure))
            .inc();
          // Envoy's transport failure reason for a refused server certificate.
          finish(new Error(VERIFY_FAILED));
          return;
        }
      }
      if (host.verifySan !== undefined && !sanCovers(chain[0], host.verifySan)) {
        stats.failVerifySan.inc();
        finish(new Error(VERIFY_FAILED));
        return;
      }
      const ssl = connectionInfo(
        sock,
        chain,
        this.#localFacts,
        host.sni || s.sni,
        this.#validator?.verifiesChain === true,
      );
      stats.handshakeDone(ssl.cipherSuite!, ssl.tlsVersion ?? "", ssl.sessionReused);
      finish(undefined, { io: new TlsStream(sock), ssl });
    });
  }
}
