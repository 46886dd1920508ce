/**
 * Fuzzing of the HTTP/1.1 request and response parsers (bounded; `bench/parser_fuzz.ts` runs a
 * million cases): random pipelines of valid, invalid and mutated messages, whole, in random
 * pieces and byte by byte. No exception may escape, the result may not depend on the split,
 * and valid messages parse in a pipeline exactly as alone. The seed is printed; replay a
 * failure with `FUZZ_SEED=<seed>`.
 */
import { fuzzSeed, parserFuzzCase, Rng } from "../../testing/http1_fuzz.ts";

Deno.test("parser fuzz: random and mutated pipelines, any split, no throw, no state leak", () => {
  const rng = new Rng(fuzzSeed("parser fuzz"));
  const deadline = performance.now() + 10_000;
  for (let i = 0; i < 3000 && performance.now() < deadline; i++) parserFuzzCase(rng);
});
