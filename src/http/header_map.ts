import type { StatefulHeaderKeyFormatter } from "./http1/header_formatter.ts";

/**
 * HTTP headers as Envoy models them: lower-case names, insertion order kept, repeated names
 * allowed, and the request line / status carried as pseudo-headers (`:method`, `:path`,
 * `:authority`, `:scheme`, `:status`) so HTTP/1 and HTTP/2 look alike to filters and routing.
 *
 * Stored as one flat array `[name0, value0, name1, value1, ...]`: the codec fills it in one
 * pass, and maps of a few dozen entries are faster to scan than to hash.
 */
export class HeaderMap {
  /** Flat name/value pairs; names are lower case. */
  readonly #kv: string[];
  /**
   * The stateful key formatter (preserve_case) of the codec that read this map, if it had one:
   * the HTTP/1 encoder then spells names as it says.
   */
  formatter: StatefulHeaderKeyFormatter | undefined = undefined;

  /** Wraps `kv` (flat pairs, lower-case names) without copying. */
  constructor(kv: string[] = []) {
    this.#kv = kv;
  }

  /** Builds a map from `[name, value]` entries, lower-casing names. */
  static from(entries: Iterable<readonly [string, string]>): HeaderMap {
    const kv: string[] = [];
    for (const [k, v] of entries) kv.push(k.toLowerCase(), v);
    return new HeaderMap(kv);
  }

  /** Number of entries (a repeated name counts each time). */
  get size(): number {
    return this.#kv.length >> 1;
  }

  /** The first value of `name` (lower case), or undefined. */
  get(name: string): string | undefined {
    const kv = this.#kv;
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === name) return kv[i + 1];
    return undefined;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    const kv = this.#kv;
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === name) out.push(kv[i + 1]);
    return out;
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Appends an entry (keeps existing ones). */
  add(name: string, value: string): void {
    this.#kv.push(name, value);
  }

  /** Replaces every entry of `name` with one (at the first one's place, else at the end). */
  set(name: string, value: string): void {
    const kv = this.#kv;
    let found = false;
    for (let i = 0; i < kv.length;) {
      if (kv[i] === name) {
        if (!found) {
          kv[i + 1] = value;
          found = true;
          i += 2;
        } else kv.splice(i, 2);
      } else i += 2;
    }
    if (!found) kv.push(name, value);
  }

  /** Adds `value` to an existing entry as `a,b` (Envoy's append for most headers), or adds it. */
  append(name: string, value: string, separator = ","): void {
    const kv = this.#kv;
    for (let i = 0; i < kv.length; i += 2) {
      if (kv[i] === name) {
        kv[i + 1] = kv[i + 1] === "" ? value : kv[i + 1] + separator + value;
        return;
      }
    }
    kv.push(name, value);
  }

  /** Removes every entry of `name`; returns how many were removed. */
  remove(name: string): number {
    // Compacts in place: splice() would allocate an array of the removed items per call.
    const kv = this.#kv;
    let w = 0;
    for (let r = 0; r < kv.length; r += 2) {
      if (kv[r] === name) continue;
      if (w !== r) {
        kv[w] = kv[r];
        kv[w + 1] = kv[r + 1];
      }
      w += 2;
    }
    const n = (kv.length - w) >> 1;
    if (n > 0) kv.length = w;
    return n;
  }

  /** Removes entries whose name matches `pred`. */
  removeIf(pred: (name: string) => boolean): void {
    const kv = this.#kv;
    let w = 0;
    for (let r = 0; r < kv.length; r += 2) {
      if (pred(kv[r])) continue;
      if (w !== r) {
        kv[w] = kv[r];
        kv[w + 1] = kv[r + 1];
      }
      w += 2;
    }
    if (w < kv.length) kv.length = w;
  }

  /** Calls `fn` for each entry in order. */
  forEach(fn: (name: string, value: string) => void): void {
    const kv = this.#kv;
    for (let i = 0; i < kv.length; i += 2) fn(kv[i], kv[i + 1]);
  }

  /** The flat pair array itself, for codecs (do not keep it across mutations). */
  raw(): readonly string[] {
    return this.#kv;
  }

  /** A deep copy. */
  clone(): HeaderMap {
    return new HeaderMap(this.#kv.slice());
  }

  /** Total bytes of names and values, as Envoy counts header size limits. */
  byteSize(): number {
    let n = 0;
    const kv = this.#kv;
    for (let i = 0; i < kv.length; i++) n += kv[i].length;
    return n;
  }

  /** Entries as `[name, value]` pairs. */
  entries(): [string, string][] {
    const out: [string, string][] = [];
    this.forEach((k, v) => out.push([k, v]));
    return out;
  }
}
