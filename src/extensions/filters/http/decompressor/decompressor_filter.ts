/**
 * The decompressor filter (`envoy.filters.http.decompressor`): undoes the configured library's
 * `content-encoding` on request and response bodies (each direction can be switched off by a
 * runtime flag), and advertises the encoding upstream in `accept-encoding` so responses can
 * come compressed. Only the first listed coding is undone, as in Envoy; `cache-control:
 * no-transform` leaves a body alone unless `ignore_no_transform_header`. Each chunk is inflated
 * as it passes, bounded by the library's inflate ratio: past it (a decompression bomb) the
 * library counts its error and the rest of the body is dropped. A decompressed message with
 * trailers gets Envoy's byte-count trailers; Envoy also adds them to a message without trailers,
 * which needs a filter API to add trailers that denvoy does not have yet.
 *
 * @module
 */
import type { HeaderMap } from "../../../../http/header_map.ts";
import type {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  HttpFilterFactoryCb,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import type { Decompressor, DecompressorLibrary } from "../../../compression/compression.ts";
import { hasCacheControlNoTransform } from "../common/cache_control.ts";
import { makeStats } from "../compressor/compressor_filter.ts";

/** One direction's settings. */
export interface DirectionConfig {
  enabled(): boolean;
  ignoreNoTransformHeader: boolean;
}

/** The filter's config, built once per worker. */
export interface DecompressorFilterConfig {
  library: DecompressorLibrary;
  /** `decompressor_library.name`: it names the byte-count trailers. */
  name: string;
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

/** Per-stream filter factory; `scope` is `<prefix>decompressor.<name>.<library>`. */
export function decompressorFilterFactory(
  config: DecompressorFilterConfig,
  scope: Scope,
): HttpFilterFactoryCb {
  const stats = {
    request: makeStats(scope.scope("request"), DIRECTION_STATS),
    response: makeStats(scope.scope("response"), DIRECTION_STATS),
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
  /** Set once this direction decompresses: its byte totals for the trailers. */
  #totals: { compressed: number; uncompressed: number } | undefined;

  constructor(
    readonly config: DirectionConfig,
    readonly stats: DirectionStats,
    readonly library: DecompressorLibrary,
    readonly libraryScope: Scope,
    readonly trailerPrefix: string,
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
      this.#totals = { compressed: 0, uncompressed: 0 };
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
    this.#totals!.compressed += data.length;
    this.#totals!.uncompressed += out.length;
    if (endStream) this.close();
    return out;
  }

  /**
   * Envoy reports a decompressed body's byte counts in its trailers
   * (`x-envoy-decompressor-<name>-{compressed,uncompressed}-bytes`).
   */
  reportTotalBytes(trailers: HeaderMap): void {
    const t = this.#totals;
    if (!t) return;
    trailers.set(`${this.trailerPrefix}-compressed-bytes`, `${t.compressed}`);
    trailers.set(`${this.trailerPrefix}-uncompressed-bytes`, `${t.uncompressed}`);
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
    const trailers = `x-envoy-decompressor-${config.name}`;
    this.#request = new Direction(
      config.request,
      stats.request,
      config.library,
      stats.library,
      trailers,
    );
    this.#response = new Direction(
      config.response,
      stats.response,
      config.library,
      stats.library,
      trailers,
    );
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    // This hop can take compressed responses: tell upstream.
    if (this.config.response.enabled() && this.config.request.advertiseAcceptEncoding) {
      headers.set(
        "accept-encoding",
        addEncoding(
          headers.getAll("accept-encoding").join(","),
          this.config.library.contentEncoding,
        ),
      );
    }
    // A headers-only request has no body to decompress.
    if (endStream) return "continue";
    this.#request.init(headers);
    return "continue";
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const out = this.#request.data(data, endStream);
    if (out === undefined) return "continue";
    this.cb.injectDecodedDataToFilterChain(out, endStream);
    return "stopNoBuffer";
  }

  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    this.#request.reportTotalBytes(trailers);
    return "continue";
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

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    this.#response.reportTotalBytes(trailers);
    return "continue";
  }

  onDestroy(): void {
    this.#request.close();
    this.#response.close();
  }
}

const EMPTY = new Uint8Array(0);

/**
 * `accept-encoding` with `encoding` once at the end, at full weight: any entry of it (with a
 * q-value, say) is dropped first.
 */
function addEncoding(accept: string, encoding: string): string {
  const kept: string[] = [];
  for (const token of accept.split(",")) {
    const t = token.trim();
    if (t === "") continue;
    const semi = t.indexOf(";");
    if ((semi < 0 ? t : t.slice(0, semi)).trim() !== encoding) kept.push(t);
  }
  kept.push(encoding);
  return kept.join(",");
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
