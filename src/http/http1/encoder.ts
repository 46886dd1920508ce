/**
 * HTTP/1.1 message encoding: heads, chunks and the last chunk with trailers.
 *
 * Header strings are byte strings (one code unit per byte, as the parser produces them), so a
 * head is written in one pass into one exactly-sized Uint8Array. Names are written as stored
 * (lower case), as Envoy does by default, or in proper case (`Content-Type`) for
 * `header_key_format.proper_case_words`, or as a stateful formatter attached to the header map
 * says (preserve_case). Anything that could break the framing — a name that
 * is not a token, a CR/LF/NUL in a value or request-target, a code unit above 0xFF — throws a
 * TypeError instead of reaching the wire (Envoy's HeaderString refuses the same bytes).
 *
 * Returned arrays come from slab.ts: views that share their `buffer`. Write them out; do not
 * transfer or detach that buffer.
 *
 * @module
 */
import type { HeaderMap } from "../header_map.ts";
import type { StatefulHeaderKeyFormatter } from "./header_formatter.ts";
import { TOKEN } from "./chars.ts";
import type { HttpVersion } from "./parser.ts";
import { reasonPhrase } from "./reason_phrase.ts";
import { allocate } from "../../common/slab.ts";

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const CRLF = ascii("\r\n");
const HTTP11_CRLF = ascii(" HTTP/1.1\r\n");
const HOST = ascii("host: ");
const HOST_PROPER = ascii("Host: ");
const TE_CHUNKED = ascii("transfer-encoding: chunked\r\n");
const TE_CHUNKED_PROPER = ascii("Transfer-Encoding: chunked\r\n");
/** Where the value (`chunked\r\n`) starts in TE_CHUNKED. */
const TE_CHUNKED_VALUE = "transfer-encoding: ".length;
const LAST_CHUNK = ascii("0\r\n\r\n");
const EMPTY = new Uint8Array(0);

function invalid(what: string, s: string, c: number): never {
  throw new TypeError(`invalid character 0x${c.toString(16)} in HTTP/1 ${what}: ${s}`);
}

// The put* functions copy `s` into `out` at `pos`, return the position after it, and throw on
// a code unit that does not belong there. They are separate, branch-light loops because they
// touch every byte of every head.

/** A field value: NUL, LF and CR (or a code unit above 0xFF) would break the framing. */
function putValue(out: Uint8Array, pos: number, s: string, what: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x0e ? c === 0x0d || c === 0x0a || c === 0 : c > 0xff) invalid(what, s, c);
    out[pos + i] = c;
  }
  return pos + n;
}

/** A request-target or authority: like a value, and it must also stay one word. */
function putWord(out: Uint8Array, pos: number, s: string, what: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c > 0xff) invalid(what, s, c);
    out[pos + i] = c;
  }
  return pos + n;
}

/** A method or field name: a non-empty token. */
function putToken(out: Uint8Array, pos: number, s: string, what: string): number {
  const n = s.length;
  if (n === 0) throw new TypeError(`empty HTTP/1 ${what}`);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] === 0) invalid(what, s, c);
    out[pos + i] = c;
  }
  return pos + n;
}

/**
 * A field name in proper case, as Envoy's `proper_case_words` formatter writes it: a letter at
 * the start or after a character that is neither letter nor digit is upper-cased
 * (`x-foo_bar2baz` -> `X-Foo_Bar2baz`). Same length as `s`; checked like putToken.
 */
function putProperCaseToken(out: Uint8Array, pos: number, s: string, what: string): number {
  const n = s.length;
  if (n === 0) throw new TypeError(`empty HTTP/1 ${what}`);
  let capitalize = true;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] === 0) invalid(what, s, c);
    const lower = c >= 0x61 && c <= 0x7a;
    const alpha = lower || (c >= 0x41 && c <= 0x5a);
    if (capitalize && lower) c -= 0x20;
    capitalize = !alpha && !(c >= 0x30 && c <= 0x39);
    out[pos + i] = c;
  }
  return pos + n;
}

