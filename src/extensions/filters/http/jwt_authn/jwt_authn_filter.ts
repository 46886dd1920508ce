/**
 * The JWT authentication filter (`envoy.filters.http.jwt_authn`): picks the requirement of a
 * request (per-route `PerRouteConfig`, else the first matching `rules` entry, else the
 * `filter_state_rules` requirement of the filter state's string value), verifies its
 * tokens (verifier.ts), and either lets the request on or answers as Envoy does: 401 with
 * `www-authenticate: Bearer realm="<scheme>://<host><path>"` (plus `, error="invalid_token"`
 * unless the token was missing), 403 when the audiences are not allowed or the per-route
 * `requirement_name` is unknown; `strip_failure_response` leaves the body and header out.
 * CORS preflights pass when `bypass_cors_preflight` is set. The verified tokens' extracted
 * data lands in the dynamic metadata namespace `envoy.filters.http.jwt_authn`.
 *
 * Stats: `<http prefix>.jwt_authn.allowed`, `denied`, `cors_preflight_bypassed`,
 * `jwks_fetch_success`, `jwks_fetch_failed`, `jwt_cache_hit`, `jwt_cache_miss`.
 *
 * @module
 */
import type {
  JwtAuthentication,
  PerRouteConfig,
} from "../../../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.ts";
import type { Any } from "@bufbuild/protobuf/wkt";
import { unpackAny } from "../../../../config/any.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import type {
  FilterHeadersStatus,
  HttpFilterFactoryCb,
  StreamDecoderFilter,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import type { HeaderMap } from "../../../../http/header_map.ts";
import { clusterHttpClient, type ClusterHttpDeps } from "../../../../grpc/cluster_http_client.ts";
import { STATUS, type Status } from "./jwt.ts";
import { compileRuleMatch, type RequestPredicate } from "./matcher.ts";
import { type JwksFetch, Provider } from "./provider.ts";
import {
  compileRequirement,
  type Verifier,
  type VerifyContext,
  type VerifyStats,
} from "./verifier.ts";

/** The filter's well-known name: its dynamic metadata namespace. */
export const JWT_AUTHN_FILTER_NAME = "envoy.filters.http.jwt_authn";

/** Envoy keeps the realm's path to this many characters. */
const MAX_URI_PATH_LENGTH = 256;

/** The filter's counters. */
class JwtAuthnStats implements VerifyStats {
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly corsPreflightBypassed: Counter;
  readonly #fetchSuccess: Counter;
  readonly #fetchFailed: Counter;
  readonly #cacheHit: Counter;
  readonly #cacheMiss: Counter;

  constructor(scope: Scope, prefix: string) {
    const c = (n: string) => scope.counter(`${prefix}jwt_authn.${n}`);
    this.allowed = c("allowed");
    this.denied = c("denied");
    this.corsPreflightBypassed = c("cors_preflight_bypassed");
    this.#fetchSuccess = c("jwks_fetch_success");
    this.#fetchFailed = c("jwks_fetch_failed");
    this.#cacheHit = c("jwt_cache_hit");
    this.#cacheMiss = c("jwt_cache_miss");
  }

  fetchSuccess(): void {
    this.#fetchSuccess.inc();
  }
  fetchFailed(): void {
    this.#fetchFailed.inc();
  }
  cacheHit(): void {
    this.#cacheHit.inc();
  }
  cacheMiss(): void {
    this.#cacheMiss.inc();
  }
}

/** `JwtAuthentication`, compiled. */
export interface JwtAuthnConfig {
  readonly providers: readonly Provider[];
  readonly rules: readonly { match: RequestPredicate; verifier: Verifier | undefined }[];
  /** `filter_state_rules`: the filter state key, and the requirement of each of its values. */
  readonly filterState?: { name: string; requires: ReadonlyMap<string, Verifier> };
  /** `requirement_map`, for per-route `requirement_name`. */
  readonly requirements: ReadonlyMap<string, Verifier>;
  /** The map's names, sorted and comma-joined, for the 403 of an unknown one. */
  readonly requirementNames: string;
  readonly bypassCorsPreflight: boolean;
  readonly stripFailureResponse: boolean;
}

