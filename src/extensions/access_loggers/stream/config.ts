/** The stdout and stderr access loggers (`envoy.access_loggers.stdout` / `.stderr`). */
import type { ExtensionFactory } from "../../../config/extensions.ts";

/** Factory for the stdout access logger. */
export const stdoutAccessLogFactory: ExtensionFactory = {
  name: "envoy.access_loggers.stdout",
  category: "envoy.access_loggers",
  configTypes: ["envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"],
};

/** Factory for the stderr access logger. */
export const stderrAccessLogFactory: ExtensionFactory = {
  name: "envoy.access_loggers.stderr",
  category: "envoy.access_loggers",
  configTypes: ["envoy.extensions.access_loggers.stream.v3.StderrAccessLog"],
};
