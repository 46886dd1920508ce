/**
 * The compression library API (Envoy's `envoy.compression.compressor` and
 * `envoy.compression.decompressor` extension categories): what the compressor and
 * decompressor HTTP filters build from their `compressor_library` / `decompressor_library`.
 *
 * @module
 */
import type { Scope } from "../../stats/store.ts";

/** One stream's compressor: every chunk is flushed, so it can go out at once (as in Envoy). */
export interface Compressor {
  /** Compresses `data`; `finish` ends the compressed stream (its trailer goes out too). */
  compress(data: Uint8Array, finish: boolean): Uint8Array;
  /** Frees the library's state (stream ended or reset). */
  close(): void;
}

/** A configured compressor library. */
export interface CompressorLibrary {
  /** The `content-encoding` it produces (`gzip`, `br`, `zstd`). */
  readonly contentEncoding: string;
  /** Its part of the filter's stat names (`gzip.`, `brotli.`, `zstd.`). */
  readonly statsPrefix: string;
  create(): Compressor;
}

/** One stream's decompressor. */
export interface Decompressor {
  /**
   * Decompresses `data`; undefined when the library failed (corrupt input or a bomb cut off),
   * the failure counted in the library's stats. Later input after a failure is dropped.
   */
  decompress(data: Uint8Array): Uint8Array | undefined;
  close(): void;
}

/** A configured decompressor library. */
export interface DecompressorLibrary {
  /** The `content-encoding` it undoes. */
  readonly contentEncoding: string;
  readonly statsPrefix: string;
  /** A decompressor counting its library errors in `scope` (the filter's library scope). */
  create(scope: Scope): Decompressor;
}
