/**
 * `envoy.compression.zstd.compressor`: zstd for the compressor filter,
 * `content-encoding: zstd` (node:zlib's zstd streams). A `dictionary` is refused.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import * as zlib from "node:zlib";
import type { Zstd } from "../../../../../proto/gen/envoy/extensions/compression/zstd/compressor/v3/zstd_pb.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import type { CompressorLibrary } from "../../compression.ts";
import { streamCompressorLibrary } from "../../common/libraries.ts";
import { ZSTD } from "../zstd_api.ts";

/** The zstd library from its config, with Envoy's defaults. */
export function zstdCompressorLibrary(c: Zstd | undefined): CompressorLibrary {
  const chunkSize = c?.chunkSize ?? 4096;
  const k = zlib.constants as unknown as Record<string, number>;
  const params: Record<number, number> = {
    // ZSTD_CLEVEL_DEFAULT.
    [k.ZSTD_c_compressionLevel]: c?.compressionLevel ?? 3,
    [k.ZSTD_c_checksumFlag]: c?.enableChecksum ? 1 : 0,
  };
  // Envoy's strategy enum is zstd's ZSTD_strategy; DEFAULT leaves the level's choice.
  if (c?.strategy) params[k.ZSTD_c_strategy] = c.strategy;
  return streamCompressorLibrary({
    contentEncoding: "zstd",
    statsPrefix: "zstd",
    open: () => ZSTD.createZstdCompress({ params, chunkSize }),
    chunkSize,
    flush: k.ZSTD_e_flush,
    finish: k.ZSTD_e_end,
  });
}

/** Factory for the zstd compressor library. */
export const zstdCompressorFactory: ExtensionFactory = {
  name: "envoy.compression.zstd.compressor",
  category: "envoy.compression.compressor",
  configTypes: ["envoy.extensions.compression.zstd.compressor.v3.Zstd"],
  fields: {
    implemented: {
      "envoy.extensions.compression.zstd.compressor.v3.Zstd": [
        "compression_level",
        "enable_checksum",
        "strategy",
        "chunk_size",
      ],
    },
  },
  createCompressorLibrary: (config: Message) => zstdCompressorLibrary(config as Zstd),
};
