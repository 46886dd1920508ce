/**
 * `envoy.compression.brotli.compressor`: brotli for the compressor filter,
 * `content-encoding: br`.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import { constants, createBrotliCompress } from "node:zlib";
import type { Brotli } from "../../../../../proto/gen/envoy/extensions/compression/brotli/compressor/v3/brotli_pb.ts";
import { BrotliEncoderMode } from "../../../../config/api_enums.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import type { CompressorLibrary } from "../../compression.ts";
import { streamCompressorLibrary } from "../../common/libraries.ts";

/** Envoy's encoder modes as brotli's BROTLI_MODE_* values (DEFAULT is generic). */
const MODES: Record<number, number> = {
  [BrotliEncoderMode.DEFAULT]: constants.BROTLI_MODE_GENERIC,
  [BrotliEncoderMode.GENERIC]: constants.BROTLI_MODE_GENERIC,
  [BrotliEncoderMode.TEXT]: constants.BROTLI_MODE_TEXT,
  [BrotliEncoderMode.FONT]: constants.BROTLI_MODE_FONT,
};

/** The brotli library from its config, with Envoy's defaults. */
export function brotliCompressorLibrary(c: Brotli | undefined): CompressorLibrary {
  const chunkSize = c?.chunkSize ?? 4096;
  const params = {
    [constants.BROTLI_PARAM_QUALITY]: c?.quality ?? 3,
    [constants.BROTLI_PARAM_MODE]: MODES[c?.encoderMode ?? BrotliEncoderMode.DEFAULT],
    [constants.BROTLI_PARAM_LGWIN]: c?.windowBits ?? 18,
    [constants.BROTLI_PARAM_LGBLOCK]: c?.inputBlockBits ?? 24,
    [constants.BROTLI_PARAM_DISABLE_LITERAL_CONTEXT_MODELING]: c?.disableLiteralContextModeling
      ? 1
      : 0,
  };
  return streamCompressorLibrary({
    contentEncoding: "br",
    statsPrefix: "brotli",
    open: () => createBrotliCompress({ params, chunkSize }),
    chunkSize,
    flush: constants.BROTLI_OPERATION_FLUSH,
    finish: constants.BROTLI_OPERATION_FINISH,
  });
}

/** Factory for the brotli compressor library. */
export const brotliCompressorFactory: ExtensionFactory = {
  name: "envoy.compression.brotli.compressor",
  category: "envoy.compression.compressor",
  configTypes: ["envoy.extensions.compression.brotli.compressor.v3.Brotli"],
  fields: {
    implemented: {
      "envoy.extensions.compression.brotli.compressor.v3.Brotli": [
        "quality",
        "encoder_mode",
        "window_bits",
        "input_block_bits",
        "chunk_size",
        "disable_literal_context_modeling",
      ],
    },
  },
  createCompressorLibrary: (config: Message) => brotliCompressorLibrary(config as Brotli),
};
