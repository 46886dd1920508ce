/**
 * A TLS ClientHello reader for tls_inspector: from the first bytes of a connection, tells
 * whether they are a TLS handshake, and if so the SNI, the ALPN list and the fields the JA3 and
 * JA4 fingerprints are made of. It reads what Envoy's BoringSSL-based inspector accepts: a
 * handshake record (TLS 3.x record version) carrying a ClientHello, possibly over several
 * records, of at most 16 KiB (BoringSSL's limit for messages that carry no certificate); a
 * malformed or oversized hello is "not TLS" (`tls_not_found`), as BoringSSL's parse error is.
 *
 * Parsing starts again from the first byte each time more bytes arrive: a hello is small, and
 * keeping no parser state per connection costs nothing on plain-TCP listeners, where the first
 * byte already decides.
 */

/** The bytes so far are a prefix of a ClientHello: wait for more. */
export const NEED_MORE = 0;
/** Not a (well-formed) TLS ClientHello. */
export const NOT_TLS = 1;
/** A complete ClientHello. */
export const CLIENT_HELLO = 2;

/** BoringSSL's largest handshake message without a certificate chain (ClientHello). */
export const MAX_CLIENT_HELLO_MESSAGE = 16384;
/** Largest plaintext record. */
const MAX_RECORD = 16384;
const HANDSHAKE = 22;
const CLIENT_HELLO_TYPE = 1;

/** What a ClientHello says, as far as tls_inspector and the fingerprints need. */
export interface ClientHello {
  /** `legacy_version` (0x0303 for TLS 1.2 and 1.3 clients). */
  version: number;
  cipherSuites: number[];
  /** Extension types in the order sent. */
  extensions: number[];
  /** SNI host name, if sent. */
  serverName: string | undefined;
  /** ALPN protocols in the client's order (empty when not sent). */
  alpn: string[];
  /** supported_groups (elliptic curves). */
  groups: number[];
  /** ec_point_formats. */
  pointFormats: number[];
  /** signature_algorithms, in order. */
  signatureAlgorithms: number[];
  /** supported_versions. */
  supportedVersions: number[];
}

/** The outcome of reading a connection's first bytes. */
export type ClientHelloResult =
  | { state: typeof NEED_MORE }
  | { state: typeof NOT_TLS }
  | { state: typeof CLIENT_HELLO; hello: ClientHello };

const NEED: ClientHelloResult = { state: NEED_MORE };
const NOT: ClientHelloResult = { state: NOT_TLS };

/** Whether a 16-bit value is a GREASE value (RFC 8701: 0x?a?a with equal bytes). */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);
}

/**
 * How far a read of a ClientHello got: where the next record starts and how many handshake
 * bytes the records before it held. Kept between calls so that a hello dripping in over many
 * reads (or many tiny records) costs time linear in its size, not quadratic.
 */
export class ClientHelloScan {
  off = 0;
  have = 0;
  /** The handshake message's length with its header, once known (-1 before). */
  need = -1;
}

/**
 * Reads the ClientHello in `data` (the connection's first bytes). `scan` carries progress from
 * an earlier call on a prefix of the same bytes.
 */
export function readClientHello(
  data: Uint8Array,
  scan?: ClientHelloScan,
): ClientHelloResult {
  if (data.length === 0) return NEED;
  if (data[0] !== HANDSHAKE) return NOT;
  if (data.length >= 2 && data[1] !== 3) return NOT;
  scan ??= new ClientHelloScan();
  // First pass, resumable: record headers only, until the whole message is there.
  while (scan.need < 0 || scan.have < scan.need) {
    const off = scan.off;
    if (data.length < off + 5) return NEED;
    if (data[off] !== HANDSHAKE || data[off + 1] !== 3) return NOT;
    const len = (data[off + 3] << 8) | data[off + 4];
    if (len > MAX_RECORD) return NOT;
    if (data.length < off + 5 + len) {
      // Decide on what a partial record already shows: the handshake header.
      if (scan.have === 0 && data.length >= off + 9) {
        if (headerCheck(data.subarray(off + 5)) === NOT_TLS) return NOT;
      }
      return NEED;
    }
    scan.off = off + 5 + len;
    scan.have += len;
    if (scan.need < 0 && scan.have >= 4) {
      const head = collect(data, scan.off, 4);
      if (headerCheck(head) === NOT_TLS) return NOT;
      scan.need = 4 + ((head[1] << 16) | (head[2] << 8) | head[3]);
    }
  }
  // Second pass, once: the message's bytes (no copy when one record holds them).
  const whole = collect(data, scan.off, scan.need);
  const hello = parseBody(whole.subarray(4, scan.need));
  // Bytes after the ClientHello in its record would be another handshake message: BoringSSL
  // reads the hello alone first, so they do not matter here.
  return hello ? { state: CLIENT_HELLO, hello } : NOT;
}

