/**
 * Base64 in pieces, for bodies that arrive in chunks (gRPC-Web text): the decoder takes each
 * 4-character group on its own (so padded segments may follow one another, as gRPC-Web text
 * clients send one per message); the encoder holds back up to 2 bytes until more arrive.
 *
 * @module
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const ENC = new TextEncoder().encode(ALPHABET);
const DEC = new Int16Array(256).fill(-1);
for (let i = 0; i < ENC.length; i++) DEC[ENC[i]] = i;
const PAD = 0x3d;

/** Decodes base64 text arriving in chunks. */
export class Base64StreamDecoder {
  #held = new Uint8Array(4);
  #heldLength = 0;

  /** Decodes what `chunk` completes; undefined when it is not base64. */
  push(chunk: Uint8Array): Uint8Array | undefined {
    const out = new Uint8Array(((this.#heldLength + chunk.length) >> 2) * 3);
    let o = 0;
    const g = this.#held;
    for (let i = 0; i < chunk.length; i++) {
      g[this.#heldLength++] = chunk[i];
      if (this.#heldLength < 4) continue;
      this.#heldLength = 0;
      const a = DEC[g[0]], b = DEC[g[1]];
      if (a < 0 || b < 0) return undefined;
      out[o++] = (a << 2) | (b >> 4);
      if (g[2] === PAD) {
        if (g[3] !== PAD) return undefined;
        continue;
      }
      const c = DEC[g[2]];
      if (c < 0) return undefined;
      out[o++] = ((b & 15) << 4) | (c >> 2);
      if (g[3] === PAD) continue;
      const d = DEC[g[3]];
      if (d < 0) return undefined;
      out[o++] = ((c & 3) << 6) | d;
    }
    return out.subarray(0, o);
  }

  /** Whether a partial group is left (the body ended mid-group: not base64). */
  get partial(): boolean {
    return this.#heldLength > 0;
  }
}

/** Encodes bytes arriving in chunks as base64 text. */
export class Base64StreamEncoder {
  #held = new Uint8Array(2);
  #heldLength = 0;

  /** Encodes `chunk`; with `end`, what is held too, padded. */
  push(chunk: Uint8Array, end: boolean): Uint8Array {
    const total = this.#heldLength + chunk.length;
    const whole = Math.floor(total / 3);
    const rest = total - whole * 3;
    const out = new Uint8Array((whole + (end && rest > 0 ? 1 : 0)) * 4);
    let o = 0;
    let i = 0;
    const byte = (k: number) => k < this.#heldLength ? this.#held[k] : chunk[k - this.#heldLength];
    for (let gI = 0; gI < whole; gI++, i += 3) {
      const n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
      out[o++] = ENC[n >> 18];
      out[o++] = ENC[(n >> 12) & 63];
      out[o++] = ENC[(n >> 6) & 63];
      out[o++] = ENC[n & 63];
    }
    if (end && rest > 0) {
      const n = (byte(i) << 16) | (rest === 2 ? byte(i + 1) << 8 : 0);
      out[o++] = ENC[n >> 18];
      out[o++] = ENC[(n >> 12) & 63];
      out[o++] = rest === 2 ? ENC[(n >> 6) & 63] : PAD;
      out[o++] = PAD;
      this.#heldLength = 0;
      return out;
    }
    const kept = new Uint8Array(rest);
    for (let k = 0; k < rest; k++) kept[k] = byte(i + k);
    this.#held.set(kept);
    this.#heldLength = rest;
    return out;
  }
}
