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
