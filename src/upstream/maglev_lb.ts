/**
 * Envoy's MAGLEV policy (Google's Maglev consistent hashing): a lookup table of prime size is
 * filled by letting hosts take turns claiming slots along their own permutation of the table
 * (offset `xxHash64(key) % size`, skip `xxHash64(key, seed 1) % (size - 1) + 1`); a host with
 * a smaller normalized weight skips turns in proportion. A request goes to
 * `table[hash % size]`. Built as Envoy builds it, so the tables are identical.
 *
 * @module
 */
import { xxHash64 } from "../common/hash.ts";
import type { HostDescription } from "./host.ts";
import {
  type HashTable,
  hostHashKey,
  type NormalizedWeights,
  type TableShape,
  tableShape,
} from "./thread_aware_lb.ts";

/** Envoy's default `maglev_lb_config.table_size`. */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

/** Whether `n` is prime (table sizes are at most 5000011, so trial division is quick). */
export function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** A built Maglev lookup table. */
export class MaglevTable implements HashTable {
  readonly #size: number;
  readonly #bigSize: bigint;
  /** Index into #hosts plus one of each slot (0 while the table is being filled). */
  readonly #table: Uint32Array;
  readonly #hosts: HostDescription[];
  /** Slots per host, for `maglev_lb.*` (undefined without hosts, as Envoy skips it). */
  readonly shape: TableShape | undefined;

  constructor(weights: NormalizedWeights, tableSize: number, useHostname: boolean) {
    this.#size = tableSize;
    this.#bigSize = BigInt(tableSize);
    this.#hosts = weights.hosts.map((w) => w.host);
    const n = weights.hosts.length;
    this.#table = new Uint32Array(n === 0 ? 0 : tableSize);
    if (n === 0) {
      this.shape = undefined;
      return;
    }
    const offset = new Float64Array(n);
    const skip = new Float64Array(n);
    const weight = new Float64Array(n);
    const target = new Float64Array(n);
    const next = new Float64Array(n);
    const counts = new Uint32Array(n);
    const big = this.#bigSize;
    weights.hosts.forEach((w, i) => {
      const key = hostHashKey(w.host, useHostname);
      offset[i] = Number(xxHash64(key) % big);
      skip[i] = Number(xxHash64(key, 1n) % (big - 1n)) + 1;
      weight[i] = w.weight;
    });
    const table = this.#table;
    const max = weights.max;
    let taken = 0;
    for (let iteration = 1; taken < tableSize; iteration++) {
      for (let i = 0; i < n && taken < tableSize; i++) {
        // A host of the largest weight claims a slot every turn; one of a third of it, every
        // third turn.
        if (iteration * weight[i] < target[i]) continue;
        target[i] += max;
        let c = (offset[i] + skip[i] * next[i]) % tableSize;
        while (table[c] !== 0) {
          next[i]++;
          c = (offset[i] + skip[i] * next[i]) % tableSize;
        }
        table[c] = i + 1;
        next[i]++;
        taken++;
        counts[i]++;
      }
    }
    this.shape = tableShape(tableSize, counts);
  }

  chooseHost(hash: bigint, attempt: number): HostDescription | undefined {
    if (this.#hosts.length === 0) return undefined;
    // A retry flips most bits of the hash to land far from the first choice, as Envoy does.
    const h = attempt > 0 ? hash ^ (0x1_0000_0000_0000_0000n - BigInt(attempt)) : hash;
    return this.#hosts[this.#table[Number(h % this.#bigSize)] - 1];
  }
}
