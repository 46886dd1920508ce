/**
 * Envoy's command line.
 *
 * Operators start denvoy with the flags they already pass to Envoy, so every flag keeps Envoy's
 * name, default and validation rule. Error messages start the way Envoy's do (`error: ...`) and
 * then say what would have been accepted.
 *
 * @module
 */

import { tokenizeArgv } from "./argv_tokens.ts";
import {
  type Component,
  DEFAULT_LOG_FORMAT,
  invalidLevelMessage,
  type LogLevel,
  parseComponentLogLevels,
  parseLogLevel,
} from "../common/logger.ts";
import { HOT_RESTART_VERSION, versionText } from "../version.ts";
import { type AllowEntry, parseAdminAllow } from "../admin/allow_list.ts";

/** What the server does once its configuration is loaded (`--mode`). */
export type Mode = "serve" | "validate" | "init_only";

/** How listeners drain on hot restart and listener removal (`--drain-strategy`). */
export type DrainStrategy = "gradual" | "immediate";

/** One universal stat tag from `--stats-tag name:value`. */
export interface StatsTag {
  name: string;
  value: string;
}

/** The parsed command line, with Envoy's defaults filled in. */
export interface Options {
  /** `-c/--config-path`; empty when not given. */
  configPath: string;
  /** `--config-yaml`; merged over the file's contents; empty when not given. */
  configYaml: string;
  /** `--watch-config`: reload the bootstrap when its file changes (xds/bootstrap_reload.ts). */
  watchConfig: boolean;
  /** `--env-substitution`: `${NAME}` and `${NAME:-default}` in the bootstrap (beyond Envoy). */
  envSubstitution: boolean;
  mode: Mode;
  /** `-l/--log-level`, with `warn` already resolved to `warning`. */
  logLevel: LogLevel;
  /** `--component-log-level` as written, because `/server_info` reports it that way. */
  componentLogLevel: string;
  /** `--component-log-level` parsed. */
  componentLogLevels: Map<Component, LogLevel>;
  logFormat: string;
  logFormatEscaped: boolean;
  /** `--log-path`; empty means stderr. */
  logPath: string;
  enableFineGrainLogging: boolean;
  /** Worker count: `--concurrency`, else the CPU count (the cpuset's with `--cpuset-threads`). */
  concurrency: number;
  cpusetThreads: boolean;
  baseId: number;
  useDynamicBaseId: boolean;
  baseIdPath: string;
  restartEpoch: number;
  disableHotRestart: boolean;
  skipHotRestartOnNoParent: boolean;
  skipHotRestartParentStats: boolean;
  drainTimeS: number;
  parentShutdownTimeS: number;
  drainStrategy: DrainStrategy;
  /**
   * `--exit-on-sigterm`: SIGTERM stops the server at once, as in Envoy. By default denvoy
   * drains first (listeners close, connections finish, for at most the drain time).
   */
  exitOnSigterm: boolean;
  serviceCluster: string;
  serviceNode: string;
  serviceZone: string;
  fileFlushIntervalMsec: number;
  allowUnknownStaticFields: boolean;
  rejectUnknownDynamicFields: boolean;
  ignoreUnknownDynamicFields: boolean;
  localAddressIpVersion: "v4" | "v6";
  enableCoreDump: boolean;
  enableMutexTracing: boolean;
  skipDeprecatedLogs: boolean;
  /** `--disable-extensions`, split on commas, empty entries dropped. */
  disabledExtensions: string[];
  statsTags: StatsTag[];
  adminAddressPath: string;
  /** `--admin-allow`: the only admin method and path pairs served (admin/security.ts). */
  adminAllow?: AllowEntry[];
  /** `--admin-token-file`: where the admin's bearer token is. */
  adminTokenFile: string;
  /** `--admin-read-only`: the admin's mutating endpoints answer 403. */
  adminReadOnly: boolean;
  /** `--admin-tls-cert`, `--admin-tls-key`: the admin serves HTTPS with this certificate. */
  adminTlsCert: string;
  adminTlsKey: string;
  /** `--admin-tls-client-ca`: admin clients need a certificate of this CA (mTLS). */
  adminTlsClientCa: string;
  socketPath: string;
  /** Permission bits for the hot restart socket file; 0 for an abstract (`@`) socket. */
  socketMode: number;
  /** The arguments exactly as given (without the program name), for `/server_info`. */
  commandLine: string[];
  /**
   * Things Envoy logs as warnings while parsing (deprecated flags, conflicting flags). They
   * are returned rather than logged because logging is configured from these very options.
   */
  warnings: string[];
}

