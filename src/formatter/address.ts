/**
 * The `_WITHOUT_PORT` and `_PORT` views of an address string as StreamInfo stores it:
 * `"10.0.0.1:80"`, `"[::1]:80"`, or a pipe path such as `"/run/envoy.sock"` (which has no port).
 */
import { parseIp } from "../listener/filter_chain_match.ts";

/** Where the port separator is, or -1 when the address has no port. */
function portColon(address: string): number {
  if (address.charCodeAt(0) === 91 /* [ */) {
    const close = address.indexOf("]");
    return close >= 0 && address.charCodeAt(close + 1) === 58 /* : */ ? close + 1 : -1;
  }
  const colon = address.lastIndexOf(":");
  // An unbracketed address with two colons is a bare IPv6 address, not host:port.
  return colon >= 0 && address.indexOf(":") === colon ? colon : -1;
}

/** The address without its port; IPv6 loses its brackets, as Envoy prints it (`::1`). */
export function addressWithoutPort(address: string): string {
  const colon = portColon(address);
  if (colon < 0) return address;
  return address.charCodeAt(0) === 91 ? address.slice(1, colon - 1) : address.slice(0, colon);
}

/** The port of an IP address, or undefined for addresses without one. */
export function addressPort(address: string): number | undefined {
  const colon = portColon(address);
  if (colon < 0) return undefined;
  const port = Number(address.slice(colon + 1));
  return Number.isInteger(port) && colon + 1 < address.length ? port : undefined;
}

/** RFC 5952 text of a 128-bit IPv6 value: lower case, longest zero run (2+ groups) as `::`. */
function formatIpv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}

/**
 * The address without its port, masked to `prefixLength` bits in CIDR notation
 * (`10.1.0.0/16`, `2001:db8::/32`); the prefix is capped at the family's width. Addresses that
 * are not IPs (pipes) are returned as they are.
 */
export function maskedAddress(address: string, prefixLength: number): string {
  const ip = addressWithoutPort(address);
  const parsed = parseIp(ip);
  if (!parsed) return ip;
  const width = parsed.v6 ? 128 : 32;
  const len = Math.min(prefixLength, width);
  const keep = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(width - len);
  const v = parsed.value & keep;
  if (parsed.v6) return `${formatIpv6(v)}/${len}`;
  const octets = [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn));
  return `${octets.join(".")}/${len}`;
}
