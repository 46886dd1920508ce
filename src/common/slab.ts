/**
 * Short-lived byte arrays carved out of shared slabs.
 *
 * Every `new Uint8Array(n)` in Deno costs about a microsecond, however small `n` is (the
 * backing store always lives outside the V8 heap), which is more than encoding a whole
 * response head. A view onto a slab costs a few tens of nanoseconds, so the encoder takes its
 * output from here, as Node's Buffer pool does.
 *
 * A carved array shares its `buffer` with others: write it out, let it go, and never transfer
 * or detach its buffer. Nothing is handed out twice, so holding on to one is safe; it only
 * keeps its slab alive.
 *
 * @module
 */

/** Size of one slab. */
export const SLAB_BYTES = 64 * 1024;
/** Larger requests get an array of their own rather than a big share of a slab. */
export const MAX_CARVED_BYTES = 8 * 1024;

let slab = new ArrayBuffer(0);
let used = 0;

/** A zero-filled array of `size` bytes, usually a view into a shared slab. */
export function allocate(size: number): Uint8Array {
  if (size > MAX_CARVED_BYTES) return new Uint8Array(size);
  if (used + size > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const out = new Uint8Array(slab, used, size);
  // Keep later views 8-byte aligned, as fresh allocations are.
  used = (used + size + 7) & ~7;
  return out;
}
