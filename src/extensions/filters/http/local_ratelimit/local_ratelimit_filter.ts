/**
 * The HTTP local rate limit filter (`envoy.filters.http.local_ratelimit`): each request the
 * filter is enabled for takes a token from the config's bucket (or from the buckets of the
 * descriptors its route's `rate_limits` make); without one it is rate limited, and when the
 * filter is enforced for it, answered with a local reply (429 unless `status` says otherwise,
 * body `local_rate_limited`, `x-envoy-ratelimited: true`, `response_headers_to_add`; response
 * flag RL). Limited requests that are not enforced go on with
 * `request_headers_to_add_when_not_enforced`.
 *
 * The bucket is process-wide (every worker takes from it), or one per downstream connection
 * with `local_rate_limit_per_downstream_connection`. A route's, virtual host's or route
 * configuration's `typed_per_filter_config` replaces the filter's config, with a bucket of
 * its own. Stats: `<stat_prefix>.http_local_rate_limit.{enabled,ok,rate_limited,enforced}`.
 *
 * @module
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { LocalRateLimit } from "../../../../../proto/gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.ts";
import type { RuntimeFractionalPercent } from "../../../../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Store } from "../../../../stats/store.ts";
import type {
  FilterHeadersStatus,
  HttpFilterFactoryCb,
  StreamDecoderFilter,
  StreamEncoderFilter,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import type { HeaderMap } from "../../../../http/header_map.ts";
import type { MatchedRoute } from "../../../../router/route_table.ts";
import { mostSpecificPerFilterConfig } from "../common/per_filter_config.ts";
import { HeaderParser } from "../../../../router/header_mutation.ts";
import type { RateLimitDescriptor, RateLimitPolicy } from "../../../../router/rate_limit_policy.ts";
import { DENOMINATORS, type FractionalPercent } from "../../../../runtime/snapshot.ts";
import { runtimeSnapshot } from "../../../../runtime/runtime.ts";
import {
  type BucketMemory,
  localRateLimitMemory,
  ownBucket,
  sharedBucket,
} from "../../common/local_ratelimit/bucket_memory.ts";
import {
  compileDescriptors,
  type DescriptorSpec,
  type LimitResult,
  LocalRateLimiter,
} from "../../common/local_ratelimit/local_rate_limiter.ts";
import {
  type SharedTokenBucket,
  type TokenBucketConfig,
  tokenBucketConfig,
  tokenBucketProblem,
} from "../../common/local_ratelimit/token_bucket.ts";

/** The filter's well-known name (a key of its `typed_per_filter_config` too). */
export const LOCAL_RATELIMIT_FILTER_NAME = "envoy.filters.http.local_ratelimit";
const LOCAL_RATELIMIT_TYPE = "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

/** `common.ratelimit.v3.VhRateLimitsOptions` (the third, IGNORE, takes none). */
const VH_OVERRIDE = 0;
const VH_INCLUDE = 1;
/** gRPC RESOURCE_EXHAUSTED, for `rate_limited_as_resource_exhausted`. */
const GRPC_RESOURCE_EXHAUSTED = 8;

/** The filter's counters. */
interface LocalRateLimitStats {
  enabled: Counter;
  enforced: Counter;
  rateLimited: Counter;
  ok: Counter;
}

/** What the filter is built from besides its config. */
export interface LocalRateLimitContext {
  stats: Store;
  /** This server's service cluster (the `source_cluster` action). */
  localServiceCluster: string;
  /** Where shared buckets live; the process's by default. */
  memory?: BucketMemory;
}

function runtimeFraction(p: RuntimeFractionalPercent | undefined): {
  key: string;
  dflt: FractionalPercent;
} | undefined {
  if (!p) return undefined;
  return {
    key: p.runtimeKey,
    dflt: {
      numerator: p.defaultValue?.numerator ?? 0,
      denominator: DENOMINATORS[p.defaultValue?.denominator ?? 0] ?? 100,
    },
  };
}

/** A list of headers to add, compiled; errors name `field`. */
function headerParser(
  list: LocalRateLimit["responseHeadersToAdd"],
  field: string,
  which: "request" | "response",
): HeaderParser | undefined {
  try {
    return HeaderParser.compile(list, [], "", which);
  } catch (e) {
    // HeaderParser names the route-level list (`.<which>_headers_to_add[i]...`).
    throw new Error((e as Error).message.replace(/^\.\w+_headers_to_add/, field));
  }
}

