/**
 * The compressor filter (`envoy.filters.http.compressor`): compresses response bodies the
 * client accepts (`accept-encoding`) with the configured library, and request bodies when
 * `request_direction_config` enables it. Each chunk is compressed and flushed as it passes, so
 * memory stays bounded by the chunk and the library's window; `content-length` goes (the body
 * changes size) and `content-encoding` names the library. Skipped, as in Envoy, for headers-only
 * messages, bodies under `min_content_length`, content types off the list, `cache-control:
 * no-transform`, an existing `content-encoding`, a compressing `transfer-encoding`, an `etag`
 * with `disable_on_etag_header`, and upgrades.
 *
 * @module
 */
import type { CompressorPerRoute as CompressorPerRouteProto } from "../../../../../proto/gen/envoy/extensions/filters/http/compressor/v3/compressor_pb.ts";
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
import type { Compressor, CompressorLibrary } from "../../../compression/compression.ts";
import { type ChainCompressor, chooseEncoding, type EncodingDecision } from "./accept_encoding.ts";
import { hasCacheControlNoTransform } from "../common/cache_control.ts";
import {
  compiledPerRouteConfig,
  mostSpecificPerFilterConfig,
} from "../common/per_filter_config.ts";

/** Envoy's name of the filter. */
export const COMPRESSOR_FILTER_NAME = "envoy.filters.http.compressor";
/** Its per-route config message. */
export const COMPRESSOR_PER_ROUTE =
  "envoy.extensions.filters.http.compressor.v3.CompressorPerRoute";

/** What one direction compresses. */
export interface DirectionConfig {
  /** The `enabled` runtime flag, evaluated per stream. */
  enabled(): boolean;
  /** Bodies whose `content-length` is below this are left alone. */
  minContentLength: number;
  /** Media types (lower case, without parameters) that may be compressed. */
  contentTypes: ReadonlySet<string>;
}

/** The response direction's settings. */
export interface ResponseDirectionConfig extends DirectionConfig {
  disableOnEtagHeader: boolean;
  removeAcceptEncodingHeader: boolean;
}

/** A route's `CompressorPerRoute`, resolved. */
export interface CompressorPerRoute {
  disabled: boolean;
  /** `overrides.response_direction_config.remove_accept_encoding_header`, when set. */
  removeAcceptEncodingHeader?: boolean;
}

/** The filter's config, built once per worker. */
export interface CompressorFilterConfig {
  library: CompressorLibrary;
  chooseFirst: boolean;
  response: ResponseDirectionConfig;
  /** Undefined when request bodies are never compressed (no request_direction_config). */
  request?: DirectionConfig;
}

/** Each route's CompressorPerRoute, resolved once. */
const routeOverrides = compiledPerRouteConfig(
  COMPRESSOR_PER_ROUTE,
  (p: CompressorPerRouteProto): CompressorPerRoute => ({
    disabled: p.override.case === "disabled" && p.override.value,
    removeAcceptEncodingHeader: p.override.case === "overrides"
      ? p.override.value.responseDirectionConfig?.removeAcceptEncodingHeader
      : undefined,
  }),
);

/** The response direction's counters (`<prefix>compressor.<name>.<library>.*`). */
export const RESPONSE_STATS = [
  "compressed",
  "not_compressed",
  "no_accept_header",
  "header_identity",
  "header_gzip",
  "header_compressor_used",
  "header_compressor_overshadowed",
  "header_wildcard",
  "header_not_valid",
  "total_uncompressed_bytes",
  "total_compressed_bytes",
  "content_length_too_small",
  "not_compressed_etag",
] as const;
/** The request direction's counters (`...<library>.request.*`). */
export const REQUEST_STATS = [
  "compressed",
  "not_compressed",
  "total_uncompressed_bytes",
  "total_compressed_bytes",
] as const;

type Stats<K extends string> = Record<K, Counter>;

/** Counters `names` in `scope`, created now so they show from start-up (as Envoy's). */
export function makeStats<K extends string>(scope: Scope, names: readonly K[]): Stats<K> {
  const out = {} as Stats<K>;
  for (const n of names) out[n] = scope.counter(n);
  return out;
}

/** The compressor filters of one stream, in chain order (Envoy's CompressorRegistry). */
const REGISTRY_KEY = "envoy.filters.http.compressor.registry";
/** The stream's one encoding decision, shared by its compressor filters. */
const DECISION_KEY = "envoy.filters.http.compressor.encoding_decision";

