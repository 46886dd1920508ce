/**
 * The HTTP filter API: what every HTTP filter (router, cors, jwt_authn, ext_authz, lua, ...)
 * is built on, shaped like Envoy's StreamDecoderFilter / StreamEncoderFilter.
 *
 * Decoder filters see the request in config order, encoder filters the response in reverse
 * order. A filter returning "stop" pauses the chain; it resumes with `continueDecoding()` /
 * `continueEncoding()`. Body data that arrives while a filter has stopped headers is buffered
 * and delivered on continue, as in Envoy.
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { MatchedRoute, RouteTable } from "../router/route_table.ts";
import type { StreamInfo } from "../stream_info/stream_info.ts";
import type { HeaderMap } from "./header_map.ts";
import type { MetadataMap } from "./http2/metadata.ts";

/** Result of a headers callback. */
export type FilterHeadersStatus = "continue" | "stop";
/** Result of a data callback: go on, hold the data (buffered for later), or drop it here. */
export type FilterDataStatus = "continue" | "stopAndBuffer" | "stopNoBuffer";
/** Result of a trailers callback. */
export type FilterTrailersStatus = "continue" | "stop";

/** A filter on the request path. */
export interface StreamDecoderFilter {
  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus;
  decodeData?(data: Uint8Array, endStream: boolean): FilterDataStatus;
  decodeTrailers?(trailers: HeaderMap): FilterTrailersStatus;
  /** A request metadata map (HTTP/2 METADATA); it goes on to the next filter. */
  decodeMetadata?(metadata: MetadataMap): void;
  /** The stream ended (completed or reset); release resources. */
  onDestroy?(): void;
}

/** A filter on the response path. */
export interface StreamEncoderFilter {
  encodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus;
  encodeData?(data: Uint8Array, endStream: boolean): FilterDataStatus;
  encodeTrailers?(trailers: HeaderMap): FilterTrailersStatus;
  /** A response metadata map (HTTP/2 METADATA); it goes on to the next filter. */
  encodeMetadata?(metadata: MetadataMap): void;
  onDestroy?(): void;
}

/** Options of a locally generated response. */
export interface LocalReplyOptions {
  /** RESPONSE_CODE_DETAILS, e.g. "route_not_found". */
  details?: string;
  /** Adds or changes headers of the reply. */
  modifyHeaders?: (headers: HeaderMap) => void;
  /** gRPC requests get a trailers-only gRPC error instead (later issue). */
  grpcStatus?: number;
}

/** What a filter can do with its stream. */
export interface StreamFilterCallbacks {
  readonly streamInfo: StreamInfo;
  /** The request headers (after filters that ran before this one changed them). */
  readonly requestHeaders: HeaderMap;
  /** Connection id and addresses of the downstream connection. */
  readonly connection: { id: number; remoteAddress: string; localAddress: string };
  /** The route for the current headers (computed once, until clearRouteCache()). */
  route(): MatchedRoute | undefined;
  /** Forget the cached route (a filter changed headers that routing depends on). */
  clearRouteCache(): void;
  /** The route table the stream routes with (Envoy's routeConfig()): its name, `vhds`. */
  routeTable?(): RouteTable | undefined;
  /**
   * With scoped routes: the request's scope when it is `on_demand` (SRDS), with the
   * `scoped_routes` name and the route configuration it loads.
   */
  onDemandScope?(): { scopedRoutes: string; routeConfig: string } | undefined;
  /**
   * Per-route config of the named filter: the most specific level that has one (weighted
   * cluster, route, virtual host, route configuration).
   */
  perFilterConfig(filterName: string): Any | undefined;
  /** Resume the request path after this filter returned "stop". */
  continueDecoding(): void;
  /** Resume the response path after this filter returned "stop". */
  continueEncoding(): void;
  /** Answer the request from here; filters after this one do not see it. */
  sendLocalReply(status: number, body: string, opts?: LocalReplyOptions): void;
  /** Produce the response (the terminal filter does this); runs the encoder filters. */
  encodeHeaders(headers: HeaderMap, endStream: boolean): void;
  encodeData(data: Uint8Array, endStream: boolean): void;
  encodeTrailers(trailers: HeaderMap): void;
  /** Sends a response metadata map through the encoder filters (Envoy's encodeMetadata). */
  encodeMetadata(metadata: MetadataMap): void;
  /**
   * From an encoder filter's callback: sends `data` on through the encoder filters after this
   * one (Envoy's injectEncodedDataToFilterChain), e.g. a transformed body chunk, or from
   * `encodeTrailers` a chunk that goes out ahead of the trailers (gRPC-Web puts them there).
   */
  injectEncodedDataToFilterChain(data: Uint8Array, endStream: boolean): void;
  /**
   * From a decoder filter's callback: sends `data` on through the decoder filters after this
   * one (Envoy's injectDecodedDataToFilterChain), e.g. a decoded request body chunk.
   */
  injectDecodedDataToFilterChain(data: Uint8Array, endStream: boolean): void;
  /** Abort the stream: downstream gets a reset (or a closed connection on HTTP/1). */
  resetStream(details: string): void;
  /**
   * An exception escaped this stream's code in an entry point the filter owns (a timer, a
   * promise continuation); it was counted and logged. The stream ends: a 500 local reply if
   * nothing was sent yet, else a reset (see common/error_boundary.ts).
   */
  onBug(error: unknown): void;
  /** Stop (true) or resume (false) reading request data from downstream: flow control. */
  readDisableDownstream(disable: boolean): void;
  /** Whether the downstream connection can take more response bytes now. */
  downstreamWritable(): boolean;
  /** Called once when the downstream connection drains below its buffer limit. */
  onDownstreamWritable(cb: () => void): void;
  /** Bytes of request body a filter may buffer (the listener's per-connection buffer limit). */
  readonly decoderBufferLimit: number;
  /**
   * Ends this stream without a response and replays the complete request (`headers`, `body`)
   * on a new stream through a new filter chain: Envoy's `recreateStream`, for internal
   * redirects. This filter is destroyed before the call returns.
   */
  recreateStream(headers: HeaderMap, body: Uint8Array | undefined): void;
}

/** A filter instance for one stream: decoder, encoder, or both. */
export interface StreamFilter {
  decoder?: StreamDecoderFilter;
  encoder?: StreamEncoderFilter;
}

/** Creates one filter instance per stream. */
export type HttpFilterFactoryCb = (callbacks: StreamFilterCallbacks) => StreamFilter;