/** Wire size of the regular (non-pseudo) fields of `kv`. */
function fieldsSize(kv: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < kv.length; i += 2) {
    if (kv[i].charCodeAt(0) !== 0x3a) n += kv[i].length + kv[i + 1].length + 4;
  }
  return n;
}

/**
 * A field name and its `: `, spelled as the map's stateful formatter says (it wins, as in
 * Envoy), else in proper case or as stored. Formatters only change case, so sizes hold.
 */
function putName(
  out: Uint8Array,
  pos: number,
  name: string,
  properCase: boolean,
  formatter: StatefulHeaderKeyFormatter | undefined,
): number {
  pos = formatter !== undefined
    ? putToken(out, pos, formatter.format(name), "header name")
    : properCase
    ? putProperCaseToken(out, pos, name, "header name")
    : putToken(out, pos, name, "header name");
  out[pos] = 0x3a;
  out[pos + 1] = 0x20;
  return pos + 2;
}

/** Writes the regular fields of `kv` as `name: value\r\n` lines. */
function putFields(
  out: Uint8Array,
  pos: number,
  kv: readonly string[],
  properCase: boolean,
  formatter: StatefulHeaderKeyFormatter | undefined,
): number {
  for (let i = 0; i < kv.length; i += 2) {
    const name = kv[i];
    if (name.charCodeAt(0) === 0x3a) continue;
    pos = putName(out, pos, name, properCase, formatter);
    pos = putValue(out, pos, kv[i + 1], "header value");
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
  }
  return pos;
}

/**
 * `<:method> <:path> HTTP/1.1`, then `host: <:authority>`, the other non-pseudo headers in
 * order, `transfer-encoding: chunked` if `chunked`, and the blank line. A CONNECT request has
 * no `:path`; its target is the authority (RFC 9112 §3.2.3). Without `:authority` no Host line
 * is written. `properCase` writes every field name in proper case (`Host`, `Content-Type`).
 */
export function encodeRequestHead(
  headers: HeaderMap,
  chunked: boolean,
  properCase = false,
): Uint8Array {
  const kv = headers.raw();
  const formatter = headers.formatter;
  let method: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  // One pass finds the pseudo-headers (first of each wins, as get() would) and sizes the rest.
  let size = HTTP11_CRLF.length + (chunked ? TE_CHUNKED.length : 0) + 2;
  for (let i = 0; i < kv.length; i += 2) {
    const name = kv[i];
    if (name.charCodeAt(0) !== 0x3a) size += name.length + kv[i + 1].length + 4;
    else if (name === ":method") method ??= kv[i + 1];
    else if (name === ":path") path ??= kv[i + 1];
    else if (name === ":authority") authority ??= kv[i + 1];
  }
  const target = path ?? (method === "CONNECT" ? authority : undefined);
  if (method === undefined || target === undefined || target === "") {
    throw new TypeError("HTTP/1 request needs :method and :path (or :authority for CONNECT)");
  }
  size += method.length + 1 + target.length;
  if (authority !== undefined) size += HOST.length + authority.length + 2;
  const out = allocate(size);
  let pos = putToken(out, 0, method, "method");
  out[pos++] = 0x20;
  pos = putWord(out, pos, target, "request-target");
  out.set(HTTP11_CRLF, pos);
  pos += HTTP11_CRLF.length;
  if (authority !== undefined) {
    if (formatter !== undefined) pos = putName(out, pos, "host", false, formatter);
    else {
      out.set(properCase ? HOST_PROPER : HOST, pos);
      pos += HOST.length;
    }
    pos = putWord(out, pos, authority, "authority");
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
  }
  pos = putFields(out, pos, kv, properCase, formatter);
  return finishHead(out, pos, chunked, properCase, formatter);
}

function finishHead(
  out: Uint8Array,
  pos: number,
  chunked: boolean,
  properCase: boolean,
  formatter: StatefulHeaderKeyFormatter | undefined,
): Uint8Array {
  if (chunked) {
    if (formatter !== undefined) {
      pos = putName(out, pos, "transfer-encoding", false, formatter);
      out.set(TE_CHUNKED.subarray(TE_CHUNKED_VALUE), pos);
      pos += TE_CHUNKED.length - TE_CHUNKED_VALUE;
    } else {
      out.set(properCase ? TE_CHUNKED_PROPER : TE_CHUNKED, pos);
      pos += TE_CHUNKED.length;
    }
  }
  out[pos] = 0x0d;
  out[pos + 1] = 0x0a;
  return out;
}

