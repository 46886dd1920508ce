/**
 * A synchronous, streaming view of a `node:zlib` stream (deflate, brotli or zstd): each call
 * feeds one chunk and returns every byte the library produces for it with the given flush
 * mode, the way Envoy's compressor libraries run inside a filter callback. The public
 * `node:zlib` API is either one-shot synchronous or asynchronous; streaming synchronously
 * needs the native handle's `writeSync` (the binding Node and Deno share, also behind
 * `zlib.*Sync`), so the output of a chunk is ready before the filter callback returns.
 *
 * @module
 */

/** The part of the native zlib handle this module drives. */
interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  onerror: (message: string, errno: number) => void;
  close(): void;
}

/** A `node:zlib` stream object, seen for its handle and write state. */
interface NodeZlibStream {
  _handle: NativeHandle;
  /** `[avail_out, avail_in]` after the last write. */
  _writeState: Uint32Array;
}

/** The message of the error a `maxOutput` overrun throws. */
export const OUTPUT_BOUND_EXCEEDED = "output exceeds the inflate bound";

/** The library failed on its input (corrupt data, or the output bound was reached). */
export class CompressionLibraryError extends Error {
  constructor(message: string, readonly errno: number) {
    super(message);
  }
}

/** One direction of a zlib/brotli/zstd stream, driven chunk by chunk. */
export class ZlibStream {
  readonly #handle: NativeHandle;
  readonly #state: Uint32Array;
  readonly #chunkSize: number;
  #error: CompressionLibraryError | undefined;

  /** `stream` is a fresh `node:zlib` stream; `chunkSize` sizes each output buffer. */
  constructor(stream: unknown, chunkSize: number) {
    const s = stream as NodeZlibStream;
    this.#handle = s._handle;
    this.#state = s._writeState;
    this.#chunkSize = chunkSize;
    this.#handle.onerror = (message, errno) => {
      this.#error = new CompressionLibraryError(message, errno);
    };
  }

  /**
   * Feeds `input` with `flush` and returns the output. `maxOutput` bounds the bytes this call
   * may produce: past it the call throws (a decompression bomb is cut off there). Throws
   * CompressionLibraryError when the library rejects the input, or with `strict` when it stops
   * short of the input with output space to spare (Deno's brotli decoder reports corrupt input
   * only that way).
   */
  write(input: Uint8Array, flush: number, maxOutput = Infinity, strict = false): Uint8Array {
    if (this.#error) throw this.#error;
    const size = this.#chunkSize;
    const outs: Uint8Array[] = [];
    let total = 0;
    let inOff = 0;
    let inLen = input.length;
    for (;;) {
      const out = new Uint8Array(size);
      try {
        this.#handle.writeSync(flush, input, inOff, inLen, out, 0, size);
      } catch (e) {
        this.#error ??= new CompressionLibraryError(String((e as Error)?.message ?? e), -3);
      }
      if (this.#error) throw this.#error;
      const [availOut, availIn] = this.#state;
      const produced = size - availOut;
      if (produced > 0) {
        outs.push(produced === size ? out : out.subarray(0, produced));
        total += produced;
        if (total > maxOutput) {
          throw this.#error = new CompressionLibraryError(OUTPUT_BOUND_EXCEEDED, -3);
        }
      }
      inOff += inLen - availIn;
      inLen = availIn;
      // Output space left over: the library has nothing more for this input and flush.
      if (availOut !== 0) break;
    }
    if (strict && inLen > 0) {
      throw this.#error = new CompressionLibraryError("input the library could not take", -3);
    }
    return concat(outs, total);
  }

  /** Frees the native stream (a stream reset midway must not hold its window). */
  close(): void {
    try {
      this.#handle.close();
    } catch {
      // Already closed.
    }
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
