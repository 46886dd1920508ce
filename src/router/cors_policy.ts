/**
 * A compiled CORS policy (Envoy's `Router::CorsPolicy`): from the CORS filter's per-route
 * `CorsPolicy` (typed_per_filter_config) or from the deprecated `cors` field of a virtual host
 * or route action, which the filter reads when no level has a typed one. Unset fields stay
 * unset (empty string, undefined) so that the filter can take each from the most specific
 * level that sets it.
 *
 * @module
 */
import type { CorsPolicy as LegacyCorsPolicy } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { CorsPolicy as FilterCorsPolicy } from "../../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.ts";
import { RuntimeFractionalPercent } from "../runtime/runtime_protos.ts";
import { compileStringMatcher, type StringPredicate } from "./matchers.ts";

/** A CORS policy of one level (route configuration, virtual host, route, weighted cluster). */
export class CorsPolicy {
  /** `allow_origin_string_match`; empty when unset. */
  readonly allowOrigins: readonly StringPredicate[];
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
  readonly allowCredentials?: boolean;
  readonly allowPrivateNetworkAccess?: boolean;
  readonly forwardNotMatchingPreflights?: boolean;
  readonly #filterEnabled?: RuntimeFractionalPercent;
  readonly #shadowEnabled?: RuntimeFractionalPercent;

  /**
   * @param field where the policy sits in the config, for errors.
   * @throws {Error} naming the field, for a matcher Envoy rejects (bad regex, `custom`).
   */
  constructor(p: FilterCorsPolicy | LegacyCorsPolicy, field: string) {
    this.allowOrigins = p.allowOriginStringMatch.map((m, i) =>
      compileStringMatcher(m, `${field}.allow_origin_string_match[${i}]`)
    );
    this.allowMethods = p.allowMethods;
    this.allowHeaders = p.allowHeaders;
    this.exposeHeaders = p.exposeHeaders;
    this.maxAge = p.maxAge;
    this.allowCredentials = p.allowCredentials;
    this.allowPrivateNetworkAccess = p.allowPrivateNetworkAccess;
    this.forwardNotMatchingPreflights = p.forwardNotMatchingPreflights;
    const enabled = p.$typeName === "envoy.config.route.v3.CorsPolicy"
      ? p.enabledSpecifier.value
      : p.filterEnabled;
    if (enabled) this.#filterEnabled = new RuntimeFractionalPercent(enabled);
    if (p.shadowEnabled) this.#shadowEnabled = new RuntimeFractionalPercent(p.shadowEnabled);
  }

  /** Whether the policy is enforced for this request: `filter_enabled`, 100% when unset. */
  enabled(): boolean {
    return this.#filterEnabled?.enabled() ?? true;
  }

  /** Whether origins are checked (and counted) without enforcing: `shadow_enabled`, else off. */
  shadowEnabled(): boolean {
    return this.#shadowEnabled?.enabled() ?? false;
  }
}
