/**
 * HTTP/1.1 request and response parsers (RFC 9112), strict in the ways Envoy is strict.
 *
 * Design, for speed:
 * - A head (start line + header fields) is parsed only once it is complete. When it arrives in
 *   one read — nearly always — it is parsed straight from the caller's buffer. Otherwise the
 *   pieces are copied into a per-parser buffer while a cheap scanner looks for the blank line,
 *   so drip-fed input costs linear time, not a re-parse per read.
 * - Parsing first records field offsets, then decodes the whole head to one latin1 string and
 *   slices values out of it; well-known names and methods come from intern tables, so most
 *   headers cost one string allocation.
 * - Bodies are handed out as views into the caller's buffer, never copied.
 *
 * Callbacks run synchronously inside `execute()`; they must not throw or re-enter the parser,
 * but may `pause()` or `stop()` it.
 *
 * @module
 */
import { HeaderMap } from "../header_map.ts";
import {
  AUTHORITY_CHAR,
  COLON,
  CR,
  FIELD_VALUE,
  HEX,
  HTAB,
  latin1,
  LF,
  SP,
  TOKEN,
  TOKEN_LOWER,
  URI_CHAR,
} from "./chars.ts";
import {
  CL_MISMATCH,
  CONN_CLOSE,
  CONN_KEEP_ALIVE,
  CONN_UPGRADE,
  equalsIgnoreCase,
  Framing,
  isAuthority,
  parseAbsoluteForm,
  stripH2cUpgrade,
} from "./framing.ts";
import { HASH_SEED, hashFinish, hashStep, KIND_EXPECT, KIND_HOST, KIND_UPGRADE } from "./intern.ts";
import { HEADER_NAMES, METHODS } from "./words.ts";
import type {
  StatefulHeaderKeyFormatter,
  StatefulHeaderKeyFormatterFactory,
} from "./header_formatter.ts";

/** Size limits, as Envoy's `max_request_headers_kb` / `max_request_headers_count`. */
export interface ParserLimits {
  /** Largest head (start line + fields, as on the wire) or trailer section, in bytes. */
  maxHeadersBytes: number;
  /** Most header (or trailer) fields. */
  maxHeadersCount: number;
}

/** `HeadersWithUnderscoresAction` values, numbered as in Envoy's enum. */
export const UNDERSCORES_ALLOW = 0;
/** Reject the request (400, `http1.unexpected_underscore`). */
export const UNDERSCORES_REJECT_REQUEST = 1;
/** Drop the field before anything sees it. */
export const UNDERSCORES_DROP_HEADER = 2;

/** Protocol options that change how messages are read (both directions unless noted). */
export interface CodecOptions {
  /**
   * `http_protocol_options.allow_chunked_length`: a message with both Content-Length and
   * `Transfer-Encoding: chunked` is read as chunked and its Content-Length removed, instead of
   * being rejected.
   */
  allowChunkedLength: boolean;
  /**
   * `common_http_protocol_options.headers_with_underscores_action` (UNDERSCORES_*), for request
   * header and trailer names; responses are never checked, as in Envoy.
   */
  headersWithUnderscoresAction: number;
  /** Called once per field dropped by UNDERSCORES_DROP_HEADER (for the stat). */
  onUnderscoreHeaderDropped?: () => void;
  /**
   * `http_protocol_options.enable_trailers`. When false, a chunked body's trailer section is
   * still checked for framing but its fields are ignored, as Envoy's codec ignores them:
   * `onMessageComplete` gets no trailers. On by default here; the proxy passes its config.
   */
  enableTrailers: boolean;
  /**
   * `header_key_format.stateful_formatter`: each head gets a formatter that saw its field names
   * as received (and a response's reason phrase), attached to its header map.
   */
  statefulFormatter?: StatefulHeaderKeyFormatterFactory;
}

/** Request parser settings. */
export interface RequestParserOptions extends ParserLimits, CodecOptions {
  /**
   * Accept any token as a method. Off by default: Envoy's parsers only know the methods in
   * words.ts and reject others with `HPE_INVALID_METHOD`.
   */
  allowCustomMethods: boolean;
}

/** Envoy's default `max_request_headers_kb` (60) in bytes. */
export const DEFAULT_MAX_REQUEST_HEADERS_BYTES = 60 * 1024;
/** Envoy's HTTP/1 response head limit (80 KiB, http_parser's historical default). */
export const DEFAULT_MAX_RESPONSE_HEADERS_BYTES = 80 * 1024;
/** Envoy's default `max_headers_count`. */
export const DEFAULT_MAX_HEADERS_COUNT = 100;

/** HTTP versions a message can carry. */
export type HttpVersion = "HTTP/1.0" | "HTTP/1.1";

/** What the parser learned from a head, beyond the header map. */
export interface MessageHead {
  /**
   * `HTTP/1.1` only for exactly 1.1. Any other well-formed version (1.0, 0.9, 1.2, 2.0, ...) is
   * reported as `HTTP/1.0`, as Envoy does; the connection manager then applies
   * `accept_http_10` (426 Upgrade Required when off).
   */
  version: HttpVersion;
  /** Whether the connection may carry another message after this one. */
  keepAlive: boolean;
  /** `Transfer-Encoding: chunked` was present (the only coding accepted). */
  chunked: boolean;
  /** Content-Length, or -1 if absent. */
  contentLength: number;
  /**
   * The connection leaves HTTP after this head: CONNECT, or `Connection: upgrade` with an
   * `Upgrade` header on a request; 101, or 2xx to CONNECT, on a response. `execute()` stops
   * right after the head; the bytes after it belong to the tunnel.
   */
  upgrade: boolean;
  /** HTTP/1.1 request with `Expect: 100-continue`. */
  expectContinue: boolean;
  /** Wire bytes of the head, start line to the blank line inclusive. */
  headersBytes: number;
  /** Response status code; 0 for requests. */
  status: number;
  /**
   * The message has no body: `onMessageComplete` follows `onHead` at once. Like Envoy's
   * `end_stream` on decodeHeaders. False for 1xx (more heads follow) and upgrades.
   */
  endStream: boolean;
}

