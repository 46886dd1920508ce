/**
 * Times serve-mode start-up: wall time from spawning `main.ts -c configs/envoy.yaml` to the
 * `all listeners ready` log line on stderr, then SIGTERM and wait for exit.
 *
 * Usage: `deno run -A bench/startup_bench.ts [runs]`; with `DENVOY_UNDER_TEST=dist/denvoy.js`
 * it times the bundle (`deno task bundle`) instead of main.ts.
 */
import { denvoyV8Args } from "./harness.ts";
import { MAIN_TS, ms, REPO_ROOT, summarize, type Summary } from "./validate_bench.ts";

const READY = "all listeners ready";
/** The module started: main.ts, or the artifact named by DENVOY_UNDER_TEST (the bundle). */
const TARGET = Deno.env.get("DENVOY_UNDER_TEST") || MAIN_TS;
/** A run that has not logged READY by then is a failure, not a slow sample. */
const READY_TIMEOUT_MS = 30_000;
const DEFAULT_CONFIG = `${REPO_ROOT}configs/envoy.yaml`;

/** What the startup bench measured. */
export interface StartupResult {
  /** The config actually served: the default, or a temp copy with ephemeral ports. */
  config: string;
  usedEphemeralPorts: boolean;
  /**
   * How the server ended after SIGTERM, each distinct outcome once ("code 0" is Envoy's
   * behaviour; "signal SIGTERM" means no handler ran), so a shutdown regression is visible.
   */
  exits: string[];
  startup: Summary;
}

/**
 * The default config binds the admin on 9901 and a listener on 10000; a developer's running
 * Envoy (or a previous run still draining) would make those binds fail. Port 0 asks the kernel
 * for a free port, so a copy with 0 is used when `--mode validate` accepts it.
 */
async function configWithEphemeralPorts(dir: string): Promise<string | undefined> {
  const text = await Deno.readTextFile(DEFAULT_CONFIG);
  const re = /port_value:\s*(9901|10000)\b/g;
  if (!re.test(text)) return undefined;
  const path = `${dir}/envoy.yaml`;
  await Deno.writeTextFile(path, text.replace(re, "port_value: 0"));
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", TARGET, "--mode", "validate", "-c", path],
    cwd: REPO_ROOT,
    stdout: "null",
    stderr: "null",
  }).output();
  return check.code === 0 ? path : undefined;
}

/** Spawns the server once; resolves with ms to READY and how it exited after SIGTERM. */
async function oneStart(config: string): Promise<{ readyMs: number; exit: string }> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      ...denvoyV8Args(),
      TARGET,
      "-c",
      config,
      "--disable-hot-restart",
    ],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), READY_TIMEOUT_MS);
  // Only the tail is kept between chunks: enough to catch READY split across two reads,
  // and the log seen so far is reported if the line never comes.
  let log = "";
  let readyAt: number | undefined;
  while (readyAt === undefined) {
    const { value, done } = await reader.read();
    if (done) break;
    log = (log + value).slice(-8192);
    if (log.includes(READY)) readyAt = performance.now() - t0;
  }
  clearTimeout(timer);
  if (readyAt !== undefined) child.kill("SIGTERM");
  // Keep draining so a chatty shutdown cannot block on a full stderr pipe.
  const drain = (async () => {
    for (;;) if ((await reader.read()).done) return;
  })();
  const status = await child.status;
  await drain;
  if (readyAt === undefined) {
    throw new Error(
      `no "${READY}" within ${READY_TIMEOUT_MS} ms (exit ${status.code}, signal ` +
        `${status.signal}); stderr tail:\n${log}`,
    );
  }
  return {
    readyMs: readyAt,
    exit: status.signal ? `signal ${status.signal}` : `code ${status.code}`,
  };
}

/** Starts and stops the server `runs` times after one untimed warm-up start. */
export async function startupBench(runs = 10): Promise<StartupResult> {
  const dir = await Deno.makeTempDir({ prefix: "denvoy-startup-" });
  try {
    const ephemeral = await configWithEphemeralPorts(dir);
    const config = ephemeral ?? DEFAULT_CONFIG;
    const samples: number[] = [];
    const exits = new Set<string>();
    for (let i = 0; i <= runs; i++) {
      const r = await oneStart(config);
      exits.add(r.exit);
      if (i > 0) samples.push(r.readyMs);
    }
    return {
      config,
      usedEphemeralPorts: ephemeral !== undefined,
      startup: summarize(samples),
      exits: [...exits],
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const r = await startupBench(Number(Deno.args[0] ?? 10));
  const s = r.startup;
  console.log(
    `startup to "${READY}" (${r.usedEphemeralPorts ? "ephemeral ports" : "default ports"}), ` +
      `${s.runs} runs: min ${ms(s.min)} ms, median ${ms(s.median)} ms, p90 ${ms(s.p90)} ms, ` +
      `max ${ms(s.max)} ms; exit after SIGTERM: ${r.exits.join(", ")}`,
  );
}
