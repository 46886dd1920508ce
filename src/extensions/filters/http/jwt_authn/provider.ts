/**
 * One JWT provider of the filter, compiled (Envoy's JwksCache::JwksData): its issuer,
 * audiences, subject matcher and lifetime limits, its key set (local, or fetched from
 * `remote_jwks.http_uri` through a cluster and kept for `cache_duration`), the tokens it has
 * verified (`jwt_cache_config`), and what it does with a verified token (forwarding, headers,
 * metadata).
 *
 * @module
 */
import type {
  JwtProvider,
} from "../../../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.ts";
import { dataSourceText } from "../../../../config/data_source.ts";
import { durationMs } from "../../../../common/duration.ts";
import { compileStringMatcher, type StringPredicate } from "../../../../router/matchers.ts";
import type { ExtractorProvider } from "./extractor.ts";
import { type Jwks, parseJwks } from "./jwks.ts";
import { AudienceCheck, type Jwt, type Status } from "./jwt.ts";

/** Envoy's default `remote_jwks.cache_duration`: 10 minutes. */
const DEFAULT_CACHE_DURATION_MS = 600_000;
/** Envoy's default `clock_skew_seconds`. */
const DEFAULT_CLOCK_SKEW_S = 60;
/** Envoy's default `jwt_cache_config.jwt_cache_size`. */
const DEFAULT_JWT_CACHE_SIZE = 100;

/** Fetches a JWKS document: the response status and body, or throws when there was none. */
export type JwksFetch = (
  uri: string,
  cluster: string,
  timeoutMs: number,
) => Promise<{ status: number; body: string }>;

/** The counters a provider bumps (`jwks_fetch_success`, `jwks_fetch_failed`). */
export interface FetchStats {
  fetchSuccess(): void;
  fetchFailed(): void;
}

/** A `claim_to_headers` entry. */
interface ClaimToHeader {
  readonly header: string;
  readonly claim: string;
}

/** A compiled provider. */
export class Provider implements ExtractorProvider {
  readonly name: string;
  readonly issuer: string;
  readonly fromHeaders: readonly { name: string; valuePrefix: string }[];
  readonly fromParams: readonly string[];
  readonly fromCookies: readonly string[];
  readonly writtenHeaders: readonly string[];
  readonly audiences: AudienceCheck;
  readonly clockSkewS: number;
  readonly forward: boolean;
  readonly forwardPayloadHeader: string;
  readonly padForwardPayloadHeader: boolean;
  readonly payloadInMetadata: string;
  readonly headerInMetadata: string;
  readonly spaceDelimitedClaims: readonly string[];
  readonly claimToHeaders: readonly ClaimToHeader[];
  readonly clearRouteCache: boolean;
  readonly #subject: StringPredicate | undefined;
  /** Longest remaining lifetime allowed in ms (`max_lifetime`; Infinity with only `require_expiration`). */
  readonly #maxLifetimeMs: number | undefined;
  readonly #remote:
    | { uri: string; cluster: string; timeoutMs: number; cacheMs: number }
    | undefined;
  #jwks: Jwks | undefined;
  /** When the remote key set must be fetched again (monotonic ms). */
  #expires = Infinity;
  #fetching: Promise<Status> | undefined;
  /** Verified tokens (`jwt_cache_config`), oldest first; undefined when not configured. */
  readonly #jwtCache: Map<string, Jwt> | undefined;
  readonly #jwtCacheSize: number;