/** What the parser reports to its owner (the codec's connection). */
export interface ParserCallbacks {
  /** A head was parsed. For responses, 1xx heads come here too (see ResponseParser). */
  onHead(headers: HeaderMap, head: MessageHead): void;
  /** Body bytes: a view into the buffer given to `execute()`, valid until it is reused. */
  onBody(chunk: Uint8Array): void;
  /** The message ended; `trailers` when a chunked body carried any. */
  onMessageComplete(trailers: HeaderMap | undefined): void;
  /**
   * The input is not valid HTTP/1; the parser is dead. `status` is what to reply (requests:
   * 400/431/501; responses: 502, as the router answers an upstream protocol error); `detail`
   * is Envoy's response code detail (`http1.codec_error`, ...); `message` says what was wrong,
   * in Envoy's words where it has them (`HPE_INVALID_METHOD`, ...).
   */
  onError(status: number, detail: string, message: string): void;
}

/** Response code details Envoy's HTTP/1 codec uses. */
export const Details = {
  codecError: "http1.codec_error",
  invalidUnderscore: "http1.unexpected_underscore",
  invalidCharacters: "http1.invalid_characters",
  headersTooLarge: "http1.headers_too_large",
  tooManyHeaders: "http1.too_many_headers",
  invalidUrl: "http1.invalid_url",
  invalidScheme: "http1.invalid_scheme",
  invalidTransferEncoding: "http1.invalid_transfer_encoding",
  chunkedContentLength: "http1.content_length_and_chunked_not_allowed",
  /** Envoy's shared detail for a Host (authority) with characters RFC 3986 does not allow. */
  invalidAuthority: "http.invalid_authority",
  bodyDisallowed: "http1.body_disallowed",
  transferEncodingNotAllowed: "http1.transfer_encoding_not_allowed",
  contentLengthNotAllowed: "http1.content_length_not_allowed",
} as const;

// Parser states. Heads and trailers share the field-section machinery.
const S_HEAD = 0;
const S_BODY_LENGTH = 1;
const S_BODY_EOF = 2;
const S_CHUNK_SIZE = 3;
const S_CHUNK_BWS = 4;
const S_CHUNK_EXT = 5;
const S_CHUNK_SIZE_LF = 6;
const S_CHUNK_DATA = 7;
const S_CHUNK_DATA_CR = 8;
const S_CHUNK_DATA_LF = 9;
const S_TRAILERS = 10;
const S_UPGRADED = 11;
const S_DEAD = 12;

// Section scan results besides "index after the blank line".
const INCOMPLETE = -1;
const FAILED = -2;

// Name ids for fields whose name is not interned.
const NAME_LOWER = -1;
const NAME_MIXED_CASE = -2;

// Partial-section buffers up to this size are kept for the connection's next partial head.
const PENDING_KEEP_BYTES = 4096;

const SLASH = 0x2f;
const STAR = 0x2a;
const SEMICOLON = 0x3b;

// What the section scan records per field: name start/end and value start/end offsets, and the
// interned name id (or NAME_*). Shared by all parsers, since typed arrays are costly to create
// and hold per connection; safe because a section is scanned and turned into strings in one
// synchronous step, before any callback could run another parser.
let fieldOffsets = new Int32Array(0);
let fieldNameIds = new Int16Array(0);

function reserveFields(count: number): void {
  if (fieldNameIds.length >= count) return;
  fieldOffsets = new Int32Array(4 * count);
  fieldNameIds = new Int16Array(count);
}

const STATUS_TEXT: string[] = [];
function statusText(code: number): string {
  return STATUS_TEXT[code] ??= String(code);
}

/** Shared machinery of RequestParser and ResponseParser. */
abstract class Http1Parser {
  readonly #cb: ParserCallbacks;
  readonly #isRequest: boolean;
  readonly #maxBytes: number;
  readonly #maxCount: number;
  readonly #allowCustomMethods: boolean;
  readonly #allowChunkedLength: boolean;
  readonly #underscores: number;
  readonly #onUnderscoreDropped: (() => void) | undefined;
  readonly #enableTrailers: boolean;
  readonly #formatterFactory: StatefulHeaderKeyFormatterFactory | undefined;

  #state = S_HEAD;
  #pauseRequested = false;
  readonly #framing = new Framing();

  // Partial field section, copied from earlier reads, and the line scanner's position in it.
  #pending: Uint8Array | undefined;
  #pendingLen = 0;
  #lineBytes = 0;
  #sawCR = false;
  #lines = 0;

  #fieldCount = 0;
  // Start line, from the scan.
  #methodStart = 0;
  #methodEnd = 0;
  #methodId = -1;
  #targetStart = 0;
  #targetEnd = 0;
  #http11 = true;
  #status = 0;
  // The reason phrase's place in the status line.
  #reasonStart = 0;
  #reasonEnd = 0;

  #remaining = 0;
  #chunkDigits = 0;
  // A 1xx arrived; the final response to the same request is still to come.
  #interim = false;

  /** For responses: the request method the next response answers. */
  protected requestMethod = "";

