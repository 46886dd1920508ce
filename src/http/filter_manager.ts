/**
 * Runs one stream's HTTP filters: request events through the decoder filters in order, response
 * events through the encoder filters in reverse order, with stop/continue and buffering.
 *
 * A simplification of Envoy's filter manager, kept deliberately: when a decoder filter stops
 * headers, later request data is buffered until it continues (Envoy's StopAllIterationAndBuffer;
 * the router is exempt because it is terminal and consumes data itself). Data a filter stops
 * with "stopAndBuffer" is held and handed on, as one chunk, when that filter continues.
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { MatchedRoute, RouteTable } from "../router/route_table.ts";
import type { StreamInfo } from "../stream_info/stream_info.ts";
import type {
  LocalReplyOptions,
  StreamDecoderFilter,
  StreamEncoderFilter,
  StreamFilter,
  StreamFilterCallbacks,
} from "./filter.ts";
import type { HeaderMap } from "./header_map.ts";
import type { MetadataMap } from "./http2/metadata.ts";

/** The codec side of a stream: where the filter manager's output goes. */
export interface StreamSink {
  readonly streamInfo: StreamInfo;
  readonly connection: { id: number; remoteAddress: string; localAddress: string };
  route(): MatchedRoute | undefined;
  clearRouteCache(): void;
  routeTable?(): RouteTable;
  onDemandScope?(): { scopedRoutes: string; routeConfig: string } | undefined;
  perFilterConfig(filterName: string): Any | undefined;
  /** Builds and sends a local reply (through encoder filters via `encodeHeaders`/`encodeData`). */
  localReply(status: number, body: string, opts?: LocalReplyOptions): void;
  writeHeaders(headers: HeaderMap, endStream: boolean): void;
  writeData(data: Uint8Array, endStream: boolean): void;
  writeTrailers(trailers: HeaderMap): void;
  /** A response metadata map after the encoder filters; a sink without it drops metadata. */
  writeMetadata?(metadata: MetadataMap): void;
  reset(details: string): void;
  /** An exception escaped this stream's code: end it (see StreamFilterCallbacks.onBug). */
  onBug(error: unknown): void;
  readDisable(disable: boolean): void;
  writable(): boolean;
  onWritable(cb: () => void): void;
  /** The downstream connection's buffer limit (per_connection_buffer_limit_bytes). */
  readonly bufferLimit: number;
  /** Ends the stream without a response and replays the request on a new one. */
  recreateStream(headers: HeaderMap, body: Uint8Array | undefined): void;
}

/** The chunks as one array (the only chunk itself when there is one). */
export function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

const NO_ITEMS: readonly never[] = [];

/**
 * A new empty array without a V8 allocation site (a slice, not a `[]` literal), for the arrays
 * every stream makes. Under connection churn V8 was seen to pretenure these literals' sites:
 * their arrays were then born in the old generation and, once dead, kept the stream they point
 * to (filters, callbacks, the whole request) alive through every scavenge until the next
 * mark-compact, ~4 KB promoted per request instead of ~0.2 KB (see bench/RESULTS.md).
 */
function streamList<T>(): T[] {
  return NO_ITEMS.slice();
}

/** Where FilterManager's constructor gathers a stream's filters (cleared after each use). */
const scratchDecoders: (StreamDecoderFilter | undefined)[] = [];
const scratchEncoders: (StreamEncoderFilter | undefined)[] = [];

/** Per-direction iteration state. */
class Direction {
  /** Index of the next filter to get headers; `length` when headers went all the way. */
  headersAt = 0;
  headersStopped = false;
  /** Data held while headers are stopped, or by a filter that returned stopAndBuffer. */
  held: Uint8Array[] = streamList();
  heldEnd = false;
  /** Filter index that holds data via stopAndBuffer, or -1. */
  dataStoppedAt = -1;
  /** Filter index that stopped the trailers, or -1 (response path only). */
  trailersStoppedAt = -1;
  trailers: HeaderMap | undefined;
  headers: HeaderMap | undefined;
  headersEnd = false;
  done = false;
}

