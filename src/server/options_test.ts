import assert from "node:assert/strict";
import { DEFAULT_LOG_FORMAT } from "../common/logger.ts";
import { BUILD_VERSION, HOT_RESTART_VERSION } from "../version.ts";
import { type Options, parseOptions, type ParseResult, type Platform } from "./options.ts";

// A fixed machine, so defaults do not depend on where the tests run.
const platform: Platform = { hardwareConcurrency: 6, cpusetCpuCount: () => 2 };

function parse(...argv: string[]): Options {
  const result = parseOptions(argv, platform);
  if (!result.ok) throw new Error(`expected success, got: ${result.message}`);
  return result.options;
}

function failure(...argv: string[]): Extract<ParseResult, { ok: false }> {
  const result = parseOptions(argv, platform);
  if (result.ok) throw new Error(`expected failure for ${JSON.stringify(argv)}`);
  return result;
}

/** Asserts the command line is rejected with exit code 1 and `text` in the stderr message. */
function assertError(argv: string[], text: string): void {
  const result = failure(...argv);
  assert.equal(result.exitCode, 1);
  assert.equal(result.toStdout, false);
  assert.ok(result.message.includes(text), `expected "${text}" in "${result.message}"`);
  assert.ok(result.message.endsWith("\n"));
}

Deno.test("defaults are Envoy's", () => {
  assert.deepEqual(parse(), {
    configPath: "",
    configYaml: "",
    watchConfig: false,
    envSubstitution: false,
    mode: "serve",
    logLevel: "info",
    componentLogLevel: "",
    componentLogLevels: new Map(),
    logFormat: DEFAULT_LOG_FORMAT,
    logFormatEscaped: false,
    logPath: "",
    enableFineGrainLogging: false,
    concurrency: 6,
    cpusetThreads: false,
    baseId: 0,
    useDynamicBaseId: false,
    baseIdPath: "",
    restartEpoch: 0,
    disableHotRestart: false,
    skipHotRestartOnNoParent: false,
    skipHotRestartParentStats: false,
    drainTimeS: 600,
    parentShutdownTimeS: 900,
    drainStrategy: "gradual",
    exitOnSigterm: false,
    serviceCluster: "",
    serviceNode: "",
    serviceZone: "",
    fileFlushIntervalMsec: 10000,
    allowUnknownStaticFields: false,
    rejectUnknownDynamicFields: false,
    ignoreUnknownDynamicFields: false,
    localAddressIpVersion: "v4",
    enableCoreDump: false,
    enableMutexTracing: false,
    skipDeprecatedLogs: false,
    disabledExtensions: [],
    statsTags: [],
    adminAddressPath: "",
    adminTokenFile: "",
    adminReadOnly: false,
    adminTlsCert: "",
    adminTlsKey: "",
    adminTlsClientCa: "",
    socketPath: "@envoy_domain_socket",
    socketMode: 0,
    commandLine: [],
    warnings: [],
  });
});

