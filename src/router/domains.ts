/**
 * Virtual host selection by `:authority`, in Envoy's order: exact domain, then the longest
 * suffix wildcard (`*.foo.com`, `*-bar.foo.com`), then the longest prefix wildcard (`foo.*`),
 * then `*`. Domains compare case-insensitively; a wildcard never matches the empty string.
 * The port is part of the host unless `ignore_port_in_host_matching` is set (the connection
 * manager's `strip_*_host_port` options strip it before routing).
 */

/** Wildcards of one length, looked up by their fixed part. */
interface WildcardBucket<T> {
  /** Length of the fixed part. */
  length: number;
  items: Map<string, T>;
  /** The same entries as arrays, scanned without allocating an iterator. */
  keys: string[];
  values: T[];
}

/** Above this many wildcards of one length a map lookup beats scanning them. */
const SCAN_LIMIT = 4;

/** Index of the `:` before a port in `host`, or -1 (IPv6 literals keep their colons). */
export function portStart(host: string): number {
  const colon = host.lastIndexOf(":");
  if (colon < 0 || colon === host.length - 1) return -1;
  if (host.lastIndexOf("]") > colon) return -1;
  let port = 0;
  for (let i = colon + 1; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    port = port * 10 + (c - 48);
    if (port > 0xffffffff) return -1;
  }
  return colon;
}

/** The virtual hosts of one route configuration, keyed by domain. */
export class DomainTable<T> {
  readonly #exact = new Map<string, T>();
  readonly #suffixes: WildcardBucket<T>[] = [];
  readonly #prefixes: WildcardBucket<T>[] = [];
  #any: T | undefined;

  /**
   * @param routeConfigName named in duplicate-domain errors.
   * @param ignorePort match hosts without their port (`ignore_port_in_host_matching`).
   */
  constructor(readonly routeConfigName: string, readonly ignorePort = false) {}

  /**
   * Registers `domain` for `item`.
   *
   * @throws {Error} when the domain (or a second `*`) is already taken, as Envoy rejects it.
   */
  add(domain: string, item: T): void {
    const d = domain.toLowerCase();
    let taken: boolean;
    if (d === "*") {
      if (this.#any !== undefined) {
        throw new Error(
          `Only a single wildcard domain is permitted in route ${this.routeConfigName}`,
        );
      }
      this.#any = item;
      return;
    } else if (d.startsWith("*")) {
      taken = !addWildcard(this.#suffixes, d.slice(1), item);
    } else if (d.endsWith("*")) {
      taken = !addWildcard(this.#prefixes, d.slice(0, -1), item);
    } else {
      taken = this.#exact.has(d);
      if (!taken) this.#exact.set(d, item);
    }
    if (taken) {
      throw new Error(
        `Only unique values for domains are permitted. Duplicate entry of domain ${d} in route ${this.routeConfigName}`,
      );
    }
  }

  /** The item for a request's `:authority`, or undefined (404). */
  find(authority: string | undefined): T | undefined {
    if (this.#exact.size === 0 && this.#suffixes.length === 0 && this.#prefixes.length === 0) {
      return this.#any;
    }
    if (authority === undefined) return undefined;
    let host = authority;
    if (this.ignorePort) {
      const p = portStart(host);
      if (p >= 0) host = host.slice(0, p);
    }
    host = host.toLowerCase();
    return this.#exact.get(host) ?? findWildcard(this.#suffixes, host, true) ??
      findWildcard(this.#prefixes, host, false) ?? this.#any;
  }
}

/** Adds a wildcard; false when its fixed part is already taken. */
function addWildcard<T>(buckets: WildcardBucket<T>[], fixed: string, item: T): boolean {
  let b = buckets.find((x) => x.length === fixed.length);
  if (!b) {
    b = { length: fixed.length, items: new Map(), keys: [], values: [] };
    buckets.push(b);
    // Longest wildcards match first.
    buckets.sort((x, y) => y.length - x.length);
  }
  if (b.items.has(fixed)) return false;
  b.items.set(fixed, item);
  b.keys.push(fixed);
  b.values.push(item);
  return true;
}

function findWildcard<T>(
  buckets: WildcardBucket<T>[],
  host: string,
  suffix: boolean,
): T | undefined {
  for (const b of buckets) {
    // `>=` because the wildcard must stand for at least one character.
    if (b.length >= host.length) continue;
    if (b.keys.length <= SCAN_LIMIT) {
      for (let i = 0; i < b.keys.length; i++) {
        if (suffix ? host.endsWith(b.keys[i]) : host.startsWith(b.keys[i])) return b.values[i];
      }
      continue;
    }
    const hit = b.items.get(suffix ? host.slice(host.length - b.length) : host.slice(0, b.length));
    if (hit !== undefined) return hit;
  }
  return undefined;
}
