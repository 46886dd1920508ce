import { Buffer } from "node:buffer";
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from "node:zlib";
import { assert, assertEquals } from "../../../testing/assert.ts";
import { Store } from "../../../stats/store.ts";
import { gzipCompressorLibrary } from "../gzip/compressor/config.ts";
import { gzipDecompressorLibrary } from "../gzip/decompressor/config.ts";
import { brotliCompressorLibrary } from "../brotli/compressor/config.ts";
import { brotliDecompressorLibrary } from "../brotli/decompressor/config.ts";
import { zstdCompressorLibrary } from "../zstd/compressor/config.ts";
import { zstdDecompressorLibrary } from "../zstd/decompressor/config.ts";
import type { CompressorLibrary, DecompressorLibrary } from "../compression.ts";

/** Text of pseudo-random words: it compresses a few times over, well inside the inflate bound. */
const TEXT = (() => {
  const words = ["envoy", "listener", "cluster", "route", "filter", "host", "stream", "header"];
  let x = 7;
  const out: string[] = [];
  for (let i = 0; i < 8000; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out.push(words[x % words.length] + (x % 97));
  }
  return new TextEncoder().encode(out.join(" "));
})();
const cat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** Compresses TEXT in three chunks (each flushed), then decompresses it in small pieces. */
function roundTrip(c: CompressorLibrary, d: DecompressorLibrary): Uint8Array {
  const comp = c.create();
  const third = Math.floor(TEXT.length / 3);
  const parts = [
    comp.compress(TEXT.subarray(0, third), false),
    comp.compress(TEXT.subarray(third, 2 * third), false),
    comp.compress(TEXT.subarray(2 * third), true),
  ];
  // Every flushed chunk carries output: it can go out at once.
  assert(parts.every((p) => p.length > 0));
  const wire = cat(parts);
  const dec = d.create(new Store().scope("lib"));
  const out: Uint8Array[] = [];
  for (let i = 0; i < wire.length; i += 50) out.push(dec.decompress(wire.subarray(i, i + 50))!);
  return cat(out);
}

Deno.test("compression libraries: gzip, brotli and zstd stream chunk by chunk and round-trip", () => {
  assertEquals(
    roundTrip(gzipCompressorLibrary(undefined), gzipDecompressorLibrary(undefined)),
    TEXT,
  );
  assertEquals(
    roundTrip(brotliCompressorLibrary(undefined), brotliDecompressorLibrary(undefined)),
    TEXT,
  );
  assertEquals(
    roundTrip(zstdCompressorLibrary(undefined), zstdDecompressorLibrary(undefined)),
    TEXT,
  );
});

Deno.test("compression libraries: output other implementations read, and read theirs", () => {
  const g = gzipCompressorLibrary(undefined).create();
  assertEquals(new Uint8Array(gunzipSync(g.compress(TEXT, true))), TEXT);
  const b = brotliCompressorLibrary(undefined).create();
  assertEquals(new Uint8Array(brotliDecompressSync(b.compress(TEXT, true))), TEXT);
  const scope = new Store().scope("lib");
  assertEquals(gzipDecompressorLibrary(undefined).create(scope).decompress(gzipSync(TEXT)), TEXT);
  assertEquals(
    brotliDecompressorLibrary(undefined).create(scope).decompress(brotliCompressSync(TEXT)),
    TEXT,
  );
});

Deno.test("gzip decompressor: a bomb past max_inflate_ratio is cut off as zlib_data_error", () => {
  const store = new Store();
  const scope = store.scope("lib");
  // 10 MB of zeros gzip to ~10 KB: a ratio near 1000.
  const bomb = gzipSync(new Uint8Array(10 << 20));
  const d = gzipDecompressorLibrary({ maxInflateRatio: 100 } as never).create(scope);
  assertEquals(d.decompress(bomb), undefined);
  assertEquals(store.counter("lib.zlib_data_error").value, 1);
  // The stream stays failed: later input is dropped.
  assertEquals(d.decompress(bomb), undefined);
  // Within the ratio it inflates.
  const ok = gzipDecompressorLibrary({ maxInflateRatio: 2000 } as never).create(scope);
  assertEquals(ok.decompress(bomb)?.length, 10 << 20);
});

Deno.test("decompressors: corrupt input counts the library's error", () => {
  const store = new Store();
  const scope = store.scope("lib");
  const junk = new Uint8Array(64).fill(7);
  assertEquals(gzipDecompressorLibrary(undefined).create(scope).decompress(junk), undefined);
  assertEquals(store.counter("lib.zlib_data_error").value, 1);
  assertEquals(zstdDecompressorLibrary(undefined).create(scope).decompress(junk), undefined);
  assertEquals(store.counter("lib.zstd_generic_error").value, 1);
  assertEquals(brotliDecompressorLibrary(undefined).create(scope).decompress(junk), undefined);
  assertEquals(store.counter("lib.brotli_error").value, 1);
});

Deno.test("compression libraries: non-default settings are taken by the libraries", () => {
  const gz = gzipCompressorLibrary(
    { memoryLevel: 3, windowBits: 10, compressionLevel: 9, compressionStrategy: 3 } as never,
  );
  assertEquals(roundTrip(gz, gzipDecompressorLibrary({ windowBits: 15 } as never)), TEXT);
  const br = brotliCompressorLibrary(
    { quality: 11, encoderMode: 2, windowBits: 10, inputBlockBits: 16, chunkSize: 8192 } as never,
  );
  assertEquals(
    roundTrip(br, brotliDecompressorLibrary({ disableRingBufferReallocation: true } as never)),
    TEXT,
  );
  const zs = zstdCompressorLibrary(
    { compressionLevel: 10, enableChecksum: true, strategy: 4 } as never,
  );
  assertEquals(roundTrip(zs, zstdDecompressorLibrary({ chunkSize: 65536 } as never)), TEXT);
});
