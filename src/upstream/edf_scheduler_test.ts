import { assert, assertEquals } from "../testing/assert.ts";
import { EdfScheduler } from "./edf_scheduler.ts";

function counts<T>(edf: EdfScheduler<T>, picks: number, weightOf?: (t: T) => number) {
  const seen = new Map<T, number>();
  for (let i = 0; i < picks; i++) {
    const t = edf.pickAndAdd(weightOf)!;
    seen.set(t, (seen.get(t) ?? 0) + 1);
  }
  return seen;
}

Deno.test("EDF: weights 1:3 give exactly 1000:3000 in 4000 picks", () => {
  const edf = new EdfScheduler<string>();
  edf.add("a", 1);
  edf.add("b", 3);
  const seen = counts(edf, 4000);
  assertEquals(seen.get("a"), 1000);
  assertEquals(seen.get("b"), 3000);
});

Deno.test("EDF: picks interleave instead of bursting, ties to the first queued", () => {
  const edf = new EdfScheduler<string>();
  edf.add("a", 1);
  edf.add("b", 3);
  const order = Array.from({ length: 8 }, () => edf.pickAndAdd());
  assertEquals(order.join(""), "bbabbbab");
  const even = new EdfScheduler<string>();
  for (const x of ["x", "y", "z"]) even.add(x, 5);
  assertEquals(Array.from({ length: 6 }, () => even.pickAndAdd()).join(""), "xyzxyz");
});

Deno.test("EDF: many weights stay exact over whole periods", () => {
  const edf = new EdfScheduler<number>();
  const weights = [2, 3, 5, 7, 11, 13];
  weights.forEach((w, i) => edf.add(i, w));
  const total = weights.reduce((a, b) => a + b, 0);
  const seen = counts(edf, total * 100);
  weights.forEach((w, i) => assertEquals(seen.get(i), w * 100));
});

Deno.test("EDF: fractional weights (effective locality weights)", () => {
  const edf = new EdfScheduler<string>();
  edf.add("x", 0.7);
  edf.add("y", 2);
  const seen = counts(edf, 2700);
  assert(Math.abs(seen.get("x")! - 700) <= 1, `x ${seen.get("x")}`);
});

Deno.test("EDF: a weight given at pick time applies from the next period", () => {
  const edf = new EdfScheduler<string>();
  edf.add("a", 1);
  edf.add("b", 1);
  const weight = { a: 1, b: 1 };
  counts(edf, 10, (t) => weight[t as "a" | "b"]);
  weight.b = 4;
  const seen = counts(edf, 1000, (t) => weight[t as "a" | "b"]);
  assert(Math.abs(seen.get("b")! - 800) <= 2, `b ${seen.get("b")}`);
});

Deno.test("EDF: empty scheduler picks nothing", () => {
  const edf = new EdfScheduler<string>();
  assertEquals(edf.size, 0);
  assertEquals(edf.pickAndAdd(), undefined);
});
