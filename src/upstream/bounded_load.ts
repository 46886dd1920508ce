/**
 * Consistent hashing with bounded loads (`hash_balance_factor`, arXiv 1608.01350), in front of a
 * ring or Maglev table as Envoy's BoundedLoadHashingLoadBalancer: a host may serve at most
 * `factor / 100` times its weighted share of the requests in flight (at least one slot). When the
 * table's host is over that, the hosts are probed in a random order seeded by the hash (so one
 * key always probes the same sequence, and overflow does not cascade onto the ring's next
 * host) until one is under its bound; if none is, the least overloaded one is used.
 *
 * Envoy counts requests in flight process-wide; here they are this worker's (its balancer's
 * `ActiveRequests`), the same scope LEAST_REQUEST uses. Probing is O(hosts), as in Envoy.
 *
 * @module
 */
import type { ActiveRequests } from "./active_requests.ts";
import type { HostDescription } from "./host.ts";
import type { HashTable, NormalizedWeights } from "./thread_aware_lb.ts";

/**
 * The 32-bit Mersenne Twister (MT19937) as C++'s `std::mt19937`: Envoy seeds it with the
 * request's hash so the probe order is the same on every proxy, hence the exact generator.
 */
export class Mt19937 {
  readonly #mt = new Uint32Array(624);
  #index = 624;

  /** Seeds with the low 32 bits of `seed`, as `std::mt19937(seed)` does. */
  constructor(seed: number | bigint) {
    const mt = this.#mt;
    mt[0] = typeof seed === "bigint" ? Number(seed & 0xffffffffn) : seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev + i, modulo 2^32, without losing bits to doubles.
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** The next value in [0, 2^32). */
  next(): number {
    const mt = this.#mt;
    if (this.#index >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
        let v = mt[(i + 397) % 624] ^ (y >>> 1);
        if (y & 1) v ^= 0x9908b0df;
        mt[i] = v;
      }
      this.#index = 0;
    }
    let y = mt[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform in [0, k): Envoy's rejection sampling over the generator's 2^32 range. */
  below(k: number): number {
    const bucket = Math.floor(4294967296 / k);
    for (;;) {
      const x = Math.floor(this.next() / bucket);
      if (x < k) return x;
    }
  }
}

/** A host's load over its bound: ≤ 1 means it may take the request. */
export function overloadFactor(
  hostActive: number,
  totalActive: number,
  weight: number,
  balanceFactor: number,
): number {
  const totalSlots = Math.floor(((totalActive + 1) * balanceFactor + 99) / 100);
  const slots = Math.max(Math.ceil(totalSlots * weight), 1);
  return hostActive / slots;
}

/** A level's hash table with the load bound applied to its answers. */
export class BoundedLoadTable implements HashTable {
  readonly #inner: HashTable;
  readonly #weights: NormalizedWeights;
  readonly #weightOf: Map<HostDescription, number>;
  readonly #active: ActiveRequests;
  readonly #factor: number;

  constructor(
    inner: HashTable,
    weights: NormalizedWeights,
    active: ActiveRequests,
    balanceFactor: number,
  ) {
    this.#inner = inner;
    this.#weights = weights;
    this.#weightOf = new Map(weights.hosts.map((w) => [w.host, w.weight]));
    this.#active = active;
    this.#factor = balanceFactor;
  }

  chooseHost(hash: bigint, attempt: number): HostDescription | undefined {
    const hosts = this.#weights.hosts;
    if (hosts.length === 0) return undefined;
    const host = this.#inner.chooseHost(hash, attempt);
    if (!host) return undefined;
    const active = this.#active;
    const total = active.total;
    let factor = overloadFactor(active.of(host), total, this.#weightOf.get(host)!, this.#factor);
    if (factor <= 1) return host;
    // A Fisher-Yates shuffle drawn lazily, one probe at a time.
    const n = hosts.length;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const random = new Mt19937(hash);
    let least = host;
    let leastFactor = factor;
    for (let i = 0; i < n; i++) {
      const j = i + random.below(n - i);
      const k = order[j];
      order[j] = order[i];
      order[i] = k;
      const alt = hosts[k];
      if (alt.host === host) continue;
      factor = overloadFactor(active.of(alt.host), total, alt.weight, this.#factor);
      if (factor <= 1) return alt.host;
      if (factor < leastFactor) {
        least = alt.host;
        leastFactor = factor;
      }
    }
    return least;
  }
}
