/**
 * `POST /logging`: list loggers and change their levels (all, one, or several with `paths=`),
 * validating everything before changing anything, with Envoy's usage text on errors. And
 * `POST /reopen_logs`: reopen every access log file (logrotate), as Envoy's logs handler.
 *
 * @module
 */
import type { Context } from "hono";
import { type Handler, text } from "./handler.ts";

/** The level names Envoy (spdlog) accepts, in order. */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "critical", "off"];

/** What `/logging` needs of the server. */
export interface LoggingAdmin {
  /** Logger (component) name to level name ("trace" ... "off"). */
  logLevels(): Record<string, string>;
  /** Sets one component's level, or every one's when `component` is undefined; throws Error for bad names. */
  setLogLevel(component: string | undefined, level: string): void;
  /** Reopens every access log file in every isolate (logrotate); resolves once done. */
  reopenLogs(): Promise<void>;
}

/** Envoy's `active loggers:` listing. */
export function loggersText(levels: Record<string, string>): string {
  const names = Object.keys(levels).sort();
  return `active loggers:\n${names.map((n) => `  ${n}: ${levels[n]}\n`).join("")}\n`;
}

/** Applies a `/logging` query as Envoy does; returns an error message, or undefined. */
export function changeLogLevels(server: LoggingAdmin, q: URLSearchParams): string | undefined {
  const entries = [...q.entries()].filter(([, v]) => v !== "");
  if (entries.length === 0) return undefined;
  if (entries.length !== 1) return "invalid number of parameters";
  const [key, value] = entries[0];
  const known = server.logLevels();
  const changes: [string | undefined, string][] = [];
  if (key === "level") changes.push([undefined, value]);
  else if (key === "paths") {
    for (const pair of value.split(",")) {
      const nl = pair.split(":");
      if (nl.length !== 2) return "invalid paths= value";
      changes.push([nl[0], nl[1]]);
    }
  } else changes.push([key, value]);
  // Validate everything first so a bad entry changes nothing.
  for (const [name, level] of changes) {
    if (!LOG_LEVELS.includes(level)) return "unknown logger level";
    if (name !== undefined && !(name in known)) return "unknown logger name";
  }
  try {
    for (const [name, level] of changes) server.setLogLevel(name, level);
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

/** The `/logging` endpoint. */
export function loggingHandler(server: LoggingAdmin): Handler {
  return {
    path: "/logging",
    help: "query/change logging levels",
    post: true,
    params: [
      {
        id: "paths",
        help: "Change multiple logging levels by setting to " +
          "<logger_name1>:<desired_level1>,<logger_name2>:<desired_level2>.",
      },
      {
        id: "level",
        help: "desired logging level, this will change all loggers's level",
        choices: ["", ...LOG_LEVELS],
      },
    ],
    run: (c, q) => {
      const err = changeLogLevels(server, q);
      const levels = loggersText(server.logLevels());
      if (err === undefined) return text(c, levels);
      return text(
        c,
        `error: ${err}\n\n` +
          "usage: /logging?<name>=<level> (change single level)\n" +
          "usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n" +
          "usage: /logging?level=<level> (change all levels)\n" +
          `levels: ${LOG_LEVELS.map((l) => `${l} `).join("")}\n` + levels,
        404,
      );
    },
  };
}

/** The `/reopen_logs` endpoint. */
export function reopenLogsHandler(
  server: LoggingAdmin,
  ok: (c: Context) => Response,
): Handler {
  return {
    path: "/reopen_logs",
    help: "reopen access logs",
    post: true,
    params: [],
    run: async (c) => (await server.reopenLogs(), ok(c)),
  };
}
