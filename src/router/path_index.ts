/**
 * Narrows a virtual host's routes to those that can match a path, keeping their config order.
 * Most routes require a literal, case-sensitive start of the path (`prefix`, `path`,
 * `path_separated_prefix`); such a route can only match paths whose first K characters equal
 * the first K of its literal. Routes are bucketed by those K characters (K chosen at build time
 * to split them best); each bucket also holds, in order, the routes that may match anything
 * (regexes, case-insensitive or short literals). A bucket that is still large is indexed the
 * same way with a longer key (`/svc99` splits into `/svc99/`, `/svc990`, ...). A lookup hashes
 * the path's first K characters in place, so it allocates nothing, and then walks one bucket.
 */

/** Below this many routes a linear scan is as fast as the lookup. */
const MIN_ITEMS = 16;
/** Buckets above this many routes get an index of their own. */
const MIN_BUCKET_ITEMS = 8;
/** Longest key tried. */
const MAX_KEY = 24;
/** Bounds the memory of repeating the unkeyed routes in every bucket. */
const MAX_SLOTS = 1_000_000;

interface Bucket<T> {
  key: string;
  items: readonly T[];
  /** A finer index of `items`, when it pays. */
  sub: PathIndex<T> | undefined;
}

function hashRange(s: string, end: number): number {
  // FNV-1a over UTF-16 units.
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  // 30 bits keep the key a small integer (Smi), so map lookups do not box it.
  return h & 0x3fffffff;
}

/** Routes grouped by the first K characters of the path they require. */
export class PathIndex<T> {
  /** Routes that may match any path (all routes when not indexed). */
  readonly #unkeyed: readonly T[];
  readonly #buckets = new Map<number, Bucket<T>[]>();
  /** Key length; 0 when not indexed. */
  readonly keyLength: number;

  /**
   * @param items routes in config order.
   * @param literalOf the literal every path a route matches must start with (compared
   *   case-sensitively), or undefined when the route may match any path.
   * @param minItems below this many routes, no index.
   * @param minKey the shortest key tried (a bucket's sub-index only tries longer keys).
   */
  constructor(
    items: readonly T[],
    literalOf: (item: T) => string | undefined,
    minItems = MIN_ITEMS,
    minKey = 1,
  ) {
    const literals = items.map(literalOf);
    const k = items.length < minItems ? 0 : bestKeyLength(literals, minKey);
    this.keyLength = k;
    if (k === 0) {
      this.#unkeyed = items;
      return;
    }
    const unkeyedIdx: number[] = [];
    const groups = new Map<string, number[]>();
    literals.forEach((lit, i) => {
      if (lit === undefined || lit.length < k) return unkeyedIdx.push(i);
      const key = lit.slice(0, k);
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    });
    this.#unkeyed = unkeyedIdx.map((i) => items[i]);
    for (const [key, idx] of groups) {
      const merged = mergeSorted(idx, unkeyedIdx).map((i) => items[i]);
      // Only a longer key can split the bucket further (a shorter one would split the unkeyed
      // routes every bucket repeats, again in each); the sub-index finds it or stays flat.
      const sub = merged.length > MIN_BUCKET_ITEMS
        ? new PathIndex(merged, literalOf, MIN_BUCKET_ITEMS + 1, k + 1)
        : undefined;
      const bucket = { key, items: merged, sub: sub?.keyLength ? sub : undefined };
      const h = hashRange(key, k);
      const chain = this.#buckets.get(h);
      if (chain) chain.push(bucket);
      else this.#buckets.set(h, [bucket]);
    }
  }

  /** The routes that may match `path`, whose matchable part ends at `end`; in config order. */
  candidates(path: string, end: number): readonly T[] {
    const k = this.keyLength;
    if (k === 0 || end < k) return this.#unkeyed;
    const chain = this.#buckets.get(hashRange(path, k));
    if (chain !== undefined) {
      for (let i = 0; i < chain.length; i++) {
        const b = chain[i];
        if (path.startsWith(b.key)) return b.sub ? b.sub.candidates(path, end) : b.items;
      }
    }
    return this.#unkeyed;
  }
}

/**
 * The key length that minimises the expected number of routes a lookup walks (keyed routes
 * spread as the config spreads them, plus the unkeyed ones every lookup walks), or 0 when
 * indexing does not halve it.
 */
function bestKeyLength(literals: readonly (string | undefined)[], minKey: number): number {
  // In sorted order the literals sharing a k-character start are adjacent, so every K is
  // scored from the common prefix lengths of neighbours: O(n log n) once, then O(n) per K,
  // with no per-K keys or maps (a route table of 10,000 routes builds in milliseconds).
  const sorted = literals.filter((l): l is string => l !== undefined).sort();
  const undef = literals.length - sorted.length;
  const lcp = new Uint8Array(sorted.length);
  let longest = 0;
  for (let i = 0; i < sorted.length; i++) {
    const s = sorted[i];
    if (s.length > longest) longest = s.length;
    if (i === 0) continue;
    const p = sorted[i - 1];
    const n = Math.min(p.length, s.length, MAX_KEY);
    let j = 0;
    while (j < n && p.charCodeAt(j) === s.charCodeAt(j)) j++;
    lcp[i] = j;
  }
  let best = 0;
  // An index must at least halve the walk: one that saves a few routes repeats the unkeyed
  // ones in every bucket (and again in their sub-indexes) for nothing.
  let bestCost = literals.length / 2;
  for (let k = minKey; k <= MAX_KEY && k <= longest; k++) {
    let unkeyed = undef;
    let keyed = 0;
    let groups = 0;
    let sq = 0;
    let run = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (sorted[i].length < k) {
        unkeyed++;
        continue;
      }
      keyed++;
      // A shorter literal never sorts between two that share k characters.
      if (run > 0 && lcp[i] >= k) run++;
      else {
        sq += run * run;
        if (run > 0) groups++;
        run = 1;
      }
    }
    sq += run * run;
    if (run > 0) groups++;
    if (unkeyed * groups > MAX_SLOTS) continue;
    const cost = unkeyed + sq / keyed;
    if (cost < bestCost) {
      best = k;
      bestCost = cost;
    }
  }
  return best;
}

/** Merges two ascending index lists. */
function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}