/**
 * The outcome of {@linkcode parseOptions}: options to run with, or text to print and an exit
 * code. `--help` and `--version` are the successful non-running cases (exit code 0).
 */
export type ParseResult =
  | { ok: true; options: Options }
  | {
    ok: false;
    exitCode: number;
    /** Complete text to write, ending with a newline. */
    message: string;
    /** Write `message` to stdout rather than stderr. */
    toStdout: boolean;
  };

/** Facts about the machine that decide defaults; injectable so tests do not depend on the host. */
export interface Platform {
  /** CPUs the machine has; the default `--concurrency`. */
  hardwareConcurrency: number;
  /** CPUs this process may run on, or `undefined` when that cannot be known. */
  cpusetCpuCount(): number | undefined;
}

const UINT32_MAX = 4294967295;

type Group =
  | "Configuration"
  | "Logging"
  | "Workers"
  | "Node identity"
  | "Draining and hot restart"
  | "Stats and admin"
  | "Other";

interface FlagSpec {
  name: string;
  short?: string;
  /** Placeholder for the value; absent for switches. */
  arg?: string;
  multiple?: true;
  group: Group;
  help: string;
  /** Default shown in --help, when there is one worth showing. */
  default?: string;
}

// One table drives both parsing and --help, so a flag cannot exist without being documented.
const FLAGS: readonly FlagSpec[] = [
  {
    name: "config-path",
    short: "c",
    arg: "path",
    group: "Configuration",
    help: "Bootstrap configuration file (YAML or JSON)",
  },
  {
    name: "config-yaml",
    arg: "yaml",
    group: "Configuration",
    help: "Inline YAML bootstrap, merged over the contents of --config-path",
  },
  {
    name: "watch-config",
    group: "Configuration",
    help: "Reload the bootstrap when its file changes (also on SIGHUP and POST /config_reload): " +
      "a valid file's listeners and clusters are applied without dropping connections",
  },
  {
    name: "env-substitution",
    group: "Configuration",
    help: "Replace ${NAME} and ${NAME:-default} in the bootstrap with environment variables " +
      "(beyond Envoy)",
  },
  {
    name: "mode",
    arg: "mode",
    group: "Configuration",
    help: "serve (validate the configuration, then serve traffic), validate (validate the " +
      "configuration and exit) or init_only (initialize everything, then exit)",
    default: "serve",
  },
  {
    name: "allow-unknown-static-fields",
    group: "Configuration",
    help: "Accept unknown fields in the static configuration instead of failing",
  },
  {
    name: "allow-unknown-fields",
    group: "Configuration",
    help: "Deprecated spelling of --allow-unknown-static-fields",
  },
  {
    name: "reject-unknown-dynamic-fields",
    group: "Configuration",
    help: "Reject dynamic (xDS) resources that contain unknown fields",
  },
  {
    name: "ignore-unknown-dynamic-fields",
    group: "Configuration",
    help: "Accept unknown fields in dynamic (xDS) resources without warning",
  },
  {
    name: "disable-extensions",
    arg: "list",
    group: "Configuration",
    help: "Comma-separated extensions (category/name) to remove from the registry",
  },
  {
    name: "log-level",
    short: "l",
    arg: "level",
    group: "Logging",
    help: "trace, debug, info, warning|warn, error, critical or off",
    default: "info",
  },
  {
    name: "component-log-level",
    arg: "list",
    group: "Logging",
    help: "Per-component levels overriding --log-level, e.g. upstream:debug,config:trace",
  },
  {
    name: "log-format",
    arg: "format",
    group: "Logging",
    help: "Log line layout in spdlog pattern syntax",
    default: `"${DEFAULT_LOG_FORMAT}"`,
  },
  {
    name: "log-format-escaped",
    group: "Logging",
    help: "Escape C-style sequences (newlines, tabs, ...) so every log entry stays on one line",
  },
  {
    name: "log-path",
    arg: "path",
    group: "Logging",
    help: "Append the log to this file instead of writing it to stderr",
  },
  {
    name: "enable-fine-grain-logging",
    group: "Logging",
    help: "Accepted for Envoy compatibility; levels are still set per component",
  },
  {
    name: "skip-deprecated-logs",
    group: "Logging",
    help: "Do not log uses of deprecated configuration",
  },
  {
    name: "file-flush-interval-msec",
    arg: "ms",
    group: "Logging",
    help: "How often buffered access log files are flushed, in milliseconds",
    default: "10000",
  },
  {
    name: "concurrency",
    arg: "n",
    group: "Workers",
    help: "Number of worker isolates; 0 is taken as 1",
    default: "number of CPUs",
  },
  {
    name: "cpuset-threads",
    group: "Workers",
    help: "Without --concurrency, run one worker per CPU this process may use",
  },
  {
    name: "service-cluster",
    arg: "name",
    group: "Node identity",
    help: "Local cluster name; overrides node.cluster in the bootstrap",
  },
  {
    name: "service-node",
    arg: "name",
    group: "Node identity",
    help: "Local node name; overrides node.id in the bootstrap",
  },
  {
    name: "service-zone",
    arg: "name",
    group: "Node identity",
    help: "Local zone; overrides node.locality.zone in the bootstrap",
  },
  {
    name: "local-address-ip-version",
    arg: "v4|v6",
    group: "Node identity",
    help: "IP version used to find this host's local address",
    default: "v4",
  },
  {
    name: "drain-time-s",
    arg: "seconds",
    group: "Draining and hot restart",
    help: "How long connections drain on hot restart and listener removal",
    default: "600",
  },
  {
    name: "drain-strategy",
    arg: "strategy",
    group: "Draining and hot restart",
    help: "gradual (drain a growing share of connections over --drain-time-s) or immediate",
    default: "gradual",
  },
  {
    name: "exit-on-sigterm",
    group: "Draining and hot restart",
    help: "Exit at once on SIGTERM, as Envoy does, instead of closing the listeners and " +
      "letting open connections finish for at most --drain-time-s (SIGINT always exits at once)",
  },
  {
    name: "parent-shutdown-time-s",
    arg: "seconds",
    group: "Draining and hot restart",
    help: "How long after a hot restart the parent process is shut down",
    default: "900",
  },
  {
    name: "restart-epoch",
    arg: "n",
    group: "Draining and hot restart",
    help: "Hot restart epoch: 0 for the first process, one more for each restart",
    default: "0",
  },
  {
    name: "base-id",
    arg: "n",
    group: "Draining and hot restart",
    help: "Hot restart domain id, so several instances can share one host",
    default: "0",
  },
  {
    name: "use-dynamic-base-id",
    group: "Draining and hot restart",
    help: "Choose an unused base id (overrides --base-id); needs --restart-epoch 0",
  },
  {
    name: "base-id-path",
    arg: "path",
    group: "Draining and hot restart",
    help: "Write the base id in use to this file",
  },
  {
    name: "disable-hot-restart",
    group: "Draining and hot restart",
    help: "Run without hot restart support",
  },
  {
    name: "skip-hot-restart-on-no-parent",
    group: "Draining and hot restart",
    help: "With a non-zero epoch, start normally when no parent process is found",
  },
  {
    name: "skip-hot-restart-parent-stats",
    group: "Draining and hot restart",
    help: "Do not take over the parent's stats on hot restart",
  },
  {
    name: "hot-restart-version",
    group: "Draining and hot restart",
    help: "Print the hot restart compatibility version and exit",
  },
  {
    name: "socket-path",
    arg: "path",
    group: "Draining and hot restart",
    help: "Hot restart domain socket; a leading '@' means the abstract namespace",
    default: "@envoy_domain_socket",
  },
  {
    name: "socket-mode",
    arg: "octal",
    group: "Draining and hot restart",
    help: "Permissions of the hot restart socket file (not used for '@' sockets)",
    default: "600",
  },
  {
    name: "stats-tag",
    arg: "name:value",
    multiple: true,
    group: "Stats and admin",
    help: "Tag added to every stat; repeat for more tags. Names are alphanumeric; values " +
      "must not contain '.'",
  },
  {
    name: "admin-address-path",
    arg: "path",
    group: "Stats and admin",
    help: "Write the admin listener's address to this file once it is bound",
  },
  {
    name: "admin-allow",
    arg: "METHOD:/path,...",
    multiple: true,
    group: "Stats and admin",
    help: "Serve only these admin endpoints (e.g. GET:/stats,POST:/healthcheck/fail); others " +
      "answer 403. Beyond Envoy",
  },
  {
    name: "admin-token-file",
    arg: "path",
    group: "Stats and admin",
    help: "Require 'Authorization: Bearer <token>' on the admin, the token read from this " +
      "file. Beyond Envoy",
  },
  {
    name: "admin-read-only",
    group: "Stats and admin",
    help: "The admin endpoints that change the server answer 403. Beyond Envoy",
  },
  {
    name: "admin-tls-cert",
    arg: "path",
    group: "Stats and admin",
    help: "Serve the admin over TLS with this certificate chain (PEM; with --admin-tls-key). " +
      "Beyond Envoy",
  },
  {
    name: "admin-tls-key",
    arg: "path",
    group: "Stats and admin",
    help: "The private key (PEM) of --admin-tls-cert. Beyond Envoy",
  },
  {
    name: "admin-tls-client-ca",
    arg: "path",
    group: "Stats and admin",
    help: "Admin clients must present a certificate of this CA (PEM): mutual TLS, with " +
      "--admin-tls-cert. Beyond Envoy",
  },
  { name: "enable-core-dump", group: "Other", help: "Allow the process to write core dumps" },
  {
    name: "enable-mutex-tracing",
    group: "Other",
    help: "Accepted for Envoy compatibility; there are no mutexes to trace",
  },
  { name: "version", group: "Other", help: "Print version information and exit" },
  { name: "help", short: "h", group: "Other", help: "Print this help and exit" },
];

