import { assertEquals } from "../testing/assert.ts";
import { murmurHash2, uint64ToHex, xxHash64, xxHash64Values } from "./hash.ts";

// Expected values from Envoy's test/common/common/hash_test.cc.
Deno.test("xxHash64 matches Envoy's HashUtil::xxHash64", () => {
  assertEquals(xxHash64("foo"), 3728699739546630719n);
  assertEquals(xxHash64("bar"), 5234164152756840025n);
  assertEquals(xxHash64("foo\nbar"), 8917841378505826757n);
  assertEquals(xxHash64("lyft"), 4400747396090729504n);
  assertEquals(xxHash64(""), 17241709254077376921n);
  // Several values (Envoy's xxHash64 of a span): each seeds the next.
  assertEquals(xxHash64Values(["foo", "bar"]), 17745830980996999794n);
});

Deno.test("xxHash64 of long inputs (32-byte stripes) matches the reference", () => {
  // Published XXH64 vectors (xxhash reference implementation).
  assertEquals(xxHash64("The quick brown fox jumps over the lazy dog"), 0x0b242d361fda71bcn);
  assertEquals(xxHash64("a"), 0xd24ec4f1a98c6e5bn);
  assertEquals(xxHash64("abc"), 0x44bc2cf5ad770999n);
});

Deno.test("murmurHash2 matches Envoy's MurmurHash::murmurHash2", () => {
  assertEquals(murmurHash2("foo"), 9631199822919835226n);
  assertEquals(murmurHash2("bar"), 11474628671133349555n);
  assertEquals(murmurHash2("foo\nbar"), 16306510975912980159n);
  assertEquals(murmurHash2("lyft"), 12847078931730529320n);
  assertEquals(murmurHash2(""), 6142509188972423790n);
});

Deno.test("uint64ToHex pads to 16 digits", () => {
  assertEquals(uint64ToHex(255n), "00000000000000ff");
  assertEquals(uint64ToHex(0xffff_ffff_ffff_ffffn), "ffffffffffffffff");
});

/** The xxHash64 specification in BigInt arithmetic, to check the 32-bit-halves version. */
function referenceXxHash64(b: Uint8Array, seed: bigint): bigint {
  const M = 0xffff_ffff_ffff_ffffn;
  const [P1, P2, P3, P4, P5] = [
    0x9e37_79b1_85eb_ca87n,
    0xc2b2_ae3d_27d4_eb4fn,
    0x1656_67b1_9e37_79f9n,
    0x85eb_ca77_c2b2_ae63n,
    0x27d4_eb2f_1656_67c5n,
  ];
  const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M;
  const round = (acc: bigint, lane: bigint) => (rotl((acc + lane * P2) & M, 31n) * P1) & M;
  const merge = (acc: bigint, v: bigint) => (((acc ^ round(0n, v)) * P1) + P4) & M;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 0;
  let h: bigint;
  if (b.length >= 32) {
    let v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M];
    for (; i + 32 <= b.length; i += 32) {
      v = v.map((x, k) => round(x, view.getBigUint64(i + 8 * k, true)));
    }
    h = (rotl(v[0], 1n) + rotl(v[1], 7n) + rotl(v[2], 12n) + rotl(v[3], 18n)) & M;
    for (const x of v) h = merge(h, x);
  } else h = (seed + P5) & M;
  h = (h + BigInt(b.length)) & M;
  for (; i + 8 <= b.length; i += 8) {
    h = (rotl(h ^ round(0n, view.getBigUint64(i, true)), 27n) * P1 + P4) & M;
  }
  if (i + 4 <= b.length) {
    h = (rotl(h ^ ((BigInt(view.getUint32(i, true)) * P1) & M), 23n) * P2 + P3) & M;
    i += 4;
  }
  for (; i < b.length; i++) h = (rotl(h ^ ((BigInt(b[i]) * P5) & M), 11n) * P1) & M;
  h = ((h ^ (h >> 33n)) * P2) & M;
  h = ((h ^ (h >> 29n)) * P3) & M;
  return h ^ (h >> 32n);
}

Deno.test("xxHash64 agrees with the BigInt specification on every length and seed", () => {
  let x = 12345;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  for (let len = 0; len <= 100; len++) {
    const b = Uint8Array.from({ length: len }, next);
    for (const seed of [0n, 1n, 0xffff_ffff_ffff_ffffn, 0x1234_5678_9abc_def0n]) {
      assertEquals(xxHash64(b, seed), referenceXxHash64(b, seed), `len ${len} seed ${seed}`);
    }
  }
  // Non-ASCII strings hash their UTF-8 bytes.
  assertEquals(xxHash64("héllo ✓"), referenceXxHash64(new TextEncoder().encode("héllo ✓"), 0n));
});
