import { assert, assertEquals } from "../../testing/assert.ts";
import { FRAME_HEADER_SIZE } from "./frame.ts";
import {
  FLAG_END_METADATA,
  MAX_METADATA_PAYLOAD,
  METADATA,
  MetadataDecoder,
  MetadataEncoder,
} from "./metadata.ts";

/** Feeds frames to `dec` as the connection does; the maps completed. */
function decodeFrames(dec: MetadataDecoder, frames: Uint8Array[]) {
  const maps = [];
  for (const f of frames) {
    assertEquals(f[3], METADATA);
    assertEquals(dec.receive(f, FRAME_HEADER_SIZE, f.length), true);
    if (f[4] & FLAG_END_METADATA) maps.push(dec.finish());
  }
  return maps;
}

Deno.test("metadata: maps round-trip through METADATA frames, each stream direction keeping its HPACK context", () => {
  const enc = new MetadataEncoder();
  const dec = new MetadataDecoder();
  const a = new Map([["key", "value"], ["Upper-Case", "kept"]]);
  const first = enc.frames(a, 3);
  assertEquals(first.length, 1);
  assertEquals(first[0][4], FLAG_END_METADATA);
  assertEquals([...first[0].subarray(5, 9)], [0, 0, 0, 3]);
  // The second map reuses the first one's dynamic table entries: smaller on the wire.
  const second = enc.frames(a, 3);
  assert(second[0].length < first[0].length);
  assertEquals(decodeFrames(dec, [...first, ...second]), [a, a]);
  // An empty map is one empty END_METADATA frame.
  const empty = enc.frames(new Map(), 3);
  assertEquals(empty.map((f) => f.length), [FRAME_HEADER_SIZE]);
  assertEquals(decodeFrames(dec, empty), [new Map()]);
});

Deno.test("metadata: a map over 16 KiB spans frames, END_METADATA on the last", () => {
  const big = new Map([["blob", "x".repeat(40_000)]]);
  const frames = new MetadataEncoder().frames(big, 1);
  assert(frames.length >= 2);
  assertEquals(frames.map((f) => f[4]), [...frames.slice(1).map(() => 0), FLAG_END_METADATA]);
  for (const f of frames) assert(f.length - FRAME_HEADER_SIZE <= 16 * 1024);
  assertEquals(decodeFrames(new MetadataDecoder(), frames), [big]);
});

Deno.test("metadata: over 1 MiB is refused; a broken HPACK block is no map", () => {
  const dec = new MetadataDecoder();
  const chunk = new Uint8Array(MAX_METADATA_PAYLOAD / 2);
  assertEquals(dec.receive(chunk, 0, chunk.length), true);
  assertEquals(dec.receive(chunk, 0, chunk.length), true);
  assertEquals(dec.receive(chunk, 0, 1), false);
  const broken = new MetadataDecoder();
  // An indexed field past the end of both tables.
  broken.receive(Uint8Array.of(0xff, 0x7f), 0, 2);
  assertEquals(broken.finish(), undefined);
});
