/** The format of an access log line: the logger's `log_format`, or Envoy's default. */
import type { SubstitutionFormatString } from "../../../proto/gen/envoy/config/core/v3/substitution_format_string_pb.ts";
import { compileSubstitutionFormatString } from "../../formatter/substitution_format_string.ts";
import {
  compileFormat,
  DEFAULT_ACCESS_LOG_FORMAT,
  type Formatter,
} from "../../formatter/substitution_formatter.ts";

/**
 * Compiles a logger's `log_format`; without one, Envoy's default format.
 *
 * @throws {Error} for a bad format.
 */
export function logFormatter(logFormat: SubstitutionFormatString | undefined): Formatter {
  return logFormat
    ? compileSubstitutionFormatString(logFormat).formatter
    : compileFormat(DEFAULT_ACCESS_LOG_FORMAT);
}