Deno.test("every flag is parsed", () => {
  const argv = [
    "--config-path",
    "/etc/envoy/envoy.yaml",
    "--config-yaml",
    "admin: {}",
    "--watch-config",
    "--mode",
    "validate",
    "--log-level",
    "debug",
    "--component-log-level",
    "upstream:trace,config:warn",
    "--log-format",
    "%v",
    "--log-format-escaped",
    "--log-path",
    "/var/log/envoy.log",
    "--enable-fine-grain-logging",
    "--skip-deprecated-logs",
    "--file-flush-interval-msec",
    "500",
    "--concurrency",
    "3",
    "--base-id",
    "7",
    "--base-id-path",
    "/run/base-id",
    "--restart-epoch",
    "2",
    "--disable-hot-restart",
    "--skip-hot-restart-on-no-parent",
    "--skip-hot-restart-parent-stats",
    "--drain-time-s",
    "30",
    "--parent-shutdown-time-s",
    "45",
    "--drain-strategy",
    "immediate",
    "--exit-on-sigterm",
    "--service-cluster",
    "front",
    "--service-node",
    "node-1",
    "--service-zone",
    "zone-a",
    "--allow-unknown-static-fields",
    "--reject-unknown-dynamic-fields",
    "--ignore-unknown-dynamic-fields",
    "--local-address-ip-version",
    "v6",
    "--enable-core-dump",
    "--enable-mutex-tracing",
    "--disable-extensions",
    "envoy.filters.http/cors,,envoy.tracers/zipkin",
    "--stats-tag",
    "region:us-east:1",
    "--stats-tag",
    "env:prod",
    "--admin-address-path",
    "/run/admin",
    "--admin-allow",
    "GET:/stats,POST:/healthcheck/fail",
    "--admin-allow",
    "*:/ready",
    "--admin-token-file",
    "/etc/denvoy/admin.token",
    "--admin-read-only",
    "--admin-tls-cert",
    "/etc/denvoy/admin.pem",
    "--admin-tls-key",
    "/etc/denvoy/admin.key",
    "--admin-tls-client-ca",
    "/etc/denvoy/ops-ca.pem",
    "--env-substitution",
    "--socket-path",
    "/run/hot.sock",
    "--socket-mode",
    "640",
  ];
  assert.deepEqual(parse(...argv), {
    configPath: "/etc/envoy/envoy.yaml",
    configYaml: "admin: {}",
    watchConfig: true,
    envSubstitution: true,
    mode: "validate",
    logLevel: "debug",
    componentLogLevel: "upstream:trace,config:warn",
    componentLogLevels: new Map([["upstream", "trace"], ["config", "warning"]]),
    logFormat: "%v",
    logFormatEscaped: true,
    logPath: "/var/log/envoy.log",
    enableFineGrainLogging: true,
    concurrency: 3,
    cpusetThreads: false,
    baseId: 7,
    useDynamicBaseId: false,
    baseIdPath: "/run/base-id",
    restartEpoch: 2,
    disableHotRestart: true,
    skipHotRestartOnNoParent: true,
    skipHotRestartParentStats: true,
    drainTimeS: 30,
    parentShutdownTimeS: 45,
    drainStrategy: "immediate",
    exitOnSigterm: true,
    serviceCluster: "front",
    serviceNode: "node-1",
    serviceZone: "zone-a",
    fileFlushIntervalMsec: 500,
    allowUnknownStaticFields: true,
    rejectUnknownDynamicFields: true,
    ignoreUnknownDynamicFields: true,
    localAddressIpVersion: "v6",
    enableCoreDump: true,
    enableMutexTracing: true,
    skipDeprecatedLogs: true,
    disabledExtensions: ["envoy.filters.http/cors", "envoy.tracers/zipkin"],
    statsTags: [{ name: "region", value: "us-east:1" }, { name: "env", value: "prod" }],
    adminAddressPath: "/run/admin",
    adminAllow: [
      { method: "GET", path: "/stats" },
      { method: "POST", path: "/healthcheck/fail" },
      { method: "*", path: "/ready" },
    ],
    adminTokenFile: "/etc/denvoy/admin.token",
    adminReadOnly: true,
    adminTlsCert: "/etc/denvoy/admin.pem",
    adminTlsKey: "/etc/denvoy/admin.key",
    adminTlsClientCa: "/etc/denvoy/ops-ca.pem",
    socketPath: "/run/hot.sock",
    socketMode: 0o640,
    commandLine: argv,
    warnings: [],
  });
});

Deno.test("short flags, attached values and --flag=value", () => {
  const o = parse("-c", "envoy.yaml", "-l", "trace");
  assert.equal(o.configPath, "envoy.yaml");
  assert.equal(o.logLevel, "trace");
  const attached = parse("-cenvoy.yaml", "-lerror", "--mode=init_only", "--log-format=-%v");
  assert.equal(attached.configPath, "envoy.yaml");
  assert.equal(attached.logLevel, "error");
  assert.equal(attached.mode, "init_only");
  assert.equal(attached.logFormat, "-%v");
  assert.deepEqual(attached.commandLine, [
    "-cenvoy.yaml",
    "-lerror",
    "--mode=init_only",
    "--log-format=-%v",
  ]);
});

Deno.test("warn is an alias of warning, and every level name is accepted", () => {
  assert.equal(parse("-l", "warn").logLevel, "warning");
  for (const level of ["trace", "debug", "info", "warning", "error", "critical", "off"]) {
    assert.equal(parse("--log-level", level).logLevel, level);
  }
});

