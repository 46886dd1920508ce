/**
 * Certificate revocation lists (`validation_context.crl`): PEM `X509 CRL` blocks read with a
 * small DER reader (node:crypto has no CRL type), and the check OpenSSL's CRL_CHECK(_ALL) makes:
 * a certificate needs a CRL from its issuer — matched by issuer name, signature checked with the
 * issuer's key, not past its nextUpdate — that does not list its serial number.
 *
 * @module
 */
import { verify, type X509Certificate } from "node:crypto";

/** One parsed CRL. */
export interface Crl {
  /** The issuer Name, DER (compared byte for byte with certificates' issuer). */
  issuer: string;
  nextUpdateMs?: number;
  /** Revoked serial numbers, lower-case hex without leading zeros. */
  revoked: Set<string>;
  /** What the signature covers, the signature and its hash algorithm. */
  tbs: Uint8Array;
  signature: Uint8Array;
  hash: string | undefined;
}

interface Tlv {
  tag: number;
  start: number;
  content: number;
  end: number;
}

function tlv(b: Uint8Array, off: number): Tlv {
  const tag = b[off];
  let len = b[off + 1];
  let content = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error("unsupported DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[content + i];
    content += n;
  }
  const end = content + len;
  if (tag === undefined || end > b.length) throw new Error("truncated DER");
  return { tag, start: off, content, end };
}

function children(b: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = t.content; off < t.end;) {
    const c = tlv(b, off);
    out.push(c);
    off = c.end;
  }
  return out;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** A serial number as compared: lower-case hex without leading zeros. */
export function normalSerial(s: string): string {
  return s.toLowerCase().replace(/^0+(?=.)/, "");
}

function time(b: Uint8Array, t: Tlv): number {
  const s = new TextDecoder().decode(b.subarray(t.content, t.end));
  // UTCTime YYMMDDHHMMSSZ (years 1950-2049) or GeneralizedTime YYYYMMDDHHMMSSZ.
  const full = t.tag === 0x17 ? (Number(s.slice(0, 2)) >= 50 ? "19" : "20") + s : s;
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(full);
  if (!m) throw new Error(`unsupported time ${s}`);
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

/** Hash algorithms of the signature OIDs (DER content, hex) CRLs are signed with. */
const SIGNATURE_HASH: Record<string, string> = {
  "2a864886f70d01010b": "sha256", // sha256WithRSAEncryption
  "2a864886f70d01010c": "sha384",
  "2a864886f70d01010d": "sha512",
  "2a864886f70d010105": "sha1",
  "2a8648ce3d040302": "sha256", // ecdsa-with-SHA256
  "2a8648ce3d040303": "sha384",
  "2a8648ce3d040304": "sha512",
};

/** Parses every `X509 CRL` block of `pem`. */
export function parseCrls(pem: string): Crl[] {
  const blocks = pem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
  return blocks.map((block) => {
    const b64 = block.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    const der = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    const [tbsT, algT, sigT] = children(der, tlv(der, 0));
    const tbs = children(der, tbsT);
    let i = tbs[0].tag === 0x02 ? 1 : 0; // optional version
    i++; // signature algorithm
    const issuer = hex(der.subarray(tbs[i].start, tbs[i].end));
    i++;
    i++; // thisUpdate
    let nextUpdateMs: number | undefined;
    if (tbs[i] && (tbs[i].tag === 0x17 || tbs[i].tag === 0x18)) nextUpdateMs = time(der, tbs[i++]);
    const revoked = new Set<string>();
    if (tbs[i] && tbs[i].tag === 0x30) {
      for (const entry of children(der, tbs[i])) {
        const serial = children(der, entry)[0];
        revoked.add(normalSerial(hex(der.subarray(serial.content, serial.end))));
      }
    }
    const oid = children(der, algT)[0];
    return {
      issuer,
      nextUpdateMs,
      revoked,
      tbs: der.subarray(tbsT.start, tbsT.end),
      // A BIT STRING's first content byte counts unused bits (0 for signatures).
      signature: der.subarray(sigT.content + 1, sigT.end),
      hash: SIGNATURE_HASH[hex(der.subarray(oid.content, oid.end))],
    };
  });
}

/** A certificate's issuer Name, DER hex (what CRLs are matched by). */
export function issuerDer(cert: X509Certificate): string {
  const der = new Uint8Array(cert.raw);
  const tbs = children(der, children(der, tlv(der, 0))[0]);
  const i = tbs[0].tag === 0xa0 ? 3 : 2; // [0] version, serial, signature, issuer
  return hex(der.subarray(tbs[i].start, tbs[i].end));
}

/**
 * Why `cert` (issued by `issuer`) fails the CRL check at `nowMs`: "revoked", "no CRL" (none
 * from its issuer that verifies), "expired CRL"; undefined when it passes.
 */
export function crlProblem(
  crls: readonly Crl[],
  cert: X509Certificate,
  issuer: X509Certificate,
  nowMs: number,
): string | undefined {
  const name = issuerDer(cert);
  const crl = crls.find((c) =>
    c.issuer === name && c.hash !== undefined &&
    verify(c.hash, c.tbs, issuer.publicKey, c.signature)
  );
  if (!crl) return "no CRL";
  if (crl.nextUpdateMs !== undefined && crl.nextUpdateMs < nowMs) return "expired CRL";
  return crl.revoked.has(normalSerial(cert.serialNumber)) ? "revoked" : undefined;
}
