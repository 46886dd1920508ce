/**
 * The file access logger (`envoy.access_loggers.file`): one formatted line per request or
 * connection, appended to `path` through the manager's buffered writer. `/dev/stdout` and
 * `/dev/stderr` share the process streams with the stdout / stderr loggers.
 */
import type { FileAccessLog } from "../../../../proto/gen/envoy/extensions/access_loggers/file/v3/file_pb.ts";
import { compileJsonFormat } from "../../../formatter/json_formatter.ts";
import { compileFormat, type Formatter } from "../../../formatter/substitution_formatter.ts";
import type { AccessLogInstance } from "../access_log.ts";
import type { AccessLogManager } from "../access_log_manager.ts";
import { logFormatter } from "../log_format.ts";

/**
 * The formatter a FileAccessLog config asks for, including its deprecated `format`,
 * `json_format` (all values strings) and `typed_json_format`.
 *
 * @throws {Error} for a bad format.
 */
export function fileAccessLogFormatter(config: FileAccessLog): Formatter {
  const f = config.accessLogFormat;
  switch (f.case) {
    case "format":
      // An empty format string means the default, as in Envoy.
      return f.value ? compileFormat(f.value) : logFormatter(undefined);
    case "jsonFormat":
      return compileJsonFormat(f.value, { typed: false });
    case "typedJsonFormat":
      return compileJsonFormat(f.value);
    case "logFormat":
      return logFormatter(f.value);
    default:
      return logFormatter(undefined);
  }
}

/**
 * Creates the logger; its file is opened now.
 *
 * @throws {Error} for a bad format or a file that cannot be opened.
 */
export function createFileAccessLog(
  config: FileAccessLog,
  manager: AccessLogManager,
): AccessLogInstance {
  const formatter = fileAccessLogFormatter(config);
  const writer = manager.writer(config.path);
  return { log: (ctx) => writer.write(formatter.format(ctx)) };
}