/** The config's bytes as text, so identical configs in every isolate give the same key. */
function bytesKey(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) {
    s += String.fromCharCode(...b.subarray(i, i + 4096));
  }
  return s;
}

/** One compiled `LocalRateLimit` (Envoy's `FilterConfig`), the filter's or a route's. */
export class LocalRateLimitConfig {
  readonly stats: LocalRateLimitStats;
  readonly status: number;
  readonly #enabled;
  readonly #enforced;
  readonly responseHeaders?: HeaderParser;
  readonly requestHeaders?: HeaderParser;
  readonly stage: number;
  readonly hasDescriptors: boolean;
  readonly xRateLimitHeaders: boolean;
  readonly vhRateLimits: number;
  readonly grpcStatus?: number;
  readonly perConnection: boolean;
  readonly localServiceCluster: string;
  readonly #bucket: TokenBucketConfig;
  readonly #descriptors: DescriptorSpec[];
  readonly #alwaysConsumeDefault: boolean;
  /** The process-wide limiter; undefined with per-connection buckets. */
  readonly #shared?: LocalRateLimiter;
  /** Per-connection limiters, by connection. */
  readonly #perConnection = new WeakMap<object, LocalRateLimiter>();

  /**
   * @param key where the config is (its shared buckets are found by it with the config bytes).
   * @throws {Error} naming the field for a config Envoy rejects.
   */
  constructor(
    c: LocalRateLimit,
    bytes: Uint8Array,
    key: string,
    ctx: LocalRateLimitContext,
    perRoute: boolean,
  ) {
    if (perRoute && !c.tokenBucket) {
      throw new Error(
        "token_bucket: local rate limit token bucket must be set for per filter configs",
      );
    }
    const prefix = `${c.statPrefix}.http_local_rate_limit.`;
    this.stats = {
      enabled: ctx.stats.counter(`${prefix}enabled`),
      enforced: ctx.stats.counter(`${prefix}enforced`),
      rateLimited: ctx.stats.counter(`${prefix}rate_limited`),
      ok: ctx.stats.counter(`${prefix}ok`),
    };
    const code = c.status?.code ?? 0;
    this.status = code < 400 ? 429 : code;
    this.#enabled = runtimeFraction(c.filterEnabled);
    this.#enforced = runtimeFraction(c.filterEnforced);
    this.responseHeaders = headerParser(
      c.responseHeadersToAdd,
      "response_headers_to_add",
      "response",
    );
    this.requestHeaders = headerParser(
      c.requestHeadersToAddWhenNotEnforced,
      "request_headers_to_add_when_not_enforced",
      "request",
    );
    this.stage = c.stage;
    this.hasDescriptors = c.descriptors.length > 0;
    this.xRateLimitHeaders = c.enableXRatelimitHeaders === 1;
    this.vhRateLimits = c.vhRateLimits;
    this.grpcStatus = c.rateLimitedAsResourceExhausted ? GRPC_RESOURCE_EXHAUSTED : undefined;
    this.perConnection = c.localRateLimitPerDownstreamConnection;
    this.localServiceCluster = ctx.localServiceCluster;
    this.#bucket = tokenBucketConfig(c.tokenBucket);
    const bad = c.tokenBucket && tokenBucketProblem(this.#bucket, "token_bucket");
    if (bad) throw new Error(bad);
    this.#descriptors = compileDescriptors(c.descriptors, this.#bucket, "descriptors");
    this.#alwaysConsumeDefault = c.alwaysConsumeDefaultTokenBucket ?? true;
    if (!this.perConnection) {
      const m = ctx.memory ?? localRateLimitMemory();
      const k = `${key}|${bytesKey(bytes)}`;
      this.#shared = this.#limiter((d, i) => sharedBucket(m, i < 0 ? k : `${k}|${i}`, d));
    }
  }

  #limiter(bucket: (c: TokenBucketConfig, index: number) => SharedTokenBucket): LocalRateLimiter {
    return new LocalRateLimiter(
      bucket(this.#bucket, -1),
      this.#descriptors.map((d, i) => ({ key: d.key, bucket: bucket(d.bucket, i) })),
      this.#alwaysConsumeDefault,
    );
  }

  /** Whether the filter checks this request (`filter_enabled`; off when unset). */
  enabled(random: number): boolean {
    const e = this.#enabled;
    return e !== undefined && runtimeSnapshot().featureEnabled(e.key, e.dflt, random);
  }

  /** Whether a limited request is answered (`filter_enforced`; off when unset). */
  enforced(random: number): boolean {
    const e = this.#enforced;
    return e !== undefined && runtimeSnapshot().featureEnabled(e.key, e.dflt, random);
  }

  /** Takes the request's tokens, from the buckets of `connection` when they are per connection. */
  requestAllowed(descriptors: readonly RateLimitDescriptor[], connection: object): LimitResult {
    if (this.#shared) return this.#shared.requestAllowed(descriptors);
    let l = this.#perConnection.get(connection);
    if (!l) {
      l = this.#limiter((c) => ownBucket(c));
      this.#perConnection.set(connection, l);
    }
    return l.requestAllowed(descriptors);
  }
}

/** The request descriptors of a config without descriptors (shared: none made per request). */
const NONE: readonly RateLimitDescriptor[] = [];

const random32 = () => (Math.random() * 0x100000000) >>> 0;

/** The descriptors of `policy` at the config's stage (entries with a `disable_key` skipped). */
function populate(
  policy: RateLimitPolicy,
  cfg: LocalRateLimitConfig,
  cb: StreamFilterCallbacks,
  headers: HeaderMap,
  clusterName: string | undefined,
  routeMetadata: Readonly<Record<string, unknown>> | undefined,
  out: RateLimitDescriptor[],
): void {
  for (const entry of policy) {
    if (entry.stage !== cfg.stage || entry.disableKey !== "") continue;
    const d = entry.descriptor({
      headers,
      remoteAddress: cb.streamInfo.downstreamRemoteAddress,
      clusterName,
      localServiceCluster: cfg.localServiceCluster,
      routeMetadata,
      dynamicMetadata: cb.streamInfo.dynamicMetadata,
    });
    if (d) out.push(d);
  }
}

/** The request's descriptors from its route's and virtual host's `rate_limits`. */
function requestDescriptors(
  cfg: LocalRateLimitConfig,
  cb: StreamFilterCallbacks,
  headers: HeaderMap,
): RateLimitDescriptor[] {
  const out: RateLimitDescriptor[] = [];
  const m = cb.route();
  if (!m || m.route.action !== "route") return out;
  const route = m.route;
  const metadata = route.config?.metadata?.filterMetadata;
  populate(route.rateLimitPolicy, cfg, cb, headers, m.clusterName, metadata, out);
  const vh = route.includeVhRateLimits ? VH_INCLUDE : cfg.vhRateLimits;
  if (vh === VH_INCLUDE || vh === VH_OVERRIDE && route.rateLimitPolicy.length === 0) {
    populate(m.virtualHost.rateLimitPolicy, cfg, cb, headers, m.clusterName, metadata, out);
  }
  return out;
}

class LocalRateLimitFilter implements StreamDecoderFilter, StreamEncoderFilter {
  #bucket: SharedTokenBucket | undefined;
  #used: LocalRateLimitConfig;

  constructor(
    readonly cb: StreamFilterCallbacks,
    readonly config: LocalRateLimitConfig,
    readonly perRoute: (cb: StreamFilterCallbacks) => LocalRateLimitConfig | undefined,
  ) {
    this.#used = config;
  }

  decodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const cb = this.cb;
    const cfg = this.#used = this.perRoute(cb) ?? this.config;
    if (!cfg.enabled(random32())) return "continue";
    cfg.stats.enabled.inc();
    const descriptors = cfg.hasDescriptors ? requestDescriptors(cfg, cb, headers) : NONE;
    const result = cfg.requestAllowed(descriptors, cb.connection);
    this.#bucket = result.bucket;
    if (result.allowed) {
      cfg.stats.ok.inc();
      return "continue";
    }
    cfg.stats.rateLimited.inc();
    // A draw of its own, as Envoy's: enabled 50% and enforced 50% enforce a quarter.
    if (!cfg.enforced(random32())) {
      cfg.requestHeaders?.evaluate(headers, { requestHeaders: headers, streamInfo: cb.streamInfo });
      return "continue";
    }
    cfg.stats.enforced.inc();
    cb.streamInfo.setFlag("RL");
    cb.sendLocalReply(cfg.status, "local_rate_limited", {
      details: "local_rate_limited",
      grpcStatus: cfg.grpcStatus,
      modifyHeaders: (h) => {
        h.set("x-envoy-ratelimited", "true");
        cfg.responseHeaders?.evaluate(h, {
          requestHeaders: headers,
          responseHeaders: h,
          streamInfo: cb.streamInfo,
        });
      },
    });
    return "stop";
  }

  encodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const b = this.#bucket;
    if (b && this.#used.xRateLimitHeaders) {
      headers.add("x-ratelimit-limit", String(b.config.maxTokens));
      headers.add("x-ratelimit-remaining", String(b.remaining()));
      headers.add("x-ratelimit-reset", String(b.resetSeconds()));
    }
    return "continue";
  }
}