Deno.test("concurrency: explicit, zero, cpuset and conflicting", () => {
  assert.equal(parse("--concurrency", "0").concurrency, 1);
  assert.equal(parse("--cpuset-threads").concurrency, 2);
  const both = parse("--cpuset-threads", "--concurrency", "4");
  assert.equal(both.concurrency, 4);
  assert.equal(both.cpusetThreads, true);
  assert.match(both.warnings[0], /not applying --cpuset-threads/);
  const unknownCpuset = parseOptions(["--cpuset-threads"], {
    hardwareConcurrency: 5,
    cpusetCpuCount: () => undefined,
  });
  assert.ok(unknownCpuset.ok && unknownCpuset.options.concurrency === 5);
});

Deno.test("the deprecated --allow-unknown-fields still works, with a warning", () => {
  const o = parse("--allow-unknown-fields");
  assert.equal(o.allowUnknownStaticFields, true);
  assert.match(o.warnings[0], /--allow-unknown-fields is deprecated/);
});

Deno.test("socket mode is octal and only checked for filesystem sockets", () => {
  assert.equal(parse("--socket-path", "/tmp/s", "--socket-mode", "0755").socketMode, 0o755);
  assert.equal(parse("--socket-path", "/tmp/s").socketMode, 0o600);
  assert.equal(parse("--socket-mode", "999").socketMode, 0);
  assertError(["--socket-path", "/tmp/s", "--socket-mode", "999"], "invalid socket-mode '999'");
  assertError(["--socket-path", "/tmp/s", "--socket-mode", "rw"], "invalid socket-mode 'rw'");
  assertError(["--socket-path="], "--socket-path must not be empty");
});

Deno.test("arguments after -- are ignored", () => {
  const o = parse("-l", "debug", "--", "--bogus", "positional");
  assert.equal(o.logLevel, "debug");
});

Deno.test("--help prints every flag and its default on stdout", () => {
  for (const argv of [["--help"], ["-h"], ["--bogus", "--help"]]) {
    const result = failure(...argv);
    assert.equal(result.exitCode, 0);
    assert.equal(result.toStdout, true);
    assert.match(result.message, /^Usage: denvoy/);
  }
  const help = failure("--help").message;
  const flags = [
    "-c, --config-path <path>",
    "--config-yaml",
    "--mode",
    "-l, --log-level <level>",
    "--component-log-level",
    "--log-format <format>",
    "--log-format-escaped",
    "--log-path",
    "--concurrency",
    "--base-id <n>",
    "--use-dynamic-base-id",
    "--base-id-path",
    "--restart-epoch",
    "--hot-restart-version",
    "--drain-time-s",
    "--parent-shutdown-time-s",
    "--drain-strategy",
    "--service-cluster",
    "--service-node",
    "--service-zone",
    "--disable-hot-restart",
    "--file-flush-interval-msec",
    "--allow-unknown-static-fields",
    "--reject-unknown-dynamic-fields",
    "--ignore-unknown-dynamic-fields",
    "--local-address-ip-version",
    "--enable-core-dump",
    "--cpuset-threads",
    "--disable-extensions",
    "--stats-tag",
    "--admin-address-path",
    "--socket-path",
    "--socket-mode",
    "--version",
    "-h, --help",
  ];
  for (const flag of flags) assert.ok(help.includes(flag), `--help lacks ${flag}`);
  for (const def of ["[default: serve]", "[default: info]", "[default: 600]", "[default: 900]"]) {
    assert.ok(help.includes(def), `--help lacks ${def}`);
  }
  assert.ok(help.includes(DEFAULT_LOG_FORMAT));
  assert.ok(help.split("\n").every((line) => line.length <= 100));
});

Deno.test("--version prints Envoy's version line on stdout", () => {
  const result = failure("--version");
  assert.equal(result.exitCode, 0);
  assert.equal(result.toStdout, true);
  assert.ok(result.message.startsWith(`\ndenvoy  version: ${BUILD_VERSION}\n\n`));
  assert.match(
    result.message,
    /^\ndenvoy {2}version: [^/]+\/[^/]+\/Clean\/RELEASE\/BoringSSL\n\nbuilt from source; running on deno \d+\.\d+\.\d+ \(v8 [^)]+\)\n$/,
  );
});

