/**
 * Peer certificate validation, as Envoy's DefaultCertValidator does it: the chain up to a
 * trusted CA (validity dates unless `allow_expired_certificate`; skipped by
 * `trust_chain_verification: ACCEPT_UNTRUSTED`; revocation by `crl`), then
 * `match_typed_subject_alt_names`, then
 * `verify_certificate_hash` / `verify_certificate_spki`. It runs right after the handshake and
 * before any byte reaches a filter, because Deno's `node:tls` server does not check a client
 * certificate against `ca` itself (measured: a certificate of another CA is accepted).
 *
 * @module
 */
import { createHash, type X509Certificate } from "node:crypto";
import { crlProblem } from "./crl.ts";
import { compileStringMatcher, type StringPredicate } from "../../../router/matchers.ts";
import { parseSans, type SanMatcherSettings, type ValidationSettings } from "./context_config.ts";

/** Why a peer certificate was refused: the `ssl.*` counter Envoy bumps. */
export type VerifyFailure = "fail_verify_error" | "fail_verify_san" | "fail_verify_cert_hash";

const MAX_DEPTH = 10;

/** A compiled validation context. */
export class CertValidator {
  readonly #v: ValidationSettings;
  readonly #san: { type: SanMatcherSettings["type"]; exact?: string; match: StringPredicate }[];

  constructor(v: ValidationSettings, field = "validation_context") {
    this.#v = v;
    this.#san = v.sanMatchers.map((m, i) => ({
      type: m.type,
      exact: m.matcher.matchPattern.case === "exact" && !m.matcher.ignoreCase
        ? m.matcher.matchPattern.value
        : undefined,
      match: compileStringMatcher(m.matcher, `${field}.match_typed_subject_alt_names[${i}]`),
    }));
  }

  /** Whether a chain is verified (a client certificate is worth asking for). */
  get verifiesChain(): boolean {
    return this.#v.trustedCas.length > 0 && !this.#v.acceptUntrusted;
  }

  /**
   * Checks `chain` (leaf first, then what the peer sent with it) at time `nowMs`; undefined
   * when it is accepted.
   */
  verify(chain: readonly X509Certificate[], nowMs: number): VerifyFailure | undefined {
    const leaf = chain[0];
    if (this.verifiesChain && !this.#chainTrusted(chain, nowMs)) return "fail_verify_error";
    if (this.#san.length > 0 && !this.#sanMatches(leaf)) return "fail_verify_san";
    const v = this.#v;
    if (v.certHashes.length > 0 || v.spkiHashes.length > 0) {
      const hash = createHash("sha256").update(leaf.raw).digest("hex");
      if (v.certHashes.includes(hash)) return undefined;
      const spki = createHash("sha256")
        .update(leaf.publicKey.export({ type: "spki", format: "der" }))
        .digest("base64");
      if (v.spkiHashes.includes(spki)) return undefined;
      return "fail_verify_cert_hash";
    }
    return undefined;
  }

  #current(c: X509Certificate, nowMs: number): boolean {
    return this.#v.allowExpired ||
      (Date.parse(c.validFrom) <= nowMs && nowMs <= Date.parse(c.validTo));
  }

  #chainTrusted(chain: readonly X509Certificate[], nowMs: number): boolean {
    let cert = chain[0];
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      if (!this.#current(cert, nowMs)) return false;
      const anchor = this.#v.trustedCas.find((ca) => issuedBy(cert, ca));
      const issuer = anchor ?? chain.find((c) => c !== cert && c.ca && issuedBy(cert, c));
      if (!issuer) return false;
      // CRL_CHECK_ALL (every certificate below the anchor), or the leaf only.
      if (this.#v.crls.length > 0 && (depth === 0 || !this.#v.onlyLeafCrl)) {
        if (crlProblem(this.#v.crls, cert, issuer, nowMs) !== undefined) return false;
      }
      if (anchor) return this.#current(anchor, nowMs);
      cert = issuer;
    }
    return false;
  }

  #sanMatches(leaf: X509Certificate): boolean {
    const sans = parseSans(leaf.subjectAltName ?? "");
    for (const m of this.#san) {
      const list = m.type === "DNS"
        ? sans.dns
        : m.type === "URI"
        ? sans.uri
        : m.type === "EMAIL"
        ? sans.email
        : m.type === "IP_ADDRESS"
        ? sans.ip
        : [...sans.dns, ...sans.uri, ...sans.email, ...sans.ip];
      for (const san of list) {
        if (m.match(san)) return true;
        // An exact DNS matcher matches a wildcard SAN that covers it (Envoy's dnsNameMatch).
        if (m.type !== "URI" && m.type !== "EMAIL" && m.exact && dnsWildcardMatch(san, m.exact)) {
          return true;
        }
      }
    }
    return false;
  }
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Whether SAN `pattern` (`*.example.com`) covers `name` in one label, case-insensitively. */
export function dnsWildcardMatch(pattern: string, name: string): boolean {
  if (!pattern.startsWith("*.")) return false;
  const dot = name.indexOf(".");
  return dot > 0 && name.slice(dot).toLowerCase() === pattern.slice(1).toLowerCase();
}
