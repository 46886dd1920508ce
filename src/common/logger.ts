/**
 * Envoy-compatible application logging.
 *
 * Envoy logs through one named logger per component (`main`, `upstream`, `http`, ...), each with
 * its own level, and lays lines out with an spdlog pattern (`--log-format`). Operators grep those
 * lines and tune those levels with `--component-log-level` and the admin `/logging` endpoint, so
 * denvoy keeps the same component names, level names and pattern syntax.
 *
 * Logging is synchronous: a line is written before the call returns, so nothing is lost when the
 * process exits right after an error, which is exactly when logs matter most.
 *
 * @module
 */
import { DAYS, LONG_DAYS, LONG_MONTHS, MONTHS } from "./calendar.ts";

/** Level names in increasing severity, as Envoy (spdlog) spells them. */
export const LOG_LEVELS = [
  "trace",
  "debug",
  "info",
  "warning",
  "error",
  "critical",
  "off",
] as const;

/** A log level name. `warn` is accepted as input (see {@linkcode parseLogLevel}) but never stored. */
export type LogLevel = typeof LOG_LEVELS[number];

/**
 * Envoy's logger ids (`ALL_LOGGER_IDS`), in Envoy's order, which is also the order `/logging`
 * lists them. Only these names are valid in `--component-log-level`, as in Envoy.
 */
export const COMPONENTS = [
  "admin",
  "alternate_protocols_cache",
  "aws",
  "assert",
  "backtrace",
  "basic_auth",
  "cache_filter",
  "client",
  "config",
  "connection",
  "conn_handler",
  "decompression",
  "dns",
  "dubbo",
  "envoy_bug",
  "ext_authz",
  "ext_proc",
  "rocketmq",
  "file",
  "filter",
  "forward_proxy",
  "geolocation",
  "grpc",
  "happy_eyeballs",
  "hc",
  "health_checker",
  "http",
  "http2",
  "hystrix",
  "init",
  "io",
  "jwt",
  "kafka",
  "key_value_store",
  "lua",
  "main",
  "matcher",
  "misc",
  "mongo",
  "multi_connection",
  "oauth2",
  "quic",
  "quic_stream",
  "pool",
  "rate_limit_quota",
  "rbac",
  "rds",
  "redis",
  "router",
  "runtime",
  "stats",
  "secret",
  "tap",
  "testing",
  "thrift",
  "tracing",
  "upstream",
  "udp",
  "wasm",
  "websocket",
  "golang",
] as const;

/** The name of one of Envoy's loggers. */
export type Component = typeof COMPONENTS[number];

/** The format Envoy-compatible lines use unless `--log-format` says otherwise. */
export const DEFAULT_LOG_FORMAT = "[%Y-%m-%d %T.%e][%t][%l][%n] %v";

/** A log message, or a function producing it so a disabled level never builds the string. */
export type LogMessage = string | (() => string);

/** Everything a format pattern can refer to about one log line. */
export interface LogRecord {
  /** Wall-clock time in milliseconds since the epoch; the fraction carries micro/nanoseconds. */
  timeMs: number;
  level: LogLevel;
  /** Logger name printed by `%n`. */
  component: string;
  message: string;
}

/** Turns a record into one line of text, without the trailing newline. */
export type LogFormatter = (record: LogRecord) => string;

/** Receives each finished line, newline included. */
export type LogSink = (line: string) => void;

/** What {@linkcode configureLogging} applies; every omitted field takes Envoy's default. */
export interface LoggingConfig {
  /** Level of every component (`-l`); default `info`. `warn` is accepted. */
  level?: string;
  /** Per-component overrides applied after `level` (`--component-log-level`). */
  componentLevels?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** spdlog pattern (`--log-format`); default {@linkcode DEFAULT_LOG_FORMAT}. */
  format?: string;
  /** Escape C-style sequences in each line (`--log-format-escaped`). */
  escape?: boolean;
  /** Append to this file instead of writing to stderr (`--log-path`). */
  path?: string;
}

