/**
 * `deno task bench`: runs the validate and startup benches in sequence and prints Markdown
 * table rows in the layout of `bench/RESULTS.md`, ready to paste.
 */
import { startupBench } from "./startup_bench.ts";
import { ms, validateBench } from "./validate_bench.ts";

/** Targets from the foundation issue; a row passes when its median is under the target. */
const VALIDATE_TARGET_MS = 2000;
const STARTUP_TARGET_MS = 500;

const date = new Date().toISOString().slice(0, 10);
const v = await validateBench(5);
const s = await startupBench(10);

const verdict = (median: number, target: number) => median < target ? "pass" : "FAIL";
const row = (cells: string[]) => `| ${cells.join(" | ")} |`;

console.log(row(["date", "command", "wall ms", "target", "result"]));
console.log(row(["---", "---", "---", "---", "---"]));
console.log(row([
  date,
  `\`main.ts --mode validate\` (${v.routes} routes / ${v.clusters} clusters)`,
  `min ${ms(v.validate.min)} / median ${ms(v.validate.median)} / max ${ms(v.validate.max)}`,
  `< ${VALIDATE_TARGET_MS} ms`,
  verdict(v.validate.median, VALIDATE_TARGET_MS),
]));
console.log(row([
  date,
  "`deno run` empty script (runtime baseline)",
  `min ${ms(v.baseline.min)} / median ${ms(v.baseline.median)} / max ${ms(v.baseline.max)}`,
  "—",
  "—",
]));
console.log(row([
  date,
  `\`main.ts -c configs/envoy.yaml\` to "all listeners ready"` +
  (s.usedEphemeralPorts ? " (ports 0)" : "") + `; exit after SIGTERM: ${s.exits.join(", ")}`,
  `min ${ms(s.startup.min)} / median ${ms(s.startup.median)} / p90 ${ms(s.startup.p90)} / ` +
  `max ${ms(s.startup.max)}`,
  `< ${STARTUP_TARGET_MS} ms`,
  verdict(s.startup.median, STARTUP_TARGET_MS),
]));
