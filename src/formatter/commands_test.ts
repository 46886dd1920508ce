import { assertEquals } from "../testing/assert.ts";
import { createProvider } from "./commands.ts";
import type { Command } from "./format_parser.ts";

function errorOf(command: Command): string {
  try {
    createProvider(command);
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

Deno.test("an unknown operator is rejected by name", () => {
  assertEquals(
    errorOf({ name: "NOT_AN_OPERATOR", arg: "" }),
    "Not supported field in StreamInfo: NOT_AN_OPERATOR",
  );
  assertEquals(
    errorOf({ name: "constructor", arg: "" }),
    "Not supported field in StreamInfo: constructor",
  );
});

Deno.test("operators without parameters reject arguments and lengths", () => {
  const message = "PROTOCOL does not take any parameters or length";
  assertEquals(errorOf({ name: "PROTOCOL", arg: "x" }), message);
  assertEquals(errorOf({ name: "PROTOCOL", arg: "", maxLength: 3 }), message);
});

Deno.test("operators that need parameters reject their absence", () => {
  assertEquals(
    errorOf({ name: "DYNAMIC_METADATA", arg: "" }),
    "DYNAMIC_METADATA requires parameters",
  );
});

Deno.test("a length is only allowed where Envoy allows one", () => {
  assertEquals(
    errorOf({ name: "START_TIME", arg: "%s", maxLength: 3 }),
    "START_TIME does not allow length to be specified.",
  );
  assertEquals(errorOf({ name: "REQ", arg: "host", maxLength: 3 }), "<no error>");
});