  constructor(
    cb: ParserCallbacks,
    isRequest: boolean,
    maxBytes: number,
    maxCount: number,
    allowCustomMethods: boolean,
    codec: Partial<CodecOptions>,
  ) {
    this.#cb = cb;
    this.#isRequest = isRequest;
    this.#maxBytes = maxBytes;
    this.#maxCount = maxCount;
    this.#allowCustomMethods = allowCustomMethods;
    this.#allowChunkedLength = codec.allowChunkedLength ?? false;
    this.#underscores = codec.headersWithUnderscoresAction ?? UNDERSCORES_ALLOW;
    this.#onUnderscoreDropped = codec.onUnderscoreHeaderDropped;
    this.#enableTrailers = codec.enableTrailers ?? true;
    this.#formatterFactory = codec.statefulFormatter;
    reserveFields(maxCount);
  }

  /**
   * Parses as much of `data` as possible and returns how many bytes were consumed. Less than
   * `data.length` only when the parser stopped: paused at a message boundary, switched to a
   * tunnel (upgrade/CONNECT), or failed. Everything else, including a partial head, is
   * consumed (partial heads are kept inside the parser).
   */
  execute(data: Uint8Array): number {
    const n = data.length;
    let p = 0;
    while (p < n) {
      switch (this.#state) {
        case S_HEAD:
          if (this.#pauseRequested && this.#pendingLen === 0 && !this.#interim) return p;
          p = this.#section(data, p, n);
          break;
        case S_BODY_LENGTH: {
          const take = Math.min(this.#remaining, n - p);
          this.#cb.onBody(take === n ? data : data.subarray(p, p + take));
          p += take;
          this.#remaining -= take;
          // onBody may have stopped the parser: a stopped parser reports nothing more.
          if (this.#remaining === 0 && this.#state === S_BODY_LENGTH) this.#complete(undefined);
          break;
        }
        case S_BODY_EOF:
          this.#cb.onBody(p === 0 ? data : data.subarray(p));
          p = n;
          break;
        case S_TRAILERS:
          p = this.#section(data, p, n);
          break;
        case S_UPGRADED:
        case S_DEAD:
          return p;
        default:
          p = this.#chunked(data, p, n);
      }
    }
    return p;
  }

  /**
   * Stop at the next message boundary: right after the current message's `onMessageComplete`
   * (or now, if between messages). `execute()` then returns without touching the next message
   * until `resume()`; this is how the caller serializes pipelined requests.
   */
  pause(): void {
    this.#pauseRequested = true;
  }

  /** Undoes `pause()`; call `execute()` again with the bytes it did not consume. */
  resume(): void {
    this.#pauseRequested = false;
  }

  /**
   * Stops for good: `execute()` consumes nothing more and no callback follows, even from
   * inside a callback of the current `execute()`. The owner decided the connection closes
   * (an error, a reply with `connection: close`, a reset); the bytes after that point must
   * not be parsed as further messages (RFC 9112 §9.6).
   */
  stop(): void {
    this.#state = S_DEAD;
    this.#pending = undefined;
    this.#pendingLen = 0;
  }

  /** Whether `stop()` ran or the input failed to parse. */
  get stopped(): boolean {
    return this.#state === S_DEAD;
  }

  /** Whether `pause()` is in effect. */
  get paused(): boolean {
    return this.#pauseRequested;
  }

  /** Whether the parser holds part of a message (so EOF now would truncate it). */
  get midMessage(): boolean {
    const s = this.#state;
    return s !== S_UPGRADED && s !== S_DEAD && (s !== S_HEAD || this.#lines > 0 || this.#interim);
  }

  /**
   * The peer closed its side. A read-until-close response body ends here; any other partial
   * message is an error (`HPE_INVALID_EOF_STATE`). Between messages it is a clean close.
   */
  onEof(): void {
    if (this.#state === S_BODY_EOF) {
      this.#complete(undefined);
    } else if (this.midMessage) {
      this.#fail(this.#errorStatus(400), Details.codecError, "HPE_INVALID_EOF_STATE");
      return;
    }
    this.#state = S_DEAD;
  }

  // ---- field sections (heads and trailers) -------------------------------------------------

  /** Consumes head or trailer bytes from `data[p, n)`; returns the new position. */
  #section(data: Uint8Array, p: number, n: number): number {
    const isHead = this.#state === S_HEAD;
    if (this.#pendingLen === 0) {
      if (isHead) {
        // RFC 9112 §2.2: ignore empty lines before a request/status line.
        while (p + 1 < n && data[p] === CR && data[p + 1] === LF) p += 2;
        if (p === n) return n;
      }
      // A lone CR could start the blank line before a request line; wait for its LF.
      const r = data[p] === CR && p + 1 === n
        ? INCOMPLETE
        : isHead
        ? this.#scanHead(data, p, n)
        : this.#scanFields(data, p, n);
      if (r === FAILED) return n;
      if (r !== INCOMPLETE) {
        if (r - p > this.#maxBytes) return this.#tooLarge(isHead, n);
        this.#emit(data, p, r, isHead);
        return r;
      }
      // Already too long without its blank line: no need to buffer it to find out.
      if (n - p > this.#maxBytes) return this.#tooLarge(isHead, n);
      this.#startPending(data, p, n);
      return n;
    }
    return this.#feedPending(data, p, n, isHead);
  }

  /**
   * Buffers `data[p, n)`, which the scan just found valid but incomplete, and sets the line
   * scanner up from its last line instead of scanning it all again.
   */
  #startPending(data: Uint8Array, p: number, n: number): void {
    let lineStart = n;
    while (lineStart > p && data[lineStart - 1] !== LF) lineStart--;
    const sawCR = data[n - 1] === CR;
    this.#sawCR = sawCR;
    this.#lineBytes = n - lineStart - (sawCR ? 1 : 0);
    // Lines before the last one were not empty (an empty one ends the section, and blank
    // lines before a start line were skipped), so only a lone CR means "no line yet".
    this.#lines = lineStart > p || this.#lineBytes > 0 ? 1 : 0;
    this.#append(data, p, n);
  }

  /**
   * Copies a partial section into the pending buffer until its blank line shows up, checking
   * line endings and size as it goes, then parses the whole section from the buffer.
   */
  #feedPending(data: Uint8Array, p: number, n: number, isHead: boolean): number {
    let start = p;
    let lineBytes = this.#lineBytes;
    let sawCR = this.#sawCR;
    let lines = this.#lines;
    for (let i = p; i < n; i++) {
      const c = data[i];
      if (sawCR) {
        if (c !== LF) {
          this.#failCodec("HPE_LF_EXPECTED");
          return n;
        }
        sawCR = false;
        if (lineBytes !== 0) {
          lineBytes = 0;
          continue;
        }
        if (isHead && lines === 0) {
          this.#pendingLen = 0;
          start = i + 1;
          continue;
        }
        const size = this.#pendingLen + (i + 1 - start);
        if (size > this.#maxBytes) return this.#tooLarge(isHead, n);
        this.#append(data, start, i + 1);
        const buf = this.#pending!;
        this.#pendingLen = 0;
        this.#lines = 0;
        // A head that needed a big buffer was an outlier; do not keep its memory per connection.
        if (buf.length > PENDING_KEEP_BYTES) this.#pending = undefined;
        const r = isHead ? this.#scanHead(buf, 0, size) : this.#scanFields(buf, 0, size);
        if (r === FAILED) return n;
        this.#emit(buf, 0, size, isHead);
        return i + 1;
      }
      if (c === CR) sawCR = true;
      else if (c === LF) {
        this.#failCodec("HPE_CR_EXPECTED");
        return n;
      } else {
        if (lineBytes === 0) lines++;
        lineBytes++;
      }
    }
    if (this.#pendingLen + (n - start) > this.#maxBytes) return this.#tooLarge(isHead, n);
    this.#append(data, start, n);
    this.#lineBytes = lineBytes;
    this.#sawCR = sawCR;
    this.#lines = lines;
    return n;
  }

  #append(data: Uint8Array, start: number, end: number): void {
    const need = this.#pendingLen + end - start;
    let buf = this.#pending;
    if (buf === undefined || buf.length < need) {
      const grown = new Uint8Array(Math.max(need, 2 * (buf?.length ?? 512)));
      if (buf !== undefined) grown.set(buf.subarray(0, this.#pendingLen));
      this.#pending = buf = grown;
    }
    buf.set(data.subarray(start, end), this.#pendingLen);
    this.#pendingLen = need;
  }

  /** Scans a start line and fields; returns the index after the blank line, or a status. */
  #scanHead(buf: Uint8Array, p: number, end: number): number {
    const q = this.#isRequest
      ? this.#scanRequestLine(buf, p, end)
      : this.#scanStatusLine(buf, p, end);
    return q < 0 ? q : this.#scanFields(buf, q, end);
  }

  #scanRequestLine(buf: Uint8Array, p: number, end: number): number {
    const ms = p;
    while (p < end && TOKEN[buf[p]] !== 0) p++;
    if (p === end) return INCOMPLETE;
    if (buf[p] !== SP || p === ms) return this.#reject("HPE_INVALID_METHOD");
    const id = METHODS.lookup(buf, ms, p);
    if (id < 0 && !this.#allowCustomMethods) return this.#reject("HPE_INVALID_METHOD");
    this.#methodStart = ms;
    this.#methodEnd = p;
    this.#methodId = id;
    const ts = ++p;
    while (p < end && URI_CHAR[buf[p]] !== 0) p++;
    if (p === end) return INCOMPLETE;
    if (buf[p] !== SP || p === ts) return this.#reject("HPE_INVALID_URL");
    this.#targetStart = ts;
    this.#targetEnd = p;
    return this.#scanVersion(buf, p + 1, end, CR);
  }

  #scanStatusLine(buf: Uint8Array, p: number, end: number): number {
    p = this.#scanVersion(buf, p, end, SP);
    if (p < 0) return p;
    if (end - p < 3) return INCOMPLETE;
    const d0 = buf[p] - 0x30, d1 = buf[p + 1] - 0x30, d2 = buf[p + 2] - 0x30;
    if (!(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)) {
      return this.#reject("HPE_INVALID_STATUS");
    }
    this.#status = d0 * 100 + d1 * 10 + d2;
    p += 3;
    if (p === end) return INCOMPLETE;
    this.#reasonStart = p;
    if (buf[p] === SP) {
      // The reason phrase carries no meaning (RFC 9112 §4); it is checked, and kept only for
      // a stateful formatter that forwards it.
      this.#reasonStart = ++p;
      while (p < end && FIELD_VALUE[buf[p]] !== 0) p++;
      if (p === end) return INCOMPLETE;
    }
    this.#reasonEnd = p;
    return this.#lineEnd(buf, p, end, "HPE_INVALID_STATUS");
  }

  /** Scans `HTTP/d.d` then `after` (SP, or CR LF); returns the index past it. */
  #scanVersion(buf: Uint8Array, p: number, end: number, after: number): number {
    const want = "HTTP/";
    for (let i = 0; i < 8; i++, p++) {
      if (p === end) return INCOMPLETE;
      const c = buf[p];
      const ok = i < 5 ? c === want.charCodeAt(i) : i === 6 ? c === 0x2e : c >= 0x30 && c <= 0x39;
      if (!ok) return this.#reject("HPE_INVALID_VERSION");
    }
    this.#http11 = buf[p - 3] === 0x31 && buf[p - 1] === 0x31;
    if (after === SP) {
      if (p === end) return INCOMPLETE;
      return buf[p] === SP ? p + 1 : this.#reject("HPE_INVALID_VERSION");
    }
    return this.#lineEnd(buf, p, end, "HPE_INVALID_VERSION");
  }

  /** Expects CR LF at `p`; `message` names what the line held if another byte is there. */
  #lineEnd(buf: Uint8Array, p: number, end: number, message: string): number {
    if (p === end) return INCOMPLETE;
    const c = buf[p];
    if (c !== CR) return this.#reject(c === LF ? "HPE_CR_EXPECTED" : message);
    if (p + 1 === end) return INCOMPLETE;
    return buf[p + 1] === LF ? p + 2 : this.#reject("HPE_LF_EXPECTED");
  }

  /** Scans field lines up to the blank line; records offsets; returns the index after it. */
  #scanFields(buf: Uint8Array, p: number, end: number): number {
    const off = fieldOffsets;
    const ids = fieldNameIds;
    const max = this.#maxCount;
    // Module bindings are read through cells; locals keep the hot loops tight.
    const tokenLower = TOKEN_LOWER;
    const fieldValue = FIELD_VALUE;
    let count = 0;
    for (;;) {
      if (p === end) return INCOMPLETE;
      let c = buf[p];
      if (c === CR) {
        if (p + 1 === end) return INCOMPLETE;
        if (buf[p + 1] !== LF) return this.#reject("HPE_LF_EXPECTED");
        this.#fieldCount = count;
        return p + 2;
      }
      if (count === max) {
        this.#fail(this.#errorStatus(431), Details.tooManyHeaders, "headers count exceeds limit");
        return FAILED;
      }
      const ns = p;
      let hash = HASH_SEED;
      let l = tokenLower[c];
      while (l !== 0) {
        hash = hashStep(hash, l);
        if (++p === end) return INCOMPLETE;
        l = tokenLower[buf[p]];
      }
      c = buf[p];
      if (c !== COLON || p === ns) {
        if (c === LF) return this.#reject("HPE_CR_EXPECTED");
        // Covers obs-fold (a line starting with SP/HTAB) and whitespace before the colon:
        // both are rejected, as RFC 9112 §5.1-5.2 allow and smuggling defences require.
        return this.#reject("HPE_INVALID_HEADER_TOKEN");
      }
      const ne = p++;
      while (p < end && (buf[p] === SP || buf[p] === HTAB)) p++;
      const vs = p;
      while (p < end && fieldValue[buf[p]] !== 0) p++;
      if (p === end) return INCOMPLETE;
      c = buf[p];
      if (c !== CR) {
        if (c === LF) return this.#reject("HPE_CR_EXPECTED");
        this.#fail(
          this.#errorStatus(400),
          Details.invalidCharacters,
          "header value contains invalid chars",
        );
        return FAILED;
      }
      if (p + 1 === end) return INCOMPLETE;
      if (buf[p + 1] !== LF) return this.#reject("HPE_LF_EXPECTED");
      let ve = p;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      p += 2;
      const k = count << 2;
      off[k] = ns;
      off[k + 1] = ne;
      off[k + 2] = vs;
      off[k + 3] = ve;
      const id = HEADER_NAMES.find(buf, ns, ne, hashFinish(hash, ne - ns));
      ids[count++] = id >= 0 ? id : hasUpperCase(buf, ns, ne) ? NAME_MIXED_CASE : NAME_LOWER;
    }
  }

  /** Builds the message from a scanned section and moves on to its body (if any). */
  #emit(buf: Uint8Array, start: number, end: number, isHead: boolean): void {
    if (!isHead && !this.#enableTrailers) return this.#complete(undefined);
    const s = latin1(buf, start, end);
    if (!isHead) {
      const kv: string[] = [];
      const underscores = this.#isRequest ? this.#underscores : UNDERSCORES_ALLOW;
      for (let i = 0; i < this.#fieldCount; i++) {
        if (underscores !== UNDERSCORES_ALLOW && nameHasUnderscore(buf, i)) {
          if (!this.#underscoreDropped()) return;
          continue;
        }
        kv.push(this.#name(s, start, i), this.#value(s, start, i));
      }
      this.#complete(kv.length === 0 ? undefined : new HeaderMap(kv));
    } else if (this.#isRequest) {
      this.#emitRequest(buf, start, end, s);
    } else {
      this.#emitResponse(buf, start, end, s);
    }
  }

  /** Name of field `i`; `s` is the section decoded from `start`. */
  #name(s: string, start: number, i: number): string {
    const id = fieldNameIds[i];
    if (id >= 0) return HEADER_NAMES.word(id);
    const k = i << 2;
    const name = s.slice(fieldOffsets[k] - start, fieldOffsets[k + 1] - start);
    // toLowerCase() is not free even on a lower-case string, so it runs only when needed.
    return id === NAME_LOWER ? name : name.toLowerCase();
  }

  /** Attaches a new stateful formatter to `headers`, fed every field name as received. */
  #learnKeys(headers: HeaderMap, s: string, start: number): StatefulHeaderKeyFormatter {
    const formatter = this.#formatterFactory!.create();
    for (let i = 0; i < this.#fieldCount; i++) {
      const k = i << 2;
      formatter.processKey(s.slice(fieldOffsets[k] - start, fieldOffsets[k + 1] - start));
    }
    headers.formatter = formatter;
    return formatter;
  }

  /** Value of field `i`; `s` is the section decoded from `start`. */
  #value(s: string, start: number, i: number): string {
    const k = i << 2;
    return s.slice(fieldOffsets[k + 2] - start, fieldOffsets[k + 3] - start);
  }

