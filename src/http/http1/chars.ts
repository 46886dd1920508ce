/**
 * Byte classes of HTTP/1 (RFC 9110 §5.1/§5.5, RFC 9112 §3, §7.1) as 256-entry tables, so the
 * parser classifies a byte with one indexed load instead of a chain of comparisons.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** Carriage return. */
export const CR = 0x0d;
/** Line feed. */
export const LF = 0x0a;
/** Space. */
export const SP = 0x20;
/** Horizontal tab. */
export const HTAB = 0x09;
/** `:` ends a field name. */
export const COLON = 0x3a;

const TCHAR_SYMBOLS = "!#$%&'*+-.^_`|~";

function table(fill: (b: number) => number): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = fill(b);
  return t;
}

function isTchar(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
    TCHAR_SYMBOLS.includes(String.fromCharCode(b));
}

/**
 * For a tchar, the byte lower-cased (so one load both validates a field name byte and folds
 * its case); 0 for every byte that may not appear in a token.
 */
export const TOKEN_LOWER: Uint8Array = table((b) =>
  isTchar(b) ? (b >= 0x41 && b <= 0x5a ? b + 0x20 : b) : 0
);

/** For a tchar, the byte itself; 0 otherwise (methods are tokens and case-sensitive). */
export const TOKEN: Uint8Array = table((b) => isTchar(b) ? b : 0);

/**
 * 1 for bytes allowed inside a field value or reason phrase: HTAB, SP, VCHAR and obs-text.
 * Every other CTL (NUL, bare CR/LF, DEL, ...) is 0: Envoy rejects them as invalid characters.
 */
export const FIELD_VALUE: Uint8Array = table((b) =>
  b === HTAB || (b >= 0x20 && b !== 0x7f) ? 1 : 0
);

/**
 * 1 for bytes allowed in a request-target: VCHAR only. Spaces, CTLs and obs-text are rejected,
 * as Envoy's parsers do (a space would also make the request line ambiguous).
 */
export const URI_CHAR: Uint8Array = table((b) => b > 0x20 && b < 0x7f ? 1 : 0);

/**
 * 1 for bytes allowed in the host part of an authority (RFC 3986 reg-name, IP-literal brackets
 * and the port colon). `@` is left out on purpose: userinfo in a request-target is deprecated
 * (RFC 9110 §4.2.4) and only serves to confuse host-based routing.
 */
export const HOST_CHAR: Uint8Array = table((b) =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
    "!$%&'()*+,-.:;=[]_~".includes(String.fromCharCode(b))
    ? 1
    : 0
);

/**
 * Bytes Envoy accepts in a Host / :authority value: those of HOST_CHAR plus `@` (HTTP/1
 * allows userinfo there). Whitespace, controls, `"#/<>?\\^`{|}` and bytes above 0x7E fail
 * with `http.invalid_authority`.
 */
export const AUTHORITY_CHAR: Uint8Array = table((b) => HOST_CHAR[b] !== 0 || b === 0x40 ? 1 : 0);

/** Value of a hex digit, or 255 for any other byte. */
export const HEX: Uint8Array = table((b) => {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return 255;
});

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;

// Buffer's latin1 slice is native and maps every byte to the code point of the same value,
// unlike TextDecoder("latin1"), which is windows-1252 and would remap 0x80-0x9F. It is not in
// the typings, so it is looked up once; chars_test.ts pins its behaviour on our Deno.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: Latin1Slice }).latin1Slice;

/** Decodes `buf[start, end)` one byte per UTF-16 code unit (ISO-8859-1), without copying `buf`. */
export function latin1(buf: Uint8Array, start: number, end: number): string {
  return latin1Slice.call(buf, start, end);
}
