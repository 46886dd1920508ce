import assert from "node:assert/strict";
import {
  compileLogFormat,
  COMPONENTS,
  configureLogging,
  DEFAULT_LOG_FORMAT,
  getLogger,
  levels,
  type LoggingConfig,
  type LogLevel,
  type LogRecord,
  parseComponentLogLevels,
  parseLogLevel,
  setComponentLevel,
  setLevel,
  setLogSink,
  setThreadId,
} from "./logger.ts";

// Built from local calendar fields because spdlog, and so this logger, prints local time.
const T = new Date(2024, 0, 2, 3, 4, 5, 678).getTime();

function record(overrides: Partial<LogRecord> = {}): LogRecord {
  return { timeMs: T, level: "info", component: "main", message: "hello", ...overrides };
}

/** Asserts that `fn` throws an Error whose message contains `text`. */
function assertThrows(fn: () => unknown, text: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.ok(e.message.includes(text), `expected "${text}" in "${e.message}"`);
    return true;
  });
}

function format(pattern: string, overrides: Partial<LogRecord> = {}): string {
  return compileLogFormat(pattern)(record(overrides));
}

/** Runs `fn` with logging configured by `config` and returns the lines it wrote. */
function captured(config: LoggingConfig, fn: () => void): string[] {
  configureLogging(config);
  const lines: string[] = [];
  const previous = setLogSink((line) => lines.push(line));
  try {
    fn();
  } finally {
    setLogSink(previous);
    configureLogging({});
  }
  return lines;
}

Deno.test("default format matches Envoy's layout", () => {
  assert.deepEqual(format(DEFAULT_LOG_FORMAT), "[2024-01-02 03:04:05.678][1][info][main] hello");
});

Deno.test("date and time flags", () => {
  assert.deepEqual(format("%Y|%m|%d|%H|%M|%S|%T|%e"), "2024|01|02|03|04|05|03:04:05|678");
  assert.deepEqual(format("%y|%C|%D|%x|%R|%X"), "24|24|01/02/24|01/02/24|03:04|03:04:05");
  assert.deepEqual(format("%a|%A|%b|%h|%B"), "Tue|Tuesday|Jan|Jan|January");
  assert.deepEqual(format("%I|%p|%r"), "03|AM|03:04:05 AM");
  assert.deepEqual(format("%I %p", { timeMs: new Date(2024, 0, 2, 12, 0, 0).getTime() }), "12 PM");
  assert.deepEqual(format("%I %p", { timeMs: new Date(2024, 0, 2, 0, 0, 0).getTime() }), "12 AM");
  assert.deepEqual(format("%c"), "Tue Jan 02 03:04:05 2024");
  assert.deepEqual(format("%E"), String(Math.floor(T / 1000)));
});

Deno.test("sub-second flags carry the fraction of the record's time", () => {
  // Half a millisecond is exact in binary floating point, so every digit is predictable.
  const half = { timeMs: T + 0.5 };
  assert.deepEqual(format("%e|%f|%F", half), "678|678500|678500000");
  assert.deepEqual(
    format("%e|%f|%F", { timeMs: new Date(2024, 0, 2, 3, 4, 5, 7).getTime() }),
    "007|007000|007000000",
  );
});

