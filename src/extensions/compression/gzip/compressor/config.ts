/**
 * `envoy.compression.gzip.compressor`: gzip (zlib deflate with the gzip wrapper) for the
 * compressor filter, `content-encoding: gzip`.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import { constants, createGzip } from "node:zlib";
import type { Gzip } from "../../../../../proto/gen/envoy/extensions/compression/gzip/compressor/v3/gzip_pb.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import type { CompressorLibrary } from "../../compression.ts";
import { streamCompressorLibrary } from "../../common/libraries.ts";

/** The gzip library from its config, with Envoy's defaults. */
export function gzipCompressorLibrary(c: Gzip | undefined): CompressorLibrary {
  const level = c?.compressionLevel ?? 0;
  const chunkSize = c?.chunkSize ?? 4096;
  const options = {
    // DEFAULT_COMPRESSION is zlib's Z_DEFAULT_COMPRESSION; the others are levels 1-9.
    level: level === 0 ? constants.Z_DEFAULT_COMPRESSION : level,
    // The strategy enum follows zlib's values (Z_FILTERED = 1 ... Z_FIXED = 4).
    strategy: c?.compressionStrategy ?? 0,
    memLevel: c?.memoryLevel ?? 5,
    windowBits: c?.windowBits ?? 12,
    chunkSize,
  };
  return streamCompressorLibrary({
    contentEncoding: "gzip",
    statsPrefix: "gzip",
    open: () => createGzip(options),
    chunkSize,
    flush: constants.Z_SYNC_FLUSH,
    finish: constants.Z_FINISH,
  });
}

/** Factory for the gzip compressor library. */
export const gzipCompressorFactory: ExtensionFactory = {
  name: "envoy.compression.gzip.compressor",
  category: "envoy.compression.compressor",
  configTypes: ["envoy.extensions.compression.gzip.compressor.v3.Gzip"],
  fields: {
    implemented: {
      "envoy.extensions.compression.gzip.compressor.v3.Gzip": [
        "memory_level",
        "compression_level",
        "compression_strategy",
        "window_bits",
        "chunk_size",
      ],
    },
  },
  createCompressorLibrary: (config: Message) => gzipCompressorLibrary(config as Gzip),
};