const FLAG_BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));

const PARSE_ARGS_OPTIONS = Object.fromEntries(
  FLAGS.map((f) => [
    f.name,
    {
      type: f.arg === undefined ? "boolean" as const : "string" as const,
      ...(f.short ? { short: f.short } : {}),
    },
  ]),
);

/** Reads the real machine: CPU count from Deno, cpuset from `/proc/self/status` on Linux. */
export const hostPlatform: Platform = {
  hardwareConcurrency: navigator.hardwareConcurrency ?? 1,
  cpusetCpuCount() {
    try {
      const status = Deno.readTextFileSync("/proc/self/status");
      const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
      return list === undefined ? undefined : countCpuList(list);
    } catch {
      return undefined;
    }
  },
};

// Counts a Linux CPU list such as "0-3,8,10-11".
function countCpuList(list: string): number | undefined {
  let count = 0;
  for (const range of list.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!m) return undefined;
    count += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1;
  }
  return count > 0 ? count : undefined;
}

/** Thrown inside the parser for a bad command line; never escapes {@linkcode parseOptions}. */
class UsageError extends Error {}

function fail(message: string): never {
  throw new UsageError(message);
}

/**
 * Parses the command line (without the program name, i.e. `Deno.args`).
 *
 * Every argument must be a known flag; arguments after a bare `--` are ignored, as Envoy does.
 * `--help` and `--version` win wherever they appear, so they work even next to a typo.
 */
