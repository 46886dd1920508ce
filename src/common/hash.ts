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

// xxHash64 runs on 64-bit values held as two unsigned 32-bit halves (hi, lo): BigInt arithmetic
// costs ~1 µs for a short key, this ~0.1 µs. Results land in the module's registers below so no
// step allocates.
const P1_HI = 0x9e3779b1, P1_LO = 0x85ebca87;
const P2_HI = 0xc2b2ae3d, P2_LO = 0x27d4eb4f;
const P3_HI = 0x165667b1, P3_LO = 0x9e3779f9;
const P4_HI = 0x85ebca77, P4_LO = 0xc2b2ae63;
const P5_HI = 0x27d4eb2f, P5_LO = 0x165667c5;
const TWO32 = 0x1_0000_0000;

let rHi = 0;
let rLo = 0;

/** (aHi, aLo) * (bHi, bLo) mod 2^64 into rHi, rLo. */
function mul(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a0 = aLo & 0xffff, a1 = aLo >>> 16, b0 = bLo & 0xffff, b1 = bLo >>> 16;
  const mid = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (mid % 0x10000) * 0x10000;
  const carry = Math.floor(low / TWO32);
  rLo = low >>> 0;
  rHi = (a1 * b1 + Math.floor(mid / 0x10000) + carry + Math.imul(aHi, bLo) +
    Math.imul(aLo, bHi)) >>> 0;
}

/** (aHi, aLo) + (bHi, bLo) mod 2^64 into rHi, rLo. */
function add(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = aLo + bLo;
  rLo = lo >>> 0;
  rHi = (aHi + bHi + (lo >= TWO32 ? 1 : 0)) >>> 0;
}

/** Rotates (hi, lo) left by 0 < r < 32 into rHi, rLo. */
function rotl(hi: number, lo: number, r: number): void {
  rHi = ((hi << r) | (lo >>> (32 - r))) >>> 0;
  rLo = ((lo << r) | (hi >>> (32 - r))) >>> 0;
}

/** xxHash's round: rotl(acc + lane * P2, 31) * P1, into rHi, rLo. */
function round(accHi: number, accLo: number, laneHi: number, laneLo: number): void {
  mul(laneHi, laneLo, P2_HI, P2_LO);
  add(accHi, accLo, rHi, rLo);
  rotl(rHi, rLo, 31);
  mul(rHi, rLo, P1_HI, P1_LO);
}

/** (acc ^ round(0, v)) * P1 + P4, into rHi, rLo. */
function mergeRound(accHi: number, accLo: number, vHi: number, vLo: number): void {
  round(0, 0, vHi, vLo);
  mul((accHi ^ rHi) >>> 0, (accLo ^ rLo) >>> 0, P1_HI, P1_LO);
  add(rHi, rLo, P4_HI, P4_LO);
}

const encoder = new TextEncoder();
const scratch = new Uint8Array(1024);

function bytesOf(input: string | Uint8Array): Uint8Array {
  if (typeof input !== "string") return input;
  const n = input.length;
  if (n <= scratch.length) {
    // Header values and host keys are ASCII: copying them beats a call into the encoder.
    let i = 0;
    for (; i < n; i++) {
      const c = input.charCodeAt(i);
      if (c >= 0x80) break;
      scratch[i] = c;
    }
    if (i === n) return scratch.subarray(0, n);
  }
  if (n * 3 <= scratch.length) {
    return scratch.subarray(0, encoder.encodeInto(input, scratch).written);
  }
  return encoder.encode(input);
}

