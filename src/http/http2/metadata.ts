/**
 * Envoy's HTTP/2 METADATA extension (frame type 0x4D), exchanged only where
 * `http2_protocol_options.allow_metadata` is set: a metadata map (string keys and values) is
 * HPACK-encoded into a header block of its own — each stream and direction keeps its own HPACK
 * context, apart from the connection's — split into METADATA frames of at most 16 KiB, the
 * last flagged END_METADATA. A peer that does not allow metadata ignores the frames, as any
 * unknown frame type (RFC 9113 §4.1).
 *
 * @module
 */
import { FRAME_HEADER_SIZE, writeFrameHeader } from "./frame.ts";
import { DECODE_INVALID_HEADER, DECODE_OK, HpackDecoder, HpackEncoder } from "./hpack.ts";

/** A metadata map (Envoy's Http::MetadataMap). */
export type MetadataMap = Map<string, string>;

/** The METADATA frame type. */
export const METADATA = 0x4d;
/** The last frame of a metadata map. */
export const FLAG_END_METADATA = 0x4;
/** Envoy's bound on one metadata map's encoded payload (1 MiB). */
export const MAX_METADATA_PAYLOAD = 1024 * 1024;
/** Envoy's METADATA frame payload size (16 KiB). */
const METADATA_FRAME_SIZE = 16 * 1024;

/** Collects one stream's inbound METADATA frames into maps. */
export class MetadataDecoder {
  readonly #hpack = new HpackDecoder(4096);
  #chunks: Uint8Array[] = [];
  #size = 0;

  /** Takes a frame's payload; false when the map being collected is over 1 MiB. */
  receive(buf: Uint8Array, start: number, end: number): boolean {
    this.#size += end - start;
    if (this.#size > MAX_METADATA_PAYLOAD) return false;
    this.#chunks.push(buf.slice(start, end));
    return true;
  }

  /** END_METADATA: the map collected, or undefined when its HPACK block is broken. */
  finish(): MetadataMap | undefined {
    const chunks = this.#chunks;
    const block = chunks.length === 1 ? chunks[0] : new Uint8Array(this.#size);
    if (chunks.length !== 1) {
      let o = 0;
      for (const c of chunks) {
        block.set(c, o);
        o += c.length;
      }
    }
    this.#chunks = [];
    this.#size = 0;
    const kv: string[] = [];
    const st = this.#hpack.decode(block, 0, block.length, kv, MAX_METADATA_PAYLOAD, 0x7fffffff);
    // Metadata keys are not header names: upper case and the like are kept.
    if (st !== DECODE_OK && st !== DECODE_INVALID_HEADER) return undefined;
    const map: MetadataMap = new Map();
    for (let i = 0; i < kv.length; i += 2) map.set(kv[i], kv[i + 1]);
    return map;
  }
}

/** Encodes one stream's outbound metadata maps into METADATA frames. */
export class MetadataEncoder {
  readonly #hpack = new HpackEncoder(4096);

  /** The frames of `map` on stream `id`, in order (an empty map: one empty END_METADATA frame). */
  frames(map: MetadataMap, id: number): Uint8Array[] {
    let bound = 12;
    for (const [k, v] of map) bound += k.length * 3 + v.length * 3 + 12;
    const block = new Uint8Array(bound);
    let pos = this.#hpack.begin(block, 0);
    for (const [k, v] of map) pos = this.#hpack.field(k, v, block, pos);
    const out: Uint8Array[] = [];
    let off = 0;
    do {
      const n = Math.min(METADATA_FRAME_SIZE, pos - off);
      const frame = new Uint8Array(FRAME_HEADER_SIZE + n);
      const last = off + n === pos;
      writeFrameHeader(frame, 0, n, METADATA, last ? FLAG_END_METADATA : 0, id);
      frame.set(block.subarray(off, off + n), FRAME_HEADER_SIZE);
      out.push(frame);
      off += n;
    } while (off < pos);
    return out;
  }
}
