/**
 * Compressor and decompressor libraries over `node:zlib` streams: what the gzip, brotli and
 * zstd extensions share once each has turned its config into stream options.
 *
 * @module
 */
import type { Scope } from "../../../stats/store.ts";
import type {
  Compressor,
  CompressorLibrary,
  Decompressor,
  DecompressorLibrary,
} from "../compression.ts";
import { type CompressionLibraryError, OUTPUT_BOUND_EXCEEDED, ZlibStream } from "./zlib_stream.ts";

/** How one library drives its streams. */
export interface StreamLibrarySpec {
  contentEncoding: string;
  statsPrefix: string;
  /** A fresh `node:zlib` stream with the configured options. */
  open(): unknown;
  /** Output buffer size (the config's `chunk_size`). */
  chunkSize: number;
  /** The flush mode after each chunk, and the one that ends the stream. */
  flush: number;
  finish: number;
}

/** A compressor library whose every chunk is flushed (Envoy's `State::Flush`). */
export function streamCompressorLibrary(spec: StreamLibrarySpec): CompressorLibrary {
  return {
    contentEncoding: spec.contentEncoding,
    statsPrefix: spec.statsPrefix,
    create(): Compressor {
      const s = new ZlibStream(spec.open(), spec.chunkSize);
      return {
        compress: (data, finish) => s.write(data, finish ? spec.finish : spec.flush),
        close: () => s.close(),
      };
    },
  };
}

/** How one decompressor library counts its failures. */
export interface DecompressorSpec extends Omit<StreamLibrarySpec, "finish"> {
  /**
   * The output one input chunk of `inputLength` bytes may inflate to (Envoy checks the bound
   * per input buffer); past it the chunk is a decompression bomb.
   */
  maxOutput(inputLength: number): number;
  /** Input the library stops short of is corrupt (see ZlibStream.write's `strict`). */
  strict?: boolean;
  /** Counts a failure in the library's stats scope. */
  countError(scope: Scope, error: CompressionLibraryError, bomb: boolean): void;
}

/** A decompressor library; a failure stops the stream's decompression for good. */
export function streamDecompressorLibrary(spec: DecompressorSpec): DecompressorLibrary {
  return {
    contentEncoding: spec.contentEncoding,
    statsPrefix: spec.statsPrefix,
    create(scope: Scope): Decompressor {
      const s = new ZlibStream(spec.open(), spec.chunkSize);
      let failed = false;
      return {
        decompress(data) {
          if (failed) return undefined;
          try {
            return s.write(data, spec.flush, spec.maxOutput(data.length), spec.strict);
          } catch (e) {
            failed = true;
            const err = e as CompressionLibraryError;
            spec.countError(scope, err, err.message === OUTPUT_BOUND_EXCEEDED);
            s.close();
            return undefined;
          }
        },
        close: () => s.close(),
      };
    },
  };
}