/** What the filter factory is built with. */
export interface LocalRateLimitFactoryContext extends LocalRateLimitContext {
  /** Where the filter is configured (listener, chain, connection manager): keys its buckets. */
  placement: string;
  /**
   * The filter's name in its chain: the key of its `typed_per_filter_config` (else its
   * well-known name is).
   */
  filterName: string;
  unpack(any: Any): LocalRateLimit | undefined;
}

/**
 * Where a route's config `any` is set (weighted cluster, route, virtual host or route
 * configuration), so that
 * each level's config has its own bucket, the same one in every worker, as Envoy's per-route
 * configs do.
 */
function perRouteKey(
  m: MatchedRoute,
  cb: StreamFilterCallbacks,
  any: Any,
  placement: string,
): string {
  const vh = m.virtualHost;
  const has = (level: Readonly<Record<string, Any>> | undefined) =>
    level !== undefined && Object.values(level).includes(any);
  const at = `${placement}|${cb.routeTable?.()?.name ?? ""}`;
  const route = `${at}|${vh.name}|${vh.routes.indexOf(m.route)}`;
  const wc = m.weightedCluster;
  if (wc && has(wc.config.typedPerFilterConfig)) {
    return `${route}|${m.route.weightedClusters!.indexOf(wc)}`;
  }
  if (has(m.route.config?.typedPerFilterConfig)) return route;
  if (has(vh.config.typedPerFilterConfig)) return `${at}|${vh.name}`;
  return at;
}

