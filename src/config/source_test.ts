import { assertEquals, assertMatch } from "../testing/assert.ts";
import type { ConfigIssue } from "./errors.ts";
import { parseSource, pathSegments, position } from "./source.ts";

Deno.test("field paths split into keys, indexes and quoted map keys", () => {
  assertEquals(pathSegments('a.b[2]["k.x"].c'), ["a", "b", 2, "k.x", "c"]);
  assertEquals(pathSegments(""), []);
});

Deno.test("positions are found by proto or JSON field names, keys or values", () => {
  const issues: ConfigIssue[] = [];
  const src = parseSource("a:\n  list:\n  - x: 1\n  - statPrefix: p\n", "f.yaml", issues)!;
  assertEquals(issues, []);
  assertEquals(position(src, { path: "a.list[1].stat_prefix" }), { line: 4, col: 17 });
  assertEquals(position(src, { path: "a.list[1]", key: "stat_prefix" }), { line: 4, col: 5 });
  // A path that cannot be followed ends at the deepest node reached.
  assertEquals(position(src, { path: "a.missing" }), { line: 2, col: 3 });
  const noPositions = parseSource("{}", "b.pb", issues, { positions: false })!;
  assertEquals(position(noPositions, { path: "a" }), { line: 0, col: 0 });
});

Deno.test("unusable text is reported, not thrown", () => {
  const issues: ConfigIssue[] = [];
  assertEquals(parseSource("  \n", "e.yaml", issues), undefined);
  assertEquals(parseSource("a: [1,\n", "s.yaml", issues), undefined);
  assertEquals(parseSource("a: 1\n---\nb: 2\n", "m.yaml", issues), undefined);
  assertMatch(issues[0].message, /empty/);
  assertMatch(issues[1].message, /^invalid YAML/);
  assertEquals(issues[1].line > 0, true);
  assertMatch(issues[issues.length - 1].message, /invalid YAML/);
});
