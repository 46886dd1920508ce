/**
 * The systemd unit (`configs/systemd/`): `systemd-analyze verify` accepts it with no warning
 * (Debian package systemd), it carries what the operations guide asks for, and the per-epoch
 * start script passes the epoch the hot-restarter sets.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { denvoyCommand, tempFile } from "./helpers.ts";

const dir = new URL("../configs/systemd/", import.meta.url).pathname;
const unit = Deno.readTextFileSync(`${dir}denvoy.service`);

function hasCommand(name: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Runs `systemd-analyze verify` on `text`, with the unit's programs as stubs in a temp dir. */
async function verify(text: string): Promise<{ code: number; stderr: string }> {
  const root = Deno.makeTempDirSync({ prefix: "denvoy-systemd-" });
  for (const f of ["denvoy", "hot-restarter", "start-denvoy.sh"]) {
    Deno.writeTextFileSync(`${root}/${f}`, "#!/bin/sh\n", { mode: 0o755 });
  }
  const path = `${root}/denvoy.service`;
  Deno.writeTextFileSync(path, text.replaceAll("/opt/denvoy/", `${root}/`));
  const out = await new Deno.Command("systemd-analyze", {
    args: ["verify", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  Deno.removeSync(root, { recursive: true });
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

const analyze = hasCommand("systemd-analyze");
Deno.test({
  name: analyze
    ? "systemd-analyze verify accepts denvoy.service without a warning"
    : "SKIPPED (systemd-analyze not installed: Debian package systemd): verify denvoy.service",
  ignore: !analyze,
  async fn() {
    const ok = await verify(unit);
    assertEquals(ok, { code: 0, stderr: "" });
    // The check has teeth: a misspelt directive and a bad value are reported.
    const bad = await verify(
      unit.replace("Restart=on-failure", "Restart=sometimes")
        .replace("ProtectSystem=strict", "ProtectSystm=strict"),
    );
    assertMatch(bad.stderr, /Failed to parse service restart specifier/);
    assertMatch(bad.stderr, /Unknown key 'ProtectSystm'/);
  },
});

Deno.test("denvoy.service: hot restart on reload, limits, capabilities, user, hardening", () => {
  const directives = new Set(unit.split("\n").filter((l) => /^[A-Z]\w*=/.test(l)));
  for (
    const d of [
      "ExecStart=/opt/denvoy/hot-restarter /opt/denvoy/start-denvoy.sh",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "LimitNOFILE=1048576",
      "AmbientCapabilities=CAP_NET_BIND_SERVICE",
      "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
      "User=denvoy",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "PrivateTmp=yes",
      "ProtectHome=yes",
      "Restart=on-failure",
      "StandardError=journal",
    ]
  ) assert(directives.has(d), `missing ${d}`);
  // A reload validates the new config first: a bad one never reaches the hot restart.
  const reload = unit.split("\n").filter((l) => l.startsWith("ExecReload="));
  assertMatch(reload[0], /--mode validate/);
  // On stop, health checks fail first (load balancers stop sending), then SIGTERM drains.
  assert(directives.has("ExecStop=-/usr/bin/curl -fsS -X POST ${DENVOY_ADMIN}/healthcheck/fail"));
  assert(directives.has("KillMode=mixed"));
});

Deno.test("start-denvoy.sh passes the hot-restarter's epoch; without one it says so", async () => {
  const stub = Deno.makeTempFileSync({ suffix: ".sh" });
  Deno.writeTextFileSync(stub, '#!/bin/sh\nprintf "%s " "$@"\n', { mode: 0o755 });
  const run = (env: Record<string, string>) =>
    new Deno.Command(`${dir}start-denvoy.sh`, {
      env: { DENVOY_BIN: stub, ...env },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
  const dec = new TextDecoder();
  const ok = await run({ RESTART_EPOCH: "2", DENVOY_FLAGS: "--concurrency 4" });
  assertEquals(
    dec.decode(ok.stdout),
    "-c /etc/denvoy/envoy.yaml --restart-epoch 2 --drain-time-s 30 " +
      "--parent-shutdown-time-s 45 --concurrency 4 ",
  );
  const missing = await run({});
  assert(!missing.success);
  assertMatch(dec.decode(missing.stderr), /RESTART_EPOCH is set by the hot-restarter/);
});

Deno.test("a malformed environment (/etc/default/denvoy) stops start-up with a clear error", async () => {
  const [cmd, lead] = denvoyCommand();
  const bin = Deno.makeTempFileSync({ suffix: ".sh" });
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  Deno.writeTextFileSync(bin, `#!/bin/sh\nexec ${[cmd, ...lead].map(quote).join(" ")} "$@"\n`, {
    mode: 0o755,
  });
  const config = tempFile(`static_resources: {}\n`);
  const run = async (env: Record<string, string>) => {
    const out = await new Deno.Command(`${dir}start-denvoy.sh`, {
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        HOME: Deno.env.get("HOME") ?? "/",
        DENVOY_BIN: bin,
        DENVOY_CONFIG: config,
        RESTART_EPOCH: "0",
        DENVOY_FLAGS: "--disable-hot-restart",
        ...env,
      },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const cases: [Record<string, string>, RegExp][] = [
    [{ DENVOY_DRAIN_TIME_S: "30s" }, /invalid value '30s' for --drain-time-s/],
    [
      { DENVOY_PARENT_SHUTDOWN_TIME_S: "soon" },
      /invalid value 'soon' for --parent-shutdown-time-s/,
    ],
    [{ RESTART_EPOCH: "one" }, /invalid value 'one' for --restart-epoch/],
    [{ DENVOY_FLAGS: "--concurency 2" }, /unknown flag '--concurency'/],
    [{ DENVOY_CONFIG: "/nonexistent/envoy.yaml" }, /\/nonexistent\/envoy\.yaml/],
  ];
  for (const [env, message] of cases) {
    const r = await run(env);
    assertEquals(r.code, 1, `${JSON.stringify(env)}: ${r.stderr}`);
    assertMatch(r.stderr, message);
  }
});
