/**
 * Times `main.ts --mode validate` on a generated 10,000-route / 1,000-cluster config, and
 * `deno run` of an empty script the same way, so the result can be read as
 * "runtime start-up + denvoy's own work".
 *
 * Usage: `deno run -A bench/validate_bench.ts [runs]`
 */
import { fileURLToPath } from "node:url";
import { generateConfig } from "./gen_config.ts";

/** Absolute path of the repository root; children run there so they pick up deno.json. */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Absolute path of the CLI entry point under test. */
export const MAIN_TS = fileURLToPath(new URL("../main.ts", import.meta.url));

/** Min / median / p90 / max of a set of wall-clock samples, in milliseconds. */
export interface Summary {
  runs: number;
  min: number;
  median: number;
  p90: number;
  max: number;
}

/** Summarises samples; p90 is nearest-rank, so with 10 samples it is the 9th fastest. */
export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return {
    runs: s.length,
    min: s[0],
    median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2,
    p90: s[Math.ceil(0.9 * s.length) - 1],
    max: s[s.length - 1],
  };
}

/** Formats a millisecond figure the way RESULTS.md records them. */
export function ms(v: number): string {
  return v.toFixed(0);
}

/** What the validate bench measured. */
export interface ValidateResult {
  routes: number;
  clusters: number;
  validate: Summary;
  baseline: Summary;
}

/** Runs `deno run -A --unstable-net <args>` to completion; returns wall ms and the output. */
async function timeDenoRun(args: string[]): Promise<{ ms: number; code: number; out: string }> {
  const t0 = performance.now();
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", ...args],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const elapsed = performance.now() - t0;
  const dec = new TextDecoder();
  return { ms: elapsed, code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

/**
 * Generates the config, then times `runs` validate runs and `runs` empty-script runs. One
 * untimed run of each comes first so every timed run sees the same warm V8 code cache;
 * throws if a validate run does not exit 0 with Envoy's `configuration '<file>' OK` line.
 */
export async function validateBench(
  runs = 5,
  routes = 10_000,
  clusters = 1_000,
): Promise<ValidateResult> {
  const dir = await Deno.makeTempDir({ prefix: "denvoy-bench-" });
  try {
    const config = `${dir}/routes_${routes}.yaml`;
    await Deno.writeTextFile(config, generateConfig(routes, clusters));
    const empty = `${dir}/empty.ts`;
    await Deno.writeTextFile(empty, "");

    const validateArgs = [MAIN_TS, "--mode", "validate", "-c", config];
    const okLine = `configuration '${config}' OK`;
    const validate: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const r = await timeDenoRun(validateArgs);
      if (r.code !== 0 || !r.out.includes(okLine)) {
        throw new Error(
          `validate run ${i} failed (exit ${r.code}); expected "${okLine}". Output:\n` +
            r.out.slice(0, 4000),
        );
      }
      if (i > 0) validate.push(r.ms);
    }
    const baseline: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const r = await timeDenoRun([empty]);
      if (r.code !== 0) throw new Error(`empty script exited ${r.code}:\n${r.out}`);
      if (i > 0) baseline.push(r.ms);
    }
    return { routes, clusters, validate: summarize(validate), baseline: summarize(baseline) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const r = await validateBench(Number(Deno.args[0] ?? 5));
  const v = r.validate, b = r.baseline;
  console.log(
    `validate ${r.routes} routes / ${r.clusters} clusters, ${v.runs} runs: ` +
      `min ${ms(v.min)} ms, median ${ms(v.median)} ms, max ${ms(v.max)} ms`,
  );
  console.log(
    `deno run empty script, ${b.runs} runs: ` +
      `min ${ms(b.min)} ms, median ${ms(b.median)} ms, max ${ms(b.max)} ms`,
  );
}