  #emitRequest(buf: Uint8Array, start: number, end: number, s: string): void {
    const method = this.#methodId >= 0
      ? METHODS.word(this.#methodId)
      : s.slice(this.#methodStart - start, this.#methodEnd - start);
    const isConnect = method === "CONNECT";
    const ts = this.#targetStart, te = this.#targetEnd;
    const kv: string[] = [":method", method];
    // Where Host's value goes (:authority), or -1 when the target supplies the authority.
    let authority = -1;
    if (isConnect) {
      if (!isAuthority(buf, ts, te)) return this.#invalidUrl();
      kv.push(":authority", s.slice(ts - start, te - start));
    } else if (buf[ts] === SLASH || (buf[ts] === STAR && method === "OPTIONS")) {
      kv.push(":path", s.slice(ts - start, te - start), ":authority", "");
      authority = 5;
    } else {
      const abs = parseAbsoluteForm(s.slice(ts - start, te - start));
      if (abs === undefined) return this.#invalidUrl();
      if (abs.scheme !== "http" && abs.scheme !== "https") {
        return this.#fail(400, Details.invalidScheme, "invalid scheme");
      }
      kv.push(":scheme", abs.scheme, ":path", abs.path, ":authority", abs.authority);
    }

    const f = this.#framing;
    f.reset();
    let hostSeen = false;
    let upgradeH2c = false;
    let expectContinue = false;
    const underscores = this.#underscores;
    for (let i = 0; i < this.#fieldCount; i++) {
      const id = fieldNameIds[i];
      if (id >= 0) {
        const k = i << 2;
        const vs = fieldOffsets[k + 2], ve = fieldOffsets[k + 3];
        const kind = HEADER_NAMES.kind(id);
        if (kind === KIND_HOST) {
          // RFC 9112 §3.2: more than one Host is a 400. With absolute-form or CONNECT, the
          // target's authority wins and Host is dropped (RFC 9112 §3.2.2), as Envoy does.
          if (hostSeen) return this.#failCodec("multiple host headers");
          hostSeen = true;
          // Envoy's codec checks the authority's characters (a space would let one Host be
          // read as two words upstream); an empty Host is left to the connection manager.
          if (!isAuthorityValue(buf, vs, ve)) {
            return this.#fail(400, Details.invalidAuthority, "invalid host");
          }
          if (authority >= 0) kv[authority] = this.#value(s, start, i);
          continue;
        }
        if (kind === KIND_UPGRADE) {
          upgradeH2c = !f.upgrade && equalsIgnoreCase(buf, vs, ve, "h2c");
        } else if (kind === KIND_EXPECT) {
          expectContinue = equalsIgnoreCase(buf, vs, ve, "100-continue");
        }
        if (!f.add(kind, buf, vs, ve)) return this.#failFraming(f);
      } else if (underscores !== UNDERSCORES_ALLOW && nameHasUnderscore(buf, i)) {
        // Interned names have no underscore, so only the others are looked at.
        if (!this.#underscoreDropped()) return;
        continue;
      }
      kv.push(this.#name(s, start, i), this.#value(s, start, i));
    }
    if (authority >= 0 && !hostSeen) kv.splice(authority - 1, 2);
    const headers = new HeaderMap(kv);
    if (this.#formatterFactory !== undefined) this.#learnKeys(headers, s, start);

    // Envoy's order of checks: a CONNECT body, then CL with TE, then the coding itself.
    if (isConnect && f.contentLength > 0) {
      return this.#fail(400, Details.bodyDisallowed, "unsupported content length");
    }
    if (!this.#checkTransferEncoding(f, isConnect, headers)) return;
    if (isConnect && f.contentLength === 0) headers.remove("content-length");

    let upgrade = isConnect || (f.upgrade && (f.connection & CONN_UPGRADE) !== 0);
    if (upgrade && upgradeH2c) {
      // Envoy does not support h2c upgrades: it strips the offer and serves HTTP/1.1.
      stripH2cUpgrade(headers);
      upgrade = false;
    }
    const http11 = this.#http11;
    const body = f.chunked || f.contentLength > 0;
    this.#startBody(headers, {
      version: http11 ? "HTTP/1.1" : "HTTP/1.0",
      keepAlive: keepAlive(http11, f.connection),
      chunked: f.chunked,
      contentLength: f.contentLength,
      upgrade,
      expectContinue: expectContinue && http11,
      headersBytes: end - start,
      status: 0,
      endStream: !upgrade && !body,
    }, body);
  }

  #emitResponse(buf: Uint8Array, start: number, end: number, s: string): void {
    const status = this.#status;
    const kv: string[] = [":status", statusText(status)];
    const f = this.#framing;
    f.reset();
    for (let i = 0; i < this.#fieldCount; i++) {
      const id = fieldNameIds[i];
      if (id >= 0) {
        const k = i << 2;
        if (!f.add(HEADER_NAMES.kind(id), buf, fieldOffsets[k + 2], fieldOffsets[k + 3])) {
          return this.#failFraming(f);
        }
      }
      kv.push(this.#name(s, start, i), this.#value(s, start, i));
    }
    const headers = new HeaderMap(kv);
    if (this.#formatterFactory !== undefined) {
      this.#learnKeys(headers, s, start).setReasonPhrase(
        s.slice(this.#reasonStart - start, this.#reasonEnd - start),
      );
    }
    if (!this.#checkTransferEncoding(f, false, headers)) return;

    const interim = status < 200 && status !== 101;
    this.#interim = interim;
    if (status < 200 || status === 204) {
      // Envoy rejects framing on bodiless statuses, but papers over a harmless zero length.
      if (f.transferEncodings > 0) {
        return this.#fail(
          502,
          Details.transferEncodingNotAllowed,
          "transfer encoding not allowed in 1xx or 204",
        );
      }
      if (f.contentLength > 0) {
        return this.#fail(
          502,
          Details.contentLengthNotAllowed,
          "content length not allowed in 1xx or 204",
        );
      }
      if (f.contentLength === 0) headers.remove("content-length");
    }
    const method = this.requestMethod;
    const upgrade = status === 101 || (method === "CONNECT" && status >= 200 && status < 300);
    const bodiless = interim || method === "HEAD" || status === 204 || status === 304 ||
      (!f.chunked && f.contentLength === 0);
    const closeDelimited = !upgrade && !bodiless && !f.chunked && f.contentLength < 0;
    const http11 = this.#http11;
    const head: MessageHead = {
      version: http11 ? "HTTP/1.1" : "HTTP/1.0",
      keepAlive: !closeDelimited && keepAlive(http11, f.connection),
      chunked: f.chunked,
      contentLength: f.contentLength,
      upgrade,
      expectContinue: false,
      headersBytes: end - start,
      status,
      endStream: !upgrade && !interim && bodiless,
    };
    if (interim) {
      // A 1xx is informational: report it and parse the next head of the same response.
      // It gets no onMessageComplete, and the request method still applies to what follows.
      this.#cb.onHead(headers, head);
    } else if (closeDelimited) {
      this.#cb.onHead(headers, head);
      if (this.#state !== S_DEAD) this.#state = S_BODY_EOF;
    } else {
      this.#startBody(headers, head, !bodiless);
    }
  }

  /**
   * Envoy's `headers_with_underscores_action` for a field whose name has an underscore: true
   * when it is to be dropped (counted), false after rejecting the message.
   */
  #underscoreDropped(): boolean {
    if (this.#underscores === UNDERSCORES_REJECT_REQUEST) {
      this.#fail(400, Details.invalidUnderscore, "header name contains underscores");
      return false;
    }
    this.#onUnderscoreDropped?.();
    return true;
  }

  /**
   * Envoy's Transfer-Encoding checks; false after failing. With allow_chunked_length a
   * Content-Length next to Transfer-Encoding is removed and the coding decides.
   */
  #checkTransferEncoding(f: Framing, connect: boolean, headers: HeaderMap): boolean {
    if (f.transferEncodings === 0) return true;
    if (f.contentLength >= 0 && this.#allowChunkedLength) {
      headers.remove("content-length");
      f.contentLength = -1;
    }
    if (f.contentLength >= 0) {
      this.#fail(
        this.#errorStatus(400),
        Details.chunkedContentLength,
        "both 'Content-Length' and 'Transfer-Encoding' are set.",
      );
    } else if (!f.chunked || connect) {
      this.#fail(
        this.#errorStatus(501),
        Details.invalidTransferEncoding,
        "unsupported transfer encoding",
      );
    } else {
      return true;
    }
    return false;
  }

  #startBody(headers: HeaderMap, head: MessageHead, body: boolean): void {
    this.#cb.onHead(headers, head);
    if (this.#state === S_DEAD) return;
    if (head.upgrade) {
      this.#state = S_UPGRADED;
    } else if (!body) {
      this.#complete(undefined);
    } else if (head.chunked) {
      this.#state = S_CHUNK_SIZE;
      this.#remaining = 0;
      this.#chunkDigits = 0;
    } else {
      this.#state = S_BODY_LENGTH;
      this.#remaining = head.contentLength;
    }
  }

  // ---- chunked bodies ----------------------------------------------------------------------

  /** Runs the chunked-coding state machine over `data[p, n)`; returns the new position. */
  #chunked(data: Uint8Array, p: number, n: number): number {
    let state = this.#state;
    let size = this.#remaining;
    while (p < n) {
      const c = data[p];
      switch (state) {
        case S_CHUNK_SIZE: {
          const h = HEX[c];
          if (h !== 255) {
            size = size * 16 + h;
            if (size > Number.MAX_SAFE_INTEGER) return this.#badChunk(n);
            this.#chunkDigits++;
          } else if (this.#chunkDigits === 0) {
            return this.#badChunk(n);
          } else if (c === CR) {
            state = S_CHUNK_SIZE_LF;
          } else if (c === SEMICOLON) {
            state = S_CHUNK_EXT;
          } else if (c === SP || c === HTAB) {
            state = S_CHUNK_BWS;
          } else {
            return this.#badChunk(n);
          }
          p++;
          continue;
        }
        case S_CHUNK_BWS:
          // RFC 9112 §7.1.1 allows whitespace only before a chunk extension.
          if (c === SEMICOLON) state = S_CHUNK_EXT;
          else if (c !== SP && c !== HTAB) return this.#badChunk(n);
          p++;
          continue;
        case S_CHUNK_EXT:
          // Extensions are accepted and ignored, but must not hide a bare CR or LF.
          if (c === CR) state = S_CHUNK_SIZE_LF;
          else if (FIELD_VALUE[c] === 0) return this.#badChunk(n);
          p++;
          continue;
        case S_CHUNK_SIZE_LF:
          if (c !== LF) return this.#badChunk(n);
          p++;
          this.#chunkDigits = 0;
          if (size === 0) {
            this.#state = S_TRAILERS;
            this.#remaining = 0;
            return p;
          }
          state = S_CHUNK_DATA;
          continue;
        case S_CHUNK_DATA: {
          const take = Math.min(size, n - p);
          this.#cb.onBody(data.subarray(p, p + take));
          if (this.#state === S_DEAD) return p + take;
          p += take;
          size -= take;
          if (size === 0) state = S_CHUNK_DATA_CR;
          continue;
        }
        case S_CHUNK_DATA_CR:
          if (c !== CR) return this.#badChunk(n);
          state = S_CHUNK_DATA_LF;
          p++;
          continue;
        default: // S_CHUNK_DATA_LF
          if (c !== LF) return this.#badChunk(n);
          state = S_CHUNK_SIZE;
          p++;
      }
    }
    this.#state = state;
    this.#remaining = size;
    return p;
  }

  #badChunk(n: number): number {
    this.#failCodec("HPE_INVALID_CHUNK_SIZE");
    return n;
  }

  // ---- completion and errors ---------------------------------------------------------------

  #complete(trailers: HeaderMap | undefined): void {
    this.#state = S_HEAD;
    this.requestMethod = "";
    this.#cb.onMessageComplete(trailers);
  }

  /** Requests are answered with `requestStatus`; upstream errors become the router's 502. */
  #errorStatus(requestStatus: number): number {
    return this.#isRequest ? requestStatus : 502;
  }

  #tooLarge(isHead: boolean, n: number): number {
    this.#fail(
      this.#errorStatus(431),
      Details.headersTooLarge,
      `${isHead ? "headers" : "trailers"} size exceeds limit`,
    );
    return n;
  }

  #invalidUrl(): void {
    this.#fail(400, Details.invalidUrl, "invalid url in request line");
  }

  #failFraming(f: Framing): void {
    this.#failCodec(
      f.contentLength === CL_MISMATCH
        ? "HPE_UNEXPECTED_CONTENT_LENGTH"
        : "HPE_INVALID_CONTENT_LENGTH",
    );
  }

  /** Fails with a codec error from within a scan; returns FAILED for the scan to pass up. */
  #reject(message: string): number {
    this.#failCodec(message);
    return FAILED;
  }

  #failCodec(message: string): void {
    this.#fail(this.#errorStatus(400), Details.codecError, message);
  }

  #fail(status: number, detail: string, message: string): void {
    if (this.#state === S_DEAD) return;
    this.#state = S_DEAD;
    this.#pending = undefined;
    this.#pendingLen = 0;
    this.#cb.onError(status, detail, "http/1.1 protocol error: " + message);
  }
}