function u32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** xxHash64 of `input` with `seed` (Envoy hashes with seed 0, Maglev's skip with seed 1). */
export function xxHash64(input: string | Uint8Array, seed = 0n): bigint {
  const b = bytesOf(input);
  const len = b.length;
  const seedHi = seed === 0n ? 0 : Number((seed >> 32n) & 0xffff_ffffn);
  const seedLo = seed === 0n ? 0 : Number(seed & 0xffff_ffffn);
  let i = 0;
  let hHi: number, hLo: number;
  if (len >= 32) {
    add(seedHi, seedLo, P1_HI, P1_LO);
    add(rHi, rLo, P2_HI, P2_LO);
    let v1Hi = rHi, v1Lo = rLo;
    add(seedHi, seedLo, P2_HI, P2_LO);
    let v2Hi = rHi, v2Lo = rLo;
    let v3Hi = seedHi, v3Lo = seedLo;
    // seed - P1 = seed + (2^64 - P1); P1's low half is not 0, so no borrow into the high half.
    add(seedHi, seedLo, ~P1_HI >>> 0, -P1_LO >>> 0);
    let v4Hi = rHi, v4Lo = rLo;
    for (; i + 32 <= len; i += 32) {
      round(v1Hi, v1Lo, u32(b, i + 4), u32(b, i));
      v1Hi = rHi, v1Lo = rLo;
      round(v2Hi, v2Lo, u32(b, i + 12), u32(b, i + 8));
      v2Hi = rHi, v2Lo = rLo;
      round(v3Hi, v3Lo, u32(b, i + 20), u32(b, i + 16));
      v3Hi = rHi, v3Lo = rLo;
      round(v4Hi, v4Lo, u32(b, i + 28), u32(b, i + 24));
      v4Hi = rHi, v4Lo = rLo;
    }
    rotl(v1Hi, v1Lo, 1);
    hHi = rHi, hLo = rLo;
    rotl(v2Hi, v2Lo, 7);
    add(hHi, hLo, rHi, rLo);
    hHi = rHi, hLo = rLo;
    rotl(v3Hi, v3Lo, 12);
    add(hHi, hLo, rHi, rLo);
    hHi = rHi, hLo = rLo;
    rotl(v4Hi, v4Lo, 18);
    add(hHi, hLo, rHi, rLo);
    hHi = rHi, hLo = rLo;
    mergeRound(hHi, hLo, v1Hi, v1Lo);
    mergeRound(rHi, rLo, v2Hi, v2Lo);
    mergeRound(rHi, rLo, v3Hi, v3Lo);
    mergeRound(rHi, rLo, v4Hi, v4Lo);
    hHi = rHi, hLo = rLo;
  } else {
    add(seedHi, seedLo, P5_HI, P5_LO);
    hHi = rHi, hLo = rLo;
  }
  add(hHi, hLo, Math.floor(len / TWO32), len >>> 0);
  hHi = rHi, hLo = rLo;
  for (; i + 8 <= len; i += 8) {
    round(0, 0, u32(b, i + 4), u32(b, i));
    rotl((hHi ^ rHi) >>> 0, (hLo ^ rLo) >>> 0, 27);
    mul(rHi, rLo, P1_HI, P1_LO);
    add(rHi, rLo, P4_HI, P4_LO);
    hHi = rHi, hLo = rLo;
  }
  if (i + 4 <= len) {
    mul(0, u32(b, i), P1_HI, P1_LO);
    rotl((hHi ^ rHi) >>> 0, (hLo ^ rLo) >>> 0, 23);
    mul(rHi, rLo, P2_HI, P2_LO);
    add(rHi, rLo, P3_HI, P3_LO);
    hHi = rHi, hLo = rLo;
    i += 4;
  }
  for (; i < len; i++) {
    mul(0, b[i], P5_HI, P5_LO);
    rotl((hHi ^ rHi) >>> 0, (hLo ^ rLo) >>> 0, 11);
    mul(rHi, rLo, P1_HI, P1_LO);
    hHi = rHi, hLo = rLo;
  }
  // Avalanche.
  hLo = (hLo ^ (hHi >>> 1)) >>> 0;
  mul(hHi, hLo, P2_HI, P2_LO);
  hHi = rHi, hLo = rLo;
  hLo = (hLo ^ ((hLo >>> 29) | (hHi << 3))) >>> 0;
  hHi = (hHi ^ (hHi >>> 29)) >>> 0;
  mul(hHi, hLo, P3_HI, P3_LO);
  hHi = rHi, hLo = rLo;
  hLo = (hLo ^ hHi) >>> 0;
  return (BigInt(hHi) << 32n) | BigInt(hLo);
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
  const b = typeof input === "string" ? encoder.encode(input) : input;
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
