/**
 * node:zlib's zstd streams (Node 22.15+, Deno 2.9): typed here since @types/node may predate
 * them.
 *
 * @module
 */
import * as zlib from "node:zlib";

interface ZstdOptions {
  params?: Record<number, number>;
  chunkSize?: number;
}

/** The zstd stream constructors of node:zlib. */
export const ZSTD = zlib as unknown as {
  createZstdCompress(o?: ZstdOptions): unknown;
  createZstdDecompress(o?: ZstdOptions): unknown;
};
