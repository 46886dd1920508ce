/**
 * The stdout and stderr access loggers (`envoy.access_loggers.stdout` / `.stderr`). Like
 * Envoy's, they go through the same buffered writer as files, on the process's streams.
 */
import type {
  StderrAccessLog,
  StdoutAccessLog,
} from "../../../../proto/gen/envoy/extensions/access_loggers/stream/v3/stream_pb.ts";
import type { Formatter } from "../../../formatter/substitution_formatter.ts";
import type { AccessLogInstance } from "../access_log.ts";
import { type AccessLogManager, STDERR_PATH, STDOUT_PATH } from "../access_log_manager.ts";
import { logFormatter } from "../log_format.ts";

/**
 * The formatter a stdout / stderr logger config asks for.
 *
 * @throws {Error} for a bad format.
 */
export function streamAccessLogFormatter(config: StdoutAccessLog | StderrAccessLog): Formatter {
  return logFormatter(config.accessLogFormat.value);
}

function create(
  config: StdoutAccessLog | StderrAccessLog,
  path: string,
  manager: AccessLogManager,
): AccessLogInstance {
  const formatter = streamAccessLogFormatter(config);
  const writer = manager.writer(path);
  return { log: (ctx) => writer.write(formatter.format(ctx)) };
}

/** Creates a logger writing to standard output. */
export function createStdoutAccessLog(
  config: StdoutAccessLog,
  manager: AccessLogManager,
): AccessLogInstance {
  return create(config, STDOUT_PATH, manager);
}

/** Creates a logger writing to standard error. */
export function createStderrAccessLog(
  config: StderrAccessLog,
  manager: AccessLogManager,
): AccessLogInstance {
  return create(config, STDERR_PATH, manager);
}
