/**
 * ClientHello fingerprints as Envoy's tls_inspector computes them: JA3 (the MD5 of
 * `version,ciphers,extensions,groups,point formats`, GREASE values left out) and JA4 (FoxIO's
 * `t13d1516h2_<ciphers hash>_<extensions and signature algorithms hash>`).
 */
import { createHash } from "node:crypto";
import { type ClientHello, isGrease } from "./client_hello.ts";

const noGrease = (v: number) => !isGrease(v);

/** The JA3 string (before hashing). */
export function ja3String(h: ClientHello): string {
  return [
    String(h.version),
    h.cipherSuites.filter(noGrease).join("-"),
    h.extensions.filter(noGrease).join("-"),
    h.groups.filter(noGrease).join("-"),
    h.pointFormats.join("-"),
  ].join(",");
}

/** The JA3 fingerprint: MD5 of the JA3 string, in hex. */
export function ja3Hash(h: ClientHello): string {
  return createHash("md5").update(ja3String(h)).digest("hex");
}

/** JA4's two-character TLS version. */
function ja4Version(h: ClientHello): string {
  const versions = h.supportedVersions.filter(noGrease);
  const v = versions.length > 0 ? Math.max(...versions) : h.version;
  switch (v) {
    case 0x0304:
      return "13";
    case 0x0303:
      return "12";
    case 0x0302:
      return "11";
    case 0x0301:
      return "10";
    case 0x0300:
      return "s3";
    case 0x0002:
      return "s2";
    case 0xfeff:
      return "d1";
    case 0xfefd:
      return "d2";
    case 0xfefc:
      return "d3";
    default:
      return "00";
  }
}

const isAlnum = (c: number) =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** JA4's ALPN part: first and last character of the first protocol ("00" when none). */
function ja4Alpn(h: ClientHello): string {
  const a = h.alpn[0];
  if (!a) return "00";
  const first = a.charCodeAt(0);
  const last = a.charCodeAt(a.length - 1);
  if (isAlnum(first) && isAlnum(last)) return a[0] + a[a.length - 1];
  // Non-alphanumeric: the first and last characters of the value's hex form.
  const hex = Array.from(a, (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
  return hex[0] + hex[hex.length - 1];
}

const hex4 = (v: number) => v.toString(16).padStart(4, "0");
const two = (n: number) => String(Math.min(n, 99)).padStart(2, "0");

/** The first 12 hex digits of SHA-256 of `s` ("000000000000" for an empty list). */
function truncatedSha256(s: string): string {
  if (s === "") return "000000000000";
  return createHash("sha256").update(s).digest("hex").slice(0, 12);
}

/** The JA4 fingerprint (TCP). */
export function ja4(h: ClientHello): string {
  const ciphers = h.cipherSuites.filter(noGrease);
  const exts = h.extensions.filter(noGrease);
  const a = `t${ja4Version(h)}${h.serverName !== undefined ? "d" : "i"}${two(ciphers.length)}${
    two(exts.length)
  }${ja4Alpn(h)}`;
  const b = truncatedSha256(ciphers.map(hex4).sort().join(","));
  const sorted = exts.filter((e) => e !== 0x0000 && e !== 0x0010).map(hex4).sort().join(",");
  const sigs = h.signatureAlgorithms.filter(noGrease).map(hex4).join(",");
  const c = exts.length === 0
    ? "000000000000"
    : truncatedSha256(sigs ? `${sorted}_${sigs}` : sorted);
  return `${a}_${b}_${c}`;
}
