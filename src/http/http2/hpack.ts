/**
 * HPACK (RFC 7541): header compression for HTTP/2.
 *
 * Header names and values are byte strings (one UTF-16 code unit per octet, as the HTTP/1
 * parser makes them), so a string's length is its size in octets.
 *
 * The decoder keeps decoding a block to its end even once a header list is over its limits:
 * the dynamic table must stay in step with the peer's encoder, or every later block on the
 * connection would decode wrongly. Past the limit it stops collecting headers (an HPACK bomb
 * that references one large table entry many times allocates nothing).
 *
 * @module
 */
import { latin1 } from "../http1/chars.ts";
import { huffmanDecode, huffmanDecoded, huffmanEncode, huffmanEncodedLength } from "./huffman.ts";

/** RFC 7541 Appendix A. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

const STATIC_COUNT = STATIC_TABLE.length;
/** Per-entry overhead in the table size (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

/** Static-table lookups for the encoder: name -> first index, and value -> index per name. */
const STATIC_NAME_INDEX = new Map<string, number>();
const STATIC_FULL_INDEX = new Map<string, Map<string, number>>();
for (let i = 0; i < STATIC_COUNT; i++) {
  const [name, value] = STATIC_TABLE[i];
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
  if (value !== "") {
    let values = STATIC_FULL_INDEX.get(name);
    if (!values) STATIC_FULL_INDEX.set(name, values = new Map());
    values.set(value, i + 1);
  }
}

/**
 * The dynamic table (RFC 7541 §2.3.2, §4): a FIFO of entries in a ring, newest at index 1,
 * evicting oldest entries to stay within its maximum size.
 */
export class DynamicTable {
  #names: string[] = new Array(16);
  #values: string[] = new Array(16);
  /** Ring position of the oldest entry. */
  #head = 0;
  #count = 0;
  #size = 0;
  #maxSize: number;

  /** An empty table of at most `maxSize` octets. */
  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  /** Number of entries. */
  get length(): number {
    return this.#count;
  }

  /** Current size in octets (RFC 7541 §4.1). */
  get size(): number {
    return this.#size;
  }

  /** Maximum size in octets. */
  get maxSize(): number {
    return this.#maxSize;
  }

  /** Changes the maximum size, evicting entries that no longer fit. */
  setMaxSize(n: number): void {
    this.#maxSize = n;
    this.#evict(0);
  }

  /** Name of entry `i` (1 = newest); `i` must be in [1, length]. */
  name(i: number): string {
    return this.#names[(this.#head + this.#count - i) & (this.#names.length - 1)];
  }

  /** Value of entry `i` (1 = newest); `i` must be in [1, length]. */
  value(i: number): string {
    return this.#values[(this.#head + this.#count - i) & (this.#names.length - 1)];
  }

