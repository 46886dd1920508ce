import { create } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import {
  type ValueMatcher,
  ValueMatcherSchema,
} from "../../proto/gen/envoy/type/matcher/v3/value_pb.ts";
import { MetadataMatcherSchema } from "../../proto/gen/envoy/type/matcher/v3/metadata_pb.ts";
import { compileValueMatcher, metadataPath } from "./value_matcher.ts";

const vm = (matchPattern: ValueMatcher["matchPattern"]) =>
  compileValueMatcher(create(ValueMatcherSchema, { matchPattern }), "m");

Deno.test("each value matcher kind", () => {
  const isNull = vm({ case: "nullMatch", value: {} as never });
  assertEquals([isNull(null), isNull(undefined), isNull(0)], [true, false, false]);
  const exact = vm({
    case: "doubleMatch",
    value: { matchPattern: { case: "exact", value: 2.5 } } as never,
  });
  assertEquals([exact(2.5), exact("2.5"), exact(2)], [true, false, false]);
  const range = vm({
    case: "doubleMatch",
    value: { matchPattern: { case: "range", value: { start: 1, end: 3 } } } as never,
  });
  assertEquals([range(1), range(2.9), range(3), range(0)], [true, true, false, false]);
  const str = vm({
    case: "stringMatch",
    value: { matchPattern: { case: "prefix", value: "ab" }, ignoreCase: false } as never,
  });
  assertEquals([str("abc"), str("xab"), str(1)], [true, false, false]);
  const bool = vm({ case: "boolMatch", value: true });
  assertEquals([bool(true), bool(false), bool("true")], [true, false, false]);
  const present = vm({ case: "presentMatch", value: true });
  assertEquals([present(null), present(0), present(undefined)], [true, true, false]);
  const list = vm({
    case: "listMatch",
    value: {
      matchPattern: {
        case: "oneOf",
        value: create(ValueMatcherSchema, { matchPattern: { case: "boolMatch", value: true } }),
      },
    } as never,
  });
  assertEquals([list([false, true]), list([false]), list(true)], [true, false, false]);
  const or = vm({
    case: "orMatch",
    value: {
      valueMatchers: [
        create(ValueMatcherSchema, { matchPattern: { case: "boolMatch", value: true } }),
        create(ValueMatcherSchema, { matchPattern: { case: "nullMatch", value: {} as never } }),
      ],
    } as never,
  });
  assertEquals([or(true), or(null), or(false)], [true, true, false]);
});

Deno.test("a matcher without a kind is a config error", () => {
  let message = "";
  try {
    vm({ case: undefined });
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "m: match_pattern is required");
});

Deno.test("metadataPath walks the filter and keys", () => {
  const path = metadataPath(create(MetadataMatcherSchema, {
    filter: "envoy.lb",
    path: [{ segment: { case: "key", value: "a" } }, { segment: { case: "key", value: "b" } }],
  }));
  assertEquals(path({ "envoy.lb": { a: { b: 7 } } }), 7);
  assertEquals(path({ "envoy.lb": { a: "x" } }), undefined);
  assertEquals(path({}), undefined);
});