/** Per-stream filter factory; `filterName` (its name in the chain) keys per-route configs. */
export function compressorFilterFactory(
  config: CompressorFilterConfig,
  filterName: string,
  scope: Scope,
): HttpFilterFactoryCb {
  const response = makeStats(scope, RESPONSE_STATS);
  const request = config.request ? makeStats(scope.scope("request"), REQUEST_STATS) : undefined;
  return (cb) => {
    const f = new CompressorFilter(cb, config, filterName, response, request);
    return { decoder: f, encoder: f };
  };
}

class CompressorFilter implements ChainCompressor {
  #acceptEncoding: string | undefined;
  #perRoute: CompressorPerRoute | undefined;
  #responseCompressor: Compressor | undefined;
  #requestCompressor: Compressor | undefined;

  constructor(
    readonly cb: StreamFilterCallbacks,
    readonly config: CompressorFilterConfig,
    readonly filterName: string,
    readonly stats: Stats<(typeof RESPONSE_STATS)[number]>,
    readonly requestStats: Stats<(typeof REQUEST_STATS)[number]> | undefined,
  ) {
    const state = cb.streamInfo.filterState;
    let registry = state.get(REGISTRY_KEY) as CompressorFilter[] | undefined;
    if (!registry) state.set(REGISTRY_KEY, registry = []);
    registry.push(this);
  }

  get contentEncoding(): string {
    return this.config.library.contentEncoding;
  }

  get chooseFirst(): boolean {
    return this.config.chooseFirst;
  }

  /** Whether responses may be compressed on this stream (runtime flag, per-route). */
  responseEnabled(): boolean {
    return !this.#perRoute?.disabled && this.config.response.enabled();
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    const m = this.cb.route();
    const any = m && mostSpecificPerFilterConfig(m, this.filterName, COMPRESSOR_FILTER_NAME);
    if (any) this.#perRoute = routeOverrides(any);
    const accept = headers.getAll("accept-encoding");
    if (accept.length > 0) this.#acceptEncoding = accept.join(",");
    const removeAccept = this.#perRoute?.removeAcceptEncodingHeader ??
      this.config.response.removeAcceptEncodingHeader;
    if (removeAccept && this.responseEnabled()) headers.remove("accept-encoding");

    const rc = this.config.request;
    if (!rc || !this.requestStats) return "continue";
    if (
      !endStream && !this.#perRoute?.disabled && rc.enabled() &&
      isMinimumContentLength(headers, rc) && isContentTypeAllowed(headers, rc) &&
      !headers.has("content-encoding") && this.#transferEncodingAllowed(headers)
    ) {
      headers.remove("content-length");
      headers.set("content-encoding", this.contentEncoding);
      this.requestStats.compressed.inc();
      this.#requestCompressor = this.config.library.create();
    } else {
      this.requestStats.not_compressed.inc();
    }
    return "continue";
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const c = this.#requestCompressor;
    if (!c || !this.requestStats) return "continue";
    this.requestStats.total_uncompressed_bytes.inc(data.length);
    const out = c.compress(data, endStream);
    this.requestStats.total_compressed_bytes.inc(out.length);
    if (endStream) this.#closeRequest();
    this.cb.injectDecodedDataToFilterChain(out, endStream);
    return "stopNoBuffer";
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    const c = this.#requestCompressor;
    if (!c || !this.requestStats) return "continue";
    const out = c.compress(EMPTY, true);
    this.requestStats.total_compressed_bytes.inc(out.length);
    this.#closeRequest();
    this.cb.injectDecodedDataToFilterChain(out, false);
    return "continue";
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    const rc = this.config.response;
    const enabledAndBigEnough = this.responseEnabled() &&
      isMinimumContentLength(headers, rc, this.stats.content_length_too_small);
    const compressible = enabledAndBigEnough && !headers.has("upgrade") &&
      isContentTypeAllowed(headers, rc) && !hasCacheControlNoTransform(headers) &&
      this.#etagAllowed(headers) && !headers.has("content-encoding");
    if (
      !endStream && enabledAndBigEnough && this.#acceptEncodingAllowed(headers) && compressible &&
      this.#transferEncodingAllowed(headers)
    ) {
      sanitizeEtagHeader(headers);
      headers.remove("content-length");
      headers.set("content-encoding", this.contentEncoding);
      this.stats.compressed.inc();
      this.#responseCompressor = this.config.library.create();
    } else {
      this.stats.not_compressed.inc();
    }
    // Even uncompressed, a cache in front must know the body could vary by accept-encoding.
    if (compressible) insertVaryHeader(headers);
    return "continue";
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const c = this.#responseCompressor;
    if (!c) return "continue";
    this.stats.total_uncompressed_bytes.inc(data.length);
    const out = c.compress(data, endStream);
    this.stats.total_compressed_bytes.inc(out.length);
    if (endStream) this.#closeResponse();
    this.cb.injectEncodedDataToFilterChain(out, endStream);
    return "stopNoBuffer";
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    const c = this.#responseCompressor;
    if (!c) return "continue";
    const out = c.compress(EMPTY, true);
    this.stats.total_compressed_bytes.inc(out.length);
    this.#closeResponse();
    // The compressed stream's end goes out ahead of the trailers.
    this.cb.injectEncodedDataToFilterChain(out, false);
    return "continue";
  }

