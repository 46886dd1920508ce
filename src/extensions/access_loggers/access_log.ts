/**
 * Access logs as listeners, HCM and tcp_proxy configure them (`access_log`: a list of
 * `envoy.config.accesslog.v3.AccessLog`): each entry's `typed_config` names a logger, which
 * is built here once per config and then called for every finished request or connection.
 */
import type { Message } from "@bufbuild/protobuf";
import type { AccessLog } from "../../../proto/gen/envoy/config/accesslog/v3/accesslog_pb.ts";
import type { FileAccessLog } from "../../../proto/gen/envoy/extensions/access_loggers/file/v3/file_pb.ts";
import type {
  StderrAccessLog,
  StdoutAccessLog,
} from "../../../proto/gen/envoy/extensions/access_loggers/stream/v3/stream_pb.ts";
import { typeNameOfUrl } from "../../config/api.ts";
import { unpackAny } from "../../config/any.ts";
import type { FormatContext } from "../../formatter/substitution_formatter.ts";
import { type AccessLogManager, defaultAccessLogManager } from "./access_log_manager.ts";
import { createFileAccessLog } from "./file/file_access_log.ts";
import { compileAccessLogFilter } from "./filter.ts";
import { createStderrAccessLog, createStdoutAccessLog } from "./stream/stream_access_log.ts";

/** One configured access logger. */
export interface AccessLogInstance {
  /** Records one finished request or connection. Never blocks on I/O. */
  log(ctx: FormatContext): void;
}

type Creator = (config: Message, manager: AccessLogManager) => AccessLogInstance;

/** Loggers by the full name of their config message. */
const CREATORS: Record<string, Creator> = {
  "envoy.extensions.access_loggers.file.v3.FileAccessLog": (c, m) =>
    createFileAccessLog(c as FileAccessLog, m),
  "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog": (c, m) =>
    createStdoutAccessLog(c as StdoutAccessLog, m),
  "envoy.extensions.access_loggers.stream.v3.StderrAccessLog": (c, m) =>
    createStderrAccessLog(c as StderrAccessLog, m),
};

function createAccessLog(config: AccessLog, manager: AccessLogManager): AccessLogInstance {
  const label = config.name ? `access log '${config.name}'` : "access log";
  if (config.configType.case !== "typedConfig") throw new Error(`${label} has no typed_config`);
  const any = config.configType.value;
  const typeName = typeNameOfUrl(any.typeUrl);
  const create = Object.hasOwn(CREATORS, typeName) ? CREATORS[typeName] : undefined;
  if (!create) {
    throw new Error(
      `${label}: logger type ${typeName} is not supported (supported: ${
        Object.keys(CREATORS).join(", ")
      })`,
    );
  }
  const message = unpackAny(any);
  if (!message) throw new Error(`${label}: cannot decode typed_config of type ${typeName}`);
  try {
    const logger = create(message, manager);
    if (!config.filter) return logger;
    const pass = compileAccessLogFilter(config.filter);
    return { log: (ctx) => pass(ctx) && logger.log(ctx) };
  } catch (e) {
    throw new Error(`${label} (${typeName}): ${(e as Error).message}`);
  }
}

/**
 * What building `config` would refuse, without opening its file: a missing or unknown logger
 * type, or a bad filter. `field` is relative to the entry (`.filter`, or empty).
 */
export function accessLogProblems(config: AccessLog): { field: string; message: string }[] {
  if (config.configType.case !== "typedConfig") {
    // Envoy builds access loggers from their typed config only.
    const label = config.name ? `access log '${config.name}'` : "access log";
    return [{ field: "", message: `${label} has no typed_config` }];
  }
  const typeName = typeNameOfUrl(config.configType.value.typeUrl);
  // Unknown logger types are reported as unsupported extensions by the loader.
  if (!Object.hasOwn(CREATORS, typeName) || !config.filter) return [];
  try {
    compileAccessLogFilter(config.filter, "filter");
    return [];
  } catch (e) {
    // The message starts with the field path of the filter it is about.
    const m = /^(filter[^:\s]*): (.*)$/s.exec((e as Error).message);
    return [
      m
        ? { field: `.${m[1]}`, message: m[2] }
        : { field: ".filter", message: (e as Error).message },
    ];
  }
}

/**
 * Builds the loggers of one `access_log` list, in order.
 *
 * @param manager owns the files; defaults to the isolate's shared manager.
 * @throws {Error} naming the logger, for unsupported logger types, bad filters, bad formats
 * and files that cannot be opened.
 */
export function createAccessLogs(
  configs: AccessLog[],
  manager: AccessLogManager = defaultAccessLogManager(),
): AccessLogInstance[] {
  return configs.map((c) => createAccessLog(c, manager));
}