Deno.test("%z is the local UTC offset", () => {
  const offset = -new Date(T).getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  const expected = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${
    String(abs % 60).padStart(2, "0")
  }`;
  assert.deepEqual(format("%z"), expected);
  assert.match(format("%z"), /^[+-]\d\d:\d\d$/);
});

Deno.test("level, name, thread and pid flags", () => {
  const names: LogLevel[] = ["trace", "debug", "info", "warning", "error", "critical"];
  assert.deepEqual(names.map((level) => format("%l/%L", { level })), [
    "trace/T",
    "debug/D",
    "info/I",
    "warning/W",
    "error/E",
    "critical/C",
  ]);
  assert.deepEqual(format("%n", { component: "upstream" }), "upstream");
  assert.deepEqual(format("%P"), String(Deno.pid));
  setThreadId(7);
  try {
    assert.deepEqual(format("[%t]"), "[7]");
  } finally {
    setThreadId(1);
  }
  assertThrows(() => setThreadId(-1), "non-negative integer");
});

Deno.test("message flags: raw, newline-escaped and JSON-escaped", () => {
  const message = 'a "b"\nc\\d\te';
  assert.deepEqual(format("%v", { message }), message);
  assert.deepEqual(format("%_", { message }), 'a "b"\\nc\\d\te');
  assert.deepEqual(format("%j", { message }), 'a \\"b\\"\\nc\\\\d\\te');
});

Deno.test("literal percent, unknown flags, source location and colour markers", () => {
  assert.deepEqual(format("100%% %v"), "100% hello");
  assert.deepEqual(format("%k%v"), "%khello");
  assert.deepEqual(format("%v%"), "hello");
  assert.deepEqual(format("[%s:%#:%!:%g:%@]%^%v%$"), "[::::]hello");
});

Deno.test("padding aligns and truncates", () => {
  assert.deepEqual(format("[%8l]"), "[    info]");
  assert.deepEqual(format("[%-8l]"), "[info    ]");
  assert.deepEqual(format("[%=8l]"), "[  info  ]");
  assert.deepEqual(format("[%2l]"), "[info]");
  assert.deepEqual(format("[%2!l]"), "[in]");
  assert.deepEqual(format("[%8]"), "[%8]");
});

Deno.test("elapsed flags measure from the previous line of the same format", () => {
  const fmt = compileLogFormat("%o %i %u %O");
  assert.deepEqual(fmt(record()), "0 0 0 0");
  assert.deepEqual(fmt(record({ timeMs: T + 2500 })), "2500 2500000 2500000000 2");
});

Deno.test("loggers write through the sink at or above their level", () => {
  const lines = captured({ format: "%l|%n|%v" }, () => {
    const log = getLogger("upstream");
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    log.critical("c");
  });
  assert.deepEqual(lines, [
    "info|upstream|i\n",
    "warning|upstream|w\n",
    "error|upstream|e\n",
    "critical|upstream|c\n",
  ]);
});

Deno.test("a disabled level never builds a lazy message", () => {
  let built = 0;
  const lines = captured({ format: "%v" }, () => {
    const log = getLogger("http");
    assert.ok(!log.enabled("debug"));
    assert.ok(log.enabled("info"));
    log.debug(() => `x${++built}`);
    log.info(() => `y${++built}`);
  });
  assert.deepEqual(built, 1);
  assert.deepEqual(lines, ["y1\n"]);
});

Deno.test("component levels override the global level", () => {
  const lines = captured({
    level: "warn",
    componentLevels: new Map([["router", "trace"]]),
    format: "%n:%v",
  }, () => {
    getLogger("router").trace("r");
    getLogger("main").info("hidden");
    getLogger("main").warn("m");
  });
  assert.deepEqual(lines, ["router:r\n", "main:m\n"]);

  const fromRecord = captured(
    { level: "off", componentLevels: { dns: "debug" }, format: "%v" },
    () => {
      getLogger("dns").debug("d");
      getLogger("main").critical("hidden");
    },
  );
  assert.deepEqual(fromRecord, ["d\n"]);
});

Deno.test("setLevel, setComponentLevel and levels() for the admin endpoint", () => {
  configureLogging({});
  try {
    assert.deepEqual(levels().main, "info");
    assert.deepEqual(Object.keys(levels()), [...COMPONENTS]);
    setLevel("error");
    assert.ok(Object.values(levels()).every((l) => l === "error"));
    setComponentLevel("pool", "trace");
    assert.deepEqual(levels().pool, "trace");
    assert.deepEqual(levels().main, "error");
    assert.ok(getLogger("pool").enabled("trace"));
    assert.ok(!getLogger("main").enabled("warning"));
    assertThrows(() => setComponentLevel("nope", "info"), "invalid component specified 'nope'");
  } finally {
    configureLogging({});
  }
});

Deno.test("configureLogging validates everything before changing anything", () => {
  configureLogging({ level: "debug" });
  try {
    assertThrows(() => configureLogging({ level: "loud" }), "invalid log level specified 'loud'");
    assertThrows(
      () => configureLogging({ componentLevels: { nope: "info" } }),
      "valid components: admin, alternate_protocols_cache",
    );
    assertThrows(
      () => configureLogging({ componentLevels: { main: "loud" } }),
      "invalid log level specified 'loud'",
    );
    assertThrows(
      () => configureLogging({ path: "/nonexistent-denvoy-dir/envoy.log" }),
      "cannot open log file '/nonexistent-denvoy-dir/envoy.log'",
    );
    assert.deepEqual(levels().main, "debug");
  } finally {
    configureLogging({});
  }
});

Deno.test("--log-format-escaped escapes the line but keeps trailing whitespace", () => {
  const lines = captured({ format: "[%n] %v", escape: true }, () => {
    getLogger("main").info("a\nb\t\"q\" 'x' \\ \x01 é  \n");
  });
  assert.deepEqual(lines, ["[main] a\\nb\\t\\\"q\\\" \\'x\\' \\\\ \\001 \\303\\251  \n\n"]);
});

Deno.test("--log-path appends to the file", () => {
  const path = Deno.makeTempFileSync({ suffix: ".log" });
  try {
    Deno.writeTextFileSync(path, "existing\n");
    configureLogging({ path, format: "%l %v" });
    getLogger("main").info("one");
    getLogger("config").error("two");
    configureLogging({});
    assert.deepEqual(Deno.readTextFileSync(path), "existing\ninfo one\nerror two\n");
  } finally {
    configureLogging({});
    Deno.removeSync(path);
  }
});

Deno.test("getLogger rejects names that are not Envoy components", () => {
  assertThrows(() => getLogger("nope" as "main"), "invalid component specified 'nope'");
  assert.deepEqual(getLogger("main"), getLogger("main"));
});

Deno.test("parseLogLevel accepts Envoy's names and the warn alias", () => {
  assert.deepEqual(parseLogLevel("warn"), "warning");
  assert.deepEqual(parseLogLevel("off"), "off");
  assert.deepEqual(parseLogLevel("critical"), "critical");
  assert.deepEqual(parseLogLevel("WARN"), undefined);
  assert.deepEqual(parseLogLevel("toString"), undefined);
});

Deno.test("parseComponentLogLevels", () => {
  assert.deepEqual(parseComponentLogLevels(""), new Map());
  assert.deepEqual(
    parseComponentLogLevels("upstream:debug,config:warn"),
    new Map<string, LogLevel>([["upstream", "debug"], ["config", "warning"]]),
  );
  assertThrows(
    () => parseComponentLogLevels("upstream"),
    "component log level not correctly specified 'upstream'",
  );
  assertThrows(
    () => parseComponentLogLevels("a:b:c"),
    "component log level not correctly specified 'a:b:c'",
  );
  assertThrows(
    () => parseComponentLogLevels("upstream:loud"),
    "invalid log level specified 'loud'",
  );
  assertThrows(() => parseComponentLogLevels("nope:debug"), "invalid component specified 'nope'");
});
