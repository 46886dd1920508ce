import { assert, assertEquals } from "../testing/assert.ts";
import { PathIndex } from "./path_index.ts";

interface R {
  id: number;
  literal?: string;
}

/** The first route whose literal the path starts with (undefined literal: any path). */
function first(routes: readonly R[], path: string): number | undefined {
  return routes.find((r) => r.literal === undefined || path.startsWith(r.literal))?.id;
}

function routes(literals: (string | undefined)[]): R[] {
  return literals.map((literal, id) => ({ id, literal }));
}

Deno.test("small route lists are not indexed", () => {
  const rs = routes(["/a", "/b"]);
  const idx = new PathIndex(rs, (r) => r.literal);
  assertEquals(idx.keyLength, 0);
  assertEquals(idx.candidates("/a", 2), rs);
});

Deno.test("buckets keep config order, with routes that match anything in between", () => {
  const lits: (string | undefined)[] = [];
  for (let i = 0; i < 40; i++) lits.push(`/svc${String(i).padStart(2, "0")}/`);
  lits.splice(10, 0, undefined);
  lits.push("/");
  const rs = routes(lits);
  const idx = new PathIndex(rs, (r) => r.literal);
  assert(idx.keyLength > 0);
  const c = idx.candidates("/svc25/x", 8);
  assertEquals(c.map((r) => r.id), [10, 26, 41]);
  assertEquals(idx.candidates("/other", 6).map((r) => r.id), [10, 41]);
  assertEquals(idx.candidates("/s", 2).map((r) => r.id), [10, 41], "too short for any key");
});

Deno.test("candidates give the same first match as a full scan", () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = "/ab";
  const word = (n: number) => Array.from({ length: n }, () => alphabet[rand(3)]).join("");
  for (let round = 0; round < 20; round++) {
    const lits = Array.from(
      { length: 30 + rand(50) },
      () => rand(8) === 0 ? undefined : word(1 + rand(6)),
    );
    const rs = routes(lits);
    const idx = new PathIndex(rs, (r) => r.literal);
    for (let i = 0; i < 200; i++) {
      const path = word(rand(9));
      assertEquals(first(idx.candidates(path, path.length), path), first(rs, path), path);
    }
  }
});

/** The key length scored by counting each K's keys directly (the definition). */
function referenceKeyLength(literals: (string | undefined)[]): number {
  let best = 0;
  let bestCost = literals.length / 2;
  for (let k = 1; k <= 24; k++) {
    const counts = new Map<string, number>();
    let unkeyed = 0;
    let keyed = 0;
    for (const lit of literals) {
      if (lit === undefined || lit.length < k) unkeyed++;
      else {
        keyed++;
        counts.set(lit.slice(0, k), (counts.get(lit.slice(0, k)) ?? 0) + 1);
      }
    }
    if (keyed === 0) break;
    let sq = 0;
    for (const c of counts.values()) sq += c * c;
    const cost = unkeyed + sq / keyed;
    if (cost < bestCost) [best, bestCost] = [k, cost];
  }
  return best;
}

Deno.test("the key length is the one that minimises the routes a lookup walks, when it halves them", () => {
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let round = 0; round < 200; round++) {
    const literals = Array.from({ length: 16 + rand(200) }, () => {
      if (rand(10) === 0) return undefined;
      const parts = ["/", "/a", "/ab", "/svc", "/svc9", "/b/", "/Ä"];
      let s = parts[rand(parts.length)];
      for (let i = rand(30); i > 0; i--) s += "ab/9Z"[rand(5)];
      return s;
    });
    const idx = new PathIndex(routes(literals), (r) => r.literal);
    assertEquals(idx.keyLength, referenceKeyLength(literals), JSON.stringify(literals));
  }
});

Deno.test("a bucket's sub-index splits by longer keys only: 10,000 numbered routes stay linear", () => {
  // `/p1` .. `/p9999`: buckets of `/p100` hold the 100 shorter routes too; re-splitting those
  // by a shorter key in each of 900 buckets read a million literals.
  let reads = 0;
  const rs = routes(Array.from({ length: 10_000 }, (_, i) => `/v2/p${i}`));
  const idx = new PathIndex(rs, (r) => (reads++, r.literal));
  assert(reads < 150_000, `${reads} literals read`);
  for (const path of ["/v2/p0", "/v2/p42", "/v2/p1234/x", "/v2/p9999", "/v2/q"]) {
    assertEquals(
      idx.candidates(path, path.length).find((r) => path.startsWith(r.literal!))?.id,
      first(rs, path),
    );
  }
});
