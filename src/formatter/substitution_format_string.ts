/**
 * Builds a formatter from a `SubstitutionFormatString` (`envoy.config.core.v3`), the config
 * message access loggers and local replies use for `log_format` / `body_format`.
 */
import type { SubstitutionFormatString } from "../../proto/gen/envoy/config/core/v3/substitution_format_string_pb.ts";
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
 * Compiles `config`.
 *
 * @throws {Error} for a bad format, a data source that cannot be read, or formatter
 * extensions (`formatters`), which denvoy does not implement.
 */
export function compileSubstitutionFormatString(
  config: SubstitutionFormatString,
): SubstitutionFormat {
  if (config.formatters.length > 0) {
    const names = config.formatters.map((f) => f.name).join(", ");
    throw new Error(`formatter extensions are not supported: ${names}`);
  }
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
        formatter: compileJsonFormat(f.value, opts),
        contentType: config.contentType || "application/json",
      };
    default:
      throw new Error(
        "SubstitutionFormatString sets none of text_format, text_format_source, json_format",
      );
  }
}