const LEVEL_VALUE: Readonly<Record<string, number>> = Object.fromEntries(
  LOG_LEVELS.map((name, i) => [name, i]),
);
const TRACE = 0;
const DEBUG = 1;
const INFO = 2;
const WARNING = 3;
const ERROR = 4;
const CRITICAL = 5;
const SHORT_LEVEL = ["T", "D", "I", "W", "E", "C", "O"];

const COMPONENT_INDEX = new Map<string, number>(COMPONENTS.map((name, i) => [name, i]));

// One threshold per component in a typed array: the hot-path check is a single indexed load,
// and a level change is seen by every Logger handed out earlier without re-fetching it.
const thresholds = new Uint8Array(COMPONENTS.length).fill(INFO);

const encoder = new TextEncoder();

let threadId = "1";
let pidText: string | undefined;
// Assigned at the end of the module: compiling needs the flag table defined further down.
let formatter: LogFormatter;
let escapeLines = false;
let logFile: Deno.FsFile | undefined;
let sink: LogSink = stderrSink;

/**
 * Resolves a level name given by a user, accepting Envoy's `warn` alias.
 *
 * @returns the canonical name, or `undefined` when the name is not a level.
 */
export function parseLogLevel(name: string): LogLevel | undefined {
  if (name === "warn") return "warning";
  return Object.hasOwn(LEVEL_VALUE, name) ? name as LogLevel : undefined;
}

/** Whether `name` is one of Envoy's logger ids. */
export function isComponent(name: string): name is Component {
  return COMPONENT_INDEX.has(name);
}

/**
 * Parses `--component-log-level`'s `name:level,name:level` syntax.
 *
 * @throws {Error} naming the malformed entry, unknown level or unknown component; the message
 *   for an unknown component lists the valid names since nobody remembers all of them.
 */
export function parseComponentLogLevels(spec: string): Map<Component, LogLevel> {
  const result = new Map<Component, LogLevel>();
  if (spec === "") return result;
  for (const entry of spec.split(",")) {
    const parts = entry.split(":");
    if (parts.length !== 2) {
      throw new Error(
        `error: component log level not correctly specified '${entry}' (expected <component>:<level>)`,
      );
    }
    const [name, levelName] = parts;
    const level = parseLogLevel(levelName);
    if (level === undefined) throw new Error(invalidLevelMessage(levelName));
    if (!isComponent(name)) throw new Error(unknownComponentMessage(name));
    result.set(name, level);
  }
  return result;
}

/** The message for a bad level name, shared with option parsing so both read the same. */
export function invalidLevelMessage(name: string): string {
  return `error: invalid log level specified '${name}' ` +
    `(valid levels: trace, debug, info, warning|warn, error, critical, off)`;
}

function unknownComponentMessage(name: string): string {
  return `error: invalid component specified '${name}' (valid components: ${
    [...COMPONENTS].sort().join(", ")
  })`;
}

/**
 * A named logger. Each method checks the component's level before doing anything else, so a
 * disabled call costs one comparison; pass a function as the message to also skip building
 * the string, or guard expensive work with {@linkcode Logger.enabled}.
 */
export class Logger {
  readonly #index: number;
  /** The component name, printed by `%n`. */
  readonly name: Component;

  /** Use {@linkcode getLogger}; loggers are shared per component. */
  constructor(name: Component) {
    this.name = name;
    this.#index = COMPONENT_INDEX.get(name)!;
  }

