/**
 * The command line end to end: main.ts as a process, as an operator runs it.
 * Bad input must give one clear message and exit 1, never a stack trace or a hang.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { runMain, type RunResult, ServerProcess, tempFile } from "./helpers.ts";

const DEFAULT_CONFIG = new URL("../configs/envoy.yaml", import.meta.url).pathname;

/** Asserts a failed run: exit 1, the message, and no JavaScript stack trace. */
async function rejects(args: string[], message: RegExp): Promise<RunResult> {
  const r = await runMain(args);
  assertEquals(r.code, 1, r.stderr);
  assertMatch(r.stderr, message);
  assert(!/\n\s+at .*\.ts:\d+/.test(r.stderr), `stack trace printed:\n${r.stderr}`);
  assert(!/Uncaught|TypeError|RangeError/.test(r.stderr), r.stderr);
  return r;
}

/** `rejects` for tests that need only the assertions. */
async function check(args: string[], message: RegExp): Promise<void> {
  await rejects(args, message);
}

function listenerYaml(socket: string, extra = ""): string {
  return `static_resources:
  listeners:
  - name: l
    address:
      socket_address: ${socket}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: c
${extra}  clusters:
  - name: c
    load_assignment: { cluster_name: c }
`;
}

Deno.test("validate: the default config is OK, exit 0, nothing else on stdout", async () => {
  const r = await runMain(["--mode", "validate", "-c", DEFAULT_CONFIG]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, `configuration '${DEFAULT_CONFIG}' OK\n`);
});

Deno.test("validate: every error printed with file:line:col and a count, exit 1", async () => {
  const path = tempFile(
    listenerYaml("{ address: 127.0.0.1, port_value: 1 }").replace("stat_prefix", "stat_prefx")
      .replace("name: c\n    load", "name: c\n    lb_policy: FASTEST\n    load"),
  );
  const r = await rejects(["--mode", "validate", "-c", path], /invalid: 2 errors/);
  assertMatch(r.stderr, new RegExp(`${path}:11:11: .*unknown field "stat_prefx" in TcpProxy`));
  assertMatch(r.stderr, new RegExp(`${path}:15:16: static_resources.clusters\\[0\\].lb_policy`));
  assertEquals(r.stdout, "");
});

Deno.test("bad input: missing file", () =>
  check(["-c", "/nonexistent/envoy.yaml"], /no such file/));

Deno.test("bad input: a directory", () => check(["-c", Deno.makeTempDirSync()], /is a directory/));

Deno.test("bad input: an empty file", () => check(["-c", tempFile("")], /the config is empty/));

Deno.test("bad input: binary garbage", () => {
  const bytes = new Uint8Array(4096).map((_, i) => (i * 7919) % 256);
  return check(["-c", tempFile(bytes)], /not text/);
});

Deno.test("bad input: YAML syntax error names the line", () =>
  check(["-c", tempFile("admin:\n  address: [unclosed\n")], /:\d+:\d+: invalid YAML/));

Deno.test("bad input: a 50 MB file is refused quickly", async () => {
  const path = tempFile("# padding\n".repeat(5 * 1024 * 1024));
  const t0 = Date.now();
  await rejects(["-c", path], /the config file is 50\.0 MiB; the limit is 32 MiB/);
  assert(Date.now() - t0 < 30_000);
});

Deno.test("bad input: a YAML alias bomb (billion laughs)", () => {
  let anchors = '    l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i <= 9; i++) {
    anchors += `    l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(",")}]\n`;
  }
  return check(
    ["-c", tempFile(`node:\n  metadata:\n${anchors}`)],
    /YAML aliases expand to more than \d+ nodes/,
  );
});

Deno.test("bad input: wrong types", () =>
  check(
    ["-c", tempFile(listenerYaml('{ address: 127.0.0.1, port_value: "eighty" }'))],
    /port_value: expected an integer from 0 to 4294967295, got the string "eighty"/,
  ));

Deno.test("bad input: negative port", () =>
  check(
    ["-c", tempFile(listenerYaml("{ address: 127.0.0.1, port_value: -80 }"))],
    /port_value: expected an integer from 0 to 4294967295, got negative -80/,
  ));

Deno.test("bad input: port above 65535", () =>
  check(
    ["-c", tempFile(listenerYaml("{ address: 127.0.0.1, port_value: 65536 }"))],
    /port_value: must be at most 65535 \(is 65536\)/,
  ));

Deno.test("bad input: unknown enum value", () =>
  check(
    ["-c", tempFile(listenerYaml("{ address: 127.0.0.1, port_value: 80, protocol: SCTP }"))],
    /protocol: unknown value "SCTP" for enum Protocol \(did you mean TCP\?\); expected one of TCP, UDP/,
  ));

