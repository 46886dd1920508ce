/**
 * HPACK's static Huffman code (RFC 7541 §5.2, Appendix B): encoder and decoder.
 *
 * The decoder walks the input four bits at a time through a state table built once at load
 * (one state per inner node of the code tree, 16 transitions each). No code is shorter than
 * five bits, so a nibble emits at most one symbol, and a whole string costs two table loads
 * per byte with no branching on code lengths.
 *
 * @module
 */
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "./huffman_table.ts";

const EOS = 256;
/** A transition that emits nothing. */
const NO_SYMBOL = 0x1ff;
/** Transition flag: the input is invalid (EOS decoded). */
const FAIL = 1 << 18;
/** Transition flag: the state reached may end the string (padding of up to 7 one bits). */
const ACCEPT = 1 << 19;

/**
 * TRANSITIONS[state * 16 + nibble] = next state (bits 0-8) | symbol (bits 9-17) | FAIL | ACCEPT.
 */
const TRANSITIONS: Int32Array = buildTransitions();

function buildTransitions(): Int32Array {
  // Inner nodes of the code tree: children[node*2 + bit] = inner node id, or ~symbol for a leaf.
  const children: number[] = [0, 0];
  const depth: number[] = [0];
  const allOnes: boolean[] = [true];
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const len = HUFFMAN_LENGTHS[sym];
    const code = HUFFMAN_CODES[sym];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      if (i === 0) {
        children[node * 2 + bit] = ~sym;
      } else {
        let next = children[node * 2 + bit];
        if (next === 0) {
          next = nodes++;
          children.push(0, 0);
          depth.push(depth[node] + 1);
          allOnes.push(allOnes[node] && bit === 1);
          children[node * 2 + bit] = next;
        }
        node = next;
      }
    }
  }
  const out = new Int32Array(nodes * 16);
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let sym = NO_SYMBOL;
      let fail = false;
      for (let i = 3; i >= 0; i--) {
        const child = children[node * 2 + ((nibble >>> i) & 1)];
        if (child < 0) {
          if (~child === EOS) fail = true;
          sym = ~child;
          node = 0;
        } else node = child;
      }
      const accept = node === 0 || (allOnes[node] && depth[node] <= 7);
      out[state * 16 + nibble] = node | (sym << 9) | (fail ? FAIL : 0) | (accept ? ACCEPT : 0);
    }
  }
  return out;
}

/** Bytes the Huffman encoding of byte string `s` takes. */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff];
  return (bits + 7) >>> 3;
}

/**
 * Writes the Huffman encoding of byte string `s` (code units 0..255) at `out[pos]`, padded
 * with the EOS prefix; returns the position after it. With `limit`, it writes nothing at or
 * past `out[limit]` and returns -1 as soon as the encoding would reach it (an encoder that
 * only wants the code when it is shorter learns so in the same pass).
 */
export function huffmanEncode(
  s: string,
  out: Uint8Array,
  pos: number,
  limit = Infinity,
): number {
  // Pending bits sit right-aligned in `acc` (fewer than 8 between symbols). A code of up to
  // 24 bits fits next to them in 32; the longer ones (rare control bytes) go in two halves.
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    let len = HUFFMAN_LENGTHS[c];
    let code = HUFFMAN_CODES[c];
    if (len > 24) {
      const hi = len - 16;
      acc = (acc << hi) | (code >>> 16);
      bits += hi;
      while (bits >= 8) {
        if (pos >= limit) return -1;
        bits -= 8;
        out[pos++] = acc >>> bits;
      }
      acc &= (1 << bits) - 1;
      code &= 0xffff;
      len = 16;
    }
    acc = (acc << len) | code;
    bits += len;
    while (bits >= 8) {
      if (pos >= limit) return -1;
      bits -= 8;
      out[pos++] = acc >>> bits;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) {
    if (pos >= limit) return -1;
    out[pos++] = (acc << (8 - bits)) | (0xff >>> bits);
  }
  return pos > limit ? -1 : pos;
}

let scratch = new Uint8Array(4096);

/**
 * Decodes the Huffman-coded bytes `src[start, end)` into `out` (grown as needed) and returns
 * the number of bytes decoded, or -1 if the input is invalid (EOS symbol, padding longer
 * than 7 bits or not all ones, RFC 7541 §5.2).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): number {
  // Each symbol takes at least 5 bits, so 8/5 of the input bounds the output.
  const max = (((end - start) * 8) / 5 | 0) + 1;
  if (scratch.length < max) scratch = new Uint8Array(Math.max(max, scratch.length * 2));
  const out = scratch;
  let state = 0;
  let n = 0;
  let accept = true;
  for (let i = start; i < end; i++) {
    const b = src[i];
    let t = TRANSITIONS[(state << 4) | (b >>> 4)];
    if (t & FAIL) return -1;
    let sym = (t >>> 9) & 0x1ff;
    if (sym !== NO_SYMBOL) out[n++] = sym;
    state = t & 0x1ff;
    t = TRANSITIONS[(state << 4) | (b & 0xf)];
    if (t & FAIL) return -1;
    sym = (t >>> 9) & 0x1ff;
    if (sym !== NO_SYMBOL) out[n++] = sym;
    state = t & 0x1ff;
    accept = (t & ACCEPT) !== 0;
  }
  return accept ? n : -1;
}

/** The array `huffmanDecode` wrote its last result into (valid until the next call). */
export function huffmanDecoded(): Uint8Array {
  return scratch;
}