  /** Whether a message at `level` would be written right now. */
  enabled(level: LogLevel): boolean {
    return LEVEL_VALUE[level] >= thresholds[this.#index];
  }

  /** Logs at `trace`. */
  trace(msg: LogMessage): void {
    if (TRACE >= thresholds[this.#index]) emit(TRACE, this.name, msg);
  }

  /** Logs at `debug`. */
  debug(msg: LogMessage): void {
    if (DEBUG >= thresholds[this.#index]) emit(DEBUG, this.name, msg);
  }

  /** Logs at `info`. */
  info(msg: LogMessage): void {
    if (INFO >= thresholds[this.#index]) emit(INFO, this.name, msg);
  }

  /** Logs at `warning`. */
  warn(msg: LogMessage): void {
    if (WARNING >= thresholds[this.#index]) emit(WARNING, this.name, msg);
  }

  /** Logs at `error`. */
  error(msg: LogMessage): void {
    if (ERROR >= thresholds[this.#index]) emit(ERROR, this.name, msg);
  }

  /** Logs at `critical`. */
  critical(msg: LogMessage): void {
    if (CRITICAL >= thresholds[this.#index]) emit(CRITICAL, this.name, msg);
  }
}

const loggers: readonly Logger[] = COMPONENTS.map((name) => new Logger(name));

/**
 * Returns the shared logger for one of Envoy's components.
 *
 * @throws {Error} when called (from untyped code) with a name that is not a component.
 */
export function getLogger(component: Component): Logger {
  const index = COMPONENT_INDEX.get(component);
  if (index === undefined) throw new Error(unknownComponentMessage(component));
  return loggers[index];
}

/**
 * Applies a complete logging configuration: levels, format, escaping and destination.
 * Everything is validated before anything changes, so a bad config leaves logging as it was.
 *
 * @throws {Error} for an unknown level or component, or when `path` cannot be opened for append.
 */
export function configureLogging(config: LoggingConfig = {}): void {
  const levelName = config.level ?? "info";
  const level = parseLogLevel(levelName);
  if (level === undefined) throw new Error(invalidLevelMessage(levelName));
  const overrides: [number, number][] = [];
  const entries = config.componentLevels instanceof Map
    ? [...config.componentLevels]
    : Object.entries(config.componentLevels ?? {});
  for (const [name, componentLevelName] of entries) {
    const componentLevel = parseLogLevel(componentLevelName);
    if (componentLevel === undefined) throw new Error(invalidLevelMessage(componentLevelName));
    const index = COMPONENT_INDEX.get(name);
    if (index === undefined) throw new Error(unknownComponentMessage(name));
    overrides.push([index, LEVEL_VALUE[componentLevel]]);
  }
  const newFormatter = compileLogFormat(config.format ?? DEFAULT_LOG_FORMAT);

  let newFile: Deno.FsFile | undefined;
  if (config.path !== undefined && config.path !== "") {
    try {
      newFile = Deno.openSync(config.path, { append: true, create: true });
    } catch (e) {
      throw new Error(
        `error: cannot open log file '${config.path}': ${e instanceof Error ? e.message : e}`,
      );
    }
  }

  thresholds.fill(LEVEL_VALUE[level]);
  for (const [index, value] of overrides) thresholds[index] = value;
  formatter = newFormatter;
  escapeLines = config.escape ?? false;
  logFile?.close();
  logFile = newFile;
  sink = newFile === undefined ? stderrSink : fileSink;
}

/** Sets every component to `level`, as `/logging?level=` does. */
export function setLevel(level: LogLevel): void {
  thresholds.fill(LEVEL_VALUE[level]);
}

/**
 * Sets one component's level, as `/logging?<component>=<level>` does.
 *
 * @throws {Error} listing the valid names when `component` is not one of them.
 */
export function setComponentLevel(component: string, level: LogLevel): void {
  const index = COMPONENT_INDEX.get(component);
  if (index === undefined) throw new Error(unknownComponentMessage(component));
  thresholds[index] = LEVEL_VALUE[level];
}

/** The current level of every component, in Envoy's logger order. */
export function levels(): Record<Component, LogLevel> {
  const result = {} as Record<Component, LogLevel>;
  COMPONENTS.forEach((name, i) => result[name] = LOG_LEVELS[thresholds[i]]);
  return result;
}

/**
 * Sets the id `%t` prints for lines logged from this isolate. The main thread is 1; each
 * worker isolate sets its own so interleaved lines can be told apart, like Envoy's thread ids.
 */
export function setThreadId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 0) {
    throw new Error(`thread id must be a non-negative integer, got ${id}`);
  }
  threadId = String(id);
}

/**
 * Replaces where finished lines go and returns the previous sink so it can be restored.
 * Tests use this to capture output; {@linkcode configureLogging} resets it to stderr or the file.
 */
export function setLogSink(newSink: LogSink): LogSink {
  const previous = sink;
  sink = newSink;
  return previous;
}

function emit(level: number, component: string, msg: LogMessage): void {
  const message = typeof msg === "function" ? msg() : msg;
  const line = formatter({ timeMs: nowMs(), level: LOG_LEVELS[level], component, message });
  sink((escapeLines ? escapeLogLine(line) : line) + "\n");
}

function stderrSink(line: string): void {
  try {
    writeAll(Deno.stderr, encoder.encode(line));
  } catch {
    // stderr is gone (closed pipe): there is nowhere left to report to, and a log call must
    // never throw into the request path that made it.
  }
}

function fileSink(line: string): void {
  const bytes = encoder.encode(line);
  try {
    writeAll(logFile!, bytes);
  } catch (e) {
    // A full disk or revoked file must not take the proxy down; stderr is the last resort
    // so the line, and the reason it missed the file, are still seen somewhere.
    stderrSink(`log file write failed (${e instanceof Error ? e.message : e}): ${line}`);
  }
}

function writeAll(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}

// Date.now() follows wall-clock adjustments but only has millisecond resolution; %f and %F
// need more. Offsetting the monotonic clock gives sub-millisecond digits, and re-anchoring
// whenever the two disagree by a millisecond keeps the result on the wall clock.
let clockAnchor = initialClockAnchor();

// Date.now() truncates, so the offset is only exact at the instant its value ticks over;
// waiting for that tick (at most 1 ms, once per isolate) gives exact digits from the first line.
function initialClockAnchor(): number {
  const start = Date.now();
  let wall = start;
  while (wall === start) wall = Date.now();
  return wall - performance.now();
}

function nowMs(): number {
  const wall = Date.now();
  const t = clockAnchor + performance.now();
  if (t >= wall && t < wall + 1) return t;
  clockAnchor = wall - performance.now();
  return wall;
}

// deno-lint-ignore no-control-regex -- control characters are exactly what must be found
const ESCAPE_NEEDED = /[\x00-\x1f\x7f-\uffff"'\\]/;
const ASCII_SPACE = " \t\n\v\f\r";

// Matches Envoy's --log-format-escaped: C escapes for the line except its trailing whitespace,
// with every byte outside printable ASCII (including UTF-8 bytes) written as a 3-digit octal.
function escapeLogLine(line: string): string {
  if (!ESCAPE_NEEDED.test(line)) return line;
  let tailStart = line.length;
  while (tailStart > 0 && ASCII_SPACE.includes(line[tailStart - 1])) tailStart--;
  return cEscape(line.slice(0, tailStart)) + line.slice(tailStart);
}

function cEscape(s: string): string {
  let out = "";
  for (const byte of encoder.encode(s)) {
    switch (byte) {
      case 0x0a:
        out += "\\n";
        break;
      case 0x0d:
        out += "\\r";
        break;
      case 0x09:
        out += "\\t";
        break;
      case 0x22:
        out += '\\"';
        break;
      case 0x27:
        out += "\\'";
        break;
      case 0x5c:
        out += "\\\\";
        break;
      default:
        out += byte < 0x20 || byte >= 0x7f
          ? "\\" + byte.toString(8).padStart(3, "0")
          : String.fromCharCode(byte);
    }
  }
  return out;
}

/** Calendar fields of one second of local time; shared by every line logged in that second. */
interface TimeFields {
  date: Date;
  Y: string;
  y: string;
  m: string;
  d: string;
  H: string;
  I: string;
  M: string;
  S: string;
  p: string;
  z: string;
}

function pad2(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

let cachedSecond = NaN;
let cachedFields: TimeFields | undefined;

// spdlog prints local time; building the fields once per second keeps busy logging cheap.
function timeFields(timeMs: number): TimeFields {
  const second = Math.floor(timeMs / 1000);
  if (second === cachedSecond) return cachedFields!;
  const date = new Date(second * 1000);
  const hours = date.getHours();
  const offset = -date.getTimezoneOffset();
  const absOffset = Math.abs(offset);
  cachedFields = {
    date,
    Y: String(date.getFullYear()),
    y: pad2(date.getFullYear() % 100),
    m: pad2(date.getMonth() + 1),
    d: pad2(date.getDate()),
    H: pad2(hours),
    I: pad2(hours % 12 === 0 ? 12 : hours % 12),
    M: pad2(date.getMinutes()),
    S: pad2(date.getSeconds()),
    p: hours < 12 ? "AM" : "PM",
    z: (offset < 0 ? "-" : "+") + pad2(Math.floor(absOffset / 60)) + ":" + pad2(absOffset % 60),
  };
  cachedSecond = second;
  return cachedFields;
}

/** Sub-second part of `timeMs` as an integer count of `unitsPerSecond`, zero-padded. */
function fraction(timeMs: number, unitsPerSecond: number, digits: number): string {
  const ms = timeMs - Math.floor(timeMs / 1000) * 1000;
  const units = Math.min(Math.floor(ms * unitsPerSecond / 1000), unitsPerSecond - 1);
  return String(units).padStart(digits, "0");
}

type Part = (record: LogRecord, elapsedMs: number) => string;

// Each flag compiles to a closure; the line is their concatenation. Time flags go through the
// per-second cache, so only the fractional flags do arithmetic on every line.
const FLAGS: Readonly<Record<string, Part>> = {
  v: (r) => r.message,
  _: (r) => r.message.replaceAll("\n", "\\n"),
  j: (r) => JSON.stringify(r.message).slice(1, -1),
  n: (r) => r.component,
  l: (r) => r.level,
  L: (r) => SHORT_LEVEL[LEVEL_VALUE[r.level]],
  t: () => threadId,
  P: () => pidText ??= String(Deno.pid),
  Y: (r) => timeFields(r.timeMs).Y,
  C: (r) => timeFields(r.timeMs).y,
  y: (r) => timeFields(r.timeMs).y,
  m: (r) => timeFields(r.timeMs).m,
  d: (r) => timeFields(r.timeMs).d,
  H: (r) => timeFields(r.timeMs).H,
  I: (r) => timeFields(r.timeMs).I,
  M: (r) => timeFields(r.timeMs).M,
  S: (r) => timeFields(r.timeMs).S,
  p: (r) => timeFields(r.timeMs).p,
  z: (r) => timeFields(r.timeMs).z,
  a: (r) => DAYS[timeFields(r.timeMs).date.getDay()],
  A: (r) => LONG_DAYS[timeFields(r.timeMs).date.getDay()],
  b: (r) => MONTHS[timeFields(r.timeMs).date.getMonth()],
  h: (r) => MONTHS[timeFields(r.timeMs).date.getMonth()],
  B: (r) => LONG_MONTHS[timeFields(r.timeMs).date.getMonth()],
  D: (r) => {
    const f = timeFields(r.timeMs);
    return `${f.m}/${f.d}/${f.y}`;
  },
  x: (r) => {
    const f = timeFields(r.timeMs);
    return `${f.m}/${f.d}/${f.y}`;
  },
  T: (r) => {
    const f = timeFields(r.timeMs);
    return `${f.H}:${f.M}:${f.S}`;
  },
  X: (r) => {
    const f = timeFields(r.timeMs);
    return `${f.H}:${f.M}:${f.S}`;
  },
  R: (r) => {
    const f = timeFields(r.timeMs);
    return `${f.H}:${f.M}`;
  },
  r: (r) => {
    const f = timeFields(r.timeMs);
    return `${f.I}:${f.M}:${f.S} ${f.p}`;
  },
  c: (r) => {
    const f = timeFields(r.timeMs);
    const dayName = DAYS[f.date.getDay()];
    const monthName = MONTHS[f.date.getMonth()];
    return `${dayName} ${monthName} ${f.d} ${f.H}:${f.M}:${f.S} ${f.Y}`;
  },
  E: (r) => String(Math.floor(r.timeMs / 1000)),
  e: (r) => fraction(r.timeMs, 1e3, 3),
  f: (r) => fraction(r.timeMs, 1e6, 6),
  F: (r) => fraction(r.timeMs, 1e9, 9),
  o: (_, elapsed) => String(Math.floor(elapsed)),
  i: (_, elapsed) => String(Math.floor(elapsed * 1e3)),
  u: (_, elapsed) => String(Math.floor(elapsed * 1e6)),
  O: (_, elapsed) => String(Math.floor(elapsed / 1000)),
  // Source file, line and function: JavaScript only knows them by capturing a stack trace,
  // far too expensive per line, so these print nothing rather than something misleading.
  s: () => "",
  g: () => "",
  "#": () => "",
  "!": () => "",
  "@": () => "",
  // Colour range markers only mean something on a colour terminal sink, which this is not.
  "^": () => "",
  $: () => "",
};

const PADDING = /^([-=]?)(\d+)(!?)/;

/**
 * Compiles an spdlog pattern once into a function that formats records.
 *
 * Supports spdlog's flags (`%v %n %l %L %t %P %Y %m %d %H %M %S %T %e %f %F %z %E ...`),
 * padding (`%8l` right-aligns, `%-8l` left-aligns, `%=8l` centres, a trailing `!` truncates),
 * and Envoy's own `%_` (message with newlines escaped) and `%j` (message JSON-escaped).
 * `%%` is a literal `%`; an unknown flag is printed as written, as spdlog does.
 */
export function compileLogFormat(format: string): LogFormatter {
  const parts: (string | Part)[] = [];
  let literal = "";
  let usesElapsed = false;
  for (let i = 0; i < format.length; i++) {
    const ch = format[i];
    if (ch !== "%" || i + 1 === format.length) {
      // spdlog drops a lone trailing '%'.
      if (ch !== "%") literal += ch;
      continue;
    }
    const padding = PADDING.exec(format.slice(i + 1));
    const flagAt = i + 1 + (padding ? padding[0].length : 0);
    const flag = format[flagAt];
    if (flag === "%") {
      literal += "%";
      i = flagAt;
      continue;
    }
    const part = flag !== undefined && Object.hasOwn(FLAGS, flag) ? FLAGS[flag] : undefined;
    if (part === undefined) {
      literal += format.slice(i, flagAt + 1);
      i = flagAt;
      continue;
    }
    if (literal !== "") parts.push(literal);
    literal = "";
    if ("oiuO".includes(flag)) usesElapsed = true;
    parts.push(
      padding
        ? padded(part, Number(padding[2]), padding[1] as "" | "-" | "=", padding[3] === "!")
        : part,
    );
    i = flagAt;
  }
  if (literal !== "") parts.push(literal);

  let previousMs = NaN;
  return (record) => {
    let elapsed = 0;
    if (usesElapsed) {
      elapsed = Number.isNaN(previousMs) ? 0 : Math.max(0, record.timeMs - previousMs);
      previousMs = record.timeMs;
    }
    let line = "";
    for (const part of parts) line += typeof part === "string" ? part : part(record, elapsed);
    return line;
  };
}

function padded(part: Part, width: number, align: "" | "-" | "=", truncate: boolean): Part {
  return (record, elapsed) => {
    const text = part(record, elapsed);
    if (text.length >= width) return truncate ? text.slice(0, width) : text;
    const gap = width - text.length;
    if (align === "-") return text + " ".repeat(gap);
    if (align === "=") {
      const left = Math.floor(gap / 2);
      return " ".repeat(left) + text + " ".repeat(gap - left);
    }
    return " ".repeat(gap) + text;
  };
}

formatter = compileLogFormat(DEFAULT_LOG_FORMAT);
