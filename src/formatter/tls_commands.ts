/**
 * TLS operators (`%DOWNSTREAM_TLS_VERSION%`, `%DOWNSTREAM_PEER_SUBJECT%`, `%UPSTREAM_PEER_DNS_SAN%`,
 * `%DOWNSTREAM_PEER_CERT_V_START(...)%`, `%TLS_JA3_FINGERPRINT%`, ...). They read what the TLS
 * transport sockets record on StreamInfo; on a plain TCP connection there is nothing to read
 * and they print `-` (JSON null), as Envoy does. Lists (SANs, chain fingerprints) are joined
 * with commas; empty values count as unset.
 */
import type { StreamInfo, TlsConnectionInfo, TlsSans } from "../stream_info/stream_info.ts";
import type { CommandSpec, CommandTable } from "./command.ts";
import { stringProvider } from "./provider.ts";
import { compileTimeFormat } from "./time_format.ts";

type Side = (si: StreamInfo) => TlsConnectionInfo | undefined;
type Field = (tls: TlsConnectionInfo) => string | readonly string[] | undefined;

const downstream: Side = (si) => si.downstreamTls;
const upstream: Side = (si) => si.upstreamTls;

function tlsOperator(side: Side, field: Field): CommandSpec {
  return {
    params: "none",
    create: () =>
      stringProvider((ctx) => {
        const tls = side(ctx.streamInfo);
        if (!tls) return undefined;
        const v = field(tls);
        const s = typeof v === "string" || v === undefined ? v : v.join(",");
        return s || undefined;
      }),
  };
}

/** A certificate validity time, formatted like START_TIME. */
function certTime(side: Side, get: (tls: TlsConnectionInfo) => number | undefined): CommandSpec {
  return {
    params: "optional",
    create(arg) {
      const format = compileTimeFormat(arg);
      return stringProvider((ctx) => {
        const tls = side(ctx.streamInfo);
        const t = tls ? get(tls) : undefined;
        return t === undefined ? undefined : format(t);
      });
    },
  };
}

/** Envoy's URL-encoded PEM (so the certificate stays on one log line). */
const urlEncodedPem: Field = (t) =>
  t.peerCertificatePem === undefined ? undefined : encodeURIComponent(t.peerCertificatePem);

/** The SAN operators of one side and certificate, e.g. `DOWNSTREAM_PEER_URI_SAN`. */
function sanOperators(
  prefix: string,
  side: Side,
  sans: (t: TlsConnectionInfo) => TlsSans | undefined,
  kinds = SAN_KINDS,
): CommandTable {
  const table: CommandTable = {};
  for (const [name, key] of kinds) {
    table[`${prefix}_${name}_SAN`] = tlsOperator(side, (t) => sans(t)?.[key]);
  }
  return table;
}

const SAN_KINDS: [string, keyof TlsSans][] = [
  ["URI", "uri"],
  ["DNS", "dns"],
  ["IP", "ip"],
  ["EMAIL", "email"],
  ["OTHERNAME", "otherName"],
];
// Envoy logs only these kinds for upstream certificates.
const UPSTREAM_SAN_KINDS = SAN_KINDS.slice(0, 3);

const peerSans = (t: TlsConnectionInfo) => t.peerSans;
const localSans = (t: TlsConnectionInfo) => t.localSans;
const upstreamSans = sanOperators("UPSTREAM_PEER", upstream, peerSans, UPSTREAM_SAN_KINDS);
const upstreamLocalSans = sanOperators("UPSTREAM_LOCAL", upstream, localSans, UPSTREAM_SAN_KINDS);

/** TLS operators by name. */
export const TLS_COMMANDS: CommandTable = {
  ...sanOperators("DOWNSTREAM_PEER", downstream, peerSans),
  ...sanOperators("DOWNSTREAM_LOCAL", downstream, localSans),
  DOWNSTREAM_LOCAL_SUBJECT: tlsOperator(downstream, (t) => t.localSubject),
  DOWNSTREAM_PEER_SUBJECT: tlsOperator(downstream, (t) => t.peerSubject),
  DOWNSTREAM_PEER_ISSUER: tlsOperator(downstream, (t) => t.peerIssuer),
  DOWNSTREAM_TLS_SESSION_ID: tlsOperator(downstream, (t) => t.sessionId),
  DOWNSTREAM_TLS_CIPHER: tlsOperator(downstream, (t) => t.cipherSuite),
  DOWNSTREAM_TLS_VERSION: tlsOperator(downstream, (t) => t.tlsVersion),
  DOWNSTREAM_PEER_FINGERPRINT_256: tlsOperator(downstream, (t) => t.peerFingerprint256),
  DOWNSTREAM_PEER_FINGERPRINT_1: tlsOperator(downstream, (t) => t.peerFingerprint1),
  DOWNSTREAM_PEER_SERIAL: tlsOperator(downstream, (t) => t.peerSerial),
  DOWNSTREAM_PEER_CHAIN_FINGERPRINTS_256: tlsOperator(
    downstream,
    (t) => t.peerChainFingerprints256,
  ),
  DOWNSTREAM_PEER_CHAIN_FINGERPRINTS_1: tlsOperator(downstream, (t) => t.peerChainFingerprints1),
  DOWNSTREAM_PEER_CHAIN_SERIALS: tlsOperator(downstream, (t) => t.peerChainSerials),
  DOWNSTREAM_PEER_CERT: tlsOperator(downstream, urlEncodedPem),
  DOWNSTREAM_PEER_CERT_V_START: certTime(downstream, (t) => t.peerValidFrom),
  DOWNSTREAM_PEER_CERT_V_END: certTime(downstream, (t) => t.peerExpiration),
  // tls_inspector's fingerprints: connection facts, there without TLS termination too.
  TLS_JA3_FINGERPRINT: {
    params: "none",
    create: () => stringProvider((ctx) => ctx.streamInfo.ja3Hash || undefined),
  },
  TLS_JA4_FINGERPRINT: {
    params: "none",
    create: () => stringProvider((ctx) => ctx.streamInfo.ja4Hash || undefined),
  },
  ...upstreamSans,
  ...upstreamLocalSans,
  UPSTREAM_PEER_SUBJECT: tlsOperator(upstream, (t) => t.peerSubject),
  UPSTREAM_PEER_ISSUER: tlsOperator(upstream, (t) => t.peerIssuer),
  UPSTREAM_TLS_SESSION_ID: tlsOperator(upstream, (t) => t.sessionId),
  UPSTREAM_TLS_CIPHER: tlsOperator(upstream, (t) => t.cipherSuite),
  UPSTREAM_TLS_VERSION: tlsOperator(upstream, (t) => t.tlsVersion),
  UPSTREAM_PEER_CERT: tlsOperator(upstream, urlEncodedPem),
  UPSTREAM_PEER_CERT_V_START: certTime(upstream, (t) => t.peerValidFrom),
  UPSTREAM_PEER_CERT_V_END: certTime(upstream, (t) => t.peerExpiration),
};
