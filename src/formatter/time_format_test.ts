import { assertEquals } from "../testing/assert.ts";
import { compileTimeFormat } from "./time_format.ts";

// 2016-04-15T20:17:00.310Z, a Friday, day 106 of a leap year.
const T = Date.UTC(2016, 3, 15, 20, 17, 0, 310);

Deno.test("the default format is ISO 8601 with milliseconds in UTC", () => {
  assertEquals(compileTimeFormat("")(T), "2016-04-15T20:17:00.310Z");
});

Deno.test("strftime specifiers render in UTC", () => {
  const f = compileTimeFormat("%Y/%m/%dT%H:%M:%S%z %Z %a %A %b %B %j %e %I%p %y %u %w %C");
  assertEquals(f(T), "2016/04/15T20:17:00+0000 UTC Fri Friday Apr April 106 15 08PM 16 5 5 20");
});

Deno.test("compound specifiers expand", () => {
  assertEquals(
    compileTimeFormat("%F %T|%D|%R|%r|%c")(T),
    [
      "2016-04-15 20:17:00",
      "04/15/16",
      "20:17",
      "08:17:00 PM",
      "Fri Apr 15 20:17:00 2016",
    ].join("|"),
  );
});

Deno.test("%s is epoch seconds and %f / %Nf are fractional seconds", () => {
  assertEquals(compileTimeFormat("%s.%3f")(T), "1460751420.310");
  assertEquals(compileTimeFormat("%s.%6f")(T), "1460751420.310000");
  assertEquals(compileTimeFormat("%s.%f")(T), "1460751420.310000000");
  assertEquals(compileTimeFormat("%1f")(T), "3");
});

Deno.test("%E3S is seconds with three fractional digits", () => {
  assertEquals(compileTimeFormat("%H:%M:%E3S")(T), "20:17:00.310");
});

Deno.test("literal percent, newline, tab and unknown specifiers", () => {
  assertEquals(compileTimeFormat("%%%n%t%Q%")(T), "%\n\t%Q%");
});

Deno.test("the per-second cache follows the clock", () => {
  const f = compileTimeFormat("%S.%3f");
  assertEquals(f(T), "00.310");
  assertEquals(f(T + 5), "00.315");
  assertEquals(f(T + 1000), "01.310");
  assertEquals(f(T), "00.310");
});
