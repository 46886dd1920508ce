/**
 * Where the local rate limit buckets live: one SharedArrayBuffer the main thread makes and
 * every worker maps (DESIGN principle 8), so a bucket limits the whole process as Envoy's do,
 * whatever `--concurrency` is.
 *
 * Each isolate builds its own filter configs from the same config, so a bucket is found by a
 * key its config gives (where it is configured, and the config itself), claimed by whichever
 * isolate asks first; that isolate fills it and stamps its origin. One difference from Envoy
 * follows: an update that rebuilds a filter or route config unchanged, in the same place,
 * finds its bucket as it was, where Envoy would start a new, full one. Layout: Int32
 * `[table lock, (key hash hi, lo, tokens, fills) × capacity]`, then one Float64 origin per place.
 *
 * @module
 */
import { getLogger } from "../../../../common/logger.ts";
import {
  BUCKET_CELLS,
  type Clock,
  processClock,
  SharedTokenBucket,
  type TokenBucketConfig,
} from "./token_bucket.ts";

const log = getLogger("filter");

/** How many distinct buckets one process can hold. */
export const BUCKET_CAPACITY = 4096;

const PLACE = 2 + BUCKET_CELLS;

/** A table of shared buckets. */
export interface BucketMemory {
  readonly memory: SharedArrayBuffer;
  readonly capacity: number;
}

/** New shared memory for `capacity` buckets (made by the main thread, posted to workers). */
export function newBucketMemory(capacity = BUCKET_CAPACITY): BucketMemory {
  const ints = 1 + capacity * PLACE;
  const floatsAt = Math.ceil(ints / 2) * 8;
  return { memory: new SharedArrayBuffer(floatsAt + capacity * 8), capacity };
}

let processMemory: BucketMemory | undefined;

/** The process's bucket memory: the one the main thread handed over, else this isolate's own. */
export function localRateLimitMemory(): BucketMemory {
  return processMemory ??= newBucketMemory();
}

/** Called once in each worker with the memory from its init message. */
export function setLocalRateLimitMemory(m: BucketMemory): void {
  processMemory = m;
}

/** Two independent 32-bit FNV-1a hashes of `key` (a 64-bit tag); never 0 (a free place). */
function keyTag(key: string): [number, number] {
  let a = 0x811c9dc5, b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return [a | 1, b | 1];
}

/**
 * The bucket of `key` in `m` with settings `config`, made full on first use by any isolate.
 * Places are never given back (a config's buckets outlive it); when every place is taken, the
 * bucket is this isolate's own (limits then apply per worker), with an error logged once.
 */
export function sharedBucket(
  m: BucketMemory,
  key: string,
  config: TokenBucketConfig,
  clock: Clock = processClock,
): SharedTokenBucket {
  const cells = new Int32Array(m.memory, 0, 1 + m.capacity * PLACE);
  const origins = new Float64Array(m.memory, Math.ceil(cells.length / 2) * 8, m.capacity);
  const [hi, lo] = keyTag(key);
  while (Atomics.compareExchange(cells, 0, 0, 1) !== 0) { /* another isolate claims a place */ }
  try {
    const start = (hi >>> 0) % m.capacity;
    for (let k = 0; k < m.capacity; k++) {
      const p = (start + k) % m.capacity;
      const at = 1 + p * PLACE;
      const h = Atomics.load(cells, at), l = Atomics.load(cells, at + 1);
      if (h === hi && l === lo) {
        return new SharedTokenBucket(config, cells, at + 2, origins[p], clock);
      }
      if (h === 0) {
        Atomics.store(cells, at, hi);
        Atomics.store(cells, at + 1, lo);
        Atomics.store(cells, at + 2, config.maxTokens);
        Atomics.store(cells, at + 3, 0);
        origins[p] = clock();
        return new SharedTokenBucket(config, cells, at + 2, origins[p], clock);
      }
    }
  } finally {
    Atomics.store(cells, 0, 0);
  }
  if (!warnedFull) {
    warnedFull = true;
    log.error(
      `more than ${m.capacity} local rate limit token buckets in one process: ` +
        `new ones are kept per worker`,
    );
  }
  return ownBucket(config, clock);
}

let warnedFull = false;

/** A bucket of this isolate only (per-connection buckets), full from now. */
export function ownBucket(
  config: TokenBucketConfig,
  clock: Clock = processClock,
): SharedTokenBucket {
  const cells = new Int32Array(BUCKET_CELLS);
  cells[0] = config.maxTokens;
  return new SharedTokenBucket(config, cells, 0, clock(), clock);
}