/** Whether the name of scanned field `i` holds an underscore. */
function nameHasUnderscore(buf: Uint8Array, i: number): boolean {
  const end = fieldOffsets[(i << 2) + 1];
  for (let p = fieldOffsets[i << 2]; p < end; p++) if (buf[p] === 0x5f) return true;
  return false;
}

function isAuthorityValue(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (AUTHORITY_CHAR[buf[i]] === 0) return false;
  return true;
}

function hasUpperCase(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] >= 0x41 && buf[i] <= 0x5a) return true;
  return false;
}

function keepAlive(http11: boolean, connection: number): boolean {
  return (connection & CONN_CLOSE) === 0 && (http11 || (connection & CONN_KEEP_ALIVE) !== 0);
}

/**
 * Parses requests from a downstream connection. Missing Host leaves no `:authority` (the
 * connection manager decides, as Envoy's does); `:scheme` is set only for absolute-form targets.
 */
export class RequestParser extends Http1Parser {
  /** `limits` default to Envoy's: 60 KiB and 100 headers, known methods only. */
  constructor(cb: ParserCallbacks, limits: Partial<RequestParserOptions> = {}) {
    super(
      cb,
      true,
      limits.maxHeadersBytes ?? DEFAULT_MAX_REQUEST_HEADERS_BYTES,
      limits.maxHeadersCount ?? DEFAULT_MAX_HEADERS_COUNT,
      limits.allowCustomMethods ?? false,
      limits,
    );
  }
}

/**
 * Parses responses from an upstream connection. A 1xx other than 101 is reported through
 * `onHead` (with `:status`) and is not a message of its own: no `onMessageComplete`, and the
 * parser goes on to the final response — the router forwards or swallows 100-continue.
 * Errors carry status 502.
 */
export class ResponseParser extends Http1Parser {
  /** `limits` default to Envoy's for responses: 80 KiB and 100 headers. */
  constructor(
    cb: ParserCallbacks,
    limits: Partial<
      & ParserLimits
      & Pick<CodecOptions, "allowChunkedLength" | "enableTrailers" | "statefulFormatter">
    > = {},
  ) {
    super(
      cb,
      false,
      limits.maxHeadersBytes ?? DEFAULT_MAX_RESPONSE_HEADERS_BYTES,
      limits.maxHeadersCount ?? DEFAULT_MAX_HEADERS_COUNT,
      false,
      limits,
    );
  }

  /**
   * The method of the request the next response answers: HEAD means no body whatever the
   * headers say; CONNECT makes a 2xx a tunnel. Applies until that response completes.
   */
  setRequestMethod(method: string): void {
    this.requestMethod = method;
  }
}
