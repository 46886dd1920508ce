/**
 * Interning of the words the parser sees on almost every message (header names, methods).
 *
 * Returning one shared string for `Content-Type` instead of slicing and lower-casing a new one
 * saves two allocations per header, and later `===` checks against constants hit V8's
 * pointer-equality fast path because the shared strings are internalized literals.
 *
 * @module
 */

/** Kind of a well-known header name that changes how a message is framed or handled. */
export const KIND_OTHER = 0;
/** `host`: becomes `:authority`. */
export const KIND_HOST = 1;
/** `content-length`. */
export const KIND_CONTENT_LENGTH = 2;
/** `transfer-encoding`. */
export const KIND_TRANSFER_ENCODING = 3;
/** `connection`. */
export const KIND_CONNECTION = 4;
/** `upgrade`. */
export const KIND_UPGRADE = 5;
/** `expect`. */
export const KIND_EXPECT = 6;

/** Start value of a word hash. */
export const HASH_SEED = 0x811c9dc5;

/** Adds one folded byte to a word hash (FNV-1a). */
export function hashStep(h: number, b: number): number {
  return Math.imul(h ^ b, 0x01000193);
}

/** Finishes a word hash of `len` bytes, spreading the high bits into the low ones. */
export function hashFinish(h: number, len: number): number {
  h ^= len;
  return (h ^ (h >>> 15)) >>> 0;
}

function hashBytes(buf: Uint8Array, start: number, end: number, fold: Uint8Array): number {
  let h = HASH_SEED;
  for (let i = start; i < end; i++) h = hashStep(h, fold[buf[i]]);
  return hashFinish(h, end - start);
}

/**
 * A fixed set of words looked up by the bytes of a token. Bytes are folded through `fold`
 * (a 256-entry table; 0 marks a byte that cannot be part of any word) before hashing and
 * comparing, so one table serves case-insensitive header names and case-sensitive methods.
 */
export class InternTable {
  readonly #fold: Uint8Array;
  readonly #words: string[];
  readonly #kinds: Uint8Array;
  // Open addressing; a slot holds word index + 1, 0 when empty.
  readonly #slots: Uint16Array;
  readonly #mask: number;

  /** Builds the table; `kinds[i]` (default 0) tags `words[i]`. */
  constructor(words: readonly string[], fold: Uint8Array, kinds: readonly number[] = []) {
    this.#fold = fold;
    this.#words = words.slice();
    this.#kinds = new Uint8Array(words.length);
    let size = 16;
    while (size < words.length * 4) size <<= 1;
    this.#slots = new Uint16Array(size);
    this.#mask = size - 1;
    const bytes = new Uint8Array(256);
    words.forEach((w, i) => {
      for (let j = 0; j < w.length; j++) {
        bytes[j] = w.charCodeAt(j);
        if (fold[bytes[j]] !== bytes[j]) throw new Error(`word ${w} is not in folded form`);
      }
      if (this.lookup(bytes, 0, w.length) !== -1) throw new Error(`duplicate word ${w}`);
      this.#kinds[i] = kinds[i] ?? KIND_OTHER;
      let s = hashBytes(bytes, 0, w.length, fold) & this.#mask;
      while (this.#slots[s] !== 0) s = (s + 1) & this.#mask;
      this.#slots[s] = i + 1;
    });
  }

  /** Index of the word spelled by `buf[start, end)` (after folding), or -1. */
  lookup(buf: Uint8Array, start: number, end: number): number {
    return this.find(buf, start, end, hashBytes(buf, start, end, this.#fold));
  }

  /**
   * `lookup()` for a caller that already hashed the folded bytes while scanning them
   * (`hashStep` from `HASH_SEED`, then `hashFinish`), sparing a second pass.
   */
  find(buf: Uint8Array, start: number, end: number, hash: number): number {
    const fold = this.#fold;
    const len = end - start;
    let s = hash & this.#mask;
    for (let slot = this.#slots[s]; slot !== 0; slot = this.#slots[s]) {
      const w = this.#words[slot - 1];
      if (w.length === len) {
        let i = 0;
        while (i < len && w.charCodeAt(i) === fold[buf[start + i]]) i++;
        if (i === len) return slot - 1;
      }
      s = (s + 1) & this.#mask;
    }
    return -1;
  }

  /** The word at `index`. */
  word(index: number): string {
    return this.#words[index];
  }

  /** The kind tag of the word at `index`. */
  kind(index: number): number {
    return this.#kinds[index];
  }
}
