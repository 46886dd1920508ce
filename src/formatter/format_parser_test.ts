import { assertEquals } from "../testing/assert.ts";
import { parseFormat } from "./format_parser.ts";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

Deno.test("literal text and commands alternate", () => {
  assertEquals(parseFormat("a %PROTOCOL% b"), ["a ", { name: "PROTOCOL", arg: "" }, " b"]);
});

Deno.test("arguments and a length are parsed", () => {
  assertEquals(parseFormat("%REQ(X-A?X-B):10%"), [{ name: "REQ", arg: "X-A?X-B", maxLength: 10 }]);
  assertEquals(parseFormat("%START_TIME(%Y/%m)%"), [{ name: "START_TIME", arg: "%Y/%m" }]);
});

Deno.test("%% is a literal percent sign, merged into the surrounding text", () => {
  assertEquals(parseFormat("100%% of %%"), ["100% of %"]);
  assertEquals(parseFormat("%%%BYTES_SENT%"), ["%", { name: "BYTES_SENT", arg: "" }]);
});

Deno.test("an empty format has no tokens", () => {
  assertEquals(parseFormat(""), []);
});

Deno.test("a percent sign that starts no command is an error with its position", () => {
  for (
    const [format, pos] of [
      ["abc %", 4],
      ["%lower%", 0],
      ["x %REQ(A%", 2],
      ["%REQ(A):%", 0],
      ["%REQ(A)x%", 0],
      ["%PROTOCOL", 0],
    ] as const
  ) {
    assertEquals(
      errorOf(() => parseFormat(format)),
      `Incorrect configuration: ${format}. Couldn't find valid command at position ${pos}`,
    );
  }
});
