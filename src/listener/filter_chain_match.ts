/**
 * Filter chain selection as Envoy does it: criteria are checked in a fixed order (destination
 * port, destination IP, server name, transport protocol, application protocols, source type,
 * source IP, source port); at each step the most specific match wins, and chains that leave a
 * criterion empty match only when no chain names it specifically.
 */
import type {
  FilterChain,
  FilterChainMatch,
} from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import type { CidrRange } from "../../proto/gen/envoy/config/core/v3/address_pb.ts";

/** What is known about a connection when its chain is chosen. */
export interface ConnectionFacts {
  destinationIp: string;
  destinationPort: number;
  sourceIp: string;
  sourcePort: number;
  /** SNI, when a TLS inspector found one. */
  serverName?: string;
  /** "raw_buffer" unless a listener filter detected TLS. */
  transportProtocol: string;
  applicationProtocols: string[];
}

/** A parsed CIDR range. */
interface Cidr {
  v6: boolean;
  bits: bigint;
  len: number;
}

/** Parses an IPv4 or IPv6 address into 128-bit form; undefined if it is not an IP. */
export function parseIp(ip: string): { v6: boolean; value: bigint } | undefined {
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) {
    let v = 0n;
    for (let i = 1; i <= 4; i++) {
      const n = Number(v4[i]);
      if (n > 255) return undefined;
      v = (v << 8n) | BigInt(n);
    }
    return { v6: false, value: v };
  }
  if (!ip.includes(":")) return undefined;
  // IPv4-mapped IPv6 compares as IPv4, as Envoy does for dual-stack sockets.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return parseIp(mapped[1]);
  const [head, tail] = ip.split("::");
  if (ip.split("::").length > 2) return undefined;
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined && missing !== 0) return undefined;
  const groups = [...h, ...Array(Math.max(0, missing)).fill("0"), ...t];
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return { v6: true, value: v };
}

function compileCidr(r: CidrRange): Cidr {
  const ip = parseIp(r.addressPrefix);
  if (!ip) throw new Error(`invalid CIDR address '${r.addressPrefix}'`);
  const max = ip.v6 ? 128 : 32;
  const len = r.prefixLen ?? 0;
  if (len > max) throw new Error(`CIDR prefix length ${len} is too long for ${r.addressPrefix}`);
  const shift = BigInt(max - len);
  return { v6: ip.v6, bits: (ip.value >> shift) << shift, len };
}

/** Length of the longest range containing `ip`, or -1. */
function longestMatch(ranges: Cidr[], ip: { v6: boolean; value: bigint } | undefined): number {
  if (!ip) return -1;
  let best = -1;
  for (const r of ranges) {
    if (r.v6 !== ip.v6 || r.len <= best) continue;
    const shift = BigInt((r.v6 ? 128 : 32) - r.len);
    if ((ip.value >> shift) << shift === r.bits) best = r.len;
  }
  return best;
}

/** Whether `name` matches a server_names entry (exact, or `*.suffix` wildcard). */
function serverNameScore(names: string[], sni: string | undefined): number {
  if (!sni) return -1;
  const host = sni.toLowerCase();
  let best = -1;
  for (const n of names) {
    const p = n.toLowerCase();
    if (p === host) return Number.MAX_SAFE_INTEGER;
    if (p.startsWith("*.") && host.endsWith(p.slice(1)) && p.length > best) best = p.length;
  }
  return best;
}

/** A chain with its match criteria compiled. */
interface CompiledChain<T> {
  value: T;
  m: FilterChainMatch | undefined;
  prefixRanges: Cidr[];
  sourceRanges: Cidr[];
}

/**
 * Picks a filter chain for connections, given the listener's chains (and its default chain).
 * `T` is whatever the caller built for each chain (its network filter factories).
 */
export class FilterChainMatcher<T> {
  readonly #chains: CompiledChain<T>[];

  constructor(chains: { config: FilterChain; value: T }[], readonly defaultChain?: T) {
    this.#chains = chains.map(({ config, value }) => ({
      value,
      m: config.filterChainMatch,
      prefixRanges: (config.filterChainMatch?.prefixRanges ?? []).map(compileCidr),
      sourceRanges: (config.filterChainMatch?.sourcePrefixRanges ?? []).map(compileCidr),
    }));
  }

  /** The chain for a connection, or undefined (Envoy closes such connections). */
  select(f: ConnectionFacts): T | undefined {
    let c = this.#chains;
    const dst = parseIp(f.destinationIp);
    const src = parseIp(f.sourceIp);
    // Each stage scores chains: -1 = mismatch, 0 = criterion not set, >0 = specific match.
    const stages: ((x: CompiledChain<T>) => number)[] = [
      (x) =>
        x.m?.destinationPort === undefined ? 0 : x.m.destinationPort === f.destinationPort ? 1 : -1,
      (x) => x.prefixRanges.length === 0 ? 0 : longestMatch(x.prefixRanges, dst) + 1 || -1,
      (x) =>
        !x.m?.serverNames.length ? 0 : serverNameScore(x.m.serverNames, f.serverName) + 1 || -1,
      (x) => !x.m?.transportProtocol ? 0 : x.m.transportProtocol === f.transportProtocol ? 1 : -1,
      (x) =>
        !x.m?.applicationProtocols.length
          ? 0
          : x.m.applicationProtocols.some((p) => f.applicationProtocols.includes(p))
          ? 1
          : -1,
      (x) => {
        // SourceType: 0 ANY, 1 SAME_IP_OR_LOOPBACK, 2 EXTERNAL.
        const t = x.m?.sourceType ?? 0;
        if (t === 0) return 0;
        const local = f.sourceIp === f.destinationIp ||
          /^(127\.|::1$|::ffff:127\.)/.test(f.sourceIp);
        return (t === 1) === local ? 1 : -1;
      },
      (x) => x.sourceRanges.length === 0 ? 0 : longestMatch(x.sourceRanges, src) + 1 || -1,
      (x) => !x.m?.sourcePorts.length ? 0 : x.m.sourcePorts.includes(f.sourcePort) ? 1 : -1,
    ];
    for (const score of stages) {
      let best = -1;
      let kept: CompiledChain<T>[] = [];
      for (const x of c) {
        const s = score(x);
        if (s < 0) continue;
        if (s > best) {
          best = s;
          kept = [x];
        } else if (s === best) kept.push(x);
      }
      c = kept;
      if (c.length === 0) return this.defaultChain;
    }
    return c[0]?.value ?? this.defaultChain;
  }
}
