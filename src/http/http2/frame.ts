/**
 * HTTP/2 frames (RFC 9113 §4, §6): constants, an incremental reader that cuts a byte stream
 * into frames, and writers for every frame type.
 *
 * The reader hands each frame to its handler as (buffer, start, end) of the chunk it arrived
 * in, so a frame that does not straddle a chunk boundary is never copied and costs no view
 * object; only the tail of a chunk that holds part of a frame is copied aside.
 *
 * Writers return arrays carved from slab.ts (see there: write them out, never detach them).
 *
 * @module
 */
import { allocate } from "../../common/slab.ts";

/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE: Uint8Array = Uint8Array.from(
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
  (c) => c.charCodeAt(0),
);

const MAGIC_PREFIX = "PRI * HTTP/2";

/**
 * Whether a new connection's first bytes are HTTP/2 (`codec_type: AUTO` without ALPN). As
 * Envoy's determineNextProtocol, only the first 12 bytes of the preface are compared, and a
 * first read shorter than that is HTTP/1.
 */
export function startsWithHttp2Preface(chunk: Uint8Array): boolean {
  if (chunk.length < MAGIC_PREFIX.length) return false;
  for (let i = 0; i < MAGIC_PREFIX.length; i++) {
    if (chunk[i] !== MAGIC_PREFIX.charCodeAt(i)) return false;
  }
  return true;
}

/** Size of a frame header. */
export const FRAME_HEADER_SIZE = 9;

// Frame types (§6).
export const DATA = 0x0;
export const HEADERS = 0x1;
export const PRIORITY = 0x2;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

// Flags.
export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

// Error codes (§7).
export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const INTERNAL_ERROR = 0x2;
export const FLOW_CONTROL_ERROR = 0x3;
export const SETTINGS_TIMEOUT = 0x4;
export const STREAM_CLOSED = 0x5;
export const FRAME_SIZE_ERROR = 0x6;
export const REFUSED_STREAM = 0x7;
export const CANCEL = 0x8;
export const COMPRESSION_ERROR = 0x9;
export const CONNECT_ERROR = 0xa;
export const ENHANCE_YOUR_CALM = 0xb;
export const INADEQUATE_SECURITY = 0xc;
export const HTTP_1_1_REQUIRED = 0xd;

// Settings (§6.5.2, RFC 8441 §3).
export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;
export const SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8;

/** Smallest and largest SETTINGS_MAX_FRAME_SIZE (§6.5.2). */
export const MIN_MAX_FRAME_SIZE = 16384;
export const MAX_MAX_FRAME_SIZE = 16777215;
/** Largest flow-control window (§6.9.1). */
export const MAX_WINDOW = 0x7fffffff;
/** Window every stream and the connection start with (§6.9.2). */
export const DEFAULT_WINDOW = 65535;

/** Receives the frames a `FrameReader` cuts. */
export interface FrameHandler {
  /**
   * One whole frame; its payload is `buf[start, end)`, valid only during the call. Returns
   * false to stop reading (a connection error: the rest of the input is dropped).
   */
  onFrame(
    type: number,
    flags: number,
    streamId: number,
    buf: Uint8Array,
    start: number,
    end: number,
  ): boolean;
}

/** Cuts a byte stream into frames, across chunk boundaries. */
export class FrameReader {
  /** Largest payload accepted: our SETTINGS_MAX_FRAME_SIZE. */
  maxFrameSize = MIN_MAX_FRAME_SIZE;
  readonly #handler: FrameHandler;
  /** The start of a frame that straddles chunks. */
  #pending = new Uint8Array(0);
  #pendingLen = 0;
  #stopped = false;

  /** A reader that hands frames to `handler`. */
  constructor(handler: FrameHandler) {
    this.#handler = handler;
  }