/** One stream's filter chain. */
export class FilterManager {
  readonly #decoders: StreamDecoderFilter[];
  readonly #encoders: StreamEncoderFilter[];
  readonly #dec = new Direction();
  readonly #enc = new Direction();
  #destroyed = false;
  /** Encoder filters holding more response data than their limit (see filter.ts). */
  #encodersAboveLimit = 0;
  /** onDownstreamWritable callbacks waiting for those filters to drain. */
  #waitingForEncoders: (() => void)[] | undefined;
  /** True once the response started going downstream (a local reply must then reset). */
  responseStarted = false;
  localReplied = false;

  constructor(
    readonly sink: StreamSink,
    factories: ((cb: StreamFilterCallbacks) => StreamFilter)[],
  ) {
    // Gathered in shared arrays and copied out at their exact size: pushed onto an empty array,
    // each list would get room for 17 filters (~150 bytes a stream for one or two filters).
    const decoders = scratchDecoders;
    const encoders = scratchEncoders;
    let nd = 0;
    let ne = 0;
    for (const make of factories) {
      const cb = new FilterCallbacks(this);
      const f = make(cb);
      cb.decoderIndex = f.decoder ? nd : -1;
      if (f.decoder) decoders[nd++] = f.decoder;
      if (f.encoder) encoders[ne++] = f.encoder;
      cb.encoderIndex = f.encoder ? ne - 1 : -1;
    }
    this.#decoders = decoders.slice(0, nd) as StreamDecoderFilter[];
    this.#encoders = encoders.slice(0, ne) as StreamEncoderFilter[];
    // Cleared, not shortened (that would give up their backing stores): no stream is kept.
    for (let i = 0; i < nd; i++) decoders[i] = undefined;
    for (let i = 0; i < ne; i++) encoders[i] = undefined;
  }

  get requestHeaders(): HeaderMap {
    return this.#dec.headers!;
  }

