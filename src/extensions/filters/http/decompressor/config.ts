/**
 * Factory of the decompressor filter (`envoy.filters.http.decompressor`).
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import type { Decompressor } from "../../../../../proto/gen/envoy/extensions/filters/http/decompressor/v3/decompressor_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { featureFlag } from "../compressor/config.ts";
import { type DecompressorFilterConfig, decompressorFilterFactory } from "./decompressor_filter.ts";

const DECOMPRESSOR = "envoy.extensions.filters.http.decompressor.v3.Decompressor";

/** Factory for the decompressor filter. */
export const decompressorFactory: ExtensionFactory = {
  name: "envoy.filters.http.decompressor",
  category: "envoy.filters.http",
  configTypes: [DECOMPRESSOR],
  fields: {
    implemented: {
      [DECOMPRESSOR]: [
        "decompressor_library",
        "request_direction_config",
        "response_direction_config",
      ],
      [`${DECOMPRESSOR}.CommonDirectionConfig`]: ["enabled", "ignore_no_transform_header"],
      [`${DECOMPRESSOR}.RequestDirectionConfig`]: ["common_config", "advertise_accept_encoding"],
      [`${DECOMPRESSOR}.ResponseDirectionConfig`]: ["common_config"],
      "envoy.config.core.v3.RuntimeFeatureFlag": ["default_value", "runtime_key"],
    },
  },
  validate(config, ctx) {
    if (config.$typeName !== DECOMPRESSOR) return;
    const lib = (config as Decompressor).decompressorLibrary?.typedConfig;
    if (!lib) return;
    const f = ctx.extensions.byTypeUrl(lib.typeUrl);
    // An unregistered type is reported by the config walk as an unsupported extension.
    if (f && !f.createDecompressorLibrary) {
      ctx.report(
        `${lib.typeUrl} is not a decompressor library (envoy.compression.decompressor)`,
        "decompressor_library.typed_config",
      );
    }
  },
  createHttpFilter(config, server, statPrefix) {
    const c = config && unpackAny<Decompressor>(config);
    const any = c?.decompressorLibrary?.typedConfig;
    if (!c || !any) {
      throw new Error("envoy.filters.http.decompressor: decompressor_library is required");
    }
    const f = server.extensions.byTypeUrl(any.typeUrl);
    const msg = unpackAny<Message>(any);
    if (!f?.createDecompressorLibrary || !msg) {
      throw new Error(`decompressor_library: ${any.typeUrl} is not a decompressor library`);
    }
    const library = f.createDecompressorLibrary(msg);
    const req = c.requestDirectionConfig;
    const res = c.responseDirectionConfig;
    const name = c.decompressorLibrary?.name ?? "";
    const cfg: DecompressorFilterConfig = {
      library,
      name,
      request: {
        enabled: featureFlag(req?.commonConfig?.enabled),
        ignoreNoTransformHeader: req?.commonConfig?.ignoreNoTransformHeader ?? false,
        advertiseAcceptEncoding: req?.advertiseAcceptEncoding ?? true,
      },
      response: {
        enabled: featureFlag(res?.commonConfig?.enabled),
        ignoreNoTransformHeader: res?.commonConfig?.ignoreNoTransformHeader ?? false,
      },
    };
    const scope = server.stats.scope(
      `${statPrefix}.decompressor.${name}.${library.statsPrefix}`,
    );
    return decompressorFilterFactory(cfg, scope);
  },
};