  /** Whether the handler stopped reading or a frame was too large. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Reads `buf[start, end)`. Returns FRAME_SIZE_ERROR when a frame's length is above
   * `maxFrameSize` (a connection error, §4.2), else NO_ERROR.
   */
  feed(buf: Uint8Array, start = 0, end = buf.length): number {
    if (this.#stopped) return NO_ERROR;
    let pos = start;
    if (this.#pendingLen > 0) {
      pos = this.#fillPending(buf, pos, end);
      if (pos < 0) return FRAME_SIZE_ERROR;
      if (this.#pendingLen < FRAME_HEADER_SIZE || this.#pendingLen < this.#pendingNeed()) {
        return NO_ERROR;
      }
      const p = this.#pending;
      this.#pendingLen = 0;
      if (!this.#emit(p, 0)) return NO_ERROR;
    }
    while (end - pos >= FRAME_HEADER_SIZE) {
      const length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
      if (length > this.maxFrameSize) {
        this.#stopped = true;
        return FRAME_SIZE_ERROR;
      }
      if (end - pos < FRAME_HEADER_SIZE + length) break;
      if (!this.#emit(buf, pos)) return NO_ERROR;
      pos += FRAME_HEADER_SIZE + length;
    }
    if (pos < end) {
      this.#pendingLen = 0;
      if (this.#fillPending(buf, pos, end) < 0) return FRAME_SIZE_ERROR;
    }
    return NO_ERROR;
  }

  /** Bytes the pending frame needs in all (its header says how many once it is complete). */
  #pendingNeed(): number {
    const p = this.#pending;
    return FRAME_HEADER_SIZE + ((p[0] << 16) | (p[1] << 8) | p[2]);
  }

  /** Copies input into the pending frame; returns the new position, or -1 if it is too large. */
  #fillPending(buf: Uint8Array, pos: number, end: number): number {
    if (this.#pendingLen < FRAME_HEADER_SIZE) {
      const take = Math.min(FRAME_HEADER_SIZE - this.#pendingLen, end - pos);
      if (this.#pending.length < FRAME_HEADER_SIZE) this.#pending = new Uint8Array(256);
      this.#pending.set(buf.subarray(pos, pos + take), this.#pendingLen);
      this.#pendingLen += take;
      pos += take;
      if (this.#pendingLen < FRAME_HEADER_SIZE) return pos;
      const need = this.#pendingNeed();
      if (need - FRAME_HEADER_SIZE > this.maxFrameSize) {
        this.#stopped = true;
        return -1;
      }
      if (this.#pending.length < need) {
        const grown = new Uint8Array(need);
        grown.set(this.#pending.subarray(0, this.#pendingLen));
        this.#pending = grown;
      }
    }
    const need = this.#pendingNeed();
    const take = Math.min(need - this.#pendingLen, end - pos);
    this.#pending.set(buf.subarray(pos, pos + take), this.#pendingLen);
    this.#pendingLen += take;
    return pos + take;
  }

  /** Hands the frame at `buf[pos]` to the handler; false if it stopped reading. */
  #emit(buf: Uint8Array, pos: number): boolean {
    const length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
    const streamId = ((buf[pos + 5] & 0x7f) << 24) | (buf[pos + 6] << 16) | (buf[pos + 7] << 8) |
      buf[pos + 8];
    const ok = this.#handler.onFrame(
      buf[pos + 3],
      buf[pos + 4],
      streamId,
      buf,
      pos + FRAME_HEADER_SIZE,
      pos + FRAME_HEADER_SIZE + length,
    );
    if (!ok) this.#stopped = true;
    return ok;
  }
}

/** Reads a big-endian 32-bit unsigned integer. */
export function u32(buf: Uint8Array, pos: number): number {
  return ((buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]) >>> 0;
}

/** Writes a frame header at `out[pos]`; returns the position after it. */
export function writeFrameHeader(
  out: Uint8Array,
  pos: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): number {
  out[pos] = length >>> 16;
  out[pos + 1] = length >>> 8;
  out[pos + 2] = length;
  out[pos + 3] = type;
  out[pos + 4] = flags;
  out[pos + 5] = streamId >>> 24;
  out[pos + 6] = streamId >>> 16;
  out[pos + 7] = streamId >>> 8;
  out[pos + 8] = streamId;
  return pos + FRAME_HEADER_SIZE;
}

function putU32(out: Uint8Array, pos: number, v: number): void {
  out[pos] = v >>> 24;
  out[pos + 1] = v >>> 16;
  out[pos + 2] = v >>> 8;
  out[pos + 3] = v;
}

/** A SETTINGS frame with `[id, value, id, value, ...]`. */
export function settingsFrame(settings: readonly number[]): Uint8Array {
  const n = settings.length >> 1;
  const out = allocate(FRAME_HEADER_SIZE + n * 6);
  let pos = writeFrameHeader(out, 0, n * 6, SETTINGS, 0, 0);
  for (let i = 0; i < settings.length; i += 2) {
    out[pos] = settings[i] >>> 8;
    out[pos + 1] = settings[i];
    putU32(out, pos + 2, settings[i + 1]);
    pos += 6;
  }
  return out;
}

/** A SETTINGS frame with the ACK flag. */
export function settingsAckFrame(): Uint8Array {
  const out = allocate(FRAME_HEADER_SIZE);
  writeFrameHeader(out, 0, 0, SETTINGS, FLAG_ACK, 0);
  return out;
}

/** A PING frame carrying `buf[start, start + 8)`. */
export function pingFrame(ack: boolean, buf: Uint8Array, start: number): Uint8Array {
  const out = allocate(FRAME_HEADER_SIZE + 8);
  writeFrameHeader(out, 0, 8, PING, ack ? FLAG_ACK : 0, 0);
  out.set(buf.subarray(start, start + 8), FRAME_HEADER_SIZE);
  return out;
}

/** A GOAWAY frame. */
export function goawayFrame(lastStreamId: number, code: number, debug = ""): Uint8Array {
  const out = allocate(FRAME_HEADER_SIZE + 8 + debug.length);
  writeFrameHeader(out, 0, 8 + debug.length, GOAWAY, 0, 0);
  putU32(out, FRAME_HEADER_SIZE, lastStreamId & MAX_WINDOW);
  putU32(out, FRAME_HEADER_SIZE + 4, code);
  for (let i = 0; i < debug.length; i++) out[FRAME_HEADER_SIZE + 8 + i] = debug.charCodeAt(i);
  return out;
}

/** A RST_STREAM frame. */
export function rstStreamFrame(streamId: number, code: number): Uint8Array {
  const out = allocate(FRAME_HEADER_SIZE + 4);
  writeFrameHeader(out, 0, 4, RST_STREAM, 0, streamId);
  putU32(out, FRAME_HEADER_SIZE, code);
  return out;
}

/** A WINDOW_UPDATE frame (stream 0: the connection window). */
export function windowUpdateFrame(streamId: number, increment: number): Uint8Array {
  const out = allocate(FRAME_HEADER_SIZE + 4);
  writeFrameHeader(out, 0, 4, WINDOW_UPDATE, 0, streamId);
  putU32(out, FRAME_HEADER_SIZE, increment);
  return out;
}

/** A PRIORITY frame (tests and clients; denvoy never prioritizes). */
export function priorityFrame(
  streamId: number,
  dependency: number,
  weight: number,
  exclusive = false,
): Uint8Array {
  const out = allocate(FRAME_HEADER_SIZE + 5);
  writeFrameHeader(out, 0, 5, PRIORITY, 0, streamId);
  putU32(out, FRAME_HEADER_SIZE, (dependency | (exclusive ? 0x80000000 : 0)) >>> 0);
  out[FRAME_HEADER_SIZE + 4] = weight;
  return out;
}

/** A DATA frame carrying a copy of `data` (its length must fit the peer's max frame size). */
export function dataFrame(streamId: number, data: Uint8Array, endStream: boolean): Uint8Array {
  const out = allocate(FRAME_HEADER_SIZE + data.length);
  writeFrameHeader(out, 0, data.length, DATA, endStream ? FLAG_END_STREAM : 0, streamId);
  out.set(data, FRAME_HEADER_SIZE);
  return out;
}

/**
 * A generic frame (tests, and frames denvoy sends rarely): header plus a copy of `payload`.
 */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

/**
 * Where the content of a padded frame (DATA, HEADERS, PUSH_PROMISE) starts and ends once the
 * Pad Length field and the padding are removed (§6.1); -1 when the padding is at least as
 * long as the payload (a PROTOCOL_ERROR). `extra` is the fixed fields after the Pad Length
 * (5 for HEADERS with PRIORITY).
 * The start is returned; the end is `end - padding`, read with `paddedEnd`.
 */
export function paddedStart(
  buf: Uint8Array,
  start: number,
  end: number,
  flags: number,
  extra: number,
): number {
  if ((flags & FLAG_PADDED) === 0) return end - start < extra ? -1 : start + extra;
  if (end - start < 1) return -1;
  const pad = buf[start];
  if (pad + 1 + extra > end - start) return -1;
  return start + 1 + extra;
}

/** End of the content of a padded frame (see `paddedStart`, which must have succeeded). */
export function paddedEnd(buf: Uint8Array, start: number, end: number, flags: number): number {
  return (flags & FLAG_PADDED) === 0 ? end : end - buf[start];
}
