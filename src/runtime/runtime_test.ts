import { assertEquals } from "../testing/assert.ts";
import { runtimeSnapshot, setRuntimeSnapshot } from "./runtime.ts";
import { Snapshot } from "./snapshot.ts";

Deno.test("the isolate's snapshot is replaced atomically", () => {
  const before = runtimeSnapshot();
  try {
    setRuntimeSnapshot({ layers: [{ name: "x", entries: { k: { raw: "v" } } }] });
    assertEquals(runtimeSnapshot().get("k"), "v");
    const s = new Snapshot();
    setRuntimeSnapshot(s);
    assertEquals(runtimeSnapshot(), s);
  } finally {
    setRuntimeSnapshot(before);
  }
});
