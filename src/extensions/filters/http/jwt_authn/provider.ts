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
import { getLogger } from "../../../../common/logger.ts";
import { durationMs } from "../../../../common/duration.ts";
import { compileStringMatcher, type StringPredicate } from "../../../../router/matchers.ts";
import type { ExtractorProvider } from "./extractor.ts";
import { type Jwks, parseJwks } from "./jwks.ts";
import { AudienceCheck, type Jwt, STATUS, type Status } from "./jwt.ts";

const log = getLogger("jwt");

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

/** `remote_jwks`, resolved. */
interface RemoteJwksSpec {
  readonly uri: string;
  readonly cluster: string;
  /** `http_uri.timeout`: the whole fetch, retries included (0: none). */
  readonly timeoutMs: number;
  readonly cacheMs: number;
  readonly retry?: JwksRetry;
  /** `async_fetch`: how long after a failed background fetch to try again. */
  readonly asyncFetch?: { failedRefetchMs: number };
}

/** `remote_jwks.retry_policy`, resolved. */
interface JwksRetry {
  readonly numRetries: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly retryOn: ReadonlySet<string>;
}

/** Envoy's `retry_on` for JWKS fetches when the policy names none. */
const DEFAULT_RETRY_ON = "5xx,gateway-error,connect-failure,reset";
/** The `retry_on` conditions a JWKS fetch honours. */
export const JWKS_RETRY_ON: ReadonlySet<string> = new Set([
  "5xx",
  "gateway-error",
  "connect-failure",
  "reset",
  "retriable-4xx",
]);
/** Envoy's default `async_fetch.failed_refetch_duration`. */
const DEFAULT_FAILED_REFETCH_MS = 1000;

/** Whether a fetch outcome (a status, or the error of no response) may be retried. */
function retriable(outcome: number | Error, on: ReadonlySet<string>): boolean {
  if (outcome instanceof Error) {
    if (outcome.message.startsWith("upstream connect error")) return on.has("connect-failure");
    if (outcome.message.startsWith("upstream reset")) return on.has("reset");
    // No host or no cluster: Envoy's async client answers 503 itself.
    outcome = 503;
  }
  if (outcome >= 500 && on.has("5xx")) return true;
  if (outcome >= 502 && outcome <= 504 && on.has("gateway-error")) return true;
  return outcome === 409 && on.has("retriable-4xx");
}

/** A `claim_to_headers` entry. */
interface ClaimToHeader {
  readonly header: string;
  /** Keys from the payload down to the claim: `claim_path`, else `claim_name` split at dots. */
  readonly path: readonly string[];
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
  readonly #remote: RemoteJwksSpec | undefined;
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
      path: c.claimPath.length > 0 ? c.claimPath.map((s) => s.key) : c.claimName.split("."),
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
      else log.warn(`Invalid inline jwks for issuer: ${p.issuer}: ${STATUS[jwks]}`);
    } else if (src.case === "remoteJwks") {
      const r = src.value;
      const uri = r.httpUri?.uri ?? "";
      if (!URL.canParse(uri) || !/^https?:$/.test(new URL(uri).protocol)) {
        throw new Error(`Provider '${name}' has an invalid URI: '${uri}'`);
      }
      const rp = r.retryPolicy;
      const backOff = rp?.retryBackOff;
      const baseMs = durationMs(backOff?.baseInterval, 1000);
      this.#remote = {
        uri,
        cluster: r.httpUri?.httpUpstreamType.case === "cluster"
          ? r.httpUri.httpUpstreamType.value
          : "",
        timeoutMs: durationMs(r.httpUri?.timeout, 0),
        cacheMs: durationMs(r.cacheDuration, DEFAULT_CACHE_DURATION_MS),
        retry: rp && {
          numRetries: rp.numRetries ?? 1,
          baseMs,
          maxMs: durationMs(backOff?.maxInterval, baseMs * 10),
          retryOn: new Set((rp.retryOn || DEFAULT_RETRY_ON).split(",").map((t) => t.trim())),
        },
        asyncFetch: r.asyncFetch && {
          failedRefetchMs: durationMs(
            r.asyncFetch.failedRefetchDuration,
            DEFAULT_FAILED_REFETCH_MS,
          ),
        },
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
    const status = await this.#fetchShared(fetch, stats, remote, false);
    return status === "Ok" && this.#jwks ? this.#jwks : status;
  }

  /**
   * With `async_fetch`: fetches the remote key set now and again every `cache_duration`
   * (after a failure, every `failed_refetch_duration`), so requests find it ready; keys
   * fetched this way do not expire on the request path, as in Envoy. The timer stops once
   * the provider is gone (its config was replaced). The listener does not wait for the
   * first fetch (`fast_listener: false`): requests that come first wait for it instead.
   */
  startAsyncFetch(fetch: JwksFetch, stats: FetchStats): void {
    const remote = this.#remote;
    if (remote?.asyncFetch === undefined) return;
    const failedMs = remote.asyncFetch.failedRefetchMs;
    const self = new WeakRef(this);
    const round = () => {
      const p = self.deref();
      if (p === undefined) return;
      p.#fetchShared(fetch, stats, remote, true).then((status) => {
        Deno.unrefTimer(setTimeout(round, status === "Ok" ? remote.cacheMs : failedMs));
      });
    };
    round();
  }

  #fetchShared(
    fetch: JwksFetch,
    stats: FetchStats,
    remote: RemoteJwksSpec,
    background: boolean,
  ): Promise<Status> {
    return this.#fetching ??= this.#fetch(fetch, stats, remote, background).finally(() =>
      this.#fetching = undefined
    );
  }

  async #fetch(
    fetch: JwksFetch,
    stats: FetchStats,
    remote: RemoteJwksSpec,
    background: boolean,
  ): Promise<Status> {
    const deadline = remote.timeoutMs > 0 ? performance.now() + remote.timeoutMs : Infinity;
    let jwks: Jwks | Status = "JwksFetchFail";
    for (let attempt = 0;; attempt++) {
      let outcome: number | Error;
      try {
        const left = deadline - performance.now();
        const res = await fetch(
          remote.uri,
          remote.cluster,
          left === Infinity ? 0 : Math.max(1, left),
        );
        outcome = res.status;
        if (res.status === 200) jwks = parseJwks(res.body);
      } catch (e) {
        outcome = e instanceof Error ? e : new Error(String(e));
      }
      const retry = remote.retry;
      if (outcome === 200 || !retry || attempt >= retry.numRetries) break;
      if (!retriable(outcome, retry.retryOn)) break;
      // Randomized truncated exponential back-off, within the fetch's timeout.
      const backOff = Math.random() * Math.min(retry.baseMs * 2 ** attempt, retry.maxMs);
      if (performance.now() + backOff >= deadline) break;
      await new Promise((r) => setTimeout(r, backOff));
    }
    if (typeof jwks === "string") {
      stats.fetchFailed();
      return "JwksFetchFail";
    }
    stats.fetchSuccess();
    this.#jwks = jwks;
    this.#expires = background ? Infinity : performance.now() + remote.cacheMs;
    return "Ok";
  }
}