  /** Request headers from the codec. */
  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.#dec.headers = headers;
    this.#dec.headersEnd = endStream;
    this.#runDecodeHeaders(0);
  }

  #runDecodeHeaders(from: number): void {
    const d = this.#dec;
    const n = this.#decoders.length;
    for (let i = from; i < n; i++) {
      d.headersAt = i;
      const st = this.#decoders[i].decodeHeaders(d.headers!, d.headersEnd);
      if (this.#destroyed || this.localReplied) return;
      if (st === "stop" && i < n - 1) {
        d.headersStopped = true;
        return;
      }
    }
    d.headersAt = n;
    d.headersStopped = false;
    this.#releaseDecodeHeld();
  }

  /** Request body data from the codec. */
  decodeData(data: Uint8Array, endStream: boolean): void {
    const d = this.#dec;
    if (d.headersStopped || d.dataStoppedAt >= 0) {
      d.held.push(data);
      d.heldEnd = endStream;
      return;
    }
    this.#runDecodeData(0, data, endStream);
  }

  #runDecodeData(from: number, data: Uint8Array, endStream: boolean): void {
    const d = this.#dec;
    for (let i = from; i < this.#decoders.length; i++) {
      const f = this.#decoders[i];
      if (!f.decodeData) continue;
      const st = f.decodeData(data, endStream);
      if (this.#destroyed || this.localReplied) return;
      if (st === "stopAndBuffer") {
        d.dataStoppedAt = i;
        d.held.push(data);
        d.heldEnd = endStream;
        return;
      }
      if (st === "stopNoBuffer") return;
    }
    if (endStream && d.trailers) this.#runDecodeTrailers(0);
  }

  /**
   * A request metadata map from the codec: every decoder filter sees it in order (a filter
   * that stopped the headers does not hold metadata back, as Envoy's StopIteration does not).
   */
  decodeMetadata(metadata: MetadataMap): void {
    const all = this.#decoders;
    for (let i = 0; i < all.length && !this.#destroyed; i++) all[i].decodeMetadata?.(metadata);
  }

  /** A response metadata map from the terminal filter: the encoder filters, then the sink. */
  encodeMetadata(metadata: MetadataMap): void {
    const all = this.#encoders;
    for (let i = all.length - 1; i >= 0; i--) {
      all[i].encodeMetadata?.(metadata);
      if (this.#destroyed) return;
    }
    this.sink.writeMetadata?.(metadata);
  }

  /** Request trailers from the codec. */
  decodeTrailers(trailers: HeaderMap): void {
    const d = this.#dec;
    d.trailers = trailers;
    if (d.headersStopped || d.dataStoppedAt >= 0) return;
    this.#runDecodeTrailers(0);
  }

  #runDecodeTrailers(from: number): void {
    const d = this.#dec;
    for (let i = from; i < this.#decoders.length; i++) {
      const f = this.#decoders[i];
      if (!f.decodeTrailers) continue;
      const st = f.decodeTrailers(d.trailers!);
      if (this.#destroyed || this.localReplied || st === "stop") return;
    }
  }

  #releaseDecodeHeld(): void {
    const d = this.#dec;
    const from = d.dataStoppedAt >= 0 ? d.dataStoppedAt + 1 : 0;
    d.dataStoppedAt = -1;
    if (d.held.length > 0 || (d.heldEnd && !d.headersEnd)) {
      const data = concat(d.held);
      d.held = streamList();
      this.#runDecodeData(from, data, d.heldEnd);
    } else if (d.trailers) this.#runDecodeTrailers(from);
  }

  /** A decoder filter asked to go on. */
  continueDecoding(index: number): void {
    const d = this.#dec;
    if (this.#destroyed || this.localReplied) return;
    if (d.headersStopped && index === d.headersAt) this.#runDecodeHeaders(index + 1);
    else if (d.dataStoppedAt === index) this.#releaseDecodeHeld();
  }

  /** Response headers from the terminal filter (or a local reply). */
  encodeHeaders(headers: HeaderMap, endStream: boolean, from = 0): void {
    const e = this.#enc;
    e.headers = headers;
    e.headersEnd = endStream;
    this.#runEncodeHeaders(from);
  }

  #runEncodeHeaders(from: number): void {
    const e = this.#enc;
    const n = this.#encoders.length;
    // Encoders run in reverse config order: index 0 here is the last configured filter.
    for (let i = from; i < n; i++) {
      e.headersAt = i;
      const st = this.#encoders[n - 1 - i].encodeHeaders(e.headers!, e.headersEnd);
      if (this.#destroyed) return;
      if (st === "stop") {
        e.headersStopped = true;
        return;
      }
    }
    e.headersAt = n;
    e.headersStopped = false;
    this.responseStarted = true;
    this.sink.writeHeaders(e.headers!, e.headersEnd);
    this.#releaseEncodeHeld();
  }

  /** Response data from the terminal filter. */
  encodeData(data: Uint8Array, endStream: boolean): void {
    const e = this.#enc;
    if (e.headersStopped && e.dataStoppedAt < 0 && e.held.length === 0) {
      // As in Envoy, the filters that saw the headers (the one that stopped them included)
      // see the data; it waits for the others.
      this.#encodeDataWhileHeadersStopped(data, endStream);
      return;
    }
    if (e.headersStopped || e.dataStoppedAt >= 0) {
      e.held.push(data);
      e.heldEnd = endStream;
      return;
    }
    this.#runEncodeData(0, data, endStream);
  }

  #runEncodeData(from: number, data: Uint8Array, endStream: boolean): void {
    const e = this.#enc;
    const n = this.#encoders.length;
    for (let i = from; i < n; i++) {
      const f = this.#encoders[n - 1 - i];
      if (!f.encodeData) continue;
      const st = f.encodeData(data, endStream);
      if (this.#destroyed) return;
      if (st === "stopAndBuffer") {
        e.dataStoppedAt = i;
        e.held.push(data);
        e.heldEnd = endStream;
        return;
      }
      if (st === "stopNoBuffer") return;
    }
    this.sink.writeData(data, endStream && !e.trailers);
    if (endStream && e.trailers) this.#runEncodeTrailers(0);
  }

  /** Data while an encoder filter holds the headers: up to it, then held for the rest. */
  #encodeDataWhileHeadersStopped(data: Uint8Array, endStream: boolean): void {
    const e = this.#enc;
    const n = this.#encoders.length;
    const stopper = e.headersAt;
    for (let i = 0; i <= stopper; i++) {
      const f = this.#encoders[n - 1 - i];
      if (!f.encodeData) continue;
      const st = f.encodeData(data, endStream);
      if (this.#destroyed || st === "stopNoBuffer") return;
      if (st === "stopAndBuffer") {
        e.dataStoppedAt = i;
        break;
      }
    }
    // The filter may have let the headers go on meanwhile.
    if (!e.headersStopped && e.dataStoppedAt < 0) {
      this.#runEncodeData(stopper + 1, data, endStream);
      return;
    }
    if (e.dataStoppedAt < 0) e.dataStoppedAt = stopper;
    e.held.push(data);
    e.heldEnd = endStream;
  }

  /** Response trailers from the terminal filter. */
  encodeTrailers(trailers: HeaderMap): void {
    const e = this.#enc;
    if (e.headersStopped && e.dataStoppedAt < 0 && e.held.length === 0) {
      // The filters that saw the headers see the trailers (e.g. to complete held headers).
      const n = this.#encoders.length;
      const stopper = e.headersAt;
      for (let i = 0; i <= stopper; i++) {
        const f = this.#encoders[n - 1 - i];
        if (!f.encodeTrailers) continue;
        if (f.encodeTrailers(trailers) === "stop" || this.#destroyed) return;
      }
      e.trailers = trailers;
      if (!e.headersStopped && e.dataStoppedAt < 0 && e.held.length === 0) {
        this.#runEncodeTrailers(stopper + 1);
      } else e.dataStoppedAt = stopper;
      return;
    }
    e.trailers = trailers;
    if (e.headersStopped || e.dataStoppedAt >= 0) return;
    this.#runEncodeTrailers(0);
  }

  #runEncodeTrailers(from: number): void {
    const e = this.#enc;
    const n = this.#encoders.length;
    for (let i = from; i < n; i++) {
      const f = this.#encoders[n - 1 - i];
      if (!f.encodeTrailers) continue;
      const st = f.encodeTrailers(e.trailers!);
      if (this.#destroyed) return;
      if (st === "stop") {
        // Held until that filter continues (e.g. after the body it paces went out).
        e.trailersStoppedAt = i;
        return;
      }
    }
    this.sink.writeTrailers(e.trailers!);
  }

  #releaseEncodeHeld(): void {
    const e = this.#enc;
    const from = e.dataStoppedAt >= 0 ? e.dataStoppedAt + 1 : 0;
    e.dataStoppedAt = -1;
    if (e.held.length > 0 || (e.heldEnd && !e.headersEnd)) {
      const data = concat(e.held);
      e.held = streamList();
      this.#runEncodeData(from, data, e.heldEnd);
    } else if (e.trailers) this.#runEncodeTrailers(from);
  }

  /** An encoder filter asked to go on (`index` in reverse order, as iterated). */
  continueEncoding(index: number): void {
    const e = this.#enc;
    if (this.#destroyed) return;
    if (e.headersStopped && index === e.headersAt) this.#runEncodeHeaders(index + 1);
    else if (e.dataStoppedAt === index) this.#releaseEncodeHeld();
    else if (e.trailersStoppedAt === index) {
      e.trailersStoppedAt = -1;
      this.#runEncodeTrailers(index + 1);
    }
  }

  /** Response data an encoder filter injects; `from`: the next filter's position. */
  injectEncodedData(from: number, data: Uint8Array, endStream: boolean): void {
    if (this.#destroyed) return;
    this.#runEncodeData(from, data, endStream);
  }

  /** Request data a decoder filter injects; `from`: the next filter's index. */
  injectDecodedData(from: number, data: Uint8Array, endStream: boolean): void {
    if (this.#destroyed || this.localReplied) return;
    this.#runDecodeData(from, data, endStream);
  }

  /** Position of an encoder (config index) in iteration order. */
  encoderIterationIndex(configIndex: number): number {
    return this.#encoders.length - 1 - configIndex;
  }

  /** Whether response bytes can go on: the codec's buffer and the encoder filters'. */
  writable(): boolean {
    return this.#encodersAboveLimit === 0 && this.sink.writable();
  }

  /** Calls `cb` once the stream is writable again. */
  onWritable(cb: () => void): void {
    if (this.#encodersAboveLimit > 0) (this.#waitingForEncoders ??= streamList()).push(cb);
    else this.sink.onWritable(cb);
  }

  /** An encoder filter holds more than its limit (onEncoderFilterAboveWriteBufferHighWatermark). */
  encoderAboveLimit(): void {
    this.#encodersAboveLimit++;
  }

  /** That filter drained: once none is above its limit, the waiting callbacks run. */
  encoderBelowLimit(): void {
    if (this.#encodersAboveLimit === 0 || --this.#encodersAboveLimit > 0) return;
    const waiting = this.#waitingForEncoders;
    this.#waitingForEncoders = undefined;
    if (waiting === undefined || this.#destroyed) return;
    for (const cb of waiting) {
      if (this.sink.writable()) cb();
      else this.sink.onWritable(cb);
    }
  }

  /** Ends every filter's life. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const f of this.#decoders) f.onDestroy?.();
    for (const f of this.#encoders) if (!this.#decoders.includes(f as never)) f.onDestroy?.();
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }
}

/** The callbacks one filter gets: its position makes continue resume after it. */
class FilterCallbacks implements StreamFilterCallbacks {
  decoderIndex = -1;
  encoderIndex = -1;

  constructor(readonly fm: FilterManager) {}

  get streamInfo(): StreamInfo {
    return this.fm.sink.streamInfo;
  }
  get requestHeaders(): HeaderMap {
    return this.fm.requestHeaders;
  }
  get connection() {
    return this.fm.sink.connection;
  }
  route(): MatchedRoute | undefined {
    return this.fm.sink.route();
  }
  clearRouteCache(): void {
    this.fm.sink.clearRouteCache();
  }
  routeTable(): RouteTable | undefined {
    return this.fm.sink.routeTable?.();
  }
  onDemandScope(): { scopedRoutes: string; routeConfig: string } | undefined {
    return this.fm.sink.onDemandScope?.();
  }
  perFilterConfig(name: string): Any | undefined {
    return this.fm.sink.perFilterConfig(name);
  }
  continueDecoding(): void {
    if (this.decoderIndex >= 0) this.fm.continueDecoding(this.decoderIndex);
  }
  continueEncoding(): void {
    if (this.encoderIndex >= 0) {
      this.fm.continueEncoding(this.fm.encoderIterationIndex(this.encoderIndex));
    }
  }
  sendLocalReply(status: number, body: string, opts?: LocalReplyOptions): void {
    this.fm.sink.localReply(status, body, opts);
  }
  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.fm.encodeHeaders(headers, endStream);
  }
  encodeData(data: Uint8Array, endStream: boolean): void {
    this.fm.encodeData(data, endStream);
  }
  encodeTrailers(trailers: HeaderMap): void {
    this.fm.encodeTrailers(trailers);
  }
  encodeMetadata(metadata: MetadataMap): void {
    this.fm.encodeMetadata(metadata);
  }
  injectEncodedDataToFilterChain(data: Uint8Array, endStream: boolean): void {
    if (this.encoderIndex < 0) return;
    const from = this.fm.encoderIterationIndex(this.encoderIndex) + 1;
    this.fm.injectEncodedData(from, data, endStream);
  }
  injectDecodedDataToFilterChain(data: Uint8Array, endStream: boolean): void {
    if (this.decoderIndex >= 0) this.fm.injectDecodedData(this.decoderIndex + 1, data, endStream);
  }
  resetStream(details: string): void {
    this.fm.sink.reset(details);
  }
  onBug(error: unknown): void {
    this.fm.sink.onBug(error);
  }
  readDisableDownstream(disable: boolean): void {
    this.fm.sink.readDisable(disable);
  }
  downstreamWritable(): boolean {
    return this.fm.writable();
  }
  onDownstreamWritable(cb: () => void): void {
    this.fm.onWritable(cb);
  }
  onEncoderFilterAboveWriteBufferHighWatermark(): void {
    this.fm.encoderAboveLimit();
  }
  onEncoderFilterBelowWriteBufferLowWatermark(): void {
    this.fm.encoderBelowLimit();
  }
  get decoderBufferLimit(): number {
    return this.fm.sink.bufferLimit;
  }
  recreateStream(headers: HeaderMap, body: Uint8Array | undefined): void {
    this.fm.sink.recreateStream(headers, body);
  }
}
