/**
 * The CSRF filter (`envoy.filters.http.csrf`): a request that may change state (POST, PUT,
 * DELETE, PATCH) must come from the origin it is sent to. Its source origin (`Origin`, else
 * `Referer`) and its destination (`:scheme://:authority`) are compared as host and port, as
 * a URL parser renders them (lower case, default ports dropped), or as the raw header value
 * when that is not an http(s) URL; `additional_origins` allow other sources. A request without
 * a source origin counts `csrf.missing_source_origin`, one that does not match
 * `csrf.request_invalid`, and both are answered 403 `Invalid origin` while the policy is
 * enforced (`filter_enabled`); with only `shadow_enabled` they are counted and pass. Valid
 * requests count `csrf.request_valid`.
 *
 * The policy is the most specific `CsrfPolicy` in the route's `typed_per_filter_config`, else
 * the filter's own. `filter_enabled` and `shadow_enabled` are drawn once per request, where
 * Envoy draws again at each check; with 0% or 100% (and runtime keys) the two agree.
 *
 * @module
 */
import type { CsrfPolicy as CsrfPolicyProto } from "../../../../../proto/gen/envoy/extensions/filters/http/csrf/v3/csrf_pb.ts";
import type {
  FilterHeadersStatus,
  HttpFilterFactoryCb,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import type { HeaderMap } from "../../../../http/header_map.ts";
import { compileStringMatcher, type StringPredicate } from "../../../../router/matchers.ts";
import { RuntimeFractionalPercent } from "../../../../runtime/runtime_protos.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import {
  compiledPerRouteConfig,
  mostSpecificPerFilterConfig,
} from "../common/per_filter_config.ts";

/** Envoy's name of the filter. */
export const CSRF_FILTER_NAME = "envoy.filters.http.csrf";
/** The filter's config and per-route config type. */
export const CSRF_POLICY_TYPE = "envoy.extensions.filters.http.csrf.v3.CsrfPolicy";

/** `<stat_prefix>csrf.*`. */
export class CsrfStats {
  readonly missingSourceOrigin: Counter;
  readonly requestInvalid: Counter;
  readonly requestValid: Counter;

  constructor(scope: Scope) {
    this.missingSourceOrigin = scope.counter("csrf.missing_source_origin");
    this.requestInvalid = scope.counter("csrf.request_invalid");
    this.requestValid = scope.counter("csrf.request_valid");
  }
}

/** A compiled `CsrfPolicy`. */
export class CsrfPolicy {
  readonly additionalOrigins: readonly StringPredicate[];
  readonly #filterEnabled: RuntimeFractionalPercent | undefined;
  readonly #shadowEnabled: RuntimeFractionalPercent | undefined;

  /** @throws {Error} naming the field (relative to `field`) for a matcher Envoy rejects. */
  constructor(p: CsrfPolicyProto, field: string) {
    this.additionalOrigins = p.additionalOrigins.map((m, i) =>
      compileStringMatcher(m, `${field}.additional_origins[${i}]`)
    );
    // Required by the schema: a policy without it never reaches here from config.
    this.#filterEnabled = p.filterEnabled && new RuntimeFractionalPercent(p.filterEnabled);
    this.#shadowEnabled = p.shadowEnabled && new RuntimeFractionalPercent(p.shadowEnabled);
  }

  enabled(): boolean {
    return this.#filterEnabled?.enabled() ?? false;
  }

  shadowEnabled(): boolean {
    return this.#shadowEnabled?.enabled() ?? false;
  }
}

const routePolicy = compiledPerRouteConfig(
  CSRF_POLICY_TYPE,
  (p: CsrfPolicyProto) => new CsrfPolicy(p, "typed_per_filter_config"),
);

/**
 * Envoy's `Url::hostAndPort` of a header value: host and (non-default) port of an http(s)
 * URL, else the value itself.
 */
export function hostAndPort(value: string): string {
  if (value === "") return "";
  const url = URL.parse(value);
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) return value;
  return url.host;
}

function isModifyMethod(method: string | undefined): boolean {
  return method === "POST" || method === "PUT" || method === "DELETE" || method === "PATCH";
}

class CsrfFilter {
  constructor(
    readonly cb: StreamFilterCallbacks,
    readonly stats: CsrfStats,
    readonly policy: CsrfPolicy,
    readonly configName: string,
  ) {}

  decodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const m = this.cb.route();
    const perRoute = m && mostSpecificPerFilterConfig(m, this.configName, CSRF_FILTER_NAME);
    const policy = (perRoute && routePolicy(perRoute)) ?? this.policy;
    const enabled = policy.enabled();
    if (!enabled && !policy.shadowEnabled()) return "continue";
    if (!isModifyMethod(headers.get(":method"))) return "continue";
    let valid = true;
    const source = hostAndPort(headers.get("origin") ?? "") ||
      hostAndPort(headers.get("referer") ?? "");
    if (source === "") {
      valid = false;
      this.stats.missingSourceOrigin.inc();
    }
    if (!this.#isValid(policy, source, headers)) {
      valid = false;
      this.stats.requestInvalid.inc();
    }
    if (valid) {
      this.stats.requestValid.inc();
      return "continue";
    }
    if (!enabled) return "continue";
    this.cb.sendLocalReply(403, "Invalid origin", { details: "csrf_origin_mismatch" });
    return "stop";
  }

  #isValid(policy: CsrfPolicy, source: string, headers: HeaderMap): boolean {
    const host = headers.get(":authority");
    const target = host ? hostAndPort(`${headers.get(":scheme") ?? "http"}://${host}`) : "";
    if (source === target) return true;
    return policy.additionalOrigins.some((m) => m(source));
  }
}

/**
 * The filter of each stream. `configName` is the filter's name in its chain, under which
 * `typed_per_filter_config` holds its per-route policies (else under `envoy.filters.http.csrf`).
 */
export function csrfFilterFactory(
  policy: CsrfPolicy,
  stats: CsrfStats,
  configName: string,
): HttpFilterFactoryCb {
  return (cb) => ({ decoder: new CsrfFilter(cb, stats, policy, configName) });
}
