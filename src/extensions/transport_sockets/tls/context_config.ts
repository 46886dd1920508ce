/**
 * Reads `DownstreamTlsContext` / `UpstreamTlsContext` (and their `CommonTlsContext`) into the
 * settings a TLS context is built from, with Envoy's defaults and the checks Envoy makes when it
 * builds one — plus refusals for what Deno's TLS (rustls under `node:tls`) cannot do: TLS 1.0
 * and 1.1, cipher suites or curves other than the ones rustls offers, signature algorithm lists,
 * OCSP stapling, explicit session ticket keys. The same function runs in `--mode validate` (it
 * reports) and when a listener or cluster is built (it throws), so the two never disagree.
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { DataSource } from "../../../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { StringMatcher } from "../../../../proto/gen/envoy/type/matcher/v3/string_pb.ts";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { SdsSecretConfig } from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import type { Secret } from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import type {
  CertificateValidationContext,
  SubjectAltNameMatcher,
  TlsCertificate,
  TlsParameters_TlsProtocol,
} from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.ts";
import type {
  CommonTlsContext,
  DownstreamTlsContext,
  UpstreamTlsContext,
} from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.ts";
import { messageSchema } from "../../../config/api.ts";
import {
  enumName,
  OcspStaplePolicy,
  SanType,
  TlsProtocol,
  TrustChainVerification,
} from "../../../config/api_enums.ts";
import { dataSourceText } from "../../../config/data_source.ts";
import { type Crl, parseCrls } from "./crl.ts";

/** Where problems go: a config error, or a feature denvoy does not implement. */
export interface Problems {
  report(message: string, field: string): void;
  unsupported(feature: string, field: string): void;
}

/** Problems that throw the first one (building a listener or cluster). */
export function throwingProblems(where: string): Problems {
  return {
    report: (m, f) => {
      throw new Error(`${where}.${f}: ${m}`);
    },
    unsupported: (m, f) => {
      throw new Error(`${where}.${f}: ${m} is not supported`);
    },
  };
}

/** One certificate with its key, and the names it serves (for SNI selection). */
export interface CertificateSettings {
  /** Where the chain came from: its file, or `<inline>` (for `/certs`). */
  chainPath: string;
  chainPem: string;
  keyPem: string;
  leaf: X509Certificate;
  /** DNS SANs, or the CN when there are none (lower case; `*.x` wildcards kept). */
  names: string[];
}

/** A SAN matcher: which SAN kind, and the string matcher config. */
export interface SanMatcherSettings {
  type: "DNS" | "URI" | "EMAIL" | "IP_ADDRESS" | "ANY";
  matcher: StringMatcher;
}

/** What a peer certificate is checked against. */
export interface ValidationSettings {
  /** Trusted CA certificates; empty means the chain is not verified (Envoy's default). */
  trustedCas: X509Certificate[];
  /** Where they came from: the file, or `<inline>` (for `/certs`). */
  trustedCaPath: string;
  trustedCaPem: string;
  sanMatchers: SanMatcherSettings[];
  /** SHA-256 of the DER, lower-case hex without colons. */
  certHashes: string[];
  /** SHA-256 of the SubjectPublicKeyInfo, base64. */
  spkiHashes: string[];
  allowExpired: boolean;
  acceptUntrusted: boolean;
  /** Revocation lists; with them every certificate of the chain needs one from its issuer. */
  crls: Crl[];
  /** only_verify_leaf_cert_crl: only the leaf is checked against the CRLs. */
  onlyLeafCrl: boolean;
}

/** The settings both sides share. */
export interface TlsContextSettings {
  minVersion: "TLSv1.2" | "TLSv1.3";
  maxVersion: "TLSv1.2" | "TLSv1.3";
  alpn: string[];
  certificates: CertificateSettings[];
  validation?: ValidationSettings;
  /**
   * A secret SDS over xDS has not supplied yet is named: the context is not ready (Envoy
   * refuses handshakes until it is) and checks that need it are left until it comes.
   */
  pending?: boolean;
}

/** Downstream (server) settings. */
export interface ServerTlsSettings extends TlsContextSettings {
  requireClientCertificate: boolean;
  requireSni: boolean;
  /** Handshake timeout (the filter chain's transport_socket_connect_timeout), 0 for none. */
  handshakeTimeoutMs: number;
}

/** Upstream (client) settings. */
export interface ClientTlsSettings extends TlsContextSettings {
  sni: string;
  /** Cached sessions per host (max_session_keys, default 1; 0 disables resumption). */
  maxSessionKeys: number;
}

