/**
 * What the HTTP inspector decides from a plaintext connection's first bytes: HTTP/2 with prior
 * knowledge (the client preface), an HTTP/1.0 or HTTP/1.1 request line, or not HTTP.
 */

/** The bytes so far could still be either: wait for more. */
export const NEED_MORE = "";
/** Not HTTP. */
export const NOT_HTTP = "-";

/** Envoy reads at most this much before giving up (MAX_INSPECT_SIZE). */
export const MAX_INSPECT_SIZE = 8192;

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** The request line's version up to its minor digit (`HTTP/1.1` and `HTTP/1.0` are HTTP/1). */
const VERSION_PREFIX = new TextEncoder().encode("HTTP/1.");

/** Request methods the HTTP/1 parser (llhttp) knows. */
const METHODS = new Set([
  "DELETE",
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "COPY",
  "LOCK",
  "MKCOL",
  "MOVE",
  "PROPFIND",
  "PROPPATCH",
  "SEARCH",
  "UNLOCK",
  "BIND",
  "REBIND",
  "UNBIND",
  "ACL",
  "REPORT",
  "MKACTIVITY",
  "CHECKOUT",
  "MERGE",
  "M-SEARCH",
  "NOTIFY",
  "SUBSCRIBE",
  "UNSUBSCRIBE",
  "PATCH",
  "PURGE",
  "MKCALENDAR",
  "LINK",
  "UNLINK",
  "SOURCE",
  "QUERY",
]);
const LONGEST_METHOD = 11;

/** Whether `data` starts like `PREFACE` (as far as it goes). */
function prefacePrefix(data: Uint8Array): boolean {
  const n = Math.min(data.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (data[i] !== PREFACE[i]) return false;
  return true;
}

/**
 * The application protocol `data` shows: "h2c", "http/1.1", "http/1.0", NOT_HTTP, or
 * NEED_MORE.
 */
export function detectHttp(data: Uint8Array): string {
  if (data.length === 0) return NEED_MORE;
  if (prefacePrefix(data)) return data.length >= PREFACE.length ? "h2c" : NEED_MORE;
  // The method: upper-case letters and '-', then a space.
  let i = 0;
  while (i < data.length && i <= LONGEST_METHOD) {
    const c = data[i];
    if (c === 0x20) break;
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d)) return NOT_HTTP;
    i++;
  }
  if (i > LONGEST_METHOD) return NOT_HTTP;
  if (i === data.length) return NEED_MORE;
  let method = "";
  for (let j = 0; j < i; j++) method += String.fromCharCode(data[j]);
  if (!METHODS.has(method)) return NOT_HTTP;
  const eol = data.indexOf(0x0a, i);
  if (eol < 0) return data.length >= MAX_INSPECT_SIZE ? NOT_HTTP : NEED_MORE;
  const end = eol > 0 && data[eol - 1] === 0x0d ? eol - 1 : eol;
  // The version is what follows the line's last space, after a non-empty target: compared in
  // place, as this runs on every plaintext connection (no decoder, no string of the line).
  const sp = end - 1 - VERSION_PREFIX.length - 1;
  if (sp <= i + 1 || data[sp] !== 0x20) return NOT_HTTP;
  for (let j = 0; j < VERSION_PREFIX.length; j++) {
    if (data[sp + 1 + j] !== VERSION_PREFIX[j]) return NOT_HTTP;
  }
  const minor = data[end - 1];
  return minor === 0x31 ? "http/1.1" : minor === 0x30 ? "http/1.0" : NOT_HTTP;
}
