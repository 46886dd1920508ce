import { assertEquals } from "../testing/assert.ts";
import { runtimeJson } from "./runtime.ts";

Deno.test("/runtime JSON: layers, and per key the final value and every layer's value", () => {
  assertEquals(
    runtimeJson({
      layers: [
        { name: "static", entries: { a: { raw: "1" }, b: { raw: "x" } } },
        { name: "disk", entries: {} },
        { name: "admin", entries: { a: { raw: "2" } } },
      ],
    }),
    {
      layers: ["static", "disk", "admin"],
      entries: {
        a: { final_value: "2", layer_values: ["1", "", "2"] },
        b: { final_value: "x", layer_values: ["x", "", ""] },
      },
    },
  );
  assertEquals(runtimeJson({ layers: [] }), { layers: [], entries: {} });
});