/**
 * The TLS 1.2 suites rustls implements, by BoringSSL name: exactly Envoy's default list. TLS 1.3
 * suites are not configurable (in Envoy either).
 */
export const RUSTLS_TLS12_CIPHERS: readonly string[] = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
];
/** Key exchange groups rustls offers, by Envoy's (BoringSSL) names. */
const RUSTLS_CURVES: readonly string[] = ["X25519", "P-256", "P-384"];

const VERSION_NAMES: Record<number, "TLSv1.2" | "TLSv1.3"> = {
  [TlsProtocol.TLSv1_2]: "TLSv1.2",
  [TlsProtocol.TLSv1_3]: "TLSv1.3",
};

/** Looks up the secrets a context names (secret_manager.ts). */
export interface SecretLookup {
  tlsCertificate(sds: SdsSecretConfig, field: string, p: Problems): TlsCertificate | undefined;
  validationContext(
    sds: SdsSecretConfig,
    field: string,
    p: Problems,
  ): CertificateValidationContext | undefined;
  /** Whether `sds` names a secret SDS over xDS has not supplied yet. */
  isPending?(sds: SdsSecretConfig): boolean;
}

/** Reads `common` for a server (`server` true) or client. */
function readCommon(
  common: CommonTlsContext | undefined,
  server: boolean,
  p: Problems,
  secrets: SecretLookup | undefined,
): TlsContextSettings {
  const at = "common_tls_context";
  const params = common?.tlsParams;
  const versionOf = (v: TlsParameters_TlsProtocol, dflt: "TLSv1.2" | "TLSv1.3", field: string) => {
    if (v === TlsProtocol.TLS_AUTO) return dflt;
    const name = VERSION_NAMES[v];
    if (!name) {
      p.unsupported(
        `TLS ${
          enumName(TlsProtocol, v)
        } (Deno's TLS is rustls, which implements only TLS 1.2 and 1.3)`,
        `${at}.tls_params.${field}`,
      );
      return dflt;
    }
    return name;
  };
  const minVersion = versionOf(
    params?.tlsMinimumProtocolVersion ?? 0,
    "TLSv1.2",
    "tls_minimum_protocol_version",
  );
  // Envoy's defaults: clients stop at TLS 1.2, servers go to 1.3.
  const maxVersion = versionOf(
    params?.tlsMaximumProtocolVersion ?? 0,
    server ? "TLSv1.3" : "TLSv1.2",
    "tls_maximum_protocol_version",
  );
  if (minVersion === "TLSv1.3" && maxVersion === "TLSv1.2") {
    p.report(
      "tls_minimum_protocol_version is above tls_maximum_protocol_version",
      `${at}.tls_params`,
    );
  }
  if (params && params.cipherSuites.length > 0) {
    checkSameSet(
      params.cipherSuites.flatMap((c) => c.replace(/^\[|\]$/g, "").split("|")),
      RUSTLS_TLS12_CIPHERS,
      "cipher suite",
      `${at}.tls_params.cipher_suites`,
      p,
    );
  }
  if (params && params.ecdhCurves.length > 0) {
    checkSameSet(params.ecdhCurves, RUSTLS_CURVES, "ECDH curve", `${at}.tls_params.ecdh_curves`, p);
  }
  let pending = false;
  const isPending = (sds: SdsSecretConfig) => {
    if (secrets?.isPending?.(sds)) pending = true;
  };
  const certificates = (common?.tlsCertificates ?? []).map((c, i) =>
    readCertificate(c, `${at}.tls_certificates[${i}]`, p)
  ).filter((c): c is CertificateSettings => c !== undefined);
  common?.tlsCertificateSdsSecretConfigs.forEach((sds, i) => {
    const field = `${at}.tls_certificate_sds_secret_configs[${i}]`;
    const secret = lookup(secrets, p, field)?.tlsCertificate(sds, field, p);
    if (!secret) isPending(sds);
    const c = secret && readCertificate(secret, `${field} (secret '${sds.name}')`, p);
    if (c) certificates.push(c);
  });
  let validation: ValidationSettings | undefined;
  const vc = common?.validationContextType;
  if (vc?.case === "validationContext") {
    validation = readValidation(vc.value, `${at}.validation_context`, p);
  } else if (vc?.case === "validationContextSdsSecretConfig") {
    const field = `${at}.validation_context_sds_secret_config`;
    const secret = lookup(secrets, p, field)?.validationContext(vc.value, field, p);
    if (!secret) isPending(vc.value);
    if (secret) validation = readValidation(secret, `${field} (secret '${vc.value.name}')`, p);
  } else if (vc?.case === "combinedValidationContext") {
    const combined = vc.value;
    const field = `${at}.combined_validation_context`;
    let merged = combined.defaultValidationContext;
    const sds = combined.validationContextSdsSecretConfig;
    if (sds) {
      const f = `${field}.validation_context_sds_secret_config`;
      const dynamic = lookup(secrets, p, f)?.validationContext(sds, f, p);
      if (!dynamic) isPending(sds);
      // Envoy merges the dynamic context into the default one (protobuf MergeFrom).
      if (dynamic) merged = mergeValidation(merged, dynamic);
    }
    // The merged context is checked once the secret comes (alone it may lack the CA).
    if (!pending) validation = readValidation(merged, `${field}.default_validation_context`, p);
  }
  const alpn = common?.alpnProtocols ?? [];
  return { minVersion, maxVersion, alpn, certificates, validation, pending };
}