Deno.test("bad input: unsupported extension names itself, its type URL and place", async () => {
  const path = tempFile(`static_resources:
  listeners:
  - name: redis
    address:
      socket_address: { address: 127.0.0.1, port_value: 6379 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.redis_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy
          stat_prefix: redis
          settings: { op_timeout: 1s }
`);
  await check(
    ["-c", path],
    new RegExp(
      `${path}:10:20: static_resources\\.listeners\\[0\\]\\.filter_chains\\[0\\]\\.filters\\[0\\]` +
        `\\.typed_config: unsupported extension 'envoy\\.filters\\.network\\.redis_proxy' ` +
        `\\(type\\.googleapis\\.com/envoy\\.extensions\\.filters\\.network\\.redis_proxy\\.v3\\.RedisProxy\\)`,
    ),
  );
});

Deno.test("bad flags: unknown flag, bad mode, bad level, bad number", async () => {
  await rejects(["--frobnicate"], /unknown flag '--frobnicate'/);
  await rejects(["--mode", "dance"], /unknown mode 'dance'/);
  await rejects(["-l", "loud"], /loud/);
  await rejects(["--concurrency", "-3"], /--concurrency/);
});

Deno.test("no config at all is a clear error", () => check([], /no configuration/));

Deno.test("--help and --version print to stdout and exit 0", async () => {
  const help = await runMain(["--help"]);
  assertEquals(help.code, 0);
  for (const flag of ["--config-path", "--config-yaml", "--mode", "--log-level", "--concurrency"]) {
    assert(help.stdout.includes(flag), `--help lacks ${flag}`);
  }
  const version = await runMain(["--version"]);
  assertEquals(version.code, 0);
  assertMatch(version.stdout, /denvoy {2}version: [^/]+\/[\d.]+[^/]*\/Clean\/RELEASE\/BoringSSL/);
});

Deno.test("--config-yaml alone, and merged over -c", async () => {
  const only = await runMain(["--mode", "validate", "--config-yaml", "node: { id: n1 }"]);
  assertEquals(only.code, 0, only.stderr);
  const bad = await runMain([
    "--mode",
    "validate",
    "-c",
    DEFAULT_CONFIG,
    "--config-yaml",
    "nodee: {}",
  ]);
  assertEquals(bad.code, 1);
  assertMatch(
    bad.stderr,
    /--config-yaml:1:1: unknown field "nodee" in Bootstrap \(did you mean "node"\?\)/,
  );
});

Deno.test("init_only initializes, logs the listeners and exits 0", async () => {
  const r = await runMain(["--mode", "init_only", "-c", DEFAULT_CONFIG]);
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stderr, /\[info\]\[main\] listener 'front' on 0\.0\.0\.0:10000/);
});

Deno.test("logs use Envoy's default format; --log-format and --log-path are honoured", async () => {
  const r = await runMain(["--mode", "init_only", "-c", DEFAULT_CONFIG]);
  assertMatch(r.stderr, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[1\]\[info\]\[main\] /m);
  const logPath = Deno.makeTempFileSync();
  const f = await runMain([
    "--mode",
    "init_only",
    "-c",
    DEFAULT_CONFIG,
    "--log-path",
    logPath,
    "--log-format",
    "%l|%n|%v",
  ]);
  assertEquals(f.code, 0);
  assertEquals(f.stderr, "");
  assertMatch(Deno.readTextFileSync(logPath), /^info\|main\|listener 'front' on 0\.0\.0\.0:10000/m);
  const quiet = await runMain(["--mode", "init_only", "-c", DEFAULT_CONFIG, "-l", "error"]);
  assertEquals(quiet.stderr, "");
});

Deno.test("serve: runs until SIGTERM, then exits 0", async () => {
  const p = new ServerProcess(["-c", DEFAULT_CONFIG]);
  await p.waitFor(/all listeners ready/);
  const status = await p.stop("SIGTERM");
  assertEquals(status.code, 0, p.stderr);
  assertMatch(p.stderr, /caught SIGTERM/);
  assertMatch(p.stderr, /exiting/);
});

Deno.test("serve: an invalid config stops start-up with exit 1 and logged errors", async () => {
  const r = await runMain(["-c", tempFile("admin: { adress: {} }")]);
  assertEquals(r.code, 1);
  assertMatch(
    r.stderr,
    /\[critical\]\[config\] .*unknown field "adress" in Admin \(did you mean "address"\?\)/,
  );
});
