/**
 * `envoy.compression.zstd.decompressor`: decodes `zstd` for the decompressor filter.
 * `dictionaries` are refused. Each input buffer's output is bounded (a block plus 100 times
 * its size); past it the stream fails as for corrupt input, counted as `zstd_generic_error`.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import * as zlib from "node:zlib";
import type { Zstd } from "../../../../../proto/gen/envoy/extensions/compression/zstd/decompressor/v3/zstd_pb.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import type { DecompressorLibrary } from "../../compression.ts";
import { streamDecompressorLibrary } from "../../common/libraries.ts";
import { ZSTD } from "../zstd_api.ts";

/** zstd's largest block of content. */
const ZSTD_BLOCKSIZE_MAX = 128 * 1024;

/** The zstd decompressor library from its config, with Envoy's defaults. */
export function zstdDecompressorLibrary(c: Zstd | undefined): DecompressorLibrary {
  const chunkSize = c?.chunkSize ?? 4096;
  const k = zlib.constants as unknown as Record<string, number>;
  return streamDecompressorLibrary({
    contentEncoding: "zstd",
    statsPrefix: "zstd",
    open: () => ZSTD.createZstdDecompress({ chunkSize }),
    chunkSize,
    flush: k.ZSTD_e_continue,
    // zstd hands out a whole block (up to 128 KiB) when its last bytes arrive, so a small
    // chunk may legitimately inflate to a block: the bound is a block plus 100 times the input.
    maxOutput: (n) => ZSTD_BLOCKSIZE_MAX + n * 100,
    countError: (scope) => scope.counter("zstd_generic_error").inc(),
  });
}

/** Factory for the zstd decompressor library. */
export const zstdDecompressorFactory: ExtensionFactory = {
  name: "envoy.compression.zstd.decompressor",
  category: "envoy.compression.decompressor",
  configTypes: ["envoy.extensions.compression.zstd.decompressor.v3.Zstd"],
  fields: {
    implemented: {
      "envoy.extensions.compression.zstd.decompressor.v3.Zstd": ["chunk_size"],
    },
  },
  createDecompressorLibrary: (config: Message) => zstdDecompressorLibrary(config as Zstd),
};