export function parseOptions(argv: string[], platform: Platform = hostPlatform): ParseResult {
  try {
    return { ok: true, options: buildOptions(argv, collect(argv), platform) };
  } catch (e) {
    if (e instanceof Exit) {
      return { ok: false, exitCode: 0, message: e.message, toStdout: e.toStdout };
    }
    if (e instanceof UsageError) {
      return { ok: false, exitCode: 1, message: e.message + "\n", toStdout: false };
    }
    throw e;
  }
}

/** A successful early exit (help, version, hot restart version) with the text to print. */
class Exit extends Error {
  constructor(message: string, readonly toStdout: boolean) {
    super(message);
  }
}

type RawValues = Map<string, string | true | string[]>;

function collect(argv: string[]): RawValues {
  // Tokens only (as parseArgs' non-strict mode gives them): every rule and message is ours.
  const tokens = tokenizeArgv(argv, PARSE_ARGS_OPTIONS);
  const options = tokens.filter((t) => t.kind === "option");
  if (options.some((t) => t.name === "help")) throw new Exit(helpText(), true);
  if (options.some((t) => t.name === "version")) {
    throw new Exit(versionText(), true);
  }

  const values: RawValues = new Map();
  for (const token of tokens) {
    if (token.kind === "option-terminator") break;
    if (token.kind === "positional") {
      fail(`error: unexpected argument '${token.value}' (all arguments are flags; see --help)`);
    }
    if (token.kind !== "option") continue;
    const spec = FLAG_BY_NAME.get(token.name);
    const flag = token.rawName;
    if (spec === undefined) fail(`error: unknown flag '${flag}' (see --help)`);
    if (spec.arg === undefined) {
      if (token.value !== undefined) fail(`error: flag '${flag}' does not take a value`);
      if (values.has(spec.name)) fail(`error: flag '${flag}' given more than once`);
      values.set(spec.name, true);
      continue;
    }
    const value = token.value;
    if (value === undefined) fail(`error: flag '${flag}' needs a value <${spec.arg}> (see --help)`);
    if (!token.inlineValue && value.length > 1 && value.startsWith("-")) {
      // Most likely the value was forgotten and the next flag swallowed; a value that really
      // starts with '-' can still be passed unambiguously.
      fail(
        `error: flag '${flag}' needs a value <${spec.arg}>, got '${value}'; ` +
          `write --${spec.name}=${value} if that is the value`,
      );
    }
    if (spec.multiple) {
      const list = values.get(spec.name) as string[] | undefined;
      if (list) list.push(value);
      else values.set(spec.name, [value]);
    } else {
      if (values.has(spec.name)) fail(`error: flag '${flag}' given more than once`);
      values.set(spec.name, value);
    }
  }
  return values;
}

