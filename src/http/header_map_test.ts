import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "./header_map.ts";

Deno.test("remove and removeIf drop every match in place and keep the order of the rest", () => {
  const h = new HeaderMap(["a", "1", "x", "2", "b", "3", "x", "4", "c", "5"]);
  assertEquals(h.remove("x"), 2);
  assertEquals(h.raw(), ["a", "1", "b", "3", "c", "5"]);
  assertEquals(h.remove("nope"), 0);
  h.removeIf((n) => n === "a" || n === "c");
  assertEquals(h.raw(), ["b", "3"]);
  h.removeIf(() => true);
  assertEquals(h.size, 0);
});

Deno.test("set replaces the first entry and drops later ones; append joins values", () => {
  const h = new HeaderMap(["v", "1", "k", "a", "v", "2"]);
  h.set("v", "9");
  assertEquals(h.raw(), ["v", "9", "k", "a"]);
  h.append("k", "b");
  h.append("new", "x");
  assertEquals(h.getAll("k"), ["a,b"]);
  assertEquals(h.get("new"), "x");
});
