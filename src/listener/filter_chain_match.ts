/**
 * Filter chain selection by `filter_chain_match`, as Envoy does it: criteria are checked in a
 * fixed order (destination port, destination IP, server name, transport protocol, application
 * protocols, directly connected source IP, source type, source IP, source port); at each step
 * the most specific match wins, and chains that leave a criterion empty match only when no
 * chain names it specifically. Once a step picked its chains there is no going back: a
 * connection whose specific chains fail a later step matches nothing (then the default chain).
 */
import type {
  FilterChain,
  FilterChainMatch,
} from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import type { CidrRange } from "../../proto/gen/envoy/config/core/v3/address_pb.ts";

/** What is known about a connection when its chain is chosen. */
export interface ConnectionFacts {
  /** The local address (restored by a listener filter such as proxy_protocol, if any). */
  destinationIp: string;
  destinationPort: number;
  /** The remote address (the PROXY protocol source, when a header gave one). */
  sourceIp: string;
  sourcePort: number;
  /** The peer of the socket itself, whatever a listener filter restored. */
  directSourceIp: string;
  /** SNI, when a TLS inspector found one. */
  serverName?: string;
  /** "raw_buffer" unless a listener filter detected TLS. */
  transportProtocol: string;
  /** ALPN (tls_inspector) or the sniffed HTTP version (http_inspector), in the client's order. */
  applicationProtocols: readonly string[];
}

/** An IP address in comparable form (32 or 128 bits). */
export interface ParsedIp {
  v6: boolean;
  value: bigint;
}

