import { throws } from "node:assert/strict";
import { assertEquals } from "../testing/assert.ts";
import { diskValue, readDiskLayer } from "./disk_layer.ts";

Deno.test("file contents drop comment lines and trailing blanks", () => {
  assertEquals(diskValue("42\n"), "42");
  assertEquals(diskValue("# placeholder\n"), "");
  assertEquals(diskValue("# a comment\n10  \n"), "10");
  assertEquals(
    diskValue("numerator: 5\n\ndenominator: HUNDRED\n"),
    "numerator: 5\ndenominator: HUNDRED",
  );
});

Deno.test("a directory tree becomes dotted keys", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/health_check`);
    Deno.writeTextFileSync(`${root}/health_check/min_interval`, "5\n");
    Deno.mkdirSync(`${root}/a/b`, { recursive: true });
    Deno.writeTextFileSync(`${root}/a/b/c`, "true");
    Deno.writeTextFileSync(`${root}/top`, "# nothing\n");
    const entries = readDiskLayer(root);
    assertEquals(Object.keys(entries).sort(), ["a.b.c", "health_check.min_interval", "top"]);
    assertEquals(entries["health_check.min_interval"].uint, 5);
    assertEquals(entries["a.b.c"].bool, true);
    assertEquals(entries.top.raw, "");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("trees deeper than Envoy's limit are rejected", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/${Array.from({ length: 17 }, (_, i) => `d${i}`).join("/")}`, {
      recursive: true,
    });
    throws(() => readDiskLayer(root), /Walk recursion depth exceeded 16/);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