  /** Adds an entry; one larger than the whole table empties it (RFC 7541 §4.4). */
  add(name: string, value: string): void {
    const entry = name.length + value.length + ENTRY_OVERHEAD;
    if (entry > this.#maxSize) {
      this.#evict(this.#maxSize);
      return;
    }
    this.#evict(entry);
    if (this.#count === this.#names.length) this.#grow();
    const at = (this.#head + this.#count) & (this.#names.length - 1);
    this.#names[at] = name;
    this.#values[at] = value;
    this.#count++;
    this.#size += entry;
  }

  /** Index (1 = newest) of an entry equal to name and value, or 0. */
  find(name: string, value: string): number {
    const mask = this.#names.length - 1;
    for (let i = 1; i <= this.#count; i++) {
      const at = (this.#head + this.#count - i) & mask;
      if (this.#names[at] === name && this.#values[at] === value) return i;
    }
    return 0;
  }

  /** Index (1 = newest) of an entry with this name, or 0. */
  findName(name: string): number {
    const mask = this.#names.length - 1;
    for (let i = 1; i <= this.#count; i++) {
      if (this.#names[(this.#head + this.#count - i) & mask] === name) return i;
    }
    return 0;
  }

  /** Evicts oldest entries until `room` more octets fit. */
  #evict(room: number): void {
    const mask = this.#names.length - 1;
    while (this.#count > 0 && this.#size + room > this.#maxSize) {
      const at = this.#head;
      this.#size -= this.#names[at].length + this.#values[at].length + ENTRY_OVERHEAD;
      this.#names[at] = "";
      this.#values[at] = "";
      this.#head = (at + 1) & mask;
      this.#count--;
    }
  }

  #grow(): void {
    const cap = this.#names.length;
    const names: string[] = new Array(cap * 2);
    const values: string[] = new Array(cap * 2);
    for (let i = 0; i < this.#count; i++) {
      names[i] = this.#names[(this.#head + i) & (cap - 1)];
      values[i] = this.#values[(this.#head + i) & (cap - 1)];
    }
    this.#names = names;
    this.#values = values;
    this.#head = 0;
  }
}

/** The block decoded; the headers are in the output list. */
export const DECODE_OK = 0;
/** The block is invalid: a connection error of type COMPRESSION_ERROR (RFC 9113 §4.3). */
export const DECODE_COMPRESSION_ERROR = 1;
/**
 * The block decoded, but the header list is over its byte or count limit; the list holds only
 * what came before the limit.
 */
export const DECODE_OVERFLOW = 2;
/**
 * The block decoded, but a header name or value has bytes HTTP/2 forbids (upper case or
 * non-token names, NUL/CR/LF in values; RFC 9113 §8.2.1): a malformed message.
 */
export const DECODE_INVALID_HEADER = 3;

/** Result of `HpackDecoder.decode`. */
export type DecodeStatus = 0 | 1 | 2 | 3;

/**
 * 1 for the bytes a header field name may hold in HTTP/2: lower-case tchars, and `:` (pseudo
 * headers; where a colon may appear is checked by the message validation).
 */
const NAME_CHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  const symbols = "!#$%&'*+-.^_`|~:";
  for (let b = 0; b < 256; b++) {
    if ((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a)) t[b] = 1;
  }
  for (const c of symbols) t[c.charCodeAt(0)] = 1;
  return t;
})();

/** Decodes header blocks of one connection (one decoder per direction). */
export class HpackDecoder {
  readonly table: DynamicTable;
  /** The largest table size the peer may choose: our SETTINGS_HEADER_TABLE_SIZE. */
  #limit: number;
  /** Read position in the block being decoded. */
  #pos = 0;
  /** Whether the last string read had bytes forbidden in a name / a value. */
  #badName = false;
  #badValue = false;

  /** A decoder whose table starts at (and may grow up to) `maxTableSize` octets. */
  constructor(maxTableSize = 4096) {
    this.table = new DynamicTable(maxTableSize);
    this.#limit = maxTableSize;
  }

  /**
   * Entries (names and values) the last `decode` wrote to `out`; a reused `out` may hold stale
   * entries past them.
   */
  decodedLength = 0;

