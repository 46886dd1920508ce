import { assert, assertEquals } from "../testing/assert.ts";
import { allocate, MAX_CARVED_BYTES, SLAB_BYTES } from "./slab.ts";

Deno.test("allocate hands out zeroed, non-overlapping views of shared slabs", () => {
  const parts = Array.from({ length: 200 }, (_, i) => allocate(1 + (i * 37) % 900));
  for (const [i, p] of parts.entries()) {
    assertEquals(p.length, 1 + (i * 37) % 900);
    assert(p.every((b) => b === 0));
    assertEquals(p.byteOffset % 8, 0);
    p.fill(i & 0xff);
  }
  for (const [i, p] of parts.entries()) assert(p.every((b) => b === (i & 0xff)), `part ${i}`);
  const sameSlab = parts.filter((p) => p.buffer === parts[0].buffer).length;
  assert(sameSlab > 1 && sameSlab < parts.length, "several views share a slab, then a new one");
  assertEquals(parts[0].buffer.byteLength, SLAB_BYTES);
});

Deno.test("large requests get their own buffer", () => {
  const big = allocate(MAX_CARVED_BYTES + 1);
  assertEquals(big.length, MAX_CARVED_BYTES + 1);
  assertEquals(big.buffer.byteLength, MAX_CARVED_BYTES + 1);
  assertEquals(allocate(0).length, 0);
});