  /** @throws {Error} naming the field, for a config Envoy rejects. */
  constructor(name: string, p: JwtProvider, field: string) {
    this.name = name;
    this.issuer = p.issuer;
    this.fromHeaders = p.fromHeaders.map((h) => ({ name: h.name, valuePrefix: h.valuePrefix }));
    this.fromParams = p.fromParams;
    this.fromCookies = p.fromCookies;
    this.audiences = new AudienceCheck(p.audiences);
    this.clockSkewS = p.clockSkewSeconds > 0 ? p.clockSkewSeconds : DEFAULT_CLOCK_SKEW_S;
    this.forward = p.forward;
    this.forwardPayloadHeader = p.forwardPayloadHeader.toLowerCase();
    this.padForwardPayloadHeader = p.padForwardPayloadHeader;
    this.payloadInMetadata = p.payloadInMetadata;
    this.headerInMetadata = p.headerInMetadata;
    this.spaceDelimitedClaims = p.normalizePayloadInMetadata?.spaceDelimitedClaims ?? [];
    this.claimToHeaders = p.claimToHeaders.map((c) => ({
      header: c.headerName.toLowerCase(),
      claim: c.claimName,
    }));
    this.clearRouteCache = p.clearRouteCache;
    this.writtenHeaders = [
      ...(this.forwardPayloadHeader ? [this.forwardPayloadHeader] : []),
      ...this.claimToHeaders.map((c) => c.header),
    ];
    this.#subject = p.subjects ? compileStringMatcher(p.subjects, `${field}.subjects`) : undefined;
    this.#maxLifetimeMs = p.maxLifetime
      ? durationMs(p.maxLifetime, 0)
      : p.requireExpiration
      ? Infinity
      : undefined;
    this.#jwtCache = p.jwtCacheConfig ? new Map() : undefined;
    this.#jwtCacheSize = p.jwtCacheConfig?.jwtCacheSize || DEFAULT_JWT_CACHE_SIZE;
    const src = p.jwksSourceSpecifier;
    if (src.case === "localJwks") {
      const text = dataSourceText(src.value, `${field}.local_jwks`) ?? "";
      const jwks = parseJwks(text);
      // As Envoy: a bad local key set is logged and leaves the provider without keys.
      if (typeof jwks !== "string") this.#jwks = jwks;
    } else if (src.case === "remoteJwks") {
      const r = src.value;
      const uri = r.httpUri?.uri ?? "";
      if (!URL.canParse(uri) || !/^https?:$/.test(new URL(uri).protocol)) {
        throw new Error(`Provider '${name}' has an invalid URI: '${uri}'`);
      }
      this.#remote = {
        uri,
        cluster: r.httpUri?.httpUpstreamType.case === "cluster"
          ? r.httpUri.httpUpstreamType.value
          : "",
        timeoutMs: durationMs(r.httpUri?.timeout, 0),
        cacheMs: durationMs(r.cacheDuration, DEFAULT_CACHE_DURATION_MS),
      };
    }
  }

  /** Whether the token's `sub` is allowed (`subjects`). */
  subjectAllowed(sub: string): boolean {
    return this.#subject === undefined || this.#subject(sub);
  }

  /** Whether the token's remaining lifetime is allowed (`max_lifetime`, `require_expiration`). */
  lifetimeAllowed(jwt: Jwt, nowMs: number): boolean {
    const max = this.#maxLifetimeMs;
    if (max === undefined) return true;
    if (jwt.exp === 0) return false;
    return jwt.exp * 1000 - nowMs < max;
  }

  /** A verified token of this provider still within its `exp`, from `jwt_cache_config`. */
  cachedJwt(token: string, nowS: number): Jwt | undefined {
    const jwt = this.#jwtCache?.get(token);
    if (jwt === undefined) return undefined;
    if (jwt.exp > 0 && jwt.exp < nowS) {
      this.#jwtCache!.delete(token);
      return undefined;
    }
    return jwt;
  }

  /** Remembers a verified token (`jwt_cache_config`), dropping the oldest when full. */
  cacheJwt(jwt: Jwt): void {
    const cache = this.#jwtCache;
    if (cache === undefined || cache.has(jwt.token)) return;
    if (cache.size >= this.#jwtCacheSize) cache.delete(cache.keys().next().value!);
    cache.set(jwt.token, jwt);
  }

  /**
   * The key set to verify with: the local one, or the remote one (fetched when missing or
   * older than `cache_duration`; concurrent requests share one fetch). A status when there
   * is none: `JwksNoValidKeys` for a bad local set, `JwksFetchFail` when the fetch failed.
   */
  async keys(fetch: JwksFetch, stats: FetchStats): Promise<Jwks | Status> {
    const remote = this.#remote;
    if (remote === undefined) return this.#jwks ?? "JwksNoValidKeys";
    if (this.#jwks !== undefined && performance.now() < this.#expires) return this.#jwks;
    this.#fetching ??= this.#fetch(fetch, stats, remote).finally(() => this.#fetching = undefined);
    const status = await this.#fetching;
    return status === "Ok" && this.#jwks ? this.#jwks : status;
  }

  async #fetch(
    fetch: JwksFetch,
    stats: FetchStats,
    remote: { uri: string; cluster: string; timeoutMs: number; cacheMs: number },
  ): Promise<Status> {
    let jwks: Jwks | Status = "JwksFetchFail";
    try {
      const res = await fetch(remote.uri, remote.cluster, remote.timeoutMs);
      if (res.status === 200) jwks = parseJwks(res.body);
    } catch {
      // No response (connect failure, reset, timeout): the fetch failed.
    }
    if (typeof jwks === "string") {
      stats.fetchFailed();
      return "JwksFetchFail";
    }
    stats.fetchSuccess();
    this.#jwks = jwks;
    this.#expires = performance.now() + remote.cacheMs;
    return "Ok";
  }
}
