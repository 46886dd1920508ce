/**
 * Readers for the header values that decide how an HTTP/1 message is framed and routed:
 * Content-Length, Connection tokens, Transfer-Encoding, and the request-target forms.
 * They read the raw bytes the parser already holds, so no string is built to inspect them.
 *
 * @module
 */
import type { HeaderMap } from "../header_map.ts";
import { HOST_CHAR, HTAB, SP, TOKEN_LOWER } from "./chars.ts";
import {
  KIND_CONNECTION,
  KIND_CONTENT_LENGTH,
  KIND_TRANSFER_ENCODING,
  KIND_UPGRADE,
} from "./intern.ts";

/** `parseContentLength` result for a value that is not one decimal number. */
export const CL_INVALID = -1;
/** A second Content-Length field (Envoy's balsa: `disallow_multiple_content_length`). */
export const CL_MISMATCH = -2;

const COMMA = 0x2c;

function isOws(b: number): boolean {
  return b === SP || b === HTAB;
}

/**
 * Parses a Content-Length value: one decimal number. A list, even of identical numbers
 * (`5, 5`), is `CL_INVALID`: Envoy's HTTP/1 codec (balsa) rejects it rather than guess, in
 * requests (400) and responses (502). Values above 2^53-1 are `CL_INVALID`: they cannot be
 * counted exactly and no real body is that large.
 */
export function parseContentLength(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && isOws(buf[i])) i++;
  const digits = i;
  let n = 0;
  for (; i < end; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
    if (n > Number.MAX_SAFE_INTEGER) return CL_INVALID;
  }
  if (i === digits) return CL_INVALID;
  while (i < end && isOws(buf[i])) i++;
  return i === end ? n : CL_INVALID;
}

/** `Connection: close`. */
export const CONN_CLOSE = 1;
/** `Connection: keep-alive`. */
export const CONN_KEEP_ALIVE = 2;
/** `Connection: upgrade`. */
export const CONN_UPGRADE = 4;

