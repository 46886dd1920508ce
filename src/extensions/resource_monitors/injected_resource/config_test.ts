import { assertEquals } from "../../../testing/assert.ts";
import { parsePressure } from "./config.ts";

Deno.test("injected pressure: a number from 0 to 1, else Envoy's errors", () => {
  assertEquals(parsePressure("0.5\n"), 0.5);
  assertEquals(parsePressure("1"), 1);
  assertEquals(parsePressure("0"), 0);
  for (const bad of ["", "abc", "0.5x", "NaN"]) {
    let msg = "";
    try {
      parsePressure(bad);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertEquals(msg, "failed to parse injected resource pressure");
  }
  for (const bad of ["1.5", "-0.1"]) {
    let msg = "";
    try {
      parsePressure(bad);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertEquals(msg, "pressure out of valid range");
  }
});