/** A parsed CIDR range. */
export interface Cidr {
  v6: boolean;
  /** The network bits. */
  bits: bigint;
  len: number;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses an IPv4 or IPv6 address; undefined if it is not an IP. */
export function parseIp(ip: string): ParsedIp | undefined {
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  const v4 = V4.exec(ip);
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
  const parts = ip.split("::");
  if (parts.length > 2) return undefined;
  const [head, tail] = parts;
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

/** The network part of `ip` under a prefix of `len` bits. */
function network(ip: ParsedIp, len: number): bigint {
  const shift = BigInt((ip.v6 ? 128 : 32) - len);
  return (ip.value >> shift) << shift;
}

/** Compiles a `CidrRange`; throws for an address that is not an IP or a too long prefix. */
export function compileCidr(r: CidrRange): Cidr {
  const ip = parseIp(r.addressPrefix);
  if (!ip) throw new Error(`malformed IP address: ${r.addressPrefix}`);
  const max = ip.v6 ? 128 : 32;
  const len = r.prefixLen ?? 0;
  if (len > max) {
    throw new Error(`invalid prefix length ${len} for ${r.addressPrefix}: at most ${max}`);
  }
  return { v6: ip.v6, bits: network(ip, len), len };
}

/** Length of the longest range containing `ip`, or -1. */
export function longestMatch(ranges: readonly Cidr[], ip: ParsedIp | undefined): number {
  if (!ip) return -1;
  let best = -1;
  for (const r of ranges) {
    if (r.v6 !== ip.v6 || r.len <= best) continue;
    if (network(ip, r.len) === r.bits) best = r.len;
  }
  return best;
}

/** Whether `name` is a wildcard server name Envoy accepts (`*.suffix`). */
function isWildcardServerName(name: string): boolean {
  return name.startsWith("*.");
}

/**
 * Score of an SNI against server_names: exact beats any wildcard, a longer wildcard suffix
 * beats a shorter one (`*.b.example.com` before `*.example.com`); -1 when none matches.
 */
function serverNameScore(names: readonly string[], sni: string | undefined): number {
  if (!sni) return -1;
  const host = sni.toLowerCase();
  let best = -1;
  for (const p of names) {
    if (p === host) return Number.MAX_SAFE_INTEGER;
    if (isWildcardServerName(p) && p.length > best && host.endsWith(p.slice(1))) best = p.length;
  }
  return best;
}

/** Whether the remote address is this host (loopback or the local address): SAME_IP_OR_LOOPBACK. */
export function isSameIpOrLoopback(sourceIp: string, destinationIp: string): boolean {
  return sourceIp === destinationIp || sourceIp.startsWith("127.") || sourceIp === "::1" ||
    sourceIp.startsWith("::ffff:127.");
}

/** A chain with its match criteria compiled. */
interface CompiledChain<T> {
  value: T;
  destinationPort: number | undefined;
  prefixRanges: Cidr[];
  serverNames: string[];
  transportProtocol: string;
  applicationProtocols: readonly string[];
  directSourceRanges: Cidr[];
  sourceType: number;
  sourceRanges: Cidr[];
  sourcePorts: readonly number[];
}

/** The steps, in Envoy's order. */
const STEPS = 9;

/**
 * Checks a chain's `filter_chain_match` as Envoy does when it adds the chain (partial wildcards
 * in server_names, bad CIDR ranges, the unimplemented suffix fields); throws with the reason.
 */
function compileChain<T>(value: T, m: FilterChainMatch | undefined): CompiledChain<T> {
  if (m?.addressSuffix || m?.suffixLen !== undefined) {
    throw new Error(
      "filter chain match contains unimplemented fields (address_suffix, suffix_len)",
    );
  }
  const serverNames = (m?.serverNames ?? []).map((n) => {
    if (n.includes("*") && !isWildcardServerName(n)) {
      throw new Error(`partial wildcards are not supported in "server_names"`);
    }
    return n.toLowerCase();
  });
  return {
    value,
    destinationPort: m?.destinationPort,
    prefixRanges: (m?.prefixRanges ?? []).map(compileCidr),
    serverNames,
    transportProtocol: m?.transportProtocol ?? "",
    applicationProtocols: m?.applicationProtocols ?? [],
    directSourceRanges: (m?.directSourcePrefixRanges ?? []).map(compileCidr),
    sourceType: m?.sourceType ?? 0,
    sourceRanges: (m?.sourcePrefixRanges ?? []).map(compileCidr),
    sourcePorts: m?.sourcePorts ?? [],
  };
}

/** A canonical form of a chain's criteria, to find two chains with the same rules. */
function criteriaKey(c: CompiledChain<unknown>): string {
  const cidrs = (r: Cidr[]) => r.map((x) => `${x.bits}/${x.len}`).sort().join(",");
  return JSON.stringify([
    c.destinationPort ?? 0,
    cidrs(c.prefixRanges),
    [...c.serverNames].sort(),
    c.transportProtocol,
    [...c.applicationProtocols].sort(),
    cidrs(c.directSourceRanges),
    c.sourceType,
    cidrs(c.sourceRanges),
    [...c.sourcePorts].sort(),
  ]);
}

/** Whether a chain sets no criterion at all. */
function matchesAll(c: CompiledChain<unknown>): boolean {
  return c.destinationPort === undefined && c.prefixRanges.length === 0 &&
    c.serverNames.length === 0 && c.transportProtocol === "" &&
    c.applicationProtocols.length === 0 && c.directSourceRanges.length === 0 &&
    c.sourceType === 0 && c.sourceRanges.length === 0 && c.sourcePorts.length === 0;
}

/**
 * Picks a filter chain for connections, given the listener's chains (and its default chain).
 * `T` is whatever the caller built for each chain (its network filter factories).
 */
export class FilterChainMatcher<T> {
  readonly #chains: CompiledChain<T>[];
  /** The one chain every connection gets, when the listener has a single chain without criteria. */
  readonly #only: T | undefined;
  /** Which steps some chain uses: the others are skipped (no address parsing for them). */
  readonly #used: boolean[];

  /**
   * @throws {Error} for criteria Envoy refuses, and for two chains with the same rules
   *   (`filter chain '<b>' has the same matching rules defined as '<a>'`).
   */
  constructor(chains: { config: FilterChain; value: T }[], readonly defaultChain?: T) {
    this.#chains = chains.map(({ config, value }) => compileChain(value, config.filterChainMatch));
    const seen = new Map<string, string>();
    this.#chains.forEach((c, i) => {
      const key = criteriaKey(c);
      const prev = seen.get(key);
      const name = chains[i].config.name;
      if (prev !== undefined) {
        throw new Error(`filter chain '${name}' has the same matching rules defined as '${prev}'`);
      }
      seen.set(key, name);
    });
    this.#only = this.#chains.length === 1 && matchesAll(this.#chains[0])
      ? this.#chains[0].value
      : undefined;
    const any = (f: (c: CompiledChain<T>) => boolean) => this.#chains.some(f);
    this.#used = [
      any((c) => c.destinationPort !== undefined),
      any((c) => c.prefixRanges.length > 0),
      any((c) => c.serverNames.length > 0),
      any((c) => c.transportProtocol !== ""),
      any((c) => c.applicationProtocols.length > 0),
      any((c) => c.directSourceRanges.length > 0),
      any((c) => c.sourceType !== 0),
      any((c) => c.sourceRanges.length > 0),
      any((c) => c.sourcePorts.length > 0),
    ];
  }

  /** The chain for a connection, or undefined (Envoy closes such connections). */
  select(f: ConnectionFacts): T | undefined {
    if (this.#only !== undefined) return this.#only;
    let c = this.#chains;
    for (let step = 0; step < STEPS; step++) {
      if (!this.#used[step]) continue;
      const ip = step === 1
        ? parseIp(f.destinationIp)
        : step === 5
        ? parseIp(f.directSourceIp)
        : step === 7
        ? parseIp(f.sourceIp)
        : undefined;
      let best = -1;
      let kept: CompiledChain<T>[] = [];
      for (const x of c) {
        const s = score(step, x, f, ip);
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

/** A chain's score at one step: -1 = mismatch, 0 = criterion not set, >0 = specific match. */
function score<T>(
  step: number,
  x: CompiledChain<T>,
  f: ConnectionFacts,
  ip: ParsedIp | undefined,
): number {
  switch (step) {
    case 0:
      return x.destinationPort === undefined ? 0 : x.destinationPort === f.destinationPort ? 1 : -1;
    case 1:
      return x.prefixRanges.length === 0 ? 0 : longestMatch(x.prefixRanges, ip) + 1 || -1;
    case 2:
      return x.serverNames.length === 0
        ? 0
        : serverNameScore(x.serverNames, f.serverName) + 1 || -1;
    case 3:
      return x.transportProtocol === "" ? 0 : x.transportProtocol === f.transportProtocol ? 1 : -1;
    case 4: {
      if (x.applicationProtocols.length === 0) return 0;
      // The client's first protocol that some chain names wins (Envoy looks them up in order).
      const n = f.applicationProtocols.length;
      for (let i = 0; i < n; i++) {
        if (x.applicationProtocols.includes(f.applicationProtocols[i])) return n - i;
      }
      return -1;
    }
    case 5:
      return x.directSourceRanges.length === 0
        ? 0
        : longestMatch(x.directSourceRanges, ip) + 1 || -1;
    case 6: {
      // ConnectionSourceType: 0 ANY, 1 SAME_IP_OR_LOOPBACK, 2 EXTERNAL.
      if (x.sourceType === 0) return 0;
      return (x.sourceType === 1) === isSameIpOrLoopback(f.sourceIp, f.destinationIp) ? 1 : -1;
    }
    case 7:
      return x.sourceRanges.length === 0 ? 0 : longestMatch(x.sourceRanges, ip) + 1 || -1;
    default:
      return x.sourcePorts.length === 0 ? 0 : x.sourcePorts.includes(f.sourcePort) ? 1 : -1;
  }
}
