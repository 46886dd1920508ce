/**
 * The `_WITHOUT_PORT` and `_PORT` views of an address string as StreamInfo stores it:
 * `"10.0.0.1:80"`, `"[::1]:80"`, or a pipe path such as `"/run/envoy.sock"` (which has no port).
 */

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
