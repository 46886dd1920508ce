/** The file access logger (`envoy.access_loggers.file`). */
import type { FileAccessLog } from "../../../../proto/gen/envoy/extensions/access_loggers/file/v3/file_pb.ts";
import type { ExtensionFactory } from "../../../config/extensions.ts";
import { fileAccessLogFormatter } from "./file_access_log.ts";

/** The config field each format variant lives in, for error positions. */
const FORMAT_FIELD = {
  format: "format",
  jsonFormat: "json_format",
  typedJsonFormat: "typed_json_format",
  logFormat: "log_format",
} as const;

/** Factory for the file access logger. */
export const fileAccessLogFactory: ExtensionFactory = {
  name: "envoy.access_loggers.file",
  aliases: ["envoy.file_access_log"],
  category: "envoy.access_loggers",
  configTypes: ["envoy.extensions.access_loggers.file.v3.FileAccessLog"],
  fields: {
    implemented: {
      "envoy.extensions.access_loggers.file.v3.FileAccessLog": [
        "path",
        "format",
        "json_format",
        "typed_json_format",
        "log_format",
      ],
    },
  },
  // Compiles the format, so `--mode validate` catches unknown operators; opens no file.
  validate(config, ctx) {
    const fal = config as FileAccessLog;
    try {
      fileAccessLogFormatter(fal);
    } catch (e) {
      const c = fal.accessLogFormat.case;
      ctx.report((e as Error).message, c ? FORMAT_FIELD[c] : undefined);
    }
  },
};
