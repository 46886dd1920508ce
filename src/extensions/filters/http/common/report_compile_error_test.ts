import { assertEquals } from "../../../../testing/assert.ts";
import type { ExtensionValidationContext } from "../../../../config/extensions.ts";
import { reportCompileError } from "./report_compile_error.ts";

function reports(error: unknown): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  const ctx = { report: (m: string, f?: string) => out.push([m, f]) };
  reportCompileError(ctx as unknown as ExtensionValidationContext, () => {
    if (error !== undefined) throw error;
  });
  return out;
}

Deno.test("reportCompileError: the error's field (relative to the config) and problem", () => {
  assertEquals(reports(undefined), []);
  assertEquals(reports(new Error(".a[0].b: invalid regex 'x: y'")), [[
    "invalid regex 'x: y'",
    "a[0].b",
  ]]);
  assertEquals(reports(new Error("no field here")), [["no field here", undefined]]);
});
