/**
 * PROXY protocol headers as Envoy writes them upstream (HAProxy's spec: v1 text, v2 binary with
 * TLVs), and the connection facts the downstream listener filter leaves for that: the filter
 * state object `envoy.network.proxy_protocol.options` (addresses and pass-through TLVs).
 */

/** Filter state key of the PROXY protocol facts of a downstream connection (Envoy's). */
export const PROXY_PROTOCOL_FILTER_STATE_KEY = "envoy.network.proxy_protocol.options";

/** One TLV (type and value). */
export interface ProxyProtocolTlv {
  type: number;
  value: Uint8Array;
}

/** What a header says: where the proxied connection came from and went to, and its TLVs. */
export interface ProxyProtocolData {
  /** `ip` and `port` of the source and destination. */
  sourceIp: string;
  sourcePort: number;
  destinationIp: string;
  destinationPort: number;
  /** TLVs passed through (v2 only). */
  tlvs: readonly ProxyProtocolTlv[];
}

const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

const isV6 = (ip: string) => ip.includes(":");

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) as plain IPv4, as Envoy treats dual-stack peers. */
function unmap(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1] : ip;
}

/**
 * A v1 header line. Addresses of different families cannot share a line: the header then says
 * `PROXY UNKNOWN`, as Envoy's does.
 */
export function v1Header(d: ProxyProtocolData): Uint8Array {
  const src = unmap(d.sourceIp);
  const dst = unmap(d.destinationIp);
  if (isV6(src) !== isV6(dst)) return new TextEncoder().encode("PROXY UNKNOWN\r\n");
  const fam = isV6(src) ? "TCP6" : "TCP4";
  return new TextEncoder().encode(
    `PROXY ${fam} ${src} ${dst} ${d.sourcePort} ${d.destinationPort}\r\n`,
  );
}

/** Bytes of an IPv4 address. */
function v4Bytes(ip: string): number[] {
  return ip.split(".").map(Number);
}

/** Bytes of an IPv6 address (IPv4 written as IPv4-mapped). */
function v6Bytes(ip: string): number[] {
  if (!isV6(ip)) return [...new Array(10).fill(0), 0xff, 0xff, ...v4Bytes(ip)];
  let s = ip;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    tail.push(...v4Bytes(v4[1]));
    s = s.slice(0, -v4[1].length);
    if (s.endsWith(":") && !s.endsWith("::")) s = s.slice(0, -1);
  }
  const [h, t] = s.split("::");
  const head = h ? h.split(":") : [];
  const rest = t ? t.split(":") : [];
  const groups = [
    ...head,
    ...new Array(8 - head.length - rest.length - tail.length / 2).fill("0"),
    ...rest,
  ];
  return [...groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]), ...tail];
}

/**
 * A v2 header (PROXY command over TCP) with `tlvs`; a LOCAL header when `d` is undefined.
 * Mixed families are written as IPv6 (IPv4 mapped), as Envoy does.
 */
export function v2Header(
  d: ProxyProtocolData | undefined,
  tlvs: readonly ProxyProtocolTlv[] = [],
): Uint8Array {
  if (!d) return new Uint8Array([...V2_SIGNATURE, 0x20, 0x00, 0, 0]);
  const src = unmap(d.sourceIp);
  const dst = unmap(d.destinationIp);
  const v6 = isV6(src) || isV6(dst);
  const addr = v6 ? [...v6Bytes(src), ...v6Bytes(dst)] : [...v4Bytes(src), ...v4Bytes(dst)];
  addr.push(
    d.sourcePort >> 8,
    d.sourcePort & 0xff,
    d.destinationPort >> 8,
    d.destinationPort & 0xff,
  );
  const t = tlvs.flatMap((x) => [x.type, x.value.length >> 8, x.value.length & 0xff, ...x.value]);
  const len = addr.length + t.length;
  return new Uint8Array([
    ...V2_SIGNATURE,
    0x21,
    v6 ? 0x21 : 0x11,
    len >> 8,
    len & 0xff,
    ...addr,
    ...t,
  ]);
}