function buildOptions(argv: string[], values: RawValues, platform: Platform): Options {
  const str = (name: string, fallback = "") => (values.get(name) as string | undefined) ?? fallback;
  const bool = (name: string) => values.get(name) === true;
  const uint = (name: string, fallback: number) => {
    const raw = values.get(name) as string | undefined;
    return raw === undefined ? fallback : parseUint32(name, raw);
  };

  const logLevelName = str("log-level", "info");
  const logLevel = parseLogLevel(logLevelName) ?? fail(invalidLevelMessage(logLevelName));

  const componentLogLevel = str("component-log-level");
  let componentLogLevels: Map<Component, LogLevel>;
  try {
    componentLogLevels = parseComponentLogLevels(componentLogLevel);
  } catch (e) {
    fail((e as Error).message);
  }

  const mode = oneOf("mode", str("mode", "serve"), ["serve", "validate", "init_only"] as const);
  const localAddressIpVersion = oneOf(
    "local-address-ip-version",
    str("local-address-ip-version", "v4"),
    ["v4", "v6"] as const,
  );

  const useDynamicBaseId = bool("use-dynamic-base-id");
  const restartEpoch = uint("restart-epoch", 0);
  if (useDynamicBaseId && restartEpoch > 0) {
    fail(`error: cannot use --restart-epoch=${restartEpoch} with --use-dynamic-base-id`);
  }

  const warnings: string[] = [];
  const cpusetThreads = bool("cpuset-threads");
  let concurrency: number;
  if (values.has("concurrency")) {
    if (cpusetThreads) {
      warnings.push(
        "Both --concurrency and --cpuset-threads options are set; not applying --cpuset-threads.",
      );
    }
    // Envoy runs at least one worker; an explicit 0 means one, not an error.
    concurrency = Math.max(1, uint("concurrency", 1));
  } else {
    const cpus = cpusetThreads ? platform.cpusetCpuCount() : undefined;
    concurrency = Math.max(1, cpus ?? platform.hardwareConcurrency);
  }

  if (bool("allow-unknown-fields")) {
    warnings.push(
      "--allow-unknown-fields is deprecated, use --allow-unknown-static-fields instead.",
    );
  }

  const socketPath = str("socket-path", "@envoy_domain_socket");
  if (socketPath === "") fail("error: --socket-path must not be empty");
  let socketMode = 0;
  if (!socketPath.startsWith("@")) {
    const raw = str("socket-mode", "600");
    if (!/^[0-7]{1,4}$/.test(raw)) {
      fail(`error: invalid socket-mode '${raw}' (expected octal permission bits such as 600)`);
    }
    socketMode = parseInt(raw, 8);
  }

  const drainStrategy = oneOf(
    "drain-strategy",
    str("drain-strategy", "gradual"),
    ["gradual", "immediate"] as const,
  );

  const disableHotRestart = bool("disable-hot-restart");
  if (bool("hot-restart-version")) {
    // Envoy prints this on stderr, and "disabled" when hot restart is off.
    throw new Exit(`${disableHotRestart ? "disabled" : HOT_RESTART_VERSION}\n`, false);
  }

  return {
    configPath: str("config-path"),
    configYaml: str("config-yaml"),
    watchConfig: bool("watch-config"),
    envSubstitution: bool("env-substitution"),
    mode,
    logLevel,
    componentLogLevel,
    componentLogLevels,
    logFormat: str("log-format", DEFAULT_LOG_FORMAT),
    logFormatEscaped: bool("log-format-escaped"),
    logPath: str("log-path"),
    enableFineGrainLogging: bool("enable-fine-grain-logging"),
    concurrency,
    cpusetThreads,
    baseId: uint("base-id", 0),
    useDynamicBaseId,
    baseIdPath: str("base-id-path"),
    restartEpoch,
    disableHotRestart,
    skipHotRestartOnNoParent: bool("skip-hot-restart-on-no-parent"),
    skipHotRestartParentStats: bool("skip-hot-restart-parent-stats"),
    drainTimeS: uint("drain-time-s", 600),
    parentShutdownTimeS: uint("parent-shutdown-time-s", 900),
    drainStrategy,
    exitOnSigterm: bool("exit-on-sigterm"),
    serviceCluster: str("service-cluster"),
    serviceNode: str("service-node"),
    serviceZone: str("service-zone"),
    fileFlushIntervalMsec: uint("file-flush-interval-msec", 10000),
    allowUnknownStaticFields: bool("allow-unknown-static-fields") || bool("allow-unknown-fields"),
    rejectUnknownDynamicFields: bool("reject-unknown-dynamic-fields"),
    ignoreUnknownDynamicFields: bool("ignore-unknown-dynamic-fields"),
    localAddressIpVersion,
    enableCoreDump: bool("enable-core-dump"),
    enableMutexTracing: bool("enable-mutex-tracing"),
    skipDeprecatedLogs: bool("skip-deprecated-logs"),
    disabledExtensions: str("disable-extensions").split(",").filter((e) => e !== ""),
    statsTags: parseStatsTags((values.get("stats-tag") as string[] | undefined) ?? []),
    adminAddressPath: str("admin-address-path"),
    ...adminAllow(values.get("admin-allow") as string[] | undefined),
    adminTokenFile: str("admin-token-file"),
    adminReadOnly: bool("admin-read-only"),
    adminTlsCert: str("admin-tls-cert"),
    adminTlsKey: str("admin-tls-key"),
    adminTlsClientCa: str("admin-tls-client-ca"),
    socketPath,
    socketMode,
    commandLine: [...argv],
    warnings,
  };
}

