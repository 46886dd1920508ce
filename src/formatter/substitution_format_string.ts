/**
 * Builds a formatter from a `SubstitutionFormatString` (`envoy.config.core.v3`), the config
 * message access loggers and local replies use for `log_format` / `body_format`.
 */
import type { SubstitutionFormatString } from "../../proto/gen/envoy/config/core/v3/substitution_format_string_pb.ts";
import type { TypedExtensionConfig } from "../../proto/gen/envoy/config/core/v3/extension_pb.ts";
import { typeNameOfUrl } from "../config/api.ts";
import { compileJsonFormat } from "./json_formatter.ts";
import { compileFormat, type Formatter } from "./substitution_formatter.ts";
import { dataSourceText } from "../config/data_source.ts";

/** A compiled SubstitutionFormatString. */
export interface SubstitutionFormat {
  formatter: Formatter;
  /** `content_type`, or `text/plain` / `application/json` by the kind of format. */
  contentType: string;
}

/**
 * Formatter extensions whose operators denvoy has built in (`%METADATA(...)%`,
 * `%REQ_WITHOUT_QUERY(...)%`): listing them is accepted and changes nothing.
 */
const BUILT_IN_FORMATTERS = new Set([
  "envoy.extensions.formatter.metadata.v3.Metadata",
  "envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery",
]);

function checkFormatters(formatters: TypedExtensionConfig[]): void {
  formatters.forEach((f, i) => {
    const type = f.typedConfig ? typeNameOfUrl(f.typedConfig.typeUrl) : "";
    if (BUILT_IN_FORMATTERS.has(type)) return;
    const what = f.name || type || `formatters[${i}]`;
    throw new Error(
      `formatter extension '${what}'${type && type !== what ? ` (${type})` : ""} is not ` +
        "supported (supported: envoy.formatter.metadata, envoy.formatter.req_without_query)",
    );
  });
}

/**
 * Compiles `config`.
 *
 * @throws {Error} for a bad format, a data source that cannot be read, or formatter
 * extensions denvoy does not have (CEL).
 */
export function compileSubstitutionFormatString(
  config: SubstitutionFormatString,
): SubstitutionFormat {
  checkFormatters(config.formatters);
  const opts = { omitEmptyValues: config.omitEmptyValues };
  const f = config.format;
  switch (f.case) {
    case "textFormat":
      return {
        formatter: compileFormat(f.value, opts),
        contentType: config.contentType || "text/plain",
      };
    case "textFormatSource":
      return {
        formatter: compileFormat(dataSourceText(f.value, "text_format_source") ?? "", opts),
        contentType: config.contentType || "text/plain",
      };
    case "jsonFormat":
      return {
        formatter: compileJsonFormat(f.value, {
          ...opts,
          sortProperties: config.jsonFormatOptions?.sortProperties ?? false,
        }),
        contentType: config.contentType || "application/json",
      };
    default:
      throw new Error(
        "SubstitutionFormatString sets none of text_format, text_format_source, json_format",
      );
  }
}
