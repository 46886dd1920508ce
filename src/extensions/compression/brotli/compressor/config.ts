/**
 * `envoy.compression.brotli.compressor`: brotli for the compressor filter,
 * `content-encoding: br`.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import { constants, createBrotliCompress } from "node:zlib";
import {
  type Brotli,
  Brotli_EncoderMode,
} from "../../../../../proto/gen/envoy/extensions/compression/brotli/compressor/v3/brotli_pb.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import type { CompressorLibrary } from "../../compression.ts";
import { streamCompressorLibrary } from "../../common/libraries.ts";

/** Envoy's encoder modes as brotli's BROTLI_MODE_* values (DEFAULT is generic). */
const MODES: Record<Brotli_EncoderMode, number> = {
  [Brotli_EncoderMode.DEFAULT]: constants.BROTLI_MODE_GENERIC,
  [Brotli_EncoderMode.GENERIC]: constants.BROTLI_MODE_GENERIC,
  [Brotli_EncoderMode.TEXT]: constants.BROTLI_MODE_TEXT,
  [Brotli_EncoderMode.FONT]: constants.BROTLI_MODE_FONT,
};

/** The brotli library from its config, with Envoy's defaults. */
export function brotliCompressorLibrary(c: Brotli | undefined): CompressorLibrary {
  const chunkSize = c?.chunkSize ?? 4096;
  const params = {
    [constants.BROTLI_PARAM_QUALITY]: c?.quality ?? 3,
    [constants.BROTLI_PARAM_MODE]: MODES[c?.encoderMode ?? Brotli_EncoderMode.DEFAULT],
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
