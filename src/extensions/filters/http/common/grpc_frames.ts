/**
 * What the gRPC HTTP filters share (gRPC over HTTP/2's wire format, as Envoy's Grpc::Common):
 * which requests are gRPC, the service and method of a request path, and the length-prefixed
 * message frames of a body (1 flag byte, 4 length bytes, the message).
 *
 * @module
 */
import type { HeaderMap } from "../../../../http/header_map.ts";

/** `content-type` of gRPC. */
export const GRPC_CONTENT_TYPE = "application/grpc";

/** Whether `headers` carry gRPC: `content-type` is application/grpc or application/grpc+<x>. */
export function isGrpcRequest(headers: HeaderMap): boolean {
  const ct = headers.get("content-type");
  if (ct === undefined || !ct.startsWith(GRPC_CONTENT_TYPE)) return false;
  return ct.length === GRPC_CONTENT_TYPE.length || ct[GRPC_CONTENT_TYPE.length] === "+";
}

/** `/<service>/<method>` split, or undefined for any other path (query excluded). */
export function serviceMethod(path: string | undefined): [string, string] | undefined {
  if (path === undefined || path[0] !== "/") return undefined;
  const q = path.indexOf("?");
  const p = q < 0 ? path : path.slice(0, q);
  const slash = p.indexOf("/", 1);
  if (slash < 0 || slash === 1 || slash === p.length - 1) return undefined;
  if (p.indexOf("/", slash + 1) >= 0) return undefined;
  return [p.slice(1, slash), p.slice(slash + 1)];
}

/** A gRPC frame's header: flags and the message length. */
export function frameHeader(flags: number, length: number): Uint8Array {
  const h = new Uint8Array(5);
  h[0] = flags;
  new DataView(h.buffer).setUint32(1, length);
  return h;
}

/**
 * Counts the messages of a body that arrives in chunks: a frame counts once its 5-byte header
 * is complete (Envoy's frame inspector counts frames as their headers are seen).
 */
export class GrpcFrameCounter {
  /** Header bytes still to read of the current frame (0: inside a message). */
  #headerLeft = 5;
  #length = 0;
  /** Message bytes still to skip. */
  #skip = 0;
  /** Messages seen so far. */
  count = 0;

  /** Reads `data`; returns how many frames began in it. */
  inspect(data: Uint8Array): number {
    let n = 0;
    let i = 0;
    while (i < data.length) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, data.length - i);
        this.#skip -= take;
        i += take;
        continue;
      }
      // Header bytes: the flag byte, then four length bytes (big-endian).
      if (this.#headerLeft < 5) this.#length = this.#length * 256 + data[i];
      else this.#length = 0;
      this.#headerLeft--;
      i++;
      if (this.#headerLeft === 0) {
        n++;
        this.#skip = this.#length;
        this.#headerLeft = 5;
      }
    }
    this.count += n;
    return n;
  }
}
