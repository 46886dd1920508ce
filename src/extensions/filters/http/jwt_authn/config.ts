/** Factory of the JWT authentication filter (`envoy.filters.http.jwt_authn`). */
import type {
  JwtAuthentication,
  PerRouteConfig,
} from "../../../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.ts";
import type { RouteMatch } from "../../../../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import { durationMs } from "../../../../common/duration.ts";
import { JWKS_RETRY_ON } from "./provider.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import {
  clusterJwksFetch,
  compileJwtAuthn,
  JWT_AUTHN_FILTER_NAME,
  jwtAuthnFilterFactory,
} from "./jwt_authn_filter.ts";

const PKG = "envoy.extensions.filters.http.jwt_authn.v3";

/** RouteMatch fields Envoy's requirement-rule matcher does not read: refused in `rules`. */
function unreadMatchFields(m: RouteMatch): string[] {
  const out: string[] = [];
  if (m.pathSpecifier.case === "pathMatchPolicy") out.push("path_match_policy");
  if (m.runtimeFraction) out.push("runtime_fraction");
  if (m.grpc) out.push("grpc");
  if (m.tlsContext) out.push("tls_context");
  if (m.dynamicMetadata.length > 0) out.push("dynamic_metadata");
  return out;
}

/** Factory for the JWT authentication filter. */
export const jwtAuthnFactory: ExtensionFactory = {
  name: JWT_AUTHN_FILTER_NAME,
  category: "envoy.filters.http",
  configTypes: [`${PKG}.JwtAuthentication`],
  perRouteConfigTypes: [`${PKG}.PerRouteConfig`],
  // Refused: failed_status_in_metadata, and the retry policy's retry priority and host
  // predicates.
  fields: {
    implemented: {
      [`${PKG}.JwtAuthentication`]: [
        "providers",
        "rules",
        "bypass_cors_preflight",
        "requirement_map",
        "strip_failure_response",
        "filter_state_rules",
      ],
      [`${PKG}.FilterStateRule`]: ["name", "requires"],
      [`${PKG}.JwtProvider`]: [
        "issuer",
        "audiences",
        "subjects",
        "require_expiration",
        "max_lifetime",
        "remote_jwks",
        "local_jwks",
        "forward",
        "from_headers",
        "from_params",
        "from_cookies",
        "forward_payload_header",
        "pad_forward_payload_header",
        "payload_in_metadata",
        "normalize_payload_in_metadata",
        "header_in_metadata",
        "clock_skew_seconds",
        "jwt_cache_config",
        "claim_to_headers",
        "clear_route_cache",
      ],
      [`${PKG}.JwtProvider.NormalizePayload`]: ["space_delimited_claims"],
      [`${PKG}.JwtCacheConfig`]: ["jwt_cache_size"],
      [`${PKG}.RemoteJwks`]: ["http_uri", "cache_duration", "async_fetch", "retry_policy"],
      [`${PKG}.JwksAsyncFetch`]: ["fast_listener", "failed_refetch_duration"],
      "envoy.config.core.v3.RetryPolicy": ["retry_back_off", "num_retries", "retry_on"],
      "envoy.config.core.v3.BackoffStrategy": ["base_interval", "max_interval"],
      "envoy.config.core.v3.HttpUri": ["uri", "cluster", "timeout"],
      [`${PKG}.JwtHeader`]: ["name", "value_prefix"],
      [`${PKG}.ProviderWithAudiences`]: ["provider_name", "audiences"],
      [`${PKG}.JwtRequirement`]: [
        "provider_name",
        "provider_and_audiences",
        "requires_any",
        "requires_all",
        "allow_missing_or_failed",
        "allow_missing",
      ],
      [`${PKG}.JwtRequirementOrList`]: ["requirements"],
      [`${PKG}.JwtRequirementAndList`]: ["requirements"],
      [`${PKG}.RequirementRule`]: ["match", "requires", "requirement_name"],
      [`${PKG}.JwtClaimToHeader`]: ["header_name", "claim_name", "claim_path"],
      [`${PKG}.JwtClaimToHeader.PathSegment`]: ["key"],
      [`${PKG}.PerRouteConfig`]: ["disabled", "requirement_name"],
    },
  },
  validate(config, ctx) {
    if (config.$typeName === `${PKG}.PerRouteConfig`) {
      const spec = (config as PerRouteConfig).requirementSpecifier;
      // Envoy's schema: `disabled` may only be true (leave it out to keep the filter on).
      if (spec.case === "disabled" && !spec.value) ctx.report("value must equal true", "disabled");
      return;
    }
    if (config.$typeName !== `${PKG}.JwtAuthentication`) return;
    const c = config as JwtAuthentication;
    c.rules.forEach((r, i) => {
      if (!r.match) return;
      for (const f of unreadMatchFields(r.match)) {
        ctx.unsupported(`requirement rule match field '${f}'`, `rules[${i}].match.${f}`);
      }
    });
    for (const [name, p] of Object.entries(c.providers)) {
      const src = p.jwksSourceSpecifier;
      const where = `providers[${name}].remote_jwks.retry_policy`;
      const rp = src.case === "remoteJwks" ? src.value.retryPolicy : undefined;
      for (const on of rp?.retryOn ? rp.retryOn.split(",").map((t) => t.trim()) : []) {
        if (!JWKS_RETRY_ON.has(on)) {
          ctx.unsupported(`JWKS fetch retry_on '${on}'`, `${where}.retry_on`);
        }
      }
      const backOff = rp?.retryBackOff;
      if (
        backOff?.maxInterval &&
        durationMs(backOff.maxInterval, 0) < durationMs(backOff.baseInterval, 0)
      ) {
        ctx.report(
          "max_interval must be greater than or equal to the base_interval",
          `${where}.retry_back_off`,
        );
      }
      if (src.case === undefined) {
        ctx.report(
          "jwks_source_specifier: one of remote_jwks or local_jwks is required",
          `providers[${name}]`,
        );
      }
    }
    try {
      compileJwtAuthn(c);
    } catch (e) {
      ctx.report((e as Error).message);
    }
  },
  createHttpFilter: (config, server, statPrefix, filterName) => {
    const c = config && unpackAny<JwtAuthentication>(config);
    if (!c) throw new Error("jwt_authn needs a typed_config");
    return jwtAuthnFilterFactory(
      compileJwtAuthn(c),
      server.stats,
      `${statPrefix}.`,
      clusterJwksFetch(server),
      filterName ?? JWT_AUTHN_FILTER_NAME,
    );
  },
};
