/**
 * Envoy's RING_HASH policy (ketama consistent hashing): every host gets points on a 64-bit ring
 * in proportion to its normalized weight — the hashes of `<key>_0`, `<key>_1`, ... where the
 * key is the host's hash key — and a request goes to the first point at or after its hash.
 * The ring size, point keys, hash functions and lookup follow Envoy's, so both proxies build
 * the same ring from the same hosts and pick the same host for the same hash.
 *
 * @module
 */
import { murmurHash2, xxHash64 } from "../common/hash.ts";
import type { HostDescription } from "./host.ts";
import {
  type HashTable,
  hostHashKey,
  type NormalizedWeights,
  type TableShape,
  tableShape,
} from "./thread_aware_lb.ts";

/** `ring_hash_lb_config` with Envoy's defaults applied. */
export interface RingHashSettings {
  /** `minimum_ring_size` (default 1024). */
  readonly minimumRingSize: number;
  /** `maximum_ring_size` (default 8M). */
  readonly maximumRingSize: number;
  /** `hash_function`. */
  readonly hashFunction: "XX_HASH" | "MURMUR_HASH_2";
}

/** Envoy's defaults for `ring_hash_lb_config`. */
export const DEFAULT_RING_HASH: RingHashSettings = {
  minimumRingSize: 1024,
  maximumRingSize: 8 * 1024 * 1024,
  hashFunction: "XX_HASH",
};

/** A built ring: sorted point hashes and the host of each point. */
export class RingHashTable implements HashTable {
  readonly #hashes: BigUint64Array;
  readonly #hosts: HostDescription[];
  /** Points per host, for `ring_hash_lb.*` (undefined for an empty ring, as Envoy skips it). */
  readonly shape: TableShape | undefined;

  constructor(weights: NormalizedWeights, settings: RingHashSettings, useHostname: boolean) {
    const entries: { hash: bigint; host: HostDescription }[] = [];
    const counts = new Uint32Array(weights.hosts.length);
    if (weights.hosts.length > 0) {
      // The ring is large enough that the lightest host gets at least one point at the
      // minimum size, and never larger than the maximum.
      const scale = Math.min(
        Math.ceil(weights.min * settings.minimumRingSize) / weights.min,
        settings.maximumRingSize,
      );
      const hash = settings.hashFunction === "MURMUR_HASH_2" ? murmurHash2 : xxHash64;
      let current = 0;
      let target = 0;
      weights.hosts.forEach(({ host, weight }, h) => {
        const prefix = `${hostHashKey(host, useHostname)}_`;
        target += scale * weight;
        for (let i = 0; current < target; i++, current++) {
          entries.push({ hash: hash(prefix + i), host });
          counts[h]++;
        }
      });
      entries.sort((a, b) => a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0);
    }
    this.#hashes = BigUint64Array.from(entries, (e) => e.hash);
    this.#hosts = entries.map((e) => e.host);
    this.shape = counts.length > 0 ? tableShape(entries.length, counts) : undefined;
  }

  /** Number of points on the ring. */
  get size(): number {
    return this.#hosts.length;
  }

  chooseHost(h: bigint, attempt: number): HostDescription | undefined {
    const ring = this.#hashes;
    const n = ring.length;
    if (n === 0) return undefined;
    // Envoy's binary search (from ketama): the first point whose hash is >= h, wrapping to 0.
    let low = 0;
    let high = n;
    let mid: number;
    for (;;) {
      mid = Math.floor((low + high) / 2);
      if (mid === n) {
        mid = 0;
        break;
      }
      const midval = ring[mid];
      const before = mid === 0 ? 0n : ring[mid - 1];
      if (h <= midval && h > before) break;
      if (midval < h) low = mid + 1;
      else high = mid - 1;
      if (low > high) {
        mid = 0;
        break;
      }
    }
    // A retry that must avoid a host behaves as if the ring skipped ahead.
    if (attempt > 0) mid = (mid + attempt) % n;
    return this.#hosts[mid];
  }
}
