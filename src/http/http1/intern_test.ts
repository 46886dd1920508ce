import { assert, assertEquals } from "../../testing/assert.ts";
import { TOKEN, TOKEN_LOWER } from "./chars.ts";
import { HASH_SEED, hashFinish, hashStep, InternTable, KIND_HOST, KIND_OTHER } from "./intern.ts";
import { bytes } from "./test_util.ts";

function look(table: InternTable, s: string): number {
  const b = bytes(`xx${s}yy`);
  return table.lookup(b, 2, 2 + s.length);
}

Deno.test("InternTable finds words through the fold table", () => {
  const t = new InternTable(["host", "content-length", "a"], TOKEN_LOWER, [KIND_HOST]);
  assertEquals(look(t, "host"), 0);
  assertEquals(look(t, "HoSt"), 0);
  assertEquals(look(t, "Content-Length"), 1);
  assertEquals(look(t, "A"), 2);
  assertEquals(t.word(1), "content-length");
  assertEquals(t.kind(0), KIND_HOST);
  assertEquals(t.kind(1), KIND_OTHER);
  for (const miss of ["hos", "hosts", "", "h st", "content_length", "b"]) {
    assertEquals(look(t, miss), -1, miss);
  }
});

Deno.test("InternTable with an identity fold is case-sensitive", () => {
  const t = new InternTable(["GET", "POST"], TOKEN);
  assertEquals(look(t, "GET"), 0);
  assertEquals(look(t, "get"), -1);
  assertEquals(look(t, "POST"), 1);
});

Deno.test("find() takes a hash computed while scanning", () => {
  const t = new InternTable(["accept", "accept-encoding"], TOKEN_LOWER);
  const b = bytes("Accept-Encoding");
  let h = HASH_SEED;
  for (const c of b) h = hashStep(h, TOKEN_LOWER[c]);
  assertEquals(t.find(b, 0, b.length, hashFinish(h, b.length)), 1);
  assertEquals(t.find(b, 0, b.length, hashFinish(h, b.length)), t.lookup(b, 0, b.length));
});

Deno.test("InternTable rejects duplicates and words not in folded form", () => {
  const threw = (f: () => unknown) => {
    try {
      f();
      return false;
    } catch {
      return true;
    }
  };
  assert(threw(() => new InternTable(["a", "b", "a"], TOKEN_LOWER)));
  assert(threw(() => new InternTable(["Host"], TOKEN_LOWER)));
  assert(threw(() => new InternTable(["a b"], TOKEN)));
});

Deno.test("a large table keeps every word reachable", () => {
  const words = Array.from({ length: 500 }, (_, i) => `x-header-${i}`);
  const t = new InternTable(words, TOKEN_LOWER);
  words.forEach((w, i) => assertEquals(look(t, w.toUpperCase()), i));
});
