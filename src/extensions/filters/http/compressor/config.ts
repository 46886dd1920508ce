/**
 * Factory of the compressor filter (`envoy.filters.http.compressor`) and its per-route config
 * (`CompressorPerRoute`). The deprecated top-level fields (`content_length`, `content_type`,
 * `disable_on_etag_header`, `remove_accept_encoding_header`, `runtime_enabled`) still apply
 * when `response_direction_config` is absent, as in Envoy.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import type {
  Compressor,
  Compressor_CommonDirectionConfig,
  CompressorPerRoute,
} from "../../../../../proto/gen/envoy/extensions/filters/http/compressor/v3/compressor_pb.ts";
import type { RuntimeFeatureFlag } from "../../../../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { TypedExtensionConfig } from "../../../../../proto/gen/envoy/config/core/v3/extension_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory, ExtensionRegistry } from "../../../../config/extensions.ts";
import { runtimeSnapshot } from "../../../../runtime/runtime.ts";
import type { CompressorLibrary } from "../../../compression/compression.ts";
import {
  COMPRESSOR_FILTER_NAME,
  COMPRESSOR_PER_ROUTE,
  type CompressorFilterConfig,
  compressorFilterFactory,
  type DirectionConfig,
} from "./compressor_filter.ts";

/** Envoy's default minimum body size for compression. */
const DEFAULT_MIN_CONTENT_LENGTH = 30;
/** Envoy's default compressible media types. */
export const DEFAULT_CONTENT_TYPES: readonly string[] = [
  "text/html",
  "text/plain",
  "text/css",
  "application/javascript",
  "application/x-javascript",
  "text/javascript",
  "text/x-javascript",
  "text/ecmascript",
  "text/js",
  "text/jscript",
  "text/x-js",
  "application/ecmascript",
  "application/x-json",
  "application/xml",
  "application/json",
  "image/svg+xml",
  "text/xml",
  "application/xhtml+xml",
];

/** A runtime feature flag as a per-stream check; an absent flag is on. */
export function featureFlag(flag: RuntimeFeatureFlag | undefined): () => boolean {
  if (!flag) return () => true;
  const dflt = flag.defaultValue ?? false;
  return () => runtimeSnapshot().getBoolean(flag.runtimeKey, dflt);
}

function directionConfig(
  c: Compressor_CommonDirectionConfig | undefined,
  enabled: () => boolean = featureFlag(c?.enabled),
): DirectionConfig {
  const types = c?.contentType.length ? c.contentType : DEFAULT_CONTENT_TYPES;
  return {
    enabled,
    minContentLength: c?.minContentLength || DEFAULT_MIN_CONTENT_LENGTH,
    contentTypes: new Set(types.map((t) => t.toLowerCase())),
  };
}

/** The compressor library `lib` names, or an error message. */
function resolveLibrary(
  lib: TypedExtensionConfig | undefined,
  extensions: ExtensionRegistry,
): CompressorLibrary | string {
  const any = lib?.typedConfig;
  if (!any) return "compressor_library: a typed_config is required";
  const f = extensions.byTypeUrl(any.typeUrl);
  if (!f?.createCompressorLibrary) {
    return `compressor_library: ${any.typeUrl} is not a compressor library`;
  }
  const msg = unpackAny<Message>(any);
  if (!msg) return `compressor_library: cannot decode ${any.typeUrl}`;
  return f.createCompressorLibrary(msg);
}

/** The filter's config from its proto (throws on a bad library). */
export function compressorConfig(
  c: Compressor,
  extensions: ExtensionRegistry,
): CompressorFilterConfig {
  const library = resolveLibrary(c.compressorLibrary, extensions);
  if (typeof library === "string") throw new Error(library);
  const rdc = c.responseDirectionConfig;
  const legacyEnabled = featureFlag(c.runtimeEnabled);
  const response = rdc
    ? {
      ...directionConfig(rdc.commonConfig),
      disableOnEtagHeader: rdc.disableOnEtagHeader,
      removeAcceptEncodingHeader: rdc.removeAcceptEncodingHeader,
    }
    : {
      ...directionConfig(
        {
          contentType: c.contentType,
          minContentLength: c.contentLength,
        } as Compressor_CommonDirectionConfig,
        legacyEnabled,
      ),
      disableOnEtagHeader: c.disableOnEtagHeader,
      removeAcceptEncodingHeader: c.removeAcceptEncodingHeader,
    };
  return {
    library,
    chooseFirst: c.chooseFirst,
    response,
    request: c.requestDirectionConfig
      ? directionConfig(c.requestDirectionConfig.commonConfig)
      : undefined,
  };
}

const COMPRESSOR = "envoy.extensions.filters.http.compressor.v3.Compressor";

/** Factory for the compressor filter. */
export const compressorFactory: ExtensionFactory = {
  name: COMPRESSOR_FILTER_NAME,
  category: "envoy.filters.http",
  configTypes: [COMPRESSOR],
  perRouteConfigTypes: [COMPRESSOR_PER_ROUTE],
  fields: {
    implemented: {
      [COMPRESSOR]: [
        "content_length",
        "content_type",
        "disable_on_etag_header",
        "remove_accept_encoding_header",
        "runtime_enabled",
        "compressor_library",
        "request_direction_config",
        "response_direction_config",
        "choose_first",
      ],
      [`${COMPRESSOR}.CommonDirectionConfig`]: ["enabled", "min_content_length", "content_type"],
      [`${COMPRESSOR}.RequestDirectionConfig`]: ["common_config"],
      [`${COMPRESSOR}.ResponseDirectionConfig`]: [
        "common_config",
        "disable_on_etag_header",
        "remove_accept_encoding_header",
      ],
      [COMPRESSOR_PER_ROUTE]: ["disabled", "overrides"],
      "envoy.extensions.filters.http.compressor.v3.CompressorOverrides": [
        "response_direction_config",
      ],
      "envoy.extensions.filters.http.compressor.v3.ResponseDirectionOverrides": [
        "remove_accept_encoding_header",
      ],
      "envoy.config.core.v3.RuntimeFeatureFlag": ["default_value", "runtime_key"],
    },
  },
  validate(config, ctx) {
    if (config.$typeName === COMPRESSOR_PER_ROUTE) {
      // The API's rules: one override is required, and `disabled` can only be true.
      const o = (config as CompressorPerRoute).override;
      if (o.case === undefined) {
        ctx.report("CompressorPerRoute: override (disabled or overrides) is required");
      } else if (o.case === "disabled" && !o.value) ctx.report("value must equal true", "disabled");
      return;
    }
    if (config.$typeName !== COMPRESSOR) return;
    const lib = (config as Compressor).compressorLibrary?.typedConfig;
    if (!lib) return;
    const f = ctx.extensions.byTypeUrl(lib.typeUrl);
    // An unregistered type is reported by the config walk as an unsupported extension.
    if (f && !f.createCompressorLibrary) {
      ctx.report(
        `${lib.typeUrl} is not a compressor library (envoy.compression.compressor)`,
        "compressor_library.typed_config",
      );
    }
  },
  createHttpFilter(config, server, statPrefix, filterName) {
    const c = config && unpackAny<Compressor>(config);
    if (!c) throw new Error("envoy.filters.http.compressor: a typed_config is required");
    const cfg = compressorConfig(c, server.extensions);
    const name = c.compressorLibrary?.name ?? "";
    const scope = server.stats.scope(
      `${statPrefix}.compressor.${name}.${cfg.library.statsPrefix}`,
    );
    return compressorFilterFactory(cfg, filterName ?? COMPRESSOR_FILTER_NAME, scope);
  },
};