/** The first `n` handshake bytes of the (checked) records in `data[0, end)`. */
function collect(data: Uint8Array, end: number, n: number): Uint8Array {
  const firstLen = (data[3] << 8) | data[4];
  if (firstLen >= n) return data.subarray(5, 5 + n);
  const out = new Uint8Array(n);
  let o = 0;
  for (let off = 0; off < end && o < n;) {
    const len = (data[off + 3] << 8) | data[off + 4];
    const take = Math.min(len, n - o);
    out.set(data.subarray(off + 5, off + 5 + take), o);
    o += take;
    off += 5 + len;
  }
  return out;
}

/** Checks a handshake header: a ClientHello of acceptable length. */
function headerCheck(h: Uint8Array): typeof NEED_MORE | typeof NOT_TLS {
  if (h[0] !== CLIENT_HELLO_TYPE) return NOT_TLS;
  if (h.length < 4) return NEED_MORE;
  const len = (h[1] << 16) | (h[2] << 8) | h[3];
  return len > MAX_CLIENT_HELLO_MESSAGE ? NOT_TLS : NEED_MORE;
}

const decoder = new TextDecoder("latin1");

/** Parses a ClientHello body; undefined when it is malformed. */
function parseBody(b: Uint8Array): ClientHello | undefined {
  let p = 0;
  const u8 = () => (p < b.length ? b[p++] : -1);
  const u16 = () => (p + 2 <= b.length ? ((b[p++] << 8) | b[p++]) : -1);
  const version = u16();
  if (version < 0 || p + 32 > b.length) return undefined;
  p += 32;
  const sid = u8();
  if (sid < 0 || sid > 32 || p + sid > b.length) return undefined;
  p += sid;
  const csLen = u16();
  if (csLen < 2 || csLen % 2 !== 0 || p + csLen > b.length) return undefined;
  const cipherSuites: number[] = [];
  for (const end = p + csLen; p < end;) cipherSuites.push(u16());
  const compLen = u8();
  if (compLen < 1 || p + compLen > b.length) return undefined;
  p += compLen;
  const hello: ClientHello = {
    version,
    cipherSuites,
    extensions: [],
    serverName: undefined,
    alpn: [],
    groups: [],
    pointFormats: [],
    signatureAlgorithms: [],
    supportedVersions: [],
  };
  if (p === b.length) return hello;
  const extLen = u16();
  if (extLen < 0 || p + extLen !== b.length) return undefined;
  const seen = new Set<number>();
  while (p < b.length) {
    const type = u16();
    const len = u16();
    if (type < 0 || len < 0 || p + len > b.length || seen.has(type)) return undefined;
    seen.add(type);
    hello.extensions.push(type);
    const body = b.subarray(p, p + len);
    p += len;
    if (!parseExtension(type, body, hello)) return undefined;
  }
  return hello;
}

/** A 16-bit-length-prefixed list of 16-bit values; undefined when malformed. */
function u16List(e: Uint8Array, lenBytes: 1 | 2): number[] | undefined {
  if (e.length < lenBytes) return undefined;
  const n = lenBytes === 2 ? (e[0] << 8) | e[1] : e[0];
  if (n + lenBytes !== e.length || n % 2 !== 0) return undefined;
  const out: number[] = [];
  for (let i = lenBytes; i < e.length; i += 2) out.push((e[i] << 8) | e[i + 1]);
  return out;
}

function parseExtension(type: number, e: Uint8Array, h: ClientHello): boolean {
  switch (type) {
    case 0: { // server_name
      if (e.length < 2 || ((e[0] << 8) | e[1]) + 2 !== e.length) return false;
      for (let i = 2; i < e.length;) {
        if (i + 3 > e.length) return false;
        const kind = e[i];
        const n = (e[i + 1] << 8) | e[i + 2];
        i += 3;
        if (i + n > e.length) return false;
        if (kind === 0 && h.serverName === undefined) {
          const name = e.subarray(i, i + n);
          if (n === 0 || name.includes(0)) return false;
          h.serverName = decoder.decode(name);
        }
        i += n;
      }
      return true;
    }
    case 16: { // application_layer_protocol_negotiation
      if (e.length < 2 || ((e[0] << 8) | e[1]) + 2 !== e.length || e.length === 2) return false;
      for (let i = 2; i < e.length;) {
        const n = e[i++];
        if (n === 0 || i + n > e.length) return false;
        h.alpn.push(decoder.decode(e.subarray(i, i + n)));
        i += n;
      }
      return true;
    }
    case 10: { // supported_groups
      const l = u16List(e, 2);
      if (!l) return false;
      h.groups = l;
      return true;
    }
    case 11: { // ec_point_formats
      if (e.length < 1 || e[0] + 1 !== e.length) return false;
      h.pointFormats = Array.from(e.subarray(1));
      return true;
    }
    case 13: { // signature_algorithms
      const l = u16List(e, 2);
      if (!l) return false;
      h.signatureAlgorithms = l;
      return true;
    }
    case 43: { // supported_versions
      const l = u16List(e, 1);
      if (!l) return false;
      h.supportedVersions = l;
      return true;
    }
    default:
      return true;
  }
}
