/**
 * The HTTP/1 parser fuzzer at scale: `deno run bench/parser_fuzz.ts [cases=1000000] [seed]`
 * runs that many cases of `parserFuzzCase` (random, invalid and mutated pipelines of requests
 * and responses, whole, split and byte by byte; see src/testing/http1_fuzz.ts) and stops at
 * the first failure, printing the seed and the failing input. The suite runs a bounded share
 * (`src/http/http1/parser_fuzz_test.ts`).
 */
import { parserFuzzCase, Rng } from "../src/testing/http1_fuzz.ts";

const cases = Number(Deno.args[0] ?? 1_000_000);
const seed = Deno.args[1] !== undefined
  ? Number(Deno.args[1]) >>> 0
  : (Math.random() * 0x100000000) >>> 0;
console.log(`parser fuzz: ${cases} cases, seed ${seed}`);
const rng = new Rng(seed);
const start = performance.now();
for (let i = 0; i < cases; i++) {
  try {
    parserFuzzCase(rng);
  } catch (e) {
    console.error(`case ${i} (seed ${seed}) failed: ${(e as Error).message}`);
    Deno.exit(1);
  }
  if ((i + 1) % 100_000 === 0) {
    console.log(`${i + 1} cases, ${Math.round((i + 1) / ((performance.now() - start) / 1000))}/s`);
  }
}
const s = (performance.now() - start) / 1000;
console.log(`${cases} cases in ${s.toFixed(1)} s (${Math.round(cases / s)}/s): no failure`);
