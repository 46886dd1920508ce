import { throws } from "node:assert/strict";
import { assertEquals } from "../testing/assert.ts";
import {
  entryFromJson,
  entryFromString,
  flattenStaticLayer,
  toFractionalPercent,
} from "./entry.ts";

Deno.test("text values parse as Envoy's runtime does", () => {
  assertEquals(entryFromString("true"), { raw: "true", bool: true });
  assertEquals(entryFromString("FALSE"), { raw: "FALSE", bool: false });
  assertEquals(entryFromString("5"), { raw: "5", double: 5, bool: true, uint: 5 });
  assertEquals(entryFromString("0"), { raw: "0", double: 0, bool: false, uint: 0 });
  // Fractions are floored for the integer view and are not booleans.
  assertEquals(entryFromString("3.7"), { raw: "3.7", double: 3.7, uint: 3 });
  assertEquals(entryFromString("-2"), { raw: "-2", double: -2, bool: true });
  assertEquals(entryFromString(" 12 "), { raw: " 12 ", double: 12, bool: true, uint: 12 });
  assertEquals(entryFromString("hello"), { raw: "hello" });
  assertEquals(entryFromString("numerator: 25\ndenominator: TEN_THOUSAND"), {
    raw: "numerator: 25\ndenominator: TEN_THOUSAND",
    fractionalPercent: { numerator: 25, denominator: 10_000 },
  });
  assertEquals(entryFromString("{numerator: 1}").fractionalPercent, {
    numerator: 1,
    denominator: 100,
  });
  // Not a fractional percent: other fields, a bad denominator, or not YAML.
  assertEquals(entryFromString("numerator: 1\nfoo: 2").fractionalPercent, undefined);
  assertEquals(entryFromString("denominator: TEN").fractionalPercent, undefined);
  assertEquals(entryFromString("a: [").fractionalPercent, undefined);
});

Deno.test("fractional percents", () => {
  assertEquals(toFractionalPercent({}), { numerator: 0, denominator: 100 });
  assertEquals(toFractionalPercent({ numerator: 3, denominator: 2 }), {
    numerator: 3,
    denominator: 1_000_000,
  });
  assertEquals(toFractionalPercent({ numerator: -1 }), undefined);
  assertEquals(toFractionalPercent({ numerator: 1.5 }), undefined);
  assertEquals(toFractionalPercent([1]), undefined);
});

Deno.test("JSON values of a static layer keep their type", () => {
  assertEquals(entryFromJson(10), { raw: "10", double: 10, bool: true, uint: 10 });
  assertEquals(entryFromJson(0.25), { raw: "0.25", double: 0.25, uint: 0 });
  assertEquals(entryFromJson(false), { raw: "false", bool: false });
  assertEquals(entryFromJson("7"), { raw: "7", double: 7, bool: true, uint: 7 });
  assertEquals(entryFromJson({ numerator: 50, denominator: "HUNDRED" }), {
    raw: "{numerator: 50, denominator: HUNDRED}",
    fractionalPercent: { numerator: 50, denominator: 100 },
  });
});

Deno.test("static layers flatten into dotted keys", () => {
  const entries = flattenStaticLayer({
    health_check: { min_interval: 5 },
    routing: { traffic_shift: { helloworld: { numerator: 10 } } },
    empty: {},
    flag: true,
  });
  assertEquals(Object.keys(entries).sort(), [
    "empty",
    "flag",
    "health_check.min_interval",
    "routing.traffic_shift.helloworld",
  ]);
  assertEquals(entries["routing.traffic_shift.helloworld"].fractionalPercent, {
    numerator: 10,
    denominator: 100,
  });
  assertEquals(entries.empty.fractionalPercent, { numerator: 0, denominator: 100 });
  throws(() => flattenStaticLayer({ a: { b: [1] } }), /Invalid runtime entry value for a\.b/);
  throws(() => flattenStaticLayer({ n: null }), /Invalid runtime entry value for n$/);
});