function lookup(
  secrets: SecretLookup | undefined,
  p: Problems,
  field: string,
): SecretLookup | undefined {
  if (!secrets) p.report("secrets cannot be resolved here", field);
  return secrets;
}

/** `dynamic` merged into `base` with protobuf MergeFrom semantics (lists append, scalars win). */
function mergeValidation(
  base: CertificateValidationContext | undefined,
  dynamic: CertificateValidationContext,
): CertificateValidationContext {
  if (!base) return dynamic;
  const schema = messageSchema<CertificateValidationContext>(
    "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext",
  );
  const a = toBinary(schema, base);
  const b = toBinary(schema, dynamic);
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  return fromBinary(schema, both);
}

/**
 * rustls offers a fixed set: a list that names something else asks for what it cannot do, and a
 * list that leaves one out asks for a restriction it cannot make.
 */
function checkSameSet(
  given: readonly string[],
  offered: readonly string[],
  what: string,
  field: string,
  p: Problems,
): void {
  const lacking = given.filter((c) => !offered.includes(c));
  if (lacking.length > 0) {
    p.unsupported(
      `${what} ${lacking.join(", ")} (Deno's TLS is rustls, which offers only ${
        offered.join(", ")
      })`,
      field,
    );
    return;
  }
  const left = offered.filter((c) => !given.includes(c));
  if (left.length > 0) {
    p.unsupported(
      `a ${what} list without ${left.join(", ")} (rustls offers its whole set: ${
        offered.join(", ")
      })`,
      field,
    );
  }
}

/** The text of `ds`: undefined when unset, null when it could not be read (reported). */
function text(ds: DataSource | undefined, field: string, p: Problems): string | undefined | null {
  try {
    return dataSourceText(ds, field);
  } catch (e) {
    p.report((e as Error).message.slice(field.length + 2) || "cannot be read", field);
    return null;
  }
}

/** A DataSource's file name, or Envoy's `<inline>` for inline data. */
function sourcePath(ds: DataSource | undefined): string {
  return ds?.specifier.case === "filename" ? ds.specifier.value : "<inline>";
}

