/**
 * A route's `hash_policy`: the request's consistent-hash key for RING_HASH and MAGLEV
 * clusters, computed as Envoy's HashPolicyImpl computes it. Each policy that yields a value
 * folds it into the key (the previous key rotated left by one bit, XORed with the new value);
 * a `terminal` policy that has a key ends the list. A cookie policy with a `ttl` whose cookie
 * is missing generates one (Set-Cookie on the response) so the client sticks from then on.
 *
 * @module
 */
import type { RouteAction_HashPolicy } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { uint64ToHex, xxHash64, xxHash64Values } from "../common/hash.ts";
import type { HeaderMap } from "../http/header_map.ts";
import { compileRegexRewrite, maxProgramSize, type RegexRewrite } from "./regex.ts";

const MASK = 0xffff_ffff_ffff_ffffn;

/** What a hash policy reads besides the request headers. */
export interface HashPolicyInput {
  /** The downstream peer, `ip:port` (`[ip]:port` for IPv6), as the request sees it. */
  readonly downstreamRemoteAddress: string;
  /** The connection's own peer and local addresses, which a generated cookie derives from. */
  readonly downstreamDirectRemoteAddress: string;
  readonly downstreamLocalAddress: string;
  readonly filterState: ReadonlyMap<string, unknown>;
}

/** A filter state object a `filter_state` hash policy can hash (Envoy's `Hashable`). */
export interface Hashable {
  hash(): bigint | undefined;
}

/** Collects the Set-Cookie values generated while hashing, for the response. */
export type SetCookieSink = (value: string) => void;

interface Method {
  readonly terminal: boolean;
  evaluate(headers: HeaderMap, input: HashPolicyInput, cookies: SetCookieSink): bigint | undefined;
}

/** One generated cookie's settings (`hash_policy.cookie` with a `ttl`). */
interface CookieSettings {
  readonly name: string;
  readonly ttlSeconds: number;
  readonly path: string;
  readonly attributes: readonly { readonly name: string; readonly value: string }[];
}

