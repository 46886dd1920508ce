/**
 * The `preserve_case` stateful header formatter extension
 * (`envoy.http.stateful_header_formatters.preserve_case`), set in
 * `http_protocol_options.header_key_format.stateful_formatter` of a connection manager (request
 * names as the client sent them) or of a cluster (response names as the upstream sent them).
 */
import type { TypedExtensionConfig } from "../../../../../proto/gen/envoy/config/core/v3/extension_pb.ts";
import type { PreserveCaseFormatterConfig } from "../../../../../proto/gen/envoy/extensions/http/header_formatters/preserve_case/v3/preserve_case_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import type { PreserveCaseSettings } from "./preserve_case_formatter.ts";

const CONFIG_TYPE =
  "envoy.extensions.http.header_formatters.preserve_case.v3.PreserveCaseFormatterConfig";
// FormatterTypeOnEnvoyHeaders.PROPER_CASE, written out (see conn_manager_config.ts for why).
const PROPER_CASE = 1;

/** Factory for the preserve_case formatter (built by the codecs from its settings). */
export const preserveCaseFactory: ExtensionFactory = {
  name: "envoy.http.stateful_header_formatters.preserve_case",
  aliases: ["preserve_case"],
  category: "envoy.http.stateful_header_formatters",
  configTypes: [CONFIG_TYPE],
  fields: {
    implemented: { [CONFIG_TYPE]: ["forward_reason_phrase", "formatter_type_on_envoy_headers"] },
  },
};

/**
 * The settings of a `header_key_format.stateful_formatter`. Throws for a formatter other than
 * preserve_case (the config check has already refused it as an unsupported extension).
 */
export function statefulFormatterSettings(ext: TypedExtensionConfig): PreserveCaseSettings {
  const any = ext.typedConfig;
  if (!any?.typeUrl.endsWith(`/${CONFIG_TYPE}`)) {
    throw new Error(`stateful_formatter '${ext.name}' is not supported`);
  }
  const config = unpackAny<PreserveCaseFormatterConfig>(any)!;
  return {
    forwardReasonPhrase: config.forwardReasonPhrase,
    properCaseOnEnvoyHeaders: config.formatterTypeOnEnvoyHeaders === PROPER_CASE,
  };
}
