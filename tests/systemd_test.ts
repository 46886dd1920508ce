/**
 * The systemd unit (`configs/systemd/`): `systemd-analyze verify` accepts it with no warning
 * (Debian package systemd), it carries what the operations guide asks for, and the per-epoch
 * start script passes the epoch the hot-restarter sets.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";

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
