/**
 * Reads a PROXY protocol header (HAProxy's spec, v1 text and v2 binary) from a connection's
 * first bytes, with the decisions Envoy's listener filter makes: which version is present, when
 * to wait for more bytes, what is an error (closes the connection), what is a version the
 * config disallows, and (with allow_requests_without_proxy_protocol) when there is no header.
 */

/** The v2 signature. */
export const V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
const V1_SIGNATURE = new TextEncoder().encode("PROXY ");
const V2_HEADER_LEN = 16;
/** The longest v1 line (107 bytes plus CRLF), as Envoy bounds it. */
const MAX_V1_LEN = 108;
/** The most a header can take: the v2 fixed part and its 16-bit length. */
export const MAX_HEADER_LEN = V2_HEADER_LEN + 0xffff;

/** An address the header carries. */
export interface ProxyAddress {
  ip: string;
  port: number;
}

/** A TLV of a v2 header. */
export interface Tlv {
  type: number;
  value: Uint8Array;
}

/** What reading a header decided. */
export type ProxyHeaderResult =
  /** More bytes are needed. */
  | { state: "again"; version: 0 | 1 | 2 }
  /** No header, and the config allows that. */
  | { state: "not_found" }
  | { state: "error"; version: 0 | 1 | 2 }
  /** A version the config disallows. */
  | { state: "denied"; version: 1 | 2 }
  | {
    state: "done";
    version: 1 | 2;
    /** Bytes the header takes (to drain). */
    length: number;
    /** LOCAL command or v1 UNKNOWN: the connection's own addresses stand. */
    local: boolean;
    source?: ProxyAddress;
    destination?: ProxyAddress;
    tlvs: Tlv[];
  };

/** What the reader needs from the config. */
export interface ProxyHeaderOptions {
  allowV1: boolean;
  allowV2: boolean;
  allowWithoutProxyProtocol: boolean;
}

function startsWith(data: Uint8Array, sig: Uint8Array): boolean {
  const n = Math.min(data.length, sig.length);
  for (let i = 0; i < n; i++) if (data[i] !== sig[i]) return false;
  return true;
}

/** Reads the header at the start of `data`. */
export function readProxyHeader(data: Uint8Array, o: ProxyHeaderOptions): ProxyHeaderResult {
  if (o.allowWithoutProxyProtocol) {
    const v2 = o.allowV2 && startsWith(data, V2_SIGNATURE);
    const v1 = o.allowV1 && startsWith(data, V1_SIGNATURE);
    if (!v1 && !v2) return { state: "not_found" };
  }
  let version: 0 | 1 | 2 = 0;
  if (data.length >= V2_HEADER_LEN) {
    if (startsWith(data, V2_SIGNATURE)) version = 2;
    else if (!startsWith(data, V1_SIGNATURE)) return { state: "error", version: 0 };
  }
  if (version === 2) return readV2(data, o);
  // v1: the line ends at the first CRLF.
  const limit = Math.min(data.length, MAX_V1_LEN + 1);
  for (let i = 1; i < limit; i++) {
    if (data[i] === 0x0a && data[i - 1] === 0x0d) {
      // A CRLF at the very start might still be a v2 signature.
      if (i === 1) return { state: "again", version: 0 };
      if (!o.allowV1) return { state: "denied", version: 1 };
      return parseV1(data.subarray(0, i + 1));
    }
  }
  if (data.length > MAX_V1_LEN) return { state: "error", version: 0 };
  return { state: "again", version: 0 };
}

const decoder = new TextDecoder("latin1");

function parseV1(line: Uint8Array): ProxyHeaderResult {
  const error = { state: "error", version: 1 } as const;
  const parts = decoder.decode(line).trimEnd().split(" ").filter((p) => p !== "");
  if (parts.length < 2 || parts[0] !== "PROXY") return error;
  if (parts[1] === "UNKNOWN") {
    return { state: "done", version: 1, length: line.length, local: true, tlvs: [] };
  }
  if (parts.length !== 6 || (parts[1] !== "TCP4" && parts[1] !== "TCP6")) return error;
  const v6 = parts[1] === "TCP6";
  const src = v1Address(parts[2], parts[4], v6);
  const dst = v1Address(parts[3], parts[5], v6);
  if (!src || !dst) return error;
  return {
    state: "done",
    version: 1,
    length: line.length,
    local: false,
    source: src,
    destination: dst,
    tlvs: [],
  };
}

const V4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const V6_RE = /^[0-9a-fA-F:.]+$/;

