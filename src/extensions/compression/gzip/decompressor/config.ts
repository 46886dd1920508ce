/**
 * `envoy.compression.gzip.decompressor`: inflates gzip (or zlib-wrapped deflate, as zlib's
 * automatic header detection does for Envoy) for the decompressor filter.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import { constants, createUnzip } from "node:zlib";
import type { Gzip } from "../../../../../proto/gen/envoy/extensions/compression/gzip/decompressor/v3/gzip_pb.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import type { DecompressorLibrary } from "../../compression.ts";
import { streamDecompressorLibrary } from "../../common/libraries.ts";

/** zlib's error codes, as Envoy's `zlib_*` stats name them. */
const ZLIB_ERRORS: Record<number, string> = {
  [-1]: "zlib_errno",
  [-2]: "zlib_stream_error",
  [-3]: "zlib_data_error",
  [-4]: "zlib_mem_error",
  [-5]: "zlib_buf_error",
  [-6]: "zlib_version_error",
};

/** The gzip decompressor library from its config, with Envoy's defaults. */
export function gzipDecompressorLibrary(c: Gzip | undefined): DecompressorLibrary {
  const chunkSize = c?.chunkSize ?? 4096;
  const windowBits = c?.windowBits ?? 15;
  const ratio = c?.maxInflateRatio ?? 100;
  return streamDecompressorLibrary({
    contentEncoding: "gzip",
    statsPrefix: "gzip",
    open: () => createUnzip({ windowBits, chunkSize }),
    chunkSize,
    flush: constants.Z_SYNC_FLUSH,
    maxOutput: (n) => n * ratio,
    // Envoy counts a bomb cut off as a data error.
    countError: (scope, err, bomb) =>
      scope.counter(bomb ? "zlib_data_error" : ZLIB_ERRORS[err.errno] ?? "zlib_data_error")
        .inc(),
  });
}

/** Factory for the gzip decompressor library. */
export const gzipDecompressorFactory: ExtensionFactory = {
  name: "envoy.compression.gzip.decompressor",
  category: "envoy.compression.decompressor",
  configTypes: ["envoy.extensions.compression.gzip.decompressor.v3.Gzip"],
  fields: {
    implemented: {
      "envoy.extensions.compression.gzip.decompressor.v3.Gzip": [
        "window_bits",
        "chunk_size",
        "max_inflate_ratio",
      ],
    },
  },
  createDecompressorLibrary: (config: Message) => gzipDecompressorLibrary(config as Gzip),
};
