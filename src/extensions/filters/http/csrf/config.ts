/** Factory of the CSRF filter (`envoy.filters.http.csrf`); its per-route config is the same type. */
import type { Message } from "@bufbuild/protobuf";
import type { CsrfPolicy as CsrfPolicyProto } from "../../../../../proto/gen/envoy/extensions/filters/http/csrf/v3/csrf_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { reportCompileError } from "../common/report_compile_error.ts";
import {
  CSRF_FILTER_NAME,
  CSRF_POLICY_TYPE,
  csrfFilterFactory,
  CsrfPolicy,
  CsrfStats,
} from "./csrf_filter.ts";

/** Factory for the CSRF filter. */
export const csrfFactory: ExtensionFactory = {
  name: CSRF_FILTER_NAME,
  category: "envoy.filters.http",
  configTypes: [CSRF_POLICY_TYPE],
  fields: {
    implemented: {
      [CSRF_POLICY_TYPE]: ["filter_enabled", "shadow_enabled", "additional_origins"],
    },
  },
  validate(config: Message, ctx) {
    reportCompileError(ctx, () => new CsrfPolicy(config as CsrfPolicyProto, ""));
  },
  createHttpFilter: (config, server, statPrefix, filterName) => {
    const c = config && unpackAny<CsrfPolicyProto>(config);
    if (!c) throw new Error(`${CSRF_FILTER_NAME}: a CsrfPolicy typed_config is required`);
    return csrfFilterFactory(
      new CsrfPolicy(c, "typed_config"),
      new CsrfStats(server.stats.scope(statPrefix)),
      filterName ?? CSRF_FILTER_NAME,
    );
  },
};