/** Whether `buf[start, end)` equals `lower` (a lower-case token), ignoring ASCII case. */
export function equalsIgnoreCase(
  buf: Uint8Array,
  start: number,
  end: number,
  lower: string,
): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const b = buf[start + i];
    // Folding through the token table keeps non-token bytes (0) from ever matching.
    if (TOKEN_LOWER[b] !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The CONN_* bits of the tokens in a Connection value (a comma-separated, case-insensitive
 * list; RFC 9110 §7.6.1). Unknown tokens are ignored here: they name hop-by-hop headers, which
 * the connection manager strips.
 */
export function connectionTokens(buf: Uint8Array, start: number, end: number): number {
  let bits = 0;
  let i = start;
  while (i < end) {
    while (i < end && (isOws(buf[i]) || buf[i] === COMMA)) i++;
    const s = i;
    while (i < end && buf[i] !== COMMA) i++;
    let e = i;
    while (e > s && isOws(buf[e - 1])) e--;
    if (equalsIgnoreCase(buf, s, e, "close")) bits |= CONN_CLOSE;
    else if (equalsIgnoreCase(buf, s, e, "keep-alive")) bits |= CONN_KEEP_ALIVE;
    else if (equalsIgnoreCase(buf, s, e, "upgrade")) bits |= CONN_UPGRADE;
  }
  return bits;
}

/** Whether `buf[start, end)` is a non-empty authority (host[:port]) with no userinfo. */
export function isAuthority(buf: Uint8Array, start: number, end: number): boolean {
  if (start === end) return false;
  for (let i = start; i < end; i++) if (HOST_CHAR[buf[i]] === 0) return false;
  return true;
}

/** The parts of an absolute-form request-target (RFC 9112 §3.2.2). */
export interface AbsoluteForm {
  /** Lower-cased scheme. */
  scheme: string;
  /** host[:port]. */
  authority: string;
  /** path and query; `/` when the target has none (RFC 9112 §3.3). */
  path: string;
}

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isSchemeChar(c: number): boolean {
  return isAlpha(c) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e;
}

/**
 * Splits `scheme://authority[/path][?query]` as `target` (already checked to hold only
 * VCHARs). Returns undefined when it is not of that shape or the authority is empty or
 * carries userinfo.
 */
export function parseAbsoluteForm(target: string): AbsoluteForm | undefined {
  if (target.length === 0 || !isAlpha(target.charCodeAt(0))) return undefined;
  let i = 1;
  while (i < target.length && isSchemeChar(target.charCodeAt(i))) i++;
  if (!target.startsWith("://", i)) return undefined;
  const scheme = target.slice(0, i).toLowerCase();
  const hostStart = i + 3;
  let hostEnd = hostStart;
  while (hostEnd < target.length) {
    const c = target.charCodeAt(hostEnd);
    if (c === 0x2f || c === 0x3f) break;
    if (HOST_CHAR[c] === 0) return undefined;
    hostEnd++;
  }
  if (hostEnd === hostStart) return undefined;
  const rest = target.slice(hostEnd);
  const path = rest === "" ? "/" : rest.charCodeAt(0) === 0x3f ? "/" + rest : rest;
  return { scheme, authority: target.slice(hostStart, hostEnd), path };
}

/**
 * The framing-relevant fields of one head, gathered as the parser walks them. Reused across
 * messages (`reset()`), so heads allocate nothing for it.
 */
export class Framing {
  /** Content-Length; -1 if absent, CL_INVALID / CL_MISMATCH once `add()` rejected one. */
  contentLength = -1;
  /** Number of Transfer-Encoding fields. */
  transferEncodings = 0;
  /** Exactly one Transfer-Encoding field, and it says `chunked`. */
  chunked = false;
  /** CONN_* bits of every Connection field. */
  connection = 0;
  /** An Upgrade field was present. */
  upgrade = false;

  /** Forgets the previous message. */
  reset(): void {
    this.contentLength = -1;
    this.transferEncodings = 0;
    this.chunked = false;
    this.connection = 0;
    this.upgrade = false;
  }

  /**
   * Takes a field of `kind` (intern.ts KIND_*) with value `buf[start, end)`. False when the
   * value makes the message invalid; `contentLength` then says why.
   */
  add(kind: number, buf: Uint8Array, start: number, end: number): boolean {
    switch (kind) {
      case KIND_CONTENT_LENGTH: {
        // A repeated field is refused even with the same value (balsa's
        // MULTIPLE_CONTENT_LENGTH_KEYS, HPE_UNEXPECTED_CONTENT_LENGTH).
        this.contentLength = this.contentLength >= 0
          ? CL_MISMATCH
          : parseContentLength(buf, start, end);
        return this.contentLength >= 0;
      }
      case KIND_TRANSFER_ENCODING:
        // Two fields join to `chunked, chunked`, which is not the one coding Envoy accepts.
        this.chunked = ++this.transferEncodings === 1 &&
          equalsIgnoreCase(buf, start, end, "chunked");
        return true;
      case KIND_CONNECTION:
        this.connection |= connectionTokens(buf, start, end);
        return true;
      case KIND_UPGRADE:
        this.upgrade = true;
        return true;
    }
    return true;
  }
}

/**
 * Removes an h2c upgrade offer (Upgrade, HTTP2-Settings, and those tokens in Connection),
 * which Envoy does instead of upgrading (envoyproxy/envoy#7161).
 */
export function stripH2cUpgrade(headers: HeaderMap): void {
  headers.remove("upgrade");
  headers.remove("http2-settings");
  const connection = headers.get("connection");
  if (connection === undefined) return;
  const kept = connection.split(",").map((t) => t.trim()).filter((t) => {
    const lower = t.toLowerCase();
    return lower !== "" && lower !== "upgrade" && lower !== "http2-settings";
  });
  if (kept.length === 0) headers.remove("connection");
  else headers.set("connection", kept.join(","));
}