// "HTTP/1.x <code> <phrase>\r\n", built once per version and code.
const STATUS_LINES: Record<HttpVersion, Uint8Array[]> = { "HTTP/1.0": [], "HTTP/1.1": [] };

function statusLine(version: HttpVersion, code: number): Uint8Array {
  return STATUS_LINES[version][code] ??= ascii(`${version} ${code} ${reasonPhrase(code)}\r\n`);
}

/**
 * The status line (with Envoy's reason phrase for `:status`), the non-pseudo headers in order,
 * `transfer-encoding: chunked` if `chunked`, and the blank line. `properCase` writes every
 * field name in proper case. A stateful formatter on the map spells the names, and its reason
 * phrase (preserve_case `forward_reason_phrase`) replaces Envoy's.
 */
export function encodeResponseHead(
  headers: HeaderMap,
  version: HttpVersion,
  chunked: boolean,
  properCase = false,
): Uint8Array {
  const status = headers.get(":status");
  const code = status !== undefined && /^[1-9][0-9][0-9]$/.test(status) ? Number(status) : 0;
  if (code === 0) throw new TypeError(`HTTP/1 response needs a 3-digit :status, got ${status}`);
  const formatter = headers.formatter;
  const phrase = formatter?.getReasonPhrase();
  const line = phrase ? ascii(`${version} ${code} ${phrase}\r\n`) : statusLine(version, code);
  const kv = headers.raw();
  const out = allocate(line.length + fieldsSize(kv) + (chunked ? TE_CHUNKED.length : 0) + 2);
  out.set(line, 0);
  const pos = putFields(out, line.length, kv, properCase, formatter);
  return finishHead(out, pos, chunked, properCase, formatter);
}

/**
 * Chunks up to this size are copied into one array with their framing: copying a few hundred
 * bytes costs less than handing the socket three separate pieces.
 */
export const COALESCE_CHUNK_BYTES = 512;

/**
 * Frames `data` as one chunk: `<hex size>\r\n<data>\r\n`.
 *
 * Zero-copy above `COALESCE_CHUNK_BYTES`: returns `[sizeLine, data, crlf]`, where `data` is the
 * caller's array itself and `crlf` a shared constant; write the three in order (e.g. one
 * vectored write) and never mutate them. Small chunks come back as one new array. Empty `data`
 * gives an empty array, since a zero-size chunk would end the body.
 */
export function encodeChunk(data: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] | Uint8Array {
  const n = data.length;
  if (n === 0) return EMPTY;
  const hex = n.toString(16);
  if (n <= COALESCE_CHUNK_BYTES) {
    const out = allocate(hex.length + n + 4);
    let pos = putWord(out, 0, hex, "chunk size");
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
    out.set(data, pos);
    pos += n;
    out[pos++] = 0x0d;
    out[pos] = 0x0a;
    return out;
  }
  const line = allocate(hex.length + 2);
  putWord(line, 0, hex, "chunk size");
  line[hex.length] = 0x0d;
  line[hex.length + 1] = 0x0a;
  return [line, data, CRLF];
}

/**
 * `0\r\n`, the trailers (pseudo-headers skipped; names in proper case if `properCase`) and the
 * final blank line. Without trailers this is a shared constant: do not mutate it.
 */
export function encodeLastChunk(trailers?: HeaderMap, properCase = false): Uint8Array {
  const kv = trailers?.raw();
  if (kv === undefined || kv.length === 0) return LAST_CHUNK;
  const out = allocate(3 + fieldsSize(kv) + 2);
  out[0] = 0x30;
  out[1] = 0x0d;
  out[2] = 0x0a;
  const pos = putFields(out, 3, kv, properCase, undefined);
  out[pos] = 0x0d;
  out[pos + 1] = 0x0a;
  return out;
}