/** Splits a PEM bundle into certificates. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

function readCertificate(
  c: TlsCertificate,
  at: string,
  p: Problems,
): CertificateSettings | undefined {
  if (c.ocspStaple) p.unsupported("OCSP stapling (rustls under node:tls)", `${at}.ocsp_staple`);
  const chainPem = text(c.certificateChain, `${at}.certificate_chain`, p);
  const keyPem = text(c.privateKey, `${at}.private_key`, p);
  if (chainPem === undefined) p.report("a certificate_chain is required", at);
  else if (keyPem === undefined) p.report("a private_key is required", at);
  // Unreadable files are reported already.
  if (!chainPem || !keyPem) return undefined;
  let certs: X509Certificate[];
  try {
    certs = parseCertificates(chainPem);
  } catch (e) {
    p.report(`invalid certificate: ${(e as Error).message}`, `${at}.certificate_chain`);
    return undefined;
  }
  if (certs.length === 0) {
    p.report("no PEM certificate found", `${at}.certificate_chain`);
    return undefined;
  }
  try {
    const key = createPrivateKey(keyPem);
    if (!certs[0].checkPrivateKey(key)) {
      p.report("the private key does not match the certificate", `${at}.private_key`);
      return undefined;
    }
  } catch (e) {
    p.report(`invalid private key: ${(e as Error).message}`, `${at}.private_key`);
    return undefined;
  }
  return {
    chainPath: sourcePath(c.certificateChain),
    chainPem,
    keyPem,
    leaf: certs[0],
    names: certificateNames(certs[0]),
  };
}

/** The DNS names a certificate serves: its DNS SANs, else its CN. */
export function certificateNames(cert: X509Certificate): string[] {
  const dns = parseSans(cert.subjectAltName ?? "").dns;
  if (dns.length > 0) return dns.map((n) => n.toLowerCase());
  const cn = /(?:^|\n|,)CN=([^\n,]+)/.exec(cert.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** A certificate's SANs by kind, from node's `subjectaltname` text. */
export function parseSans(
  text: string,
): { dns: string[]; uri: string[]; ip: string[]; email: string[] } {
  const out = {
    dns: [] as string[],
    uri: [] as string[],
    ip: [] as string[],
    email: [] as string[],
  };
  // `DNS:a, URI:b, IP Address:c, email:d`; values with separators in them come JSON-quoted.
  const re = /(DNS|URI|IP Address|email|othername):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (const m of text.matchAll(re)) {
    const v = m[2].startsWith('"') ? JSON.parse(m[2]) as string : m[2];
    if (m[1] === "DNS") out.dns.push(v);
    else if (m[1] === "URI") out.uri.push(v);
    else if (m[1] === "IP Address") out.ip.push(v.toLowerCase());
    else if (m[1] === "email") out.email.push(v);
  }
  return out;
}

const SAN_TYPES: Record<number, SanMatcherSettings["type"]> = {
  [SanType.DNS]: "DNS",
  [SanType.URI]: "URI",
  [SanType.EMAIL]: "EMAIL",
  [SanType.IP_ADDRESS]: "IP_ADDRESS",
};

function readValidation(
  v: CertificateValidationContext | undefined,
  at: string,
  p: Problems,
): ValidationSettings {
  const caText = text(v?.trustedCa, `${at}.trusted_ca`, p);
  const trustedCaPem = caText ?? "";
  let trustedCas: X509Certificate[] = [];
  if (trustedCaPem) {
    try {
      trustedCas = parseCertificates(trustedCaPem);
    } catch (e) {
      p.report(`invalid CA certificate: ${(e as Error).message}`, `${at}.trusted_ca`);
    }
    if (trustedCas.length === 0) p.report("no PEM certificate found", `${at}.trusted_ca`);
  }
  let crls: Crl[] = [];
  if (v?.crl) {
    const crlText = text(v.crl, `${at}.crl`, p);
    if (crlText) {
      try {
        crls = parseCrls(crlText);
      } catch (e) {
        p.report(`invalid CRL: ${(e as Error).message}`, `${at}.crl`);
      }
      if (crls.length === 0) p.report("no PEM X509 CRL found", `${at}.crl`);
      // Envoy's own rule.
      if (caText === undefined) {
        p.report(`Failed to load CRL from ${sourcePath(v.crl)} without trusted_ca`, `${at}.crl`);
      }
    }
  }
  const sanMatchers: SanMatcherSettings[] = [];
  v?.matchTypedSubjectAltNames.forEach((m: SubjectAltNameMatcher, i) => {
    const type = SAN_TYPES[m.sanType];
    const field = `${at}.match_typed_subject_alt_names[${i}]`;
    if (m.sanType === SanType.OTHER_NAME) {
      p.unsupported(
        "OTHER_NAME SAN matching (node:tls does not expose otherName values)",
        `${field}.san_type`,
      );
    } else if (!type) p.report("san_type is required", `${field}.san_type`);
    else if (!m.matcher) p.report("matcher is required", `${field}.matcher`);
    else sanMatchers.push({ type, matcher: m.matcher });
  });
  v?.matchSubjectAltNames.forEach((m) => sanMatchers.push({ type: "ANY", matcher: m }));
  // (An unreadable trusted_ca is reported already.)
  if (sanMatchers.length > 0 && caText === undefined) {
    // Envoy's own rule (DefaultCertValidator).
    p.report(
      "SAN-based verification of peer certificates without trusted CA is insecure and not allowed",
      at,
    );
  }
  const certHashes = (v?.verifyCertificateHash ?? []).map((h, i) => {
    const hex = h.replaceAll(":", "").toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      p.report(`invalid hex-encoded SHA-256 ${h}`, `${at}.verify_certificate_hash[${i}]`);
    }
    return hex;
  });
  const spkiHashes = (v?.verifyCertificateSpki ?? []).map((h, i) => {
    if (!/^[A-Za-z0-9+/]{43}=$/.test(h)) {
      p.report(`invalid base64-encoded SHA-256 ${h}`, `${at}.verify_certificate_spki[${i}]`);
    }
    return h;
  });
  return {
    trustedCas,
    trustedCaPath: sourcePath(v?.trustedCa),
    trustedCaPem,
    sanMatchers,
    certHashes,
    spkiHashes,
    allowExpired: v?.allowExpiredCertificate ?? false,
    acceptUntrusted: v?.trustChainVerification === TrustChainVerification.ACCEPT_UNTRUSTED,
    crls,
    onlyLeafCrl: v?.onlyVerifyLeafCertCrl ?? false,
  };
}

/** Reads a DownstreamTlsContext; `handshakeTimeoutMs` comes from the filter chain. */
export function readServerContext(
  c: DownstreamTlsContext,
  p: Problems,
  handshakeTimeoutMs = 0,
  secrets?: SecretLookup,
): ServerTlsSettings {
  const common = readCommon(c.commonTlsContext, true, p, secrets);
  if (
    common.certificates.length === 0 && c.commonTlsContext?.tlsCertificates.length === 0 &&
    c.commonTlsContext?.tlsCertificateSdsSecretConfigs.length === 0
  ) {
    p.report(
      "a server TLS context needs at least one tls_certificates entry",
      "common_tls_context",
    );
  }
  const sess = c.sessionTicketKeysType;
  if (sess.case === "sessionTicketKeys" || sess.case === "sessionTicketKeysSdsSecretConfig") {
    p.unsupported("session ticket keys (rustls keeps its own)", snake(sess.case));
  } else if (sess.case === "disableStatelessSessionResumption" && sess.value) {
    p.unsupported("disabling stateless session resumption", "disable_stateless_session_resumption");
  }
  if (c.disableStatefulSessionResumption) {
    p.unsupported("disabling stateful session resumption", "disable_stateful_session_resumption");
  }
  if (c.sessionTimeout) p.unsupported("session_timeout (rustls keeps its own)", "session_timeout");
  if (c.ocspStaplePolicy !== OcspStaplePolicy.LENIENT_STAPLING) {
    p.unsupported(
      `ocsp_staple_policy ${enumName(OcspStaplePolicy, c.ocspStaplePolicy)}`,
      "ocsp_staple_policy",
    );
  }
  const requireClientCertificate = c.requireClientCertificate ?? false;
  if (requireClientCertificate && !common.validation && !common.pending) {
    p.report(
      "require_client_certificate needs a validation context to check the certificate with",
      "require_client_certificate",
    );
  }
  return {
    ...common,
    requireClientCertificate,
    requireSni: c.requireSni ?? false,
    handshakeTimeoutMs,
  };
}

/** Reads an UpstreamTlsContext. */
export function readClientContext(
  c: UpstreamTlsContext,
  p: Problems,
  secrets?: SecretLookup,
): ClientTlsSettings {
  const common = readCommon(c.commonTlsContext, false, p, secrets);
  if (common.certificates.length > 1) {
    p.report(
      "an upstream TLS context takes at most one certificate",
      "common_tls_context.tls_certificates",
    );
  }
  if (c.allowRenegotiation) {
    p.unsupported("renegotiation (rustls never renegotiates)", "allow_renegotiation");
  }
  return {
    ...common,
    sni: c.sni,
    maxSessionKeys: c.maxSessionKeys ?? 1,
  };
}

function snake(s: string): string {
  return s.replace(/[A-Z]/g, (m) => "_" + m.toLowerCase());
}

/** What is wrong with a secret's certificate or CA (an SDS update with problems is refused). */
export function secretProblems(secret: Secret): string[] {
  const out: string[] = [];
  const p: Problems = {
    report: (m, f) => out.push(`${f}: ${m}`),
    unsupported: (m, f) => out.push(`${f}: ${m} is not supported`),
  };
  if (secret.type.case === "tlsCertificate") {
    readCertificate(secret.type.value, `secret '${secret.name}'`, p);
  } else if (secret.type.case === "validationContext") {
    readValidation(secret.type.value, `secret '${secret.name}'`, p);
  }
  return out;
}
