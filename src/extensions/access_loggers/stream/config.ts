/** The stdout and stderr access loggers (`envoy.access_loggers.stdout` / `.stderr`). */
import type { Message } from "@bufbuild/protobuf";
import type { StdoutAccessLog } from "../../../../proto/gen/envoy/extensions/access_loggers/stream/v3/stream_pb.ts";
import type { ExtensionFactory, ExtensionValidationContext } from "../../../config/extensions.ts";
import { streamAccessLogFormatter } from "./stream_access_log.ts";

/** Compiles the format, so `--mode validate` catches unknown operators. */
function validate(config: Message, ctx: ExtensionValidationContext): void {
  try {
    // Stdout and stderr configs have the same shape.
    streamAccessLogFormatter(config as StdoutAccessLog);
  } catch (e) {
    ctx.report((e as Error).message, "log_format");
  }
}

const STREAM = "envoy.extensions.access_loggers.stream.v3";

/** Factory for the stdout access logger. */
export const stdoutAccessLogFactory: ExtensionFactory = {
  name: "envoy.access_loggers.stdout",
  category: "envoy.access_loggers",
  configTypes: [`${STREAM}.StdoutAccessLog`],
  fields: { implemented: { [`${STREAM}.StdoutAccessLog`]: ["log_format"] } },
  validate,
};

/** Factory for the stderr access logger. */
export const stderrAccessLogFactory: ExtensionFactory = {
  name: "envoy.access_loggers.stderr",
  category: "envoy.access_loggers",
  configTypes: [`${STREAM}.StderrAccessLog`],
  fields: { implemented: { [`${STREAM}.StderrAccessLog`]: ["log_format"] } },
  validate,
};
