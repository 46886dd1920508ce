/**
 * The HTTP/2 message rules (RFC 9113 §8.1-8.5, RFC 8441 §4) for a decoded header list:
 * pseudo-headers known, not repeated, before regular headers and as the message kind requires;
 * no connection-specific headers; `te` only "trailers". Names were already checked for
 * lower case and token bytes by the HPACK decoder.
 *
 * Each check returns "" or Envoy's response code detail: `http2.invalid.header.field` for a
 * header that may never appear, `http2.violation.of.messaging.rule` for a message that lacks
 * what it needs (nghttp2's NGHTTP2_ERR_HTTP_HEADER / NGHTTP2_ERR_HTTP_MESSAGING).
 *
 * @module
 */

import { AUTHORITY_CHAR, TOKEN, URI_CHAR } from "../http1/chars.ts";

const INVALID_HEADER = "http2.invalid.header.field";
const MESSAGING = "http2.violation.of.messaging.rule";

const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/** Whether every code unit of `s` is allowed by `table` (and `s` is not empty). */
function all(s: string, table: Uint8Array): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || table[c] === 0) return false;
  }
  return true;
}

/** RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
function isScheme(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const lower = c | 0x20;
    if (lower >= 0x61 && lower <= 0x7a) continue;
    if (i > 0 && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) continue;
    return false;
  }
  return true;
}

/** A regular header's problem, or "". */
function regular(name: string, value: string): string {
  if (CONNECTION_SPECIFIC.has(name)) return INVALID_HEADER;
  if (name === "te" && value !== "trailers") return INVALID_HEADER;
  if (name.indexOf(":") >= 0) return INVALID_HEADER;
  return "";
}

const METHOD = 1;
const SCHEME = 2;
const PATH = 4;
const AUTHORITY = 8;
const PROTOCOL = 16;

/**
 * Checks request headers. `allowConnect`: extended CONNECT (`:protocol`) is enabled
 * (SETTINGS_ENABLE_CONNECT_PROTOCOL sent).
 */
export function validateRequestHeaders(kv: readonly string[], allowConnect: boolean): string {
  let seen = 0;
  let regularSeen = false;
  let method = "";
  let path = "";
  for (let i = 0; i < kv.length; i += 2) {
    const name = kv[i];
    if (name.charCodeAt(0) !== 0x3a) {
      regularSeen = true;
      const r = regular(name, kv[i + 1]);
      if (r !== "") return r;
      continue;
    }
    if (regularSeen) return INVALID_HEADER;
    let bit: number;
    switch (name) {
      // Pseudo-header values are checked as nghttp2 does (a token method, a URI scheme,
      // visible characters in the path and authority characters in :authority).
      case ":method":
        bit = METHOD;
        method = kv[i + 1];
        if (!all(method, TOKEN)) return INVALID_HEADER;
        break;
      case ":scheme":
        bit = SCHEME;
        if (!isScheme(kv[i + 1])) return INVALID_HEADER;
        break;
      case ":path":
        bit = PATH;
        path = kv[i + 1];
        if (path !== "" && !all(path, URI_CHAR)) return INVALID_HEADER;
        break;
      case ":authority":
        bit = AUTHORITY;
        if (kv[i + 1] !== "" && !all(kv[i + 1], AUTHORITY_CHAR)) return INVALID_HEADER;
        break;
      case ":protocol":
        if (!allowConnect) return INVALID_HEADER;
        bit = PROTOCOL;
        break;
      default:
        return INVALID_HEADER;
    }
    if (seen & bit) return INVALID_HEADER;
    seen |= bit;
  }
  if ((seen & METHOD) === 0 || method === "") return MESSAGING;
  if (method === "CONNECT") {
    if (seen & PROTOCOL) {
      // Extended CONNECT carries all of :scheme, :path and :authority (RFC 8441 §4).
      if ((seen & (SCHEME | PATH | AUTHORITY)) !== (SCHEME | PATH | AUTHORITY)) return MESSAGING;
      return path.charCodeAt(0) === 0x2f ? "" : MESSAGING;
    }
    return seen === (METHOD | AUTHORITY) ? "" : MESSAGING;
  }
  if (seen & PROTOCOL) return MESSAGING;
  if ((seen & (SCHEME | PATH)) !== (SCHEME | PATH) || path === "") return MESSAGING;
  // Origin form, or `*` for OPTIONS (as nghttp2 requires of :path).
  if (path.charCodeAt(0) !== 0x2f && !(path === "*" && method === "OPTIONS")) return MESSAGING;
  return "";
}

/** Checks response headers: one three-digit :status and no other pseudo-header. */
export function validateResponseHeaders(kv: readonly string[]): string {
  let status = "";
  let regularSeen = false;
  for (let i = 0; i < kv.length; i += 2) {
    const name = kv[i];
    if (name.charCodeAt(0) !== 0x3a) {
      regularSeen = true;
      const r = regular(name, kv[i + 1]);
      if (r !== "") return r;
      continue;
    }
    if (regularSeen || name !== ":status" || status !== "") return INVALID_HEADER;
    status = kv[i + 1];
    if (i !== 0) return INVALID_HEADER;
  }
  if (status.length !== 3) return MESSAGING;
  for (let i = 0; i < 3; i++) {
    const c = status.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return MESSAGING;
  }
  return "";
}

/** Checks trailers: no pseudo-headers. */
export function validateTrailers(kv: readonly string[]): string {
  for (let i = 0; i < kv.length; i += 2) {
    if (kv[i].charCodeAt(0) === 0x3a) return INVALID_HEADER;
    const r = regular(kv[i], kv[i + 1]);
    if (r !== "") return r;
  }
  return "";
}
