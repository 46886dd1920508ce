/**
 * Envoy's TLS stats (`<scope>.ssl.*`: `listener.<address>.ssl.*` downstream,
 * `cluster.<name>.ssl.*` upstream), with the negotiated cipher, version and signature
 * algorithm counters created on first use as Envoy does.
 *
 * @module
 */
import type { Scope } from "../../../stats/store.ts";
import type { Counter } from "../../../stats/metrics.ts";

/** The `ssl.*` counters of one listener or cluster. */
export class SslStats {
  readonly handshake: Counter;
  readonly connectionError: Counter;
  readonly sessionReused: Counter;
  readonly noCertificate: Counter;
  readonly failVerifyNoCert: Counter;
  readonly failVerifyError: Counter;
  readonly failVerifySan: Counter;
  readonly failVerifyCertHash: Counter;
  readonly #scope: Scope;
  /** `ciphers.<c>` and `versions.<v>` by the bare name (no name is built per handshake). */
  readonly #ciphers = new Map<string, Counter>();
  readonly #versions = new Map<string, Counter>();

  constructor(parent: Scope) {
    const s = this.#scope = parent.scope("ssl");
    this.handshake = s.counter("handshake");
    this.connectionError = s.counter("connection_error");
    this.sessionReused = s.counter("session_reused");
    this.noCertificate = s.counter("no_certificate");
    this.failVerifyNoCert = s.counter("fail_verify_no_cert");
    this.failVerifyError = s.counter("fail_verify_error");
    this.failVerifySan = s.counter("fail_verify_san");
    this.failVerifyCertHash = s.counter("fail_verify_cert_hash");
    // Envoy declares these too; denvoy never staples, so they stay 0.
    s.counter("ocsp_staple_failed");
    s.counter("ocsp_staple_omitted");
    s.counter("ocsp_staple_requests");
    s.counter("ocsp_staple_responses");
  }

  /** A refusal by the validator, by its counter's name. */
  failure(name: "fail_verify_error" | "fail_verify_san" | "fail_verify_cert_hash"): Counter {
    return name === "fail_verify_error"
      ? this.failVerifyError
      : name === "fail_verify_san"
      ? this.failVerifySan
      : this.failVerifyCertHash;
  }

  /** A completed handshake: `handshake`, `ciphers.<c>`, `versions.<v>`. */
  handshakeDone(cipher: string, version: string, reused: boolean): void {
    this.handshake.inc();
    if (reused) this.sessionReused.inc();
    this.#counter(this.#ciphers, "ciphers.", cipher).inc();
    this.#counter(this.#versions, "versions.", version).inc();
  }

  #counter(m: Map<string, Counter>, prefix: string, name: string): Counter {
    let c = m.get(name);
    if (!c) m.set(name, c = this.#scope.counter(prefix + name));
    return c;
  }
}

const byScope = new WeakMap<Scope, SslStats>();

/** The SslStats under `parent` (one per listener or cluster scope). */
export function sslStats(parent: Scope): SslStats {
  let s = byScope.get(parent);
  if (!s) byScope.set(parent, s = new SslStats(parent));
  return s;
}
