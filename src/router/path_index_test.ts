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
