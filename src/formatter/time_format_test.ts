import { assertEquals } from "../testing/assert.ts";
import { compileTimeFormat } from "./time_format.ts";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

// 2016-04-15T20:17:00.310Z, a Friday, day 106 of a leap year.
const T = Date.UTC(2016, 3, 15, 20, 17, 0, 310);

Deno.test("the default format is ISO 8601 with milliseconds in UTC", () => {
  assertEquals(compileTimeFormat("")(T), "2016-04-15T20:17:00.310Z");
});

Deno.test("strftime specifiers render in UTC", () => {
  const f = compileTimeFormat("%Y/%m/%dT%H:%M:%S%z %Z %a %A %b %B %j %e %I%p %y %u %w %C");
  assertEquals(f(T), "2016/04/15T20:17:00+0000 UTC Fri Friday Apr April 106 15 08PM 16 5 5 20");
});

Deno.test("week numbers and ISO week-based years", () => {
  // 2016-04-15: ISO week 15; Sunday-based week 15, Monday-based week 15.
  assertEquals(compileTimeFormat("%G-W%V %U %W %g")(T), "2016-W15 15 15 16");
  // 2021-01-01 (a Friday) belongs to ISO week 53 of 2020.
  assertEquals(compileTimeFormat("%G-W%V %U %W")(Date.UTC(2021, 0, 1)), "2020-W53 00 00");
});

Deno.test("glibc flags change padding and case", () => {
  const early = Date.UTC(2016, 0, 5, 7, 3, 9);
  assertEquals(
    compileTimeFormat("%-d/%-m %_H|%0e|%^a %^b|%10A|")(early),
    "5/1  7|05|TUE JAN|   Tuesday|",
  );
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
  assertEquals(compileTimeFormat("%s.%9f")(T), "1460751420.310000000");
  assertEquals(compileTimeFormat("%s.%f")(T), "1460751420.310000000");
  assertEquals(compileTimeFormat("%1f")(T), "3");
});

Deno.test("absl extensions: %E3S, %E*S, %Ez, %E4Y", () => {
  assertEquals(compileTimeFormat("%H:%M:%E3S")(T), "20:17:00.310");
  assertEquals(compileTimeFormat("%E*S")(T), "00.31");
  assertEquals(compileTimeFormat("%E*S")(T - 310), "00");
  assertEquals(compileTimeFormat("%Ez %E4Y")(T), "+00:00 2016");
});

Deno.test("literal percent, tab and unknown specifiers", () => {
  assertEquals(compileTimeFormat("%%%t%Q%")(T), "%\t%Q%");
});

Deno.test("a format that prints a newline is rejected, as Envoy does", () => {
  for (const f of ["%n", "a %-n", "%En", "%_3n"]) {
    assertEquals(
      errorOf(() => compileTimeFormat(f)),
      "Invalid header configuration. Format string contains newline.",
    );
  }
});

Deno.test("local time follows TZ, with Envoy's local default format", () => {
  const tz = Deno.env.get("TZ");
  // The zone is read by the Date API of this isolate; a fixed-offset zone keeps the test exact.
  const offsetMin = -new Date(T).getTimezoneOffset();
  const local = new Date(T + offsetMin * 60_000);
  const pad = (n: number) => String(n).padStart(2, "0");
  const sign = offsetMin < 0 ? "-" : "+";
  const zone = sign + pad(Math.floor(Math.abs(offsetMin) / 60)) + pad(Math.abs(offsetMin) % 60);
  const expected = `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-` +
    `${pad(local.getUTCDate())}T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:` +
    `00.310${zone}`;
  assertEquals(compileTimeFormat("", { local: true })(T), expected, `TZ=${tz}`);
  assertEquals(compileTimeFormat("%H", { local: true })(T), pad(local.getUTCHours()));
});

Deno.test("the per-second cache follows the clock", () => {
  const f = compileTimeFormat("%S.%3f");
  assertEquals(f(T), "00.310");
  assertEquals(f(T + 5), "00.315");
  assertEquals(f(T + 1000), "01.310");
  assertEquals(f(T), "00.310");
});
