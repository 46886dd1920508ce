/**
 * The 64-bit hashes Envoy's consistent-hash load balancers and hash policies use, so that
 * denvoy and Envoy put the same key on the same host: xxHash64 (Envoy's `HashUtil::xxHash64`)
 * and the 64-bit MurmurHash2 of libstdc++'s `std::hash` (Envoy's `MurmurHash::murmurHash2`,
 * ring hash's `MURMUR_HASH_2`). Both take a string as its UTF-8 bytes and return an unsigned
 * 64-bit bigint.
 *
 * @module
 */

const MASK = 0xffff_ffff_ffff_ffffn;
const P1 = 0x9e37_79b1_85eb_ca87n;
const P2 = 0xc2b2_ae3d_27d4_eb4fn;
const P3 = 0x1656_67b1_9e37_79f9n;
const P4 = 0x85eb_ca77_c2b2_ae63n;
const P5 = 0x27d4_eb2f_1656_67c5n;

const encoder = new TextEncoder();

function bytesOf(input: string | Uint8Array): Uint8Array {
  return typeof input === "string" ? encoder.encode(input) : input;
}

function rotl(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & MASK;
}

function round(acc: bigint, lane: bigint): bigint {
  return (rotl((acc + lane * P2) & MASK, 31n) * P1) & MASK;
}

function mergeRound(acc: bigint, v: bigint): bigint {
  return (((acc ^ round(0n, v)) * P1) + P4) & MASK;
}

/** xxHash64 of `input` with `seed` (Envoy hashes with seed 0, Maglev's skip with seed 1). */
export function xxHash64(input: string | Uint8Array, seed = 0n): bigint {
  const b = bytesOf(input);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = b.length;
  let i = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (seed + P1 + P2) & MASK;
    let v2 = (seed + P2) & MASK;
    let v3 = seed;
    let v4 = (seed - P1) & MASK;
    for (; i + 32 <= len; i += 32) {
      v1 = round(v1, view.getBigUint64(i, true));
      v2 = round(v2, view.getBigUint64(i + 8, true));
      v3 = round(v3, view.getBigUint64(i + 16, true));
      v4 = round(v4, view.getBigUint64(i + 24, true));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK;
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = (seed + P5) & MASK;
  }
  h = (h + BigInt(len)) & MASK;
  for (; i + 8 <= len; i += 8) {
    h ^= round(0n, view.getBigUint64(i, true));
    h = (rotl(h, 27n) * P1 + P4) & MASK;
  }
  if (i + 4 <= len) {
    h ^= (BigInt(view.getUint32(i, true)) * P1) & MASK;
    h = (rotl(h, 23n) * P2 + P3) & MASK;
    i += 4;
  }
  for (; i < len; i++) {
    h ^= (BigInt(b[i]) * P5) & MASK;
    h = (rotl(h, 11n) * P1) & MASK;
  }
  h ^= h >> 33n;
  h = (h * P2) & MASK;
  h ^= h >> 29n;
  h = (h * P3) & MASK;
  h ^= h >> 32n;
  return h;
}

/**
 * Envoy's `xxHash64` of several strings (a header's values): each hashed with the previous
 * result as its seed.
 */
export function xxHash64Values(values: readonly string[], seed = 0n): bigint {
  for (const v of values) seed = xxHash64(v, seed);
  return seed;
}

/** Envoy's `MurmurHash::STD_HASH_SEED`, the seed libstdc++'s `std::hash` uses. */
export const STD_HASH_SEED = 0xc70f6907n;
const MUL = 0xc6a4_a793_5bd1_e995n;

function shiftMix(v: bigint): bigint {
  return v ^ (v >> 47n);
}

/** The 64-bit MurmurHash2 of libstdc++ (`_Hash_bytes`), seeded with `STD_HASH_SEED` by default. */
export function murmurHash2(input: string | Uint8Array, seed = STD_HASH_SEED): bigint {
  const b = bytesOf(input);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = b.length;
  const aligned = len & ~7;
  let h = (seed ^ (BigInt(len) * MUL)) & MASK;
  for (let i = 0; i < aligned; i += 8) {
    const data = (shiftMix((view.getBigUint64(i, true) * MUL) & MASK) * MUL) & MASK;
    h ^= data;
    h = (h * MUL) & MASK;
  }
  if ((len & 7) !== 0) {
    let data = 0n;
    for (let i = len - 1; i >= aligned; i--) data = (data << 8n) | BigInt(b[i]);
    h ^= data;
    h = (h * MUL) & MASK;
  }
  h = (shiftMix(h) * MUL) & MASK;
  return shiftMix(h);
}

/** Envoy's `Hex::uint64ToHex`: 16 lower-case hex digits. */
export function uint64ToHex(v: bigint): string {
  return v.toString(16).padStart(16, "0");
}
