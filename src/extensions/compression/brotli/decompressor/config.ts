/**
 * `envoy.compression.brotli.decompressor`: decodes `br` for the decompressor filter. Envoy's
 * brotli decoder has no ratio setting: it bounds each input buffer's output at 100 times its
 * size and counts `brotli_error` past it, as for corrupt input.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import { constants, createBrotliDecompress } from "node:zlib";
import type { Brotli } from "../../../../../proto/gen/envoy/extensions/compression/brotli/decompressor/v3/brotli_pb.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import type { DecompressorLibrary } from "../../compression.ts";
import { streamDecompressorLibrary } from "../../common/libraries.ts";

/** The brotli decompressor library from its config, with Envoy's defaults. */
export function brotliDecompressorLibrary(c: Brotli | undefined): DecompressorLibrary {
  const chunkSize = c?.chunkSize ?? 4096;
  const params = {
    [constants.BROTLI_DECODER_PARAM_DISABLE_RING_BUFFER_REALLOCATION]:
      c?.disableRingBufferReallocation ? 1 : 0,
  };
  return streamDecompressorLibrary({
    contentEncoding: "br",
    statsPrefix: "brotli",
    open: () => createBrotliDecompress({ params, chunkSize }),
    chunkSize,
    flush: constants.BROTLI_OPERATION_PROCESS,
    maxOutput: (n) => n * 100,
    strict: true,
    countError: (scope) => scope.counter("brotli_error").inc(),
  });
}

/** Factory for the brotli decompressor library. */
export const brotliDecompressorFactory: ExtensionFactory = {
  name: "envoy.compression.brotli.decompressor",
  category: "envoy.compression.decompressor",
  configTypes: ["envoy.extensions.compression.brotli.decompressor.v3.Brotli"],
  fields: {
    implemented: {
      "envoy.extensions.compression.brotli.decompressor.v3.Brotli": [
        "disable_ring_buffer_reallocation",
        "chunk_size",
      ],
    },
  },
  createDecompressorLibrary: (config: Message) => brotliDecompressorLibrary(config as Brotli),
};
