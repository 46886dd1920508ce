import { assertEquals } from "../testing/assert.ts";
import { closest, ConfigError, editDistance, formatIssue } from "./errors.ts";

Deno.test("issues render as file:line:col: path: message", () => {
  const base = { kind: "schema" as const, path: "a.b", message: "bad" };
  assertEquals(formatIssue({ ...base, file: "e.yaml", line: 3, col: 7 }), "e.yaml:3:7: a.b: bad");
  assertEquals(formatIssue({ ...base, file: "e.pb", line: 0, col: 0 }), "e.pb: a.b: bad");
  assertEquals(formatIssue({ ...base, file: "", line: 0, col: 0, path: "" }), "bad");
  const err = new ConfigError([{ ...base, file: "x", line: 1, col: 1 }]);
  assertEquals(err.message, "x:1:1: a.b: bad");
});

Deno.test("did-you-mean picks the closest name within typo distance", () => {
  assertEquals(editDistance("stat_prefx", "stat_prefix"), 1);
  assertEquals(closest("stat_prefx", ["name", "stat_prefix", "route_config"]), "stat_prefix");
  assertEquals(closest("codec", ["stat_prefix", "route_config"]), undefined);
  assertEquals(closest("ROUND_ROBN", ["ROUND_ROBIN", "RANDOM"]), "ROUND_ROBIN");
});
