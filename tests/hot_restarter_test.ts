/**
 * `configs/hot-restarter` (Envoy's hot-restarter.py model) running the real main.ts: SIGHUP
 * starts the next epoch, which takes over (a config change applies); SIGTERM stops every
 * epoch; an epoch that dies unexpectedly stops the group.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { MAIN, tempFile } from "./helpers.ts";
import { Http1Client } from "./http1_client.ts";

const RESTARTER = new URL("../configs/hot-restarter", import.meta.url).pathname;

function config(body: string): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: / }
                direct_response: { status: 200, body: { inline_string: "${body}" } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`;
}

/** The hot-restarter over a start script for main.ts on the config at `configPath`. */
class Restarter {
  readonly child: Deno.ChildProcess;
  stderr = "";
  readonly #pump: Promise<void>;

  /** `startScript` replaces the one that runs main.ts (a stand-in epoch for race tests). */
  constructor(readonly configPath: string, startScript?: string) {
    const baseId = 100_000 + Math.floor(Math.random() * 1_000_000);
    const script = tempFile(
      startScript ?? `#!/bin/sh
exec "${Deno.execPath()}" run -A --unstable-net "${MAIN}" -c "${configPath}" \\
  --restart-epoch "$RESTART_EPOCH" --base-id ${baseId} --concurrency 1 \\
  --drain-strategy immediate --drain-time-s 5 --parent-shutdown-time-s 1
`,
      ".sh",
    );
    Deno.chmodSync(script, 0o755);
    const child = new Deno.Command("bash", {
      args: [RESTARTER, script],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1", HOT_RESTARTER_TERM_WAIT_S: "10" },
    }).spawn();
    this.child = child;
    this.#pump = (async () => {
      const dec = new TextDecoder();
      for await (const c of child.stderr) this.stderr += dec.decode(c, { stream: true });
    })();
  }

  /** Waits until stderr matches `re` (polling; fails after `ms`); returns the match. */
  async waitFor(re: RegExp, ms = 60_000): Promise<RegExpExecArray> {
    const deadline = performance.now() + ms;
    for (;;) {
      const m = re.exec(this.stderr);
      if (m) return m;
      if (performance.now() > deadline) throw new Error(`never saw ${re}:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops the group if it still runs (a failed test leaves no process behind). */
  async close(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already exited */ }
    await this.status();
  }

  async status(): Promise<Deno.CommandStatus> {
    const s = await this.child.status;
    await this.#pump;
    return s;
  }
}

async function body(port: number): Promise<string> {
  const c = await Http1Client.connect(port);
  try {
    return (await c.get("/")).body;
  } finally {
    c.close();
  }
}

Deno.test("hot-restarter: SIGHUP hot-restarts with the new config, SIGTERM stops every epoch", async () => {
  const path = tempFile(config("v0"));
  const r = new Restarter(path);
  try {
    await hupThenTerm(r, path);
  } finally {
    await r.close();
  }
});

async function hupThenTerm(r: Restarter, path: string): Promise<void> {
  const port = Number((await r.waitFor(/all listeners ready: 'http' on port (\d+)/))[1]);
  assertEquals(await body(port), "v0");

  Deno.writeTextFileSync(path, config("v1"));
  r.child.kill("SIGHUP");
  await r.waitFor(/hot restart: parent shut down/);
  await r.waitFor(/epoch 0 \(pid \d+\) exited\n/);
  assertEquals(await body(port), "v1");

  r.child.kill("SIGTERM");
  assertEquals((await r.status()).code, 0);
  assertMatch(r.stderr, /caught SIGTERM: stopping/);
  let refused = false;
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
  } catch {
    refused = true;
  }
  assert(refused, "an epoch is still listening");
}

Deno.test("hot-restarter: an epoch that dies unexpectedly stops the group", async () => {
  const r = new Restarter(tempFile(config("v0")));
  try {
    await unexpectedDeath(r);
  } finally {
    await r.close();
  }
});

async function unexpectedDeath(r: Restarter): Promise<void> {
  await r.waitFor(/all listeners ready/);
  r.child.kill("SIGHUP");
  const pid = Number((await r.waitFor(/epoch 1 started \(pid (\d+)\)/))[1]);
  await r.waitFor(/hot restart: parent shut down/);
  Deno.kill(pid, "SIGKILL");
  assertEquals((await r.status()).code, 1);
  assertMatch(r.stderr, /epoch 1 \(pid \d+\) exited with status 137: stopping every epoch/);
}

Deno.test("hot-restarter: a crash at the moment the parent exits keeps its status (bash reaped it first)", async () => {
  // Stand-in epochs, both released by one file: epoch 0 exits 0 (a parent done draining) and
  // epoch 1 is SIGKILLed at the same moment. bash often reaps the second while handling the
  // first, so `wait -n` no longer knows it; the status must still be 137, never lost.
  for (let round = 0; round < 40; round++) {
    const go = Deno.makeTempFileSync();
    Deno.removeSync(go);
    const script = `#!/bin/bash
while [ ! -e "${go}" ]; do sleep 0.005; done
if [ "$RESTART_EPOCH" = 0 ]; then exit 0; fi
kill -9 $$
`;
    const r = new Restarter("", script);
    try {
      await r.waitFor(/epoch 0 started/);
      r.child.kill("SIGHUP");
      await r.waitFor(/epoch 1 started/);
      Deno.writeTextFileSync(go, "");
      assertEquals((await r.status()).code, 1, r.stderr);
      assertMatch(r.stderr, /epoch 1 \(pid \d+\) exited with status 137: stopping every epoch/);
    } finally {
      await r.close();
      try {
        Deno.removeSync(go);
      } catch { /* never created */ }
    }
  }
});
