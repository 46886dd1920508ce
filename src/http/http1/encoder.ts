/**
 * HTTP/1.1 message encoding: heads, chunks and the last chunk with trailers.
 *
 * Header strings are byte strings (one code unit per byte, as the parser produces them), so a
 * head is written in one pass into one exactly-sized Uint8Array. Names are written as stored
 * (lower case), as Envoy does by default. Anything that could break the framing — a name that
 * is not a token, a CR/LF/NUL in a value or request-target, a code unit above 0xFF — throws a
 * TypeError instead of reaching the wire (Envoy's HeaderString refuses the same bytes).
 *
 * @module
 */
import type { HeaderMap } from "../header_map.ts";
import { TOKEN } from "./chars.ts";
import type { HttpVersion } from "./parser.ts";
import { reasonPhrase } from "./reason_phrase.ts";

const FORBIDDEN_IN_VALUE = new Uint8Array(256);
FORBIDDEN_IN_VALUE[0x00] = FORBIDDEN_IN_VALUE[0x0a] = FORBIDDEN_IN_VALUE[0x0d] = 1;

// A request-target must also stay one word on the request line.
const FORBIDDEN_IN_TARGET = FORBIDDEN_IN_VALUE.slice();
FORBIDDEN_IN_TARGET[0x20] = FORBIDDEN_IN_TARGET[0x09] = 1;

const NOT_TOKEN = TOKEN.map((t) => t === 0 ? 1 : 0);

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const CRLF = ascii("\r\n");
const HTTP11_CRLF = ascii(" HTTP/1.1\r\n");
const HOST = ascii("host: ");
const TE_CHUNKED = ascii("transfer-encoding: chunked\r\n");
const LAST_CHUNK = ascii("0\r\n\r\n");
const EMPTY = new Uint8Array(0);

/**
 * Copies `s` into `out` at `pos` and returns the position after it. Throws if a code unit is
 * above 0xFF or marked in `forbidden`.
 */
function put(out: Uint8Array, pos: number, s: string, forbidden: Uint8Array, what: string) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || forbidden[c] !== 0) {
      throw new TypeError(`invalid character 0x${c.toString(16)} in HTTP/1 ${what}: ${s}`);
    }
    out[pos++] = c;
  }
  return pos;
}

/** Wire size of the regular (non-pseudo) fields of `kv`. */
function fieldsSize(kv: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < kv.length; i += 2) {
    if (kv[i].charCodeAt(0) !== 0x3a) n += kv[i].length + kv[i + 1].length + 4;
  }
  return n;
}

/** Writes the regular fields of `kv` as `name: value\r\n` lines. */
function putFields(out: Uint8Array, pos: number, kv: readonly string[]): number {
  for (let i = 0; i < kv.length; i += 2) {
    const name = kv[i];
    if (name.charCodeAt(0) === 0x3a) continue;
    if (name.length === 0) throw new TypeError("empty HTTP/1 header name");
    pos = put(out, pos, name, NOT_TOKEN, "header name");
    out[pos++] = 0x3a;
    out[pos++] = 0x20;
    pos = put(out, pos, kv[i + 1], FORBIDDEN_IN_VALUE, "header value");
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
  }
  return pos;
}

/**
 * `<:method> <:path> HTTP/1.1`, then `host: <:authority>`, the other non-pseudo headers in
 * order, `transfer-encoding: chunked` if `chunked`, and the blank line. A CONNECT request has
 * no `:path`; its target is the authority (RFC 9112 §3.2.3). Without `:authority` no Host line
 * is written.
 */
export function encodeRequestHead(headers: HeaderMap, chunked: boolean): Uint8Array {
  const kv = headers.raw();
  const method = headers.get(":method");
  const authority = headers.get(":authority");
  const target = headers.get(":path") ?? (method === "CONNECT" ? authority : undefined);
  if (method === undefined || method === "" || target === undefined || target === "") {
    throw new TypeError("HTTP/1 request needs :method and :path (or :authority for CONNECT)");
  }
  let size = method.length + 1 + target.length + HTTP11_CRLF.length + fieldsSize(kv) +
    (chunked ? TE_CHUNKED.length : 0) + 2;
  if (authority !== undefined) size += HOST.length + authority.length + 2;
  const out = new Uint8Array(size);
  let pos = put(out, 0, method, NOT_TOKEN, "method");
  out[pos++] = 0x20;
  pos = put(out, pos, target, FORBIDDEN_IN_TARGET, "request-target");
  out.set(HTTP11_CRLF, pos);
  pos += HTTP11_CRLF.length;
  if (authority !== undefined) {
    out.set(HOST, pos);
    pos = put(out, pos + HOST.length, authority, FORBIDDEN_IN_TARGET, "authority");
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
  }
  return finishHead(out, putFields(out, pos, kv), chunked);
}

function finishHead(out: Uint8Array, pos: number, chunked: boolean): Uint8Array {
  if (chunked) {
    out.set(TE_CHUNKED, pos);
    pos += TE_CHUNKED.length;
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
 * `transfer-encoding: chunked` if `chunked`, and the blank line.
 */
export function encodeResponseHead(
  headers: HeaderMap,
  version: HttpVersion,
  chunked: boolean,
): Uint8Array {
  const status = headers.get(":status");
  const code = status !== undefined && /^[1-9][0-9][0-9]$/.test(status) ? Number(status) : 0;
  if (code === 0) throw new TypeError(`HTTP/1 response needs a 3-digit :status, got ${status}`);
  const line = statusLine(version, code);
  const kv = headers.raw();
  const out = new Uint8Array(
    line.length + fieldsSize(kv) + (chunked ? TE_CHUNKED.length : 0) + 2,
  );
  out.set(line, 0);
  return finishHead(out, putFields(out, line.length, kv), chunked);
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
    const out = new Uint8Array(hex.length + n + 4);
    let pos = put(out, 0, hex, FORBIDDEN_IN_VALUE, "chunk size");
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
    out.set(data, pos);
    pos += n;
    out[pos++] = 0x0d;
    out[pos] = 0x0a;
    return out;
  }
  const line = new Uint8Array(hex.length + 2);
  put(line, 0, hex, FORBIDDEN_IN_VALUE, "chunk size");
  line[hex.length] = 0x0d;
  line[hex.length + 1] = 0x0a;
  return [line, data, CRLF];
}

/**
 * `0\r\n`, the trailers (pseudo-headers skipped) and the final blank line. Without trailers
 * this is a shared constant: do not mutate it.
 */
export function encodeLastChunk(trailers?: HeaderMap): Uint8Array {
  const kv = trailers?.raw();
  if (kv === undefined || kv.length === 0) return LAST_CHUNK;
  const out = new Uint8Array(3 + fieldsSize(kv) + 2);
  out[0] = 0x30;
  out[1] = 0x0d;
  out[2] = 0x0a;
  const pos = putFields(out, 3, kv);
  out[pos] = 0x0d;
  out[pos + 1] = 0x0a;
  return out;
}