function adminAllow(values: string[] | undefined): { adminAllow?: AllowEntry[] } {
  if (!values) return {};
  try {
    return { adminAllow: parseAdminAllow(values) };
  } catch (e) {
    fail(`error: ${(e as Error).message}`);
  }
}

function parseUint32(name: string, raw: string): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n <= UINT32_MAX)) {
    fail(
      `error: invalid value '${raw}' for --${name} ` +
        `(expected a whole number from 0 to ${UINT32_MAX})`,
    );
  }
  return n;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  // Envoy's wording for the flags it has messages for, plus the accepted values.
  const what = name === "mode"
    ? "mode"
    : name === "local-address-ip-version"
    ? "IP address version"
    : name;
  return fail(`error: unknown ${what} '${value}' (expected one of: ${allowed.join(", ")})`);
}

function parseStatsTags(specs: string[]): StatsTag[] {
  const tags: StatsTag[] = [];
  for (const spec of specs) {
    const colon = spec.indexOf(":");
    if (colon <= 0 || colon === spec.length - 1) {
      fail(`error: misformatted stats-tag '${spec}' (expected <name>:<value>)`);
    }
    const name = spec.slice(0, colon);
    const value = spec.slice(colon + 1);
    // Stat names are dot-separated, so a dot in a tag would change how the name splits; tag
    // names must also be usable as Prometheus label names.
    if (!/^[A-Za-z0-9]+$/.test(name)) {
      fail(
        `error: misformatted stats-tag '${spec}' contains invalid char in '${name}' ` +
          `(tag names are alphanumeric)`,
      );
    }
    if (value.includes(".")) {
      fail(
        `error: misformatted stats-tag '${spec}' contains invalid char in '${value}' ` +
          `(tag values must not contain '.')`,
      );
    }
    if (tags.some((t) => t.name === name)) {
      fail(`error: stats-tag '${name}' given more than once`);
    }
    tags.push({ name, value });
  }
  return tags;
}