/**
 * Builds the filter of each stream from the filter's config; its buckets, and its routes'
 * configs' buckets, are found by where they are configured, so every worker takes from the
 * same ones.
 */
export function localRateLimitFilterFactory(
  config: LocalRateLimit,
  bytes: Uint8Array,
  ctx: LocalRateLimitFactoryContext,
): HttpFilterFactoryCb {
  const cfg = new LocalRateLimitConfig(config, bytes, ctx.placement, ctx, false);
  const name = ctx.filterName;
  // A route's config is compiled once, on its first request, and kept with its route table
  // (null: a config of another type under the filter's name).
  const routeConfigs = new WeakMap<Any, LocalRateLimitConfig | null>();
  const perRoute = (cb: StreamFilterCallbacks): LocalRateLimitConfig | undefined => {
    const m = cb.route();
    const any = m && mostSpecificPerFilterConfig(m, name, LOCAL_RATELIMIT_FILTER_NAME);
    if (!any) return undefined;
    let c = routeConfigs.get(any);
    if (c === undefined) {
      const proto = ctx.unpack(any);
      c = proto?.$typeName === LOCAL_RATELIMIT_TYPE
        ? new LocalRateLimitConfig(
          proto,
          any.value,
          perRouteKey(m, cb, any, ctx.placement),
          ctx,
          true,
        )
        : null;
      routeConfigs.set(any, c);
    }
    return c ?? undefined;
  };
  return (cb) => {
    const f = new LocalRateLimitFilter(cb, cfg, perRoute);
    return { decoder: f, encoder: f };
  };
}
