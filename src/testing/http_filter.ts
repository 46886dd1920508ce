/**
 * Test support for HTTP filters that read their route: a route table from proto JSON, and one
 * request run through a filter chain whose sink records what leaves it.
 *
 * @module
 */
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { HttpFilterFactoryCb } from "../http/filter.ts";
import { FilterManager, type StreamSink } from "../http/filter_manager.ts";
import { HeaderMap } from "../http/header_map.ts";
import { type MatchedRoute, RouteTable } from "../router/route_table.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";

/** A route table from RouteConfiguration proto JSON. */
export function routeTable(json: JsonValue): RouteTable {
  const schema = messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
  return new RouteTable(fromJson(schema, json, { registry: apiRegistry() }));
}

/** What one request produced: the response headers, a local reply, or neither (forwarded). */
export interface Exchange {
  streamInfo: StreamInfo;
  /** Response headers written downstream. */
  response?: HeaderMap;
  /** Status and body of a local reply. */
  localReply?: { status: number; body: string; details?: string };
  /** Whether the request went past every filter (to where the router would be). */
  forwarded: boolean;
}

/**
 * Runs a header-only request through `filters` on `table`'s route for it. When the request
 * gets past every filter, `upstream` (if given) is sent back through the encoders as the
 * response.
 */
export function exchange(
  table: RouteTable,
  filters: HttpFilterFactoryCb[],
  request: Record<string, string>,
  upstream?: Record<string, string>,
): Exchange {
  const headers = HeaderMap.from(Object.entries({ ":authority": "example.com", ...request }));
  const out: Exchange = { streamInfo: new StreamInfo(), forwarded: false };
  const sink = {
    streamInfo: out.streamInfo,
    route: () => table.route({ headers, random: 0 }),
    writeHeaders: (h: HeaderMap) => out.response = h,
    writeData: () => {},
    writeTrailers: () => {},
    localReply: (status: number, body: string, opts?: { details?: string }) =>
      out.localReply = { status, body, details: opts?.details },
  } as unknown as StreamSink;
  const terminal: HttpFilterFactoryCb = () => ({
    decoder: {
      decodeHeaders: () => {
        out.forwarded = true;
        return "stop";
      },
    },
  });
  const fm = new FilterManager(sink, [...filters, terminal]);
  fm.decodeHeaders(headers, true);
  if (out.forwarded && upstream) {
    fm.encodeHeaders(HeaderMap.from(Object.entries({ ":status": "200", ...upstream })), true);
  }
  return out;
}

/** What a `recordingChain` saw: what left downstream, and what reached its terminal filter. */
export interface RecordedStream {
  fm: FilterManager;
  /** Written downstream (the encoders' output). */
  out: { headers?: HeaderMap; data: Uint8Array[] };
  /** Reached the terminal filter (where the router would be: the decoders' output). */
  up: { headers?: HeaderMap; data: Uint8Array[] };
}

/**
 * A filter manager running `filters` then a terminal filter that records what reaches it, over
 * a sink that records what is written downstream; `route` is the stream's matched route.
 */
export function recordingChain(
  filters: HttpFilterFactoryCb[],
  route?: MatchedRoute,
): RecordedStream {
  const out: RecordedStream["out"] = { data: [] };
  const up: RecordedStream["up"] = { data: [] };
  const sink: StreamSink = {
    streamInfo: new StreamInfo(),
    connection: { id: 1, remoteAddress: "127.0.0.1:1", localAddress: "127.0.0.1:2" },
    route: () => route,
    clearRouteCache: () => {},
    perFilterConfig: () => undefined,
    localReply: () => {},
    writeHeaders: (h) => out.headers = h,
    writeData: (d) => out.data.push(d),
    writeTrailers: () => {},
    reset: () => {},
    onBug: (e) => {
      throw e;
    },
    readDisable: () => {},
    writable: () => true,
    onWritable: () => {},
    bufferLimit: 1 << 20,
    recreateStream: () => {},
  };
  const terminal: HttpFilterFactoryCb = () => ({
    decoder: {
      decodeHeaders: (h) => {
        up.headers = h;
        return "continue";
      },
      decodeData: (d) => {
        up.data.push(d);
        return "continue";
      },
    },
  });
  return { fm: new FilterManager(sink, [...filters, terminal]), out, up };
}
