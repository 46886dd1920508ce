/**
 * Opt-in hardening of the admin listener, beyond Envoy (whose admin trusts whoever reaches it:
 * Envoy GitHub issues 2763 and 32051):
 *
 * - `--admin-token-file`: every admin request needs `Authorization: Bearer <token>` (401
 *   without it);
 * - `--admin-allow GET:/stats,POST:/healthcheck/fail,...`: only these method and path pairs
 *   are served (403 for the others);
 * - `--admin-read-only`: the endpoints that change the server (the POST-only ones: drain,
 *   quit, runtime, logging, health check, counters) answer 403;
 * - `--admin-tls-cert` + `--admin-tls-key`: the admin serves HTTPS; with
 *   `--admin-tls-client-ca`, only clients presenting a certificate of that CA get through
 *   the handshake (mutual TLS);
 * - a warning at start-up when the admin listens on an address other hosts can reach.
 *
 * Without these flags the admin behaves exactly as Envoy's.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Options } from "../server/options.ts";
import type { AllowEntry } from "./allow_list.ts";

/** What the admin enforces. */
export interface AdminSecurity {
  /** Served method and path pairs; undefined: all. */
  allow?: AllowEntry[];
  /** The bearer token every request must carry. */
  token?: string;
  /** Mutating endpoints answer 403. */
  readOnly?: boolean;
  /** HTTPS for the admin listener. */
  tls?: AdminTls;
}

/** The admin listener's TLS: its certificate chain and key, and the CA of its clients (PEM). */
export interface AdminTls {
  cert: string;
  key: string;
  /** Clients must present a certificate of this CA (mutual TLS). */
  clientCa?: string;
}

/** A refusal: status, body and extra headers. */
export interface AdminDenial {
  status: 401 | 403;
  body: string;
  headers?: Record<string, string>;
}

/** Reads the bearer token from `path` (surrounding whitespace dropped); throws when unusable. */
export function readAdminToken(path: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new Error(`--admin-token-file '${path}': ${(e as Error).message}`);
  }
  const token = text.trim();
  if (token === "") throw new Error(`--admin-token-file '${path}' is empty`);
  if (/\s/.test(token)) {
    throw new Error(`--admin-token-file '${path}': the token must be one word (no spaces)`);
  }
  return token;
}

function digest(s: string): Uint8Array {
  return createHash("sha256").update(s).digest();
}

/** Compares in constant time (over digests, so the length does not leak either). */
function tokenMatches(given: string, expected: Uint8Array): boolean {
  return timingSafeEqual(digest(given), expected);
}

/**
 * The check run before every admin request: a denial, or undefined to serve it. `mutating`
 * says whether the endpoint changes the server (POST-only in Envoy).
 */
export type AdminGuard = (
  method: string,
  path: string,
  authorization: string | undefined,
  mutating: boolean,
) => AdminDenial | undefined;

/** What the admin flags ask for; reads the files (throws an Error when one is unusable). */
export function adminSecurity(
  options: Pick<
    Options,
    | "adminAllow"
    | "adminTokenFile"
    | "adminReadOnly"
    | "adminTlsCert"
    | "adminTlsKey"
    | "adminTlsClientCa"
  >,
): AdminSecurity {
  return {
    allow: options.adminAllow,
    token: options.adminTokenFile ? readAdminToken(options.adminTokenFile) : undefined,
    readOnly: options.adminReadOnly,
    tls: adminTls(options),
  };
}

/** Reads the `--admin-tls-*` files; throws an Error naming the flag when one is missing. */
export function adminTls(
  options: Pick<Options, "adminTlsCert" | "adminTlsKey" | "adminTlsClientCa">,
): AdminTls | undefined {
  const { adminTlsCert: cert, adminTlsKey: key, adminTlsClientCa: ca } = options;
  if (!cert && !key && !ca) return undefined;
  if (!cert || !key) {
    throw new Error(
      `--admin-tls-cert and --admin-tls-key go together${
        ca ? " (--admin-tls-client-ca needs both)" : ""
      }`,
    );
  }
  const read = (flag: string, path: string, pem: RegExp) => {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      throw new Error(`--admin-tls-${flag} '${path}': ${(e as Error).message}`);
    }
    if (!pem.test(text)) throw new Error(`--admin-tls-${flag} '${path}' holds no PEM ${flag}`);
    return text;
  };
  const CERT = /-----BEGIN CERTIFICATE-----/;
  return {
    cert: read("cert", cert, CERT),
    key: read("key", key, /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
    clientCa: ca ? read("client-ca", ca, CERT) : undefined,
  };
}

/** The guard for `sec`, or undefined when no hardening is configured. */
export function adminGuard(sec: AdminSecurity): AdminGuard | undefined {
  if (!sec.allow && sec.token === undefined && !sec.readOnly) return undefined;
  const expected = sec.token === undefined ? undefined : digest(sec.token);
  const allow = sec.allow;
  return (method, path, authorization, mutating) => {
    if (expected) {
      const m = /^Bearer +(\S+)\s*$/i.exec(authorization ?? "");
      if (!m || !tokenMatches(m[1], expected)) {
        return {
          status: 401,
          body: "admin: a valid bearer token is required (Authorization: Bearer <token>)\n",
          headers: { "www-authenticate": 'Bearer realm="denvoy admin"' },
        };
      }
    }
    // HEAD is a GET without the body.
    const asked = method === "HEAD" ? "GET" : method;
    if (allow && !allow.some((e) => e.path === path && (e.method === "*" || e.method === asked))) {
      return { status: 403, body: `admin: ${method} ${path} is not allowed (--admin-allow)\n` };
    }
    if (sec.readOnly && mutating && method === "POST") {
      return {
        status: 403,
        body: `admin: ${path} changes the server and the admin is read-only (--admin-read-only)\n`,
      };
    }
    return undefined;
  };
}

/** Whether `address` is reachable from this host only. */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase();
  return a === "localhost" || a === "::1" || /^127\.\d+\.\d+\.\d+$/.test(a) ||
    /^::ffff:127\.\d+\.\d+\.\d+$/.test(a);
}

/** The start-up warning for an admin that other hosts can reach, or undefined. */
export function exposureWarning(address: string, sec: AdminSecurity): string | undefined {
  if (isLoopback(address)) return undefined;
  const guards = [
    sec.token !== undefined ? "a bearer token" : "",
    sec.allow ? "an allow-list" : "",
    sec.readOnly ? "read-only" : "",
    sec.tls?.clientCa ? "client certificates (mutual TLS)" : "",
  ].filter((g) => g !== "");
  return `admin listens on ${address}, which other hosts can reach: ` +
    (guards.length === 0
      ? "anyone who connects can read the config and stats and drain, reconfigure or stop the " +
        "server. Bind it to 127.0.0.1, or use --admin-token-file, --admin-tls-client-ca, " +
        "--admin-allow and --admin-read-only"
      : `it is protected by ${guards.join(", ")}`);
}