const HELP_WIDTH = 100;
const HELP_COLUMN = 40;

function helpText(): string {
  const lines = [
    "Usage: denvoy [flags]",
    "",
    "denvoy is an Envoy-compatible proxy; every flag means what it means to Envoy.",
  ];
  const groups = [...new Set(FLAGS.map((f) => f.group))];
  for (const group of groups) {
    lines.push("", `${group}:`);
    for (const f of FLAGS.filter((flag) => flag.group === group)) {
      const names = (f.short ? `-${f.short}, ` : "    ") + `--${f.name}` +
        (f.arg ? ` <${f.arg}>` : "");
      const text = f.help + (f.default !== undefined ? ` [default: ${f.default}]` : "");
      lines.push(...wrap(`  ${names}`.padEnd(HELP_COLUMN - 1) + " ", text));
    }
  }
  lines.push(
    "",
    "Arguments after a bare '--' are ignored.",
    `Log format flags: %Y %m %d %H %M %S %T %e %f %F %z %l %L %n %v %t %P %_ %j %% (spdlog syntax).`,
  );
  return lines.join("\n") + "\n";
}

// Wraps `text` into the description column; a long flag name gets the text on its own line.
function wrap(head: string, text: string): string[] {
  const indent = " ".repeat(HELP_COLUMN);
  const out: string[] = [];
  let line = head.length > HELP_COLUMN ? head.trimEnd() : head;
  if (line !== head) {
    out.push(line);
    line = indent;
  }
  let empty = true;
  for (const word of text.split(" ")) {
    if (!empty && line.length + 1 + word.length > HELP_WIDTH) {
      out.push(line);
      line = indent;
      empty = true;
    }
    line += (empty ? "" : " ") + word;
    empty = false;
  }
  out.push(line);
  return out;
}
