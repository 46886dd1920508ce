/**
 * Name resolution for DNS clusters. The default resolver asks the operating system
 * (`getaddrinfo` through `node:dns` `lookup`), so `/etc/hosts` and the system's resolver
 * configuration apply as they do for Envoy's getaddrinfo resolver, then orders and filters the
 * answer by the cluster's `dns_lookup_family`.
 *
 * `getaddrinfo` reports no TTLs. When a cluster sets `respect_dns_ttl`, the resolver first asks
 * the configured DNS servers directly (`resolve4`/`resolve6` with TTLs); only an answer from a
 * DNS server has a TTL. When that fails (for instance a name that only `/etc/hosts` knows, or no
 * reachable server) it falls back to `lookup`, and the result carries no TTL, so the cluster
 * keeps its `dns_refresh_rate`.
 *
 * @module
 */
import type dnsModule from "node:dns";

// Loaded on first use: importing node:dns costs start-up time, and most configs resolve nothing.
let dnsLoaded: Promise<typeof dnsModule> | undefined;
const nodeDns = () => dnsLoaded ??= import("node:dns").then((m) => m.default);
import { isIP } from "../common/ip.ts";

/** `Cluster.DnsLookupFamily`, by its Envoy enum name. */
export type DnsLookupFamily = "AUTO" | "V4_ONLY" | "V6_ONLY" | "V4_PREFERRED" | "ALL";

/** The addresses a name resolved to. */
export interface DnsResult {
  /** IP addresses, in the order hosts should be created; empty when the name has none. */
  readonly addresses: string[];
  /** Seconds the answer may be cached, when a DNS server said so. */
  readonly ttlSeconds?: number;
}

/** Options of one resolution. */
export interface ResolveOptions {
  /** The caller wants the TTL (`respect_dns_ttl`). */
  readonly withTtl?: boolean;
}

/**
 * Resolves names to addresses. Rejects when resolution failed (the caller keeps what it had);
 * a name without addresses resolves to an empty list.
 */
export interface DnsResolver {
  resolve(name: string, family: DnsLookupFamily, options?: ResolveOptions): Promise<DnsResult>;
}

/** An address with its IP version, as `lookup` returns it. */
export interface FamilyAddress {
  readonly address: string;
  readonly family: number;
}

/**
 * Applies a lookup family to addresses: AUTO prefers IPv6 and uses IPv4 only when there is no
 * IPv6 address, V4_PREFERRED the reverse, the *_ONLY families filter, ALL keeps everything.
 */
export function selectAddresses(
  found: readonly FamilyAddress[],
  family: DnsLookupFamily,
): string[] {
  const v4 = found.filter((a) => a.family === 4).map((a) => a.address);
  const v6 = found.filter((a) => a.family === 6).map((a) => a.address);
  switch (family) {
    case "V4_ONLY":
      return v4;
    case "V6_ONLY":
      return v6;
    case "V4_PREFERRED":
      return v4.length > 0 ? v4 : v6;
    case "ALL":
      return found.map((a) => a.address);
    case "AUTO":
      return v6.length > 0 ? v6 : v4;
  }
}

/** Error codes meaning "the name exists nowhere / has no such records", not a failure. */
const NO_ADDRESSES = new Set(["ENOTFOUND", "ENODATA"]);

/** The system resolver (see the module documentation). */
export class SystemDnsResolver implements DnsResolver {
  async resolve(
    name: string,
    family: DnsLookupFamily,
    options: ResolveOptions = {},
  ): Promise<DnsResult> {
    // An IP literal is its own answer; no lookup, so it works without any resolver.
    if (isIP(name)) return { addresses: [name] };
    if (options.withTtl) {
      const answer = await resolveWithTtl(name, family).catch(() => undefined);
      if (answer && answer.addresses.length > 0) return answer;
    }
    try {
      const dns = await nodeDns();
      const found = await dns.promises.lookup(name, { all: true });
      return { addresses: selectAddresses(found, family) };
    } catch (e) {
      if (NO_ADDRESSES.has((e as { code?: string }).code ?? "")) return { addresses: [] };
      throw e;
    }
  }
}

/** Asks DNS servers for A/AAAA records as `family` orders them; TTL is the smallest seen. */
async function resolveWithTtl(name: string, family: DnsLookupFamily): Promise<DnsResult> {
  const dns = await nodeDns();
  const query = async (v: 4 | 6) => {
    try {
      const records = v === 4
        ? await dns.promises.resolve4(name, { ttl: true })
        : await dns.promises.resolve6(name, { ttl: true });
      return records.map((r) => ({ address: r.address, family: v, ttl: r.ttl }));
    } catch (e) {
      if (NO_ADDRESSES.has((e as { code?: string }).code ?? "")) return [];
      throw e;
    }
  };
  const wants4 = family !== "V6_ONLY";
  const wants6 = family !== "V4_ONLY";
  const [a, aaaa] = await Promise.all([wants4 ? query(4) : [], wants6 ? query(6) : []]);
  const records = [...a, ...aaaa];
  const chosen = new Set(selectAddresses(records, family));
  const used = records.filter((r) => chosen.has(r.address));
  if (used.length === 0) return { addresses: [] };
  return {
    addresses: used.map((r) => r.address),
    ttlSeconds: Math.min(...used.map((r) => r.ttl)),
  };
}