/**
 * Compiles the filter config.
 * @throws {Error} naming the field, for what Envoy rejects.
 */
export function compileJwtAuthn(c: JwtAuthentication): JwtAuthnConfig {
  const providers = new Map<string, Provider>();
  for (const [name, p] of Object.entries(c.providers)) {
    providers.set(name, new Provider(name, p, `providers["${name}"]`));
  }
  const requirements = new Map<string, Verifier>();
  for (const [name, r] of Object.entries(c.requirementMap)) {
    requirements.set(name, compileRequirement(r, providers));
  }
  const requirementNames = [...requirements.keys()].sort().join(",");
  const rules = c.rules.map((r, i) => {
    const field = `rules[${i}]`;
    if (!r.match) throw new Error(`${field}.match: is required`);
    const match = compileRuleMatch(r.match, `${field}.match`);
    const t = r.requirementType;
    let verifier: Verifier | undefined;
    if (t.case === "requires") verifier = compileRequirement(t.value, providers);
    else if (t.case === "requirementName") {
      verifier = requirements.get(t.value);
      if (!verifier) {
        throw new Error(
          `Wrong requirement_name: ${t.value}. It should be one of [${requirementNames}]`,
        );
      }
    }
    return { match, verifier };
  });
  const fsr = c.filterStateRules;
  const filterState = fsr && {
    name: fsr.name,
    requires: new Map(
      Object.entries(fsr.requires).map(([k, r]) => [k, compileRequirement(r, providers)]),
    ),
  };
  return {
    providers: [...providers.values()],
    filterState,
    rules,
    requirements,
    requirementNames,
    bypassCorsPreflight: c.bypassCorsPreflight,
    stripFailureResponse: c.stripFailureResponse,
  };
}

/** Fetches JWKS documents through the cluster manager (the cluster's hosts, pools, TLS). */
export function clusterJwksFetch(deps: ClusterHttpDeps): JwksFetch {
  return async (uri, cluster, timeoutMs) => {
    const url = new URL(uri);
    const abort = new AbortController();
    const timer = timeoutMs > 0 ? setTimeout(() => abort.abort(), timeoutMs) : undefined;
    try {
      const res = await clusterHttpClient(deps, cluster, url.host)({
        url: uri,
        method: "GET",
        header: new Headers(),
        signal: abort.signal,
      });
      const chunks: Uint8Array[] = [];
      for await (const chunk of res.body) chunks.push(chunk);
      const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const chunk of chunks) {
        body.set(chunk, at);
        at += chunk.length;
      }
      return { status: res.status, body: new TextDecoder().decode(body) };
    } finally {
      clearTimeout(timer);
    }
  };
}

/** RESPONSE_CODE_DETAILS of a denial: spaces become underscores (access logs split on them). */
const rcDetails = (msg: string) => `jwt_authn_access_denied{${msg.replace(/\s/g, "_")}}`;

const isCorsPreflight = (h: HeaderMap) =>
  h.get(":method") === "OPTIONS" && !!h.get("origin") && !!h.get("access-control-request-method");

/** Per-route configs are unpacked once per Any. */
const perRouteCache = new WeakMap<Any, PerRouteConfig | undefined>();

class JwtAuthnFilter implements StreamDecoderFilter {
  #destroyed = false;

  constructor(
    readonly cfg: JwtAuthnConfig,
    readonly stats: JwtAuthnStats,
    readonly fetch: JwksFetch,
    readonly filterName: string,
    readonly cb: StreamFilterCallbacks,
  ) {}

  decodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const cfg = this.cfg;
    if (cfg.bypassCorsPreflight && isCorsPreflight(headers)) {
      this.stats.corsPreflightBypassed.inc();
      this.stats.allowed.inc();
      return "continue";
    }
    let verifier: Verifier | undefined;
    const any = this.cb.perFilterConfig(this.filterName);
    if (any !== undefined) {
      let perRoute = perRouteCache.get(any);
      if (perRoute === undefined && !perRouteCache.has(any)) {
        perRouteCache.set(any, perRoute = unpackAny<PerRouteConfig>(any));
      }
      const spec = perRoute?.requirementSpecifier;
      if (spec?.case === "requirementName") {
        verifier = cfg.requirements.get(spec.value);
        if (!verifier) {
          const msg =
            `Wrong requirement_name: ${spec.value}. It should be one of [${cfg.requirementNames}]`;
          this.stats.denied.inc();
          this.cb.sendLocalReply(
            403,
            cfg.stripFailureResponse ? "" : `Failed JWT authentication: ${msg}`,
            { details: rcDetails(msg) },
          );
          return "stop";
        }
      }
    } else {
      const rule = cfg.rules.find((r) => r.match(headers));
      if (rule) verifier = rule.verifier;
      else if (cfg.filterState) {
        // Only a string value selects (Envoy reads a StringAccessor there).
        const key = this.cb.streamInfo.filterState.get(cfg.filterState.name);
        if (typeof key === "string") verifier = cfg.filterState.requires.get(key);
      }
    }
    if (verifier === undefined) {
      this.stats.allowed.inc();
      return "continue";
    }
    const path = headers.get("x-envoy-original-path") ?? headers.get(":path") ?? "";
    const scheme = headers.get("x-forwarded-proto") ?? headers.get(":scheme") ?? "http";
    const uri = `${scheme}://${headers.get(":authority") ?? ""}${
      path.slice(0, MAX_URI_PATH_LENGTH)
    }`;
    const ctx: VerifyContext = {
      headers,
      nowMs: Date.now(),
      fetch: this.fetch,
      stats: this.stats,
      extracted: {},
      routeCacheCleared: false,
    };
    // Verification always ends in a later microtask (WebCrypto is async): the request waits.
    verifier(ctx).then((status) => this.#complete(status, ctx, uri)).catch((e) => {
      if (!this.#destroyed) this.cb.onBug(e);
    });
    return "stop";
  }

  #complete(status: Status, ctx: VerifyContext, uri: string): void {
    if (this.#destroyed) return;
    if (Object.keys(ctx.extracted).length > 0) {
      const md = this.cb.streamInfo.dynamicMetadata;
      md[JWT_AUTHN_FILTER_NAME] = { ...md[JWT_AUTHN_FILTER_NAME], ...ctx.extracted };
    }
    if (status !== "Ok") {
      this.stats.denied.inc();
      const code = status === "JwtAudienceNotAllowed" ? 403 : 401;
      const msg = STATUS[status];
      if (this.cfg.stripFailureResponse) {
        this.cb.sendLocalReply(code, "", { details: rcDetails(msg) });
        return;
      }
      this.cb.sendLocalReply(code, msg, {
        details: rcDetails(msg),
        modifyHeaders: (h) =>
          h.set(
            "www-authenticate",
            `Bearer realm="${uri}"${status === "JwtMissed" ? "" : ', error="invalid_token"'}`,
          ),
      });
      return;
    }
    this.stats.allowed.inc();
    if (ctx.routeCacheCleared) this.cb.clearRouteCache();
    this.cb.continueDecoding();
  }

  onDestroy(): void {
    this.#destroyed = true;
  }
}

/**
 * The per-stream filter factory of a compiled config; `filterName` (the filter's name in its
 * chain) keys its per-route configs.
 */
export function jwtAuthnFilterFactory(
  cfg: JwtAuthnConfig,
  scope: Scope,
  statPrefix: string,
  fetch: JwksFetch,
  filterName: string,
): HttpFilterFactoryCb {
  const stats = new JwtAuthnStats(scope, statPrefix);
  for (const p of cfg.providers) p.startAsyncFetch(fetch, stats);
  return (cb) => ({ decoder: new JwtAuthnFilter(cfg, stats, fetch, filterName, cb) });
}
