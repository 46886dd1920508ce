/** The file access logger (`envoy.access_loggers.file`). */
import type { ExtensionFactory } from "../../../config/extensions.ts";

/** Factory for the file access logger. */
export const fileAccessLogFactory: ExtensionFactory = {
  name: "envoy.access_loggers.file",
  aliases: ["envoy.file_access_log"],
  category: "envoy.access_loggers",
  configTypes: ["envoy.extensions.access_loggers.file.v3.FileAccessLog"],
};
