/** The committed `proto/gen/` must be exactly what `deno task proto` generates. */
import { assertEquals } from "../src/testing/assert.ts";
import { applyPatch, generate, replaceOnce } from "../proto/generate.ts";

const GEN = new URL("../proto/gen", import.meta.url).pathname;

function listFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...listFiles(`${dir}/${e.name}`, rel));
    else out.push(rel);
  }
  return out.sort();
}

Deno.test("proto/gen equals a fresh generation (run `deno task proto` after changing patches)", async () => {
  const fresh = await Deno.makeTempDir({ prefix: "denvoy-gen-" });
  try {
    await generate(fresh);
    const committed = listFiles(GEN);
    assertEquals(listFiles(fresh), committed);
    const differing = committed.filter((f) => {
      const a = Deno.readFileSync(`${GEN}/${f}`);
      const b = Deno.readFileSync(`${fresh}/${f}`);
      return a.length !== b.length || a.some((x, i) => x !== b[i]);
    });
    assertEquals(differing, []);
  } finally {
    await Deno.remove(fresh, { recursive: true });
  }
});

Deno.test("patches insert into exactly one message and replace exactly one text", () => {
  const proto = "message A {\n  string x = 1;\n  message B {\n    int32 y = 1;\n  }\n}\n";
  assertEquals(
    applyPatch(proto, "B", "int32 z = 2;"),
    "message A {\n  string x = 1;\n  message B {\n    int32 y = 1;\n    int32 z = 2;\n  }\n}\n",
  );
  assertEquals(replaceOnce("a b c", "b", "B"), "a B c");
  let threw = false;
  try {
    replaceOnce("b b", "b", "B");
  } catch {
    threw = true;
  }
  assertEquals(threw, true);
});
