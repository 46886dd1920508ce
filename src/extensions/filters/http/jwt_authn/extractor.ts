/**
 * Where tokens are found in a request (Envoy's jwt_authn Extractor): the providers'
 * `from_headers` (after `value_prefix`), `from_params` (query parameters) and `from_cookies`;
 * a provider that names none of them reads `Authorization: Bearer <token>` and the
 * `access_token` query parameter. Each location remembers the issuers of the providers that
 * named it, so a token is only accepted from where its issuer's provider looks.
 *
 * @module
 */
import type { HeaderMap } from "../../../../http/header_map.ts";

/** The parts of a provider the extractor reads. */
export interface ExtractorProvider {
  readonly issuer: string;
  readonly fromHeaders: readonly { name: string; valuePrefix: string }[];
  readonly fromParams: readonly string[];
  readonly fromCookies: readonly string[];
  /** Headers the filter writes on success: removed from requests first, so none is spoofed. */
  readonly writtenHeaders: readonly string[];
}

/** A token found in a request. */
export interface JwtLocation {
  readonly token: string;
  /** Whether a provider of `issuer` reads this location. */
  issuerAllowed(issuer: string): boolean;
  /** Removes the token from the request (`forward: false`); cookies keep theirs. */
  remove(headers: HeaderMap): void;
}

interface HeaderSpec {
  name: string;
  prefix: string;
  issuers: Set<string>;
}

/** Characters of a compact JWT (base64url and dots): a token ends at the first other one. */
const JWT_CHAR = /[A-Za-z0-9._~+/=-]/;

function tokenAfterPrefix(value: string, prefix: string): string | undefined {
  let start = 0;
  if (prefix !== "") {
    const at = value.indexOf(prefix);
    if (at < 0) return undefined;
    start = at + prefix.length;
  }
  let end = start;
  while (end < value.length && JWT_CHAR.test(value[end])) end++;
  return value.slice(start, end);
}

/** The value of query parameter `name` of `path`, percent-decoded; undefined when absent. */
function queryParam(path: string, name: string): string | undefined {
  const q = path.indexOf("?");
  if (q < 0) return undefined;
  for (const kv of path.slice(q + 1).split("#")[0].split("&")) {
    const eq = kv.indexOf("=");
    const k = eq < 0 ? kv : kv.slice(0, eq);
    if (k !== name) continue;
    const v = eq < 0 ? "" : kv.slice(eq + 1);
    try {
      return decodeURIComponent(v.replaceAll("+", " "));
    } catch {
      return v;
    }
  }
  return undefined;
}

/** `path` without query parameter `name`. */
function withoutParam(path: string, name: string): string {
  const q = path.indexOf("?");
  if (q < 0) return path;
  const kept = path.slice(q + 1).split("&").filter((kv) => kv.split("=")[0] !== name);
  return kept.length === 0 ? path.slice(0, q) : `${path.slice(0, q)}?${kept.join("&")}`;
}

/** The value of cookie `name` in the request's `cookie` headers. */
function cookie(headers: HeaderMap, name: string): string | undefined {
  for (const line of headers.getAll("cookie")) {
    for (const part of line.split(";")) {
      const eq = part.indexOf("=");
      if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return undefined;
}

const allowed = (issuers: ReadonlySet<string>) => (iss: string) =>
  issuers.has(iss) || issuers.has("");

/** Finds the tokens of a set of providers. */
export class Extractor {
  readonly #headers = new Map<string, HeaderSpec>();
  readonly #params = new Map<string, Set<string>>();
  readonly #cookies = new Map<string, Set<string>>();
  readonly #written = new Set<string>();

  constructor(providers: readonly ExtractorProvider[]) {
    for (const p of providers) {
      for (const h of p.fromHeaders) this.#addHeader(h.name.toLowerCase(), h.valuePrefix, p.issuer);
      for (const name of p.fromParams) this.#add(this.#params, name, p.issuer);
      for (const name of p.fromCookies) this.#add(this.#cookies, name, p.issuer);
      if (p.fromHeaders.length === 0 && p.fromParams.length === 0 && p.fromCookies.length === 0) {
        this.#addHeader("authorization", "Bearer ", p.issuer);
        this.#add(this.#params, "access_token", p.issuer);
      }
      for (const h of p.writtenHeaders) this.#written.add(h.toLowerCase());
    }
  }

  #addHeader(name: string, prefix: string, issuer: string): void {
    const key = `${name}\0${prefix}`;
    let spec = this.#headers.get(key);
    if (!spec) this.#headers.set(key, spec = { name, prefix, issuers: new Set() });
    spec.issuers.add(issuer);
  }

  #add(map: Map<string, Set<string>>, name: string, issuer: string): void {
    let s = map.get(name);
    if (!s) map.set(name, s = new Set());
    s.add(issuer);
  }

  /** Removes the headers the providers write on success (they may only come from here). */
  sanitize(headers: HeaderMap): void {
    for (const h of this.#written) headers.remove(h);
  }

  /** The tokens in the request, in location order: headers, query parameters, cookies. */
  extract(headers: HeaderMap): JwtLocation[] {
    const out: JwtLocation[] = [];
    for (const spec of this.#headers.values()) {
      const value = headers.get(spec.name);
      if (value === undefined) continue;
      const token = tokenAfterPrefix(value, spec.prefix);
      // Nothing after the prefix (`Bearer ` alone): no token there.
      if (!token) continue;
      out.push({
        token,
        issuerAllowed: allowed(spec.issuers),
        remove: (h) => h.remove(spec.name),
      });
    }
    const path = headers.get(":path");
    if (path !== undefined) {
      for (const [name, issuers] of this.#params) {
        const token = queryParam(path, name);
        if (token === undefined) continue;
        out.push({
          token,
          issuerAllowed: allowed(issuers),
          remove: (h) => {
            const p = h.get(":path");
            if (p !== undefined) h.set(":path", withoutParam(p, name));
          },
        });
      }
    }
    for (const [name, issuers] of this.#cookies) {
      const token = cookie(headers, name);
      if (token === undefined) continue;
      out.push({ token, issuerAllowed: allowed(issuers), remove: () => {} });
    }
    return out;
  }
}
