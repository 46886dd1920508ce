/**
 * The shipped artifact: `build/bundle.ts` builds the one-file bundle, which then runs alone (a
 * copy in an empty directory, nothing but this deno) through a representative subset of the
 * integration suite — HTTP proxying, the admin, `--concurrency 2` workers, TLS and mTLS
 * termination, HTTP/2, hot restart — by pointing the test helpers at it (`DENVOY_UNDER_TEST`).
 * `compile.sh` without denort says what is missing.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { bundle } from "../build/bundle.ts";
import { tempFile } from "./helpers.ts";
import { SHIPPED_V8_FLAGS } from "../bench/harness.ts";

const root = new URL("../", import.meta.url).pathname;
const dir = Deno.makeTempDirSync({ prefix: "denvoy-bundle-test-" });
const artifact = `${dir}/denvoy.js`;
let building: Promise<number> | undefined;
/** Builds the bundle once for every test of this file. */
function built(): Promise<number> {
  return building ??= bundle(artifact);
}

function git(...args: string[]): string {
  const out = new Deno.Command("git", { args, cwd: root, stdout: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("the bundle builds and --version names its commit, date and Deno", async () => {
  assertEquals(await built(), 0);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", artifact, "--version"],
    cwd: dir,
    stdout: "piped",
  }).output();
  assertEquals(out.code, 0);
  const text = new TextDecoder().decode(out.stdout);
  const head = git("rev-parse", "HEAD");
  assertMatch(
    text,
    new RegExp(
      `^\\ndenvoy {2}version: ${head}/[^/]+/(Clean|Modified)/RELEASE/BoringSSL\\n\\n` +
        `built \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ with deno ${Deno.version.deno}; ` +
        `running on deno ${Deno.version.deno} `,
    ),
  );
});

Deno.test("the bundle imports nothing but Deno's node: built-ins", async () => {
  assertEquals(await built(), 0);
  const code = Deno.readTextFileSync(artifact);
  const specifiers = [
    ...code.matchAll(/^\s*(?:import|export)\b[^\n]*?\bfrom\s*"([^"\s]+)"/gm),
    ...code.matchAll(/\bimport\(\s*"([^"\s]+)"\s*\)/g),
  ].map((m) => m[1]);
  assert(specifiers.length > 0);
  assertEquals(specifiers.filter((s) => !s.startsWith("node:")), []);
});

Deno.test("the bundle, deno task start, compile.sh and the benches pass the same V8 flags", async () => {
  assertEquals(await built(), 0);
  const flags = `--v8-flags=${SHIPPED_V8_FLAGS}`;
  const shebang = Deno.readTextFileSync(artifact).split("\n", 1)[0];
  assertEquals(shebang, `#!/usr/bin/env -S deno run -A --unstable-net ${flags}`);
  const tasks = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)).tasks;
  assertMatch(tasks.start, new RegExp(`^deno run -A --unstable-net ${flags} main\\.ts `));
  assertMatch(
    Deno.readTextFileSync(`${root}compile.sh`),
    new RegExp(`\\$DENO compile .*${flags} `),
  );
});

/**
 * Runs `files` against the bundle: every test, or the `count` tests `filter` names (a renamed
 * test fails this rather than silently drop out). The test files are type-checked elsewhere.
 */
async function testBundle(
  files: string[],
  only?: { filter: string; count: number },
): Promise<void> {
  assertEquals(await built(), 0);
  const filter = only ? ["--filter", only.filter] : [];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--unstable-net", "--no-check", ...filter, ...files],
    cwd: root,
    env: { DENVOY_UNDER_TEST: artifact, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert(out.success, text);
  assertMatch(
    text,
    only ? new RegExp(`ok \\| ${only.count} passed \\| 0 failed`) : /ok \| \d+ passed \| 0 failed/,
  );
}

Deno.test("the bundle passes the proxy, admin and workers tests on its own", () =>
  testBundle([
    "tests/http_proxy_test.ts",
    "tests/admin_endpoints_test.ts",
    "tests/workers_test.ts",
  ]));

Deno.test("the bundle passes TLS and mTLS termination, HTTP/2 and hot restart tests on its own", () =>
  testBundle(
    ["tests/tls_downstream_test.ts", "tests/http2_downstream_test.ts", "tests/hot_restart_test.ts"],
    {
      filter: "/^(TLS termination|mTLS:|h2c prior knowledge|HTTP\\/2: concurrent streams|" +
        "hot restart: the next epoch takes|hot restart: a second process)/",
      count: 8,
    },
  ));

Deno.test("bundle start-up: spawn to the first accepted connection (logged, not asserted)", async () => {
  assertEquals(await built(), 0);
  const config = tempFile(`
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: t
          cluster: c
  clusters:
  - name: c
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
`);
  const start = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      artifact,
      "-c",
      config,
      "--concurrency",
      "1",
      "--use-dynamic-base-id",
    ],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stderr.values({ preventCancel: true })) {
    log += dec.decode(chunk, { stream: true });
    if (/'l' on port \d+/.test(log)) break;
  }
  const port = Number(/'l' on port (\d+)/.exec(log)![1]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const ms = performance.now() - start;
  conn.close();
  child.kill("SIGTERM");
  await child.stderr.cancel();
  assertEquals((await child.status).code, 0);
  console.log(`bundle start-up to accepting: ${ms.toFixed(0)} ms`);
});

Deno.test("compile.sh without denort exits non-zero and says what is missing", async () => {
  const empty = Deno.makeTempDirSync();
  const out = await new Deno.Command("bash", {
    args: ["compile.sh"],
    cwd: root,
    env: { DENO_DIR: empty, DENORT_BIN: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 1);
  const err = new TextDecoder().decode(out.stderr);
  assert(err.includes("the denort base binary is missing"), err);
  assert(err.includes(`denort ${Deno.version.deno}`), err);
  assert(err.includes("DENORT_BIN=/path/to/denort bash compile.sh"), err);
});