  /**
   * Decodes the header block `buf[start, end)` into `out` from index 0: name/value pairs (flat,
   * as HeaderMap stores them) until their size (name + value octets, `cookie` crumbs
   * included) passes `maxBytes` or their count passes `maxCount`. An empty `out` ends up
   * holding exactly them; a reused one keeps its length (and its backing store: emptying an
   * array gives that up), with `decodedLength` saying where they end.
   */
  decode(
    buf: Uint8Array,
    start: number,
    end: number,
    out: string[],
    maxBytes: number,
    maxCount: number,
  ): DecodeStatus {
    this.#pos = start;
    let bytes = 0;
    let overflow = false;
    let invalid = false;
    let sawField = false;
    let cookies = 0;
    let joined = 0;
    let n = 0;
    const table = this.table;
    while (this.#pos < end) {
      const b = buf[this.#pos];
      let name: string;
      let value: string;
      if (b & 0x80) {
        // Indexed header field (§6.1).
        const index = this.#integer(buf, end, 7);
        if (index <= 0) return DECODE_COMPRESSION_ERROR;
        if (index <= STATIC_COUNT) {
          name = STATIC_TABLE[index - 1][0];
          value = STATIC_TABLE[index - 1][1];
        } else if (index - STATIC_COUNT <= table.length) {
          name = table.name(index - STATIC_COUNT);
          value = table.value(index - STATIC_COUNT);
        } else return DECODE_COMPRESSION_ERROR;
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only before the first field of a block.
        if (sawField) return DECODE_COMPRESSION_ERROR;
        const size = this.#integer(buf, end, 5);
        if (size < 0 || size > this.#limit) return DECODE_COMPRESSION_ERROR;
        table.setMaxSize(size);
        continue;
      } else {
        // Literal (§6.2): with incremental indexing (01), without (0000) or never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        const index = this.#integer(buf, end, indexing ? 6 : 4);
        if (index < 0) return DECODE_COMPRESSION_ERROR;
        // Past a limit, a literal that is not indexed need not become a string at all.
        const keep = indexing || !overflow;
        if (index === 0) {
          const s = this.#string(buf, end, keep);
          if (s === undefined) return DECODE_COMPRESSION_ERROR;
          if (this.#badName || s.length === 0) invalid = true;
          name = s;
        } else if (index <= STATIC_COUNT) {
          name = STATIC_TABLE[index - 1][0];
        } else if (index - STATIC_COUNT <= table.length) {
          name = table.name(index - STATIC_COUNT);
        } else return DECODE_COMPRESSION_ERROR;
        const v = this.#string(buf, end, keep);
        if (v === undefined) return DECODE_COMPRESSION_ERROR;
        if (this.#badValue) invalid = true;
        value = v;
        if (indexing) table.add(name, value);
      }
      sawField = true;
      if (overflow) continue;
      bytes += name.length + value.length;
      // Cookie crumbs become one header joined with "; " (RFC 9113 §8.2.3): each further crumb
      // adds its separator to the size and nothing to the count, as in Envoy's header map.
      const joins = name === "cookie" && cookies++ > 0;
      if (joins) bytes += 2;
      if (bytes > maxBytes || (!joins && (n >> 1) - joined >= maxCount)) {
        overflow = true;
        continue;
      }
      if (joins) joined++;
      out[n] = name;
      out[n + 1] = value;
      n += 2;
    }
    this.decodedLength = n;
    if (overflow) return DECODE_OVERFLOW;
    return invalid ? DECODE_INVALID_HEADER : DECODE_OK;
  }

  /** Sets the largest table size the peer may choose (our SETTINGS_HEADER_TABLE_SIZE). */
  setMaxTableSizeLimit(n: number): void {
    this.#limit = n;
    if (this.table.maxSize > n) this.table.setMaxSize(n);
  }

  /** Reads an integer with an `n`-bit prefix (§5.1); -1 when truncated or above 2^31-1. */
  #integer(buf: Uint8Array, end: number, n: number): number {
    const mask = (1 << n) - 1;
    let value = buf[this.#pos++] & mask;
    if (value < mask) return value;
    let shift = 0;
    while (this.#pos < end) {
      const b = buf[this.#pos++];
      value += (b & 0x7f) * 2 ** shift;
      if (value > 0x7fffffff) return -1;
      if ((b & 0x80) === 0) return value;
      // Past 2^31 even with zero bits (a run of 0x80 bytes would otherwise never end).
      shift += 7;
      if (shift > 28) return -1;
    }
    return -1;
  }

  /**
   * Reads a string literal (§5.2), setting #badName / #badValue from its bytes; undefined when
   * it is truncated or its Huffman code invalid. When `keep` is false it is checked and
   * skipped, and "" stands for it.
   */
  #string(buf: Uint8Array, end: number, keep: boolean): string | undefined {
    if (this.#pos >= end) return undefined;
    const huffman = (buf[this.#pos] & 0x80) !== 0;
    const len = this.#integer(buf, end, 7);
    if (len < 0 || len > end - this.#pos) return undefined;
    const start = this.#pos;
    this.#pos += len;
    const slot = len > 0 && len <= LITERAL_CACHE_BYTES ? literalSlot(buf, start, len, huffman) : -1;
    if (slot >= 0 && literalCached(slot, buf, start, len, huffman)) {
      const flags = literalFlags[slot];
      this.#badName = (flags & BAD_NAME) !== 0;
      this.#badValue = (flags & BAD_VALUE) !== 0;
      return keep ? literalStrings[slot] : "";
    }
    let src = buf;
    let from = start;
    let to = start + len;
    if (huffman) {
      const n = huffmanDecode(buf, start, to);
      if (n < 0) return undefined;
      src = huffmanDecoded();
      from = 0;
      to = n;
    }
    let badName = false;
    let badValue = false;
    for (let i = from; i < to; i++) {
      const c = src[i];
      if (NAME_CHAR[c] === 0) {
        badName = true;
        if (c === 0 || c === 0x0a || c === 0x0d) badValue = true;
      }
    }
    this.#badName = badName;
    this.#badValue = badValue;
    if (slot < 0) return keep ? latin1(src, from, to) : "";
    const value = latin1(src, from, to);
    literalStrings[slot] = value;
    literalFlags[slot] = (badName ? BAD_NAME : 0) | (badValue ? BAD_VALUE : 0) |
      (huffman ? HUFFMAN : 0);
    literalLengths[slot] = len;
    literalBytes.set(buf.subarray(start, start + len), slot * LITERAL_CACHE_BYTES);
    return keep ? value : "";
  }
}

/*
 * Literals decoded lately, by their coded bytes: a peer sends the same literal again and again
 * where it does not index it (every request's `:path` from nghttp2 and grpc-js, which never
 * index paths; a gRPC server's `grpc-status: 0` trailer), and a hit costs a compare of a few
 * bytes instead of a Huffman decode, a string built through the runtime and a scan of its
 * characters. A string's decoding depends on its bytes alone, so one direct-mapped cache serves
 * every decoder of the isolate (no memory per connection); a miss replaces its slot.
 */
const LITERAL_CACHE_SLOTS = 64;
/** Longer literals are not cached (rarely repeated: cookies, tokens, long paths). */
const LITERAL_CACHE_BYTES = 48;
const BAD_NAME = 1;
const BAD_VALUE = 2;
const HUFFMAN = 4;
const literalBytes = new Uint8Array(LITERAL_CACHE_SLOTS * LITERAL_CACHE_BYTES);
/** Coded length of each slot's literal; 0: empty. */
const literalLengths = new Uint8Array(LITERAL_CACHE_SLOTS);
const literalFlags = new Uint8Array(LITERAL_CACHE_SLOTS);
const literalStrings: string[] = new Array(LITERAL_CACHE_SLOTS).fill("");

/** The cache slot of the literal coded in `buf[start, start + len)`. */
function literalSlot(buf: Uint8Array, start: number, len: number, huffman: boolean): number {
  const h = len * 31 + buf[start] * 7 + buf[start + (len >> 1)] * 3 + buf[start + len - 1] +
    (huffman ? 17 : 0);
  return h & (LITERAL_CACHE_SLOTS - 1);
}

/** Whether `slot` holds the literal coded in `buf[start, start + len)`. */
function literalCached(
  slot: number,
  buf: Uint8Array,
  start: number,
  len: number,
  huffman: boolean,
): boolean {
  if (literalLengths[slot] !== len || ((literalFlags[slot] & HUFFMAN) !== 0) !== huffman) {
    return false;
  }
  const at = slot * LITERAL_CACHE_BYTES;
  for (let i = 0; i < len; i++) if (literalBytes[at + i] !== buf[start + i]) return false;
  return true;
}

/** Where `HpackEncoder.encode` should not add an entry to the table. */
function neverIndexed(name: string, value: string): boolean {
  // As nghttp2 (Envoy's HTTP/2 library) does: credentials and short cookies are never indexed,
  // so they cannot be probed through the table (CRIME-style attacks, RFC 7541 §7.1.3).
  return name === "authorization" || (name === "cookie" && value.length < 20);
}

/**
 * Headers whose values change with nearly every message: indexing them only churns the table
 * (nghttp2's list, plus the per-request headers Envoy adds).
 */
const NOT_INDEXED = new Set([
  ":path",
  "content-length",
  "location",
  "set-cookie",
  "etag",
  "if-modified-since",
  "if-none-match",
  "last-modified",
  "x-request-id",
  "x-envoy-upstream-service-time",
]);

/** Encodes header blocks of one connection (one encoder per direction). */
export class HpackEncoder {
  readonly table: DynamicTable;
  /** A size update owed at the start of the next block (-1: none); RFC 7541 §4.2. */
  #pendingSizeUpdate = -1;
  /** The smallest size the peer allowed since the last block (a size update must reach it). */
  #minSizeSinceBlock = -1;

  /** An encoder whose table may grow to `maxTableSize` (the peer's SETTINGS_HEADER_TABLE_SIZE). */
  constructor(maxTableSize = 4096) {
    this.table = new DynamicTable(Math.min(maxTableSize, 4096));
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE changed. The table is capped at 4096 octets (enough
   * for proxy traffic) whatever larger size the peer allows, as nghttp2 does.
   */
  setMaxTableSize(n: number): void {
    const size = Math.min(n, 4096);
    if (this.#minSizeSinceBlock < 0 || size < this.#minSizeSinceBlock) {
      this.#minSizeSinceBlock = size;
    }
    this.#pendingSizeUpdate = size;
  }

  /** An upper bound of the bytes `encode` writes for `kv`. */
  bound(kv: readonly string[]): number {
    let n = 12;
    for (let i = 0; i < kv.length; i += 2) n += kv[i].length + kv[i + 1].length + 12;
    return n;
  }

  /**
   * Writes the header block of `kv` (flat name/value pairs, lower-case names) at `out[pos]`
   * (which must have `bound(kv)` bytes of room); returns the position after it.
   */
  encode(kv: readonly string[], out: Uint8Array, pos: number): number {
    pos = this.begin(out, pos);
    for (let i = 0; i < kv.length; i += 2) pos = this.field(kv[i], kv[i + 1], out, pos);
    return pos;
  }

  /**
   * Starts a header block at `out[pos]` (with the size updates it owes, at most 12 bytes);
   * returns the position after them. Follow with `field` for each header.
   */
  begin(out: Uint8Array, pos: number): number {
    if (this.#pendingSizeUpdate >= 0) {
      if (this.#minSizeSinceBlock < this.#pendingSizeUpdate) {
        pos = integer(out, pos, this.#minSizeSinceBlock, 5, 0x20);
        this.table.setMaxSize(this.#minSizeSinceBlock);
      }
      pos = integer(out, pos, this.#pendingSizeUpdate, 5, 0x20);
      this.table.setMaxSize(this.#pendingSizeUpdate);
      this.#pendingSizeUpdate = -1;
      this.#minSizeSinceBlock = -1;
    }
    return pos;
  }

  /**
   * Writes one header at `out[pos]` (room: its name and value lengths plus 12); returns the
   * position after it.
   */
  field(name: string, value: string, out: Uint8Array, pos: number): number {
    const table = this.table;
    const staticValues = STATIC_FULL_INDEX.get(name);
    if (staticValues !== undefined) {
      const full = staticValues.get(value);
      if (full !== undefined) return integer(out, pos, full, 7, 0x80);
    }
    const never = neverIndexed(name, value);
    // This encoder never adds those names to its table: no entry to look for.
    const notIndexed = never || NOT_INDEXED.has(name);
    if (!notIndexed) {
      const found = table.find(name, value);
      if (found > 0) return integer(out, pos, found + STATIC_COUNT, 7, 0x80);
    }
    let nameIndex = STATIC_NAME_INDEX.get(name) ?? 0;
    if (nameIndex === 0) {
      const d = table.findName(name);
      if (d > 0) nameIndex = d + STATIC_COUNT;
    }
    const entry = name.length + value.length + ENTRY_OVERHEAD;
    const indexing = !notIndexed && entry <= (table.maxSize * 3) >> 2;
    if (indexing) pos = integer(out, pos, nameIndex, 6, 0x40);
    else pos = integer(out, pos, nameIndex, 4, never ? 0x10 : 0x00);
    if (nameIndex === 0) pos = string(out, pos, name);
    pos = string(out, pos, value);
    if (indexing) table.add(name, value);
    return pos;
  }
}

/** Writes `value` with an `n`-bit prefix whose other bits are `flags` (§5.1). */
export function integer(
  out: Uint8Array,
  pos: number,
  value: number,
  n: number,
  flags: number,
): number {
  const max = (1 << n) - 1;
  if (value < max) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | max;
  value -= max;
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Writes a string literal (§5.2), Huffman-coded when that is shorter. */
export function string(out: Uint8Array, pos: number, s: string): number {
  const n = s.length;
  if (n < 0x7f) {
    // Nearly every name and value: its length fits the one-byte prefix whichever coding wins,
    // so the code is written straight after it and abandoned once it is no shorter (one pass
    // over the string instead of measuring it first).
    const end = huffmanEncode(s, out, pos + 1, pos + 1 + n - 1);
    if (end >= 0) {
      out[pos] = 0x80 | (end - pos - 1);
      return end;
    }
    out[pos++] = n;
    for (let i = 0; i < n; i++) out[pos + i] = s.charCodeAt(i);
    return pos + n;
  }
  const h = huffmanEncodedLength(s);
  if (h < s.length) {
    pos = integer(out, pos, h, 7, 0x80);
    return huffmanEncode(s, out, pos);
  }
  pos = integer(out, pos, s.length, 7, 0);
  for (let i = 0; i < s.length; i++) out[pos + i] = s.charCodeAt(i);
  return pos + s.length;
}
