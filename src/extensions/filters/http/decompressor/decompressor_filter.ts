/**
 * The decompressor filter (`envoy.filters.http.decompressor`): undoes the configured library's
 * `content-encoding` on request and response bodies (each direction can be switched off by a
 * runtime flag), and advertises the encoding upstream in `accept-encoding` so responses can
 * come compressed. Only the first listed coding is undone, as in Envoy; `cache-control:
 * no-transform` leaves a body alone unless `ignore_no_transform_header`. Each chunk is inflated
 * as it passes, bounded by the library's inflate ratio: past it (a decompression bomb) the
 * library counts its error and the rest of the body is dropped.
 *
 * @module
 */
import type { HeaderMap } from "../../../../http/header_map.ts";
import type {
  FilterDataStatus,
  FilterHeadersStatus,
  HttpFilterFactoryCb,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import type { Decompressor, DecompressorLibrary } from "../../../compression/compression.ts";

/** One direction's settings. */
export interface DirectionConfig {
  enabled(): boolean;
  ignoreNoTransformHeader: boolean;
}

/** The filter's config, built once per worker. */
export interface DecompressorFilterConfig {
  library: DecompressorLibrary;
  request: DirectionConfig & { advertiseAcceptEncoding: boolean };
  response: DirectionConfig;
}

/** Each direction's counters (`<prefix>decompressor.<name>.<library>.<direction>.*`). */
export const DIRECTION_STATS = [
  "decompressed",
  "not_decompressed",
  "total_uncompressed_bytes",
  "total_compressed_bytes",
] as const;
type DirectionStats = Record<(typeof DIRECTION_STATS)[number], Counter>;

function directionStats(scope: Scope): DirectionStats {
  const out = {} as DirectionStats;
  for (const n of DIRECTION_STATS) out[n] = scope.counter(n);
  return out;
}

/** Per-stream filter factory; `scope` is `<prefix>decompressor.<name>.<library>`. */
export function decompressorFilterFactory(
  config: DecompressorFilterConfig,
  scope: Scope,
): HttpFilterFactoryCb {
  const stats = {
    request: directionStats(scope.scope("request")),
    response: directionStats(scope.scope("response")),
    library: scope.scope("decompressor_library"),
  };
  return (cb) => {
    const f = new DecompressorFilter(cb, config, stats);
    return { decoder: f, encoder: f };
  };
}

/** One direction of one stream. */
class Direction {
  #decompressor: Decompressor | undefined;

  constructor(
    readonly config: DirectionConfig,
    readonly stats: DirectionStats,
    readonly library: DecompressorLibrary,
    readonly libraryScope: Scope,
  ) {}

  /** Starts decompressing when the headers call for it, rewriting them. */
  init(headers: HeaderMap): void {
    if (
      this.config.enabled() &&
      (this.config.ignoreNoTransformHeader || !hasCacheControlNoTransform(headers)) &&
      removeFirstCoding(headers, this.library.contentEncoding)
    ) {
      this.stats.decompressed.inc();
      headers.remove("content-length");
      this.#decompressor = this.library.create(this.libraryScope);
    } else {
      this.stats.not_decompressed.inc();
    }
  }

  /** The decompressed chunk, or undefined when this direction passes bodies through. */
  data(data: Uint8Array, endStream: boolean): Uint8Array | undefined {
    const d = this.#decompressor;
    if (!d) return undefined;
    this.stats.total_compressed_bytes.inc(data.length);
    const out = d.decompress(data) ?? EMPTY;
    this.stats.total_uncompressed_bytes.inc(out.length);
    if (endStream) this.close();
    return out;
  }

  close(): void {
    this.#decompressor?.close();
    this.#decompressor = undefined;
  }
}

class DecompressorFilter {
  readonly #request: Direction;
  readonly #response: Direction;

  constructor(
    readonly cb: StreamFilterCallbacks,
    readonly config: DecompressorFilterConfig,
    stats: { request: DirectionStats; response: DirectionStats; library: Scope },
  ) {
    this.#request = new Direction(config.request, stats.request, config.library, stats.library);
    this.#response = new Direction(
      config.response,
      stats.response,
      config.library,
      stats.library,
    );
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    if (endStream) return "continue";
    // This hop can take compressed responses: tell upstream.
    if (this.config.response.enabled() && this.config.request.advertiseAcceptEncoding) {
      headers.append("accept-encoding", this.config.library.contentEncoding);
    }
    this.#request.init(headers);
    return "continue";
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const out = this.#request.data(data, endStream);
    if (out === undefined) return "continue";
    this.cb.injectDecodedDataToFilterChain(out, endStream);
    return "stopNoBuffer";
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    if (endStream) return "continue";
    this.#response.init(headers);
    return "continue";
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const out = this.#response.data(data, endStream);
    if (out === undefined) return "continue";
    this.cb.injectEncodedDataToFilterChain(out, endStream);
    return "stopNoBuffer";
  }

  onDestroy(): void {
    this.#request.close();
    this.#response.close();
  }
}

const EMPTY = new Uint8Array(0);

function hasCacheControlNoTransform(headers: HeaderMap): boolean {
  const cc = headers.get("cache-control");
  if (cc === undefined) return false;
  return cc.split(",").some((t) => t.trim().toLowerCase() === "no-transform");
}

/**
 * When the first coding of `content-encoding` is `encoding`, removes it (the header goes when
 * none is left) and returns true.
 */
function removeFirstCoding(headers: HeaderMap, encoding: string): boolean {
  const ce = headers.get("content-encoding");
  if (ce === undefined) return false;
  const comma = ce.indexOf(",");
  const first = (comma < 0 ? ce : ce.slice(0, comma)).trim();
  if (first.toLowerCase() !== encoding.toLowerCase()) return false;
  const rest = comma < 0 ? "" : ce.slice(comma + 1).trim();
  if (rest === "") headers.remove("content-encoding");
  else headers.set("content-encoding", rest);
  return true;
}