Deno.test("--hot-restart-version prints on stderr and exits 0", () => {
  const result = failure("--hot-restart-version");
  assert.deepEqual(result, {
    ok: false,
    exitCode: 0,
    message: `${HOT_RESTART_VERSION}\n`,
    toStdout: false,
  });
  assert.equal(failure("--hot-restart-version", "--disable-hot-restart").message, "disabled\n");
});

Deno.test("unknown flags and stray arguments", () => {
  assertError(["--foo"], "error: unknown flag '--foo' (see --help)");
  assertError(["--foo=bar"], "error: unknown flag '--foo' (see --help)");
  assertError(["-x"], "error: unknown flag '-x' (see --help)");
  assertError(["envoy.yaml"], "error: unexpected argument 'envoy.yaml'");
});

Deno.test("missing and misplaced values", () => {
  assertError(["-c"], "error: flag '-c' needs a value <path>");
  assertError(["--log-level"], "error: flag '--log-level' needs a value <level>");
  assertError(
    ["--config-path", "--mode", "validate"],
    "error: flag '--config-path' needs a value <path>, got '--mode'; write --config-path=--mode",
  );
  assertError(
    ["--disable-hot-restart=yes"],
    "error: flag '--disable-hot-restart' does not take a value",
  );
  assertError(
    ["-l", "debug", "--log-level", "info"],
    "error: flag '--log-level' given more than once",
  );
  assertError(["--enable-core-dump", "--enable-core-dump"], "given more than once");
});

Deno.test("numeric flags must be whole numbers that fit in 32 bits", () => {
  for (
    const flag of [
      "--concurrency",
      "--base-id",
      "--restart-epoch",
      "--drain-time-s",
      "--parent-shutdown-time-s",
      "--file-flush-interval-msec",
    ]
  ) {
    for (const bad of ["abc", "1.5", "4294967296", "", " 1", "0x10"]) {
      assertError([`${flag}=${bad}`], `error: invalid value '${bad}' for ${flag}`);
    }
    assertError([`${flag}=-1`], `error: invalid value '-1' for ${flag}`);
  }
  assert.equal(parse("--base-id", "4294967295").baseId, 4294967295);
});

Deno.test("enumerated flags reject other values", () => {
  assertError(
    ["--mode", "run"],
    "error: unknown mode 'run' (expected one of: serve, validate, init_only)",
  );
  assertError(["--local-address-ip-version", "v5"], "error: unknown IP address version 'v5'");
  assertError(["--drain-strategy", "slow"], "error: unknown drain-strategy 'slow'");
  assertError(["-l", "loud"], "error: invalid log level specified 'loud'");
});

Deno.test("component log levels are validated", () => {
  assertError(
    ["--component-log-level", "upstream"],
    "component log level not correctly specified 'upstream'",
  );
  assertError(["--component-log-level", "upstream:loud"], "invalid log level specified 'loud'");
  assertError(["--component-log-level", "nope:debug"], "invalid component specified 'nope'");
});

Deno.test("a dynamic base id cannot be combined with a restart epoch", () => {
  assertError(
    ["--use-dynamic-base-id", "--restart-epoch", "1"],
    "error: cannot use --restart-epoch=1 with --use-dynamic-base-id",
  );
  assert.equal(parse("--use-dynamic-base-id", "--restart-epoch", "0").useDynamicBaseId, true);
});

Deno.test("stats tags are validated like Envoy's", () => {
  assertError(["--stats-tag", "foo"], "error: misformatted stats-tag 'foo'");
  assertError(["--stats-tag", ":bar"], "error: misformatted stats-tag ':bar'");
  assertError(["--stats-tag", "foo:"], "error: misformatted stats-tag 'foo:'");
  assertError(
    ["--stats-tag", "f_o:bar"],
    "misformatted stats-tag 'f_o:bar' contains invalid char in 'f_o'",
  );
  assertError(
    ["--stats-tag", "foo:b.ar"],
    "misformatted stats-tag 'foo:b.ar' contains invalid char in 'b.ar'",
  );
  assertError(
    ["--stats-tag", "foo:a", "--stats-tag", "foo:b"],
    "stats-tag 'foo' given more than once",
  );
  assert.deepEqual(parse("--stats-tag", "foo:b_-ar").statsTags, [{ name: "foo", value: "b_-ar" }]);
});