/** Envoy's `Http::Utility::parseCookieValue`: the first cookie named `name`, unquoted. */
export function parseCookieValue(headers: HeaderMap, name: string): string {
  for (const header of headers.getAll("cookie")) {
    for (const part of header.split(";")) {
      const pair = part.trimStart();
      const eq = pair.indexOf("=");
      if (eq < 0 || pair.slice(0, eq) !== name) continue;
      let v = pair.slice(eq + 1);
      if (v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"') v = v.slice(1, -1);
      return v;
    }
  }
  return "";
}

/** Envoy's `makeSetCookieValue` for a generated hash cookie (always HttpOnly). */
export function makeSetCookieValue(c: CookieSettings, value: string): string {
  let out = `${c.name}="${value}"`;
  if (c.ttlSeconds !== 0) out += `; Max-Age=${c.ttlSeconds}`;
  if (c.path !== "") out += `; Path=${c.path}`;
  for (const a of c.attributes) out += a.value === "" ? `; ${a.name}` : `; ${a.name}=${a.value}`;
  return out + "; HttpOnly";
}

/** The first value of query parameter `name` in `path` (not decoded, as Envoy's hashing). */
export function queryParameter(path: string, name: string): string | undefined {
  const q = path.indexOf("?");
  if (q < 0) return undefined;
  let start = q + 1;
  while (start <= path.length) {
    let end = path.indexOf("&", start);
    if (end < 0) end = path.length;
    const eq = path.indexOf("=", start);
    if (eq >= 0 && eq < end) {
      if (path.slice(start, eq) === name) return path.slice(eq + 1, end);
    } else if (path.slice(start, end) === name) return "";
    start = end + 1;
  }
  return undefined;
}

/** The IP of an `ip:port` / `[ip]:port` address. */
export function ipOf(address: string): string {
  if (address.startsWith("[")) return address.slice(1, address.indexOf("]"));
  const colon = address.lastIndexOf(":");
  return colon < 0 ? address : address.slice(0, colon);
}

function headerMethod(name: string, rewrite: RegexRewrite | undefined, terminal: boolean): Method {
  return {
    terminal,
    evaluate(headers) {
      let values = headers.getAll(name);
      if (values.length === 0) return undefined;
      if (rewrite) values = values.map((v) => rewrite.replaceAll(v));
      // The same key whatever order repeated headers come in.
      if (values.length > 1) values.sort();
      return values.length === 1 ? xxHash64(values[0]) : xxHash64Values(values);
    },
  };
}

function cookieMethod(c: CookieSettings, generate: boolean, terminal: boolean): Method {
  return {
    terminal,
    evaluate(headers, input, cookies) {
      let value = parseCookieValue(headers, c.name);
      if (value === "" && generate) {
        // Envoy's addDownstreamSetCookie: the same value for every stream of a connection.
        value = uint64ToHex(
          xxHash64(input.downstreamDirectRemoteAddress + input.downstreamLocalAddress),
        );
        cookies(makeSetCookieValue(c, value));
        return xxHash64(value);
      }
      return value === "" ? undefined : xxHash64(value);
    },
  };
}

/** A compiled `hash_policy` list. */
export class HashPolicy {
  readonly #methods: readonly Method[];

  constructor(methods: readonly Method[]) {
    this.#methods = methods;
  }

  /** The request's hash key, or undefined when no policy produced one. */
  generateHash(
    headers: HeaderMap,
    input: HashPolicyInput,
    cookies: SetCookieSink,
  ): bigint | undefined {
    let hash: bigint | undefined;
    for (const m of this.#methods) {
      const value = m.evaluate(headers, input, cookies);
      if (value !== undefined) {
        // Rotating keeps two equal policies from cancelling out.
        const old = hash === undefined ? 0n : ((hash << 1n) | (hash >> 63n)) & MASK;
        hash = old ^ value;
      }
      if (m.terminal && hash !== undefined) break;
    }
    return hash;
  }
}

/** Compiles a route's `hash_policy` (undefined when the list is empty); throws for bad regexes. */
export function compileHashPolicy(
  policies: readonly RouteAction_HashPolicy[],
  field: string,
): HashPolicy | undefined {
  if (policies.length === 0) return undefined;
  const methods: Method[] = [];
  policies.forEach((p, i) => {
    const at = `${field}[${i}]`;
    const spec = p.policySpecifier;
    switch (spec.case) {
      case "header": {
        const rw = spec.value.regexRewrite;
        const rewrite = rw
          ? compileRegexRewrite(
            rw.pattern?.regex ?? "",
            rw.substitution,
            `${at}.header.regex_rewrite`,
            maxProgramSize(rw.pattern),
          )
          : undefined;
        methods.push(headerMethod(spec.value.headerName.toLowerCase(), rewrite, p.terminal));
        break;
      }
      case "cookie": {
        const c = spec.value;
        const ttl = c.ttl;
        methods.push(cookieMethod(
          {
            name: c.name,
            ttlSeconds: ttl ? Number(ttl.seconds) : 0,
            path: c.path,
            attributes: c.attributes.map((a) => ({ name: a.name, value: a.value })),
          },
          ttl !== undefined,
          p.terminal,
        ));
        break;
      }
      case "connectionProperties":
        methods.push({
          terminal: p.terminal,
          evaluate: spec.value.sourceIp
            ? (_h, input) => {
              const ip = ipOf(input.downstreamRemoteAddress);
              return ip === "" ? undefined : xxHash64(ip);
            }
            : () => undefined,
        });
        break;
      case "queryParameter": {
        const name = spec.value.name;
        methods.push({
          terminal: p.terminal,
          evaluate: (headers) => {
            const v = queryParameter(headers.get(":path") ?? "", name);
            return v === undefined ? undefined : xxHash64(v);
          },
        });
        break;
      }
      case "filterState": {
        const key = spec.value.key;
        methods.push({
          terminal: p.terminal,
          evaluate: (_h, input) => hashOfFilterState(input.filterState.get(key)),
        });
        break;
      }
      default:
        throw new Error(
          `${at}: a hash policy needs one of header, cookie, ` +
            "connection_properties, query_parameter or filter_state",
        );
    }
  });
  return new HashPolicy(methods);
}

/** The hash of a filter state object that is Hashable, else undefined. */
export function hashOfFilterState(obj: unknown): bigint | undefined {
  if (obj === null || typeof obj !== "object") return undefined;
  const hash = (obj as Partial<Hashable>).hash;
  return typeof hash === "function" ? hash.call(obj) : undefined;
}