/** A v1 address and port of the declared family that is unicast; undefined otherwise. */
function v1Address(ip: string, port: string, v6: boolean): ProxyAddress | undefined {
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return undefined;
  if (v6) {
    if (!V6_RE.test(ip) || !ip.includes(":")) return undefined;
    const norm = normalizeV6(ip);
    if (!norm) return undefined;
    return isUnicastV6(norm) ? { ip: formatV6(norm), port: Number(port) } : undefined;
  }
  if (!V4_RE.test(ip)) return undefined;
  return isUnicastV4(ip) ? { ip, port: Number(port) } : undefined;
}

function isUnicastV4(ip: string): boolean {
  const first = Number(ip.split(".")[0]);
  return ip !== "0.0.0.0" && ip !== "255.255.255.255" && !(first >= 224 && first <= 239);
}

/** Eight 16-bit groups of an IPv6 address; undefined if malformed. */
function normalizeV6(ip: string): number[] | undefined {
  let s = ip;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    if (!V4_RE.test(v4[1])) return undefined;
    const b = v4[1].split(".").map(Number);
    tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    s = s.slice(0, -v4[1].length);
    if (s.endsWith(":") && !s.endsWith("::")) s = s.slice(0, -1);
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parse = (h: string) => (h === "" ? [] : h.split(":"));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const groups = [...head, ...rest];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const total = groups.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const fill = new Array(8 - total).fill(0);
  return [
    ...head.map((g) => parseInt(g, 16)),
    ...(halves.length === 2 ? fill : []),
    ...rest.map((g) => parseInt(g, 16)),
    ...tail,
  ];
}

function isUnicastV6(g: number[]): boolean {
  return !g.every((x) => x === 0) && (g[0] >> 8) !== 0xff;
}

/** RFC 5952 text of eight groups (the longest run of zero groups, if 2+, becomes `::`). */
export function formatV6(g: number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}

function readV2(data: Uint8Array, o: ProxyHeaderOptions): ProxyHeaderResult {
  if (!o.allowV2) return { state: "denied", version: 2 };
  const error = { state: "error", version: 2 } as const;
  const verCmd = data[12];
  if (verCmd >> 4 !== 2) return error;
  const cmd = verCmd & 0x0f;
  const famProto = data[13];
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  const len = (data[14] << 8) | data[15];
  const whole = V2_HEADER_LEN + len;
  if (cmd === 0) {
    // LOCAL (a health check of the proxy itself): addresses and TLVs are ignored.
    if (data.length < whole) return { state: "again", version: 2 };
    return { state: "done", version: 2, length: whole, local: true, tlvs: [] };
  }
  const addrLen = family === 1 ? 12 : family === 2 ? 36 : -1;
  if (cmd !== 1 || addrLen < 0 || (transport !== 1 && transport !== 2)) return error;
  if (len < addrLen) return error;
  if (data.length < whole) return { state: "again", version: 2 };
  const a = data.subarray(V2_HEADER_LEN, V2_HEADER_LEN + addrLen);
  let source: ProxyAddress;
  let destination: ProxyAddress;
  if (family === 1) {
    source = { ip: a.subarray(0, 4).join("."), port: (a[8] << 8) | a[9] };
    destination = { ip: a.subarray(4, 8).join("."), port: (a[10] << 8) | a[11] };
    if (!isUnicastV4(source.ip) || !isUnicastV4(destination.ip)) return error;
  } else {
    const groups = (off: number) => {
      const g: number[] = [];
      for (let i = 0; i < 8; i++) g.push((a[off + 2 * i] << 8) | a[off + 2 * i + 1]);
      return g;
    };
    const s = groups(0);
    const d = groups(16);
    if (!isUnicastV6(s) || !isUnicastV6(d)) return error;
    source = { ip: formatV6(s), port: (a[32] << 8) | a[33] };
    destination = { ip: formatV6(d), port: (a[34] << 8) | a[35] };
  }
  const tlvs = parseTlvs(data.subarray(V2_HEADER_LEN + addrLen, whole));
  if (!tlvs) return error;
  return { state: "done", version: 2, length: whole, local: false, source, destination, tlvs };
}

/** The TLVs of a v2 header; undefined when one is truncated. */
function parseTlvs(b: Uint8Array): Tlv[] | undefined {
  const out: Tlv[] = [];
  for (let i = 0; i < b.length;) {
    if (i + 3 > b.length) return undefined;
    const type = b[i];
    const len = (b[i + 1] << 8) | b[i + 2];
    i += 3;
    if (i + len > b.length) return undefined;
    out.push({ type, value: b.subarray(i, i + len) });
    i += len;
  }
  return out;
}