  onDestroy(): void {
    this.#closeRequest();
    this.#closeResponse();
  }

  #closeRequest(): void {
    this.#requestCompressor?.close();
    this.#requestCompressor = undefined;
  }

  #closeResponse(): void {
    this.#responseCompressor?.close();
    this.#responseCompressor = undefined;
  }

  #etagAllowed(headers: HeaderMap): boolean {
    const allowed = !(this.config.response.disableOnEtagHeader && headers.has("etag"));
    if (!allowed) this.stats.not_compressed_etag.inc();
    return allowed;
  }

  /** Whether this filter is the one the stream's encoding decision picked; counts `header_*`. */
  #acceptEncodingAllowed(headers: HeaderMap): boolean {
    if (this.#acceptEncoding === undefined) {
      this.stats.no_accept_header.inc();
      return false;
    }
    const state = this.cb.streamInfo.filterState;
    let decision = state.get(DECISION_KEY) as EncodingDecision | undefined;
    if (!decision) {
      decision = chooseEncoding(this.#acceptEncoding, this.#candidates(headers));
      state.set(DECISION_KEY, decision);
    }
    const mine = decision.encoding.toLowerCase() === this.contentEncoding.toLowerCase();
    switch (decision.stat) {
      case "valid_compressor":
        if (mine) {
          this.stats.header_compressor_used.inc();
          if (this.contentEncoding === "gzip") this.stats.header_gzip.inc();
        } else {
          this.stats.header_compressor_overshadowed.inc();
        }
        break;
      case "identity":
        this.stats.header_identity.inc();
        break;
      case "wildcard":
        this.stats.header_wildcard.inc();
        break;
      default:
        this.stats.header_not_valid.inc();
    }
    return mine;
  }

  /** The chain's compressors that may compress this response's content type. */
  #candidates(headers: HeaderMap): CompressorFilter[] {
    const all = this.cb.streamInfo.filterState.get(REGISTRY_KEY) as CompressorFilter[];
    const type = mediaType(headers);
    return all.filter((f) =>
      f.responseEnabled() && (type === "" || f.config.response.contentTypes.has(type))
    );
  }

  /** False when `transfer-encoding` already compresses (this encoding, gzip or deflate). */
  #transferEncodingAllowed(headers: HeaderMap): boolean {
    const te = headers.get("transfer-encoding");
    if (te === undefined) return true;
    const mine = this.contentEncoding.toLowerCase();
    for (const t of te.split(",")) {
      const v = t.trim().toLowerCase();
      if (v === mine || v === "gzip" || v === "deflate") return false;
    }
    return true;
  }
}

const EMPTY = new Uint8Array(0);

/** The content type's media type: lower case, parameters and spaces dropped. */
function mediaType(headers: HeaderMap): string {
  const ct = headers.get("content-type");
  if (ct === undefined) return "";
  const semi = ct.indexOf(";");
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
}

function isContentTypeAllowed(headers: HeaderMap, c: DirectionConfig): boolean {
  const type = mediaType(headers);
  return type === "" || c.contentTypes.has(type);
}

/** A `content-length` below the minimum rules compression out; no length (streaming) does not. */
function isMinimumContentLength(
  headers: HeaderMap,
  c: DirectionConfig,
  tooSmall?: Counter,
): boolean {
  const cl = headers.get("content-length");
  if (cl === undefined) return true;
  const ok = /^\d+$/.test(cl) && Number(cl) >= c.minContentLength;
  if (!ok) tooSmall?.inc();
  return ok;
}

/** A strong etag becomes weak: the compressed body is not byte-identical to the original. */
function sanitizeEtagHeader(headers: HeaderMap): void {
  const etag = headers.get("etag");
  if (etag === undefined || etag.length <= 2) return;
  if ((etag[0] === "w" || etag[0] === "W") && etag[1] === "/") return;
  headers.set("etag", `W/${etag}`);
}

function insertVaryHeader(headers: HeaderMap): void {
  const vary = headers.get("vary");
  if (vary === undefined) {
    headers.set("vary", "Accept-Encoding");
    return;
  }
  const has = vary.split(",").some((t) => t.trim().toLowerCase() === "accept-encoding");
  if (!has) headers.set("vary", `${vary}, Accept-Encoding`);
}
