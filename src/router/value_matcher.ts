/**
 * Envoy's `type.matcher.v3.ValueMatcher` and `MetadataMatcher`, over metadata as JSON (a
 * `google.protobuf.Struct` is a plain object here): null, number (exact or range), string,
 * bool, presence, "any list item", and "any of". Used by access log metadata filters.
 */
import type { ValueMatcher } from "../../proto/gen/envoy/type/matcher/v3/value_pb.ts";
import type { MetadataMatcher } from "../../proto/gen/envoy/type/matcher/v3/metadata_pb.ts";
import { compileStringMatcher } from "./matchers.ts";

/** A compiled value matcher; `undefined` is a value that is not there. */
export type ValuePredicate = (v: unknown) => boolean;

/**
 * Compiles a ValueMatcher.
 *
 * @throws {Error} naming `field`, for a matcher without a kind or a bad string matcher.
 */
export function compileValueMatcher(m: ValueMatcher, field: string): ValuePredicate {
  const p = m.matchPattern;
  switch (p.case) {
    case "nullMatch":
      return (v) => v === null;
    case "doubleMatch": {
      const d = p.value.matchPattern;
      if (d.case === "exact") {
        const want = d.value;
        return (v) => typeof v === "number" && v === want;
      }
      if (d.case === "range") {
        const { start, end } = d.value;
        // [start, end), as Envoy's DoubleRange.
        return (v) => typeof v === "number" && v >= start && v < end;
      }
      throw new Error(`${field}.double_match: match_pattern is required`);
    }
    case "stringMatch": {
      const s = compileStringMatcher(p.value, `${field}.string_match`);
      return (v) => typeof v === "string" && s(v);
    }
    case "boolMatch": {
      const want = p.value;
      return (v) => typeof v === "boolean" && v === want;
    }
    case "presentMatch": {
      // A present value of any kind (null included) matches present_match: true.
      const want = p.value;
      return (v) => want && v !== undefined;
    }
    case "listMatch": {
      const one = p.value.matchPattern;
      if (one.case !== "oneOf") throw new Error(`${field}.list_match: one_of is required`);
      const item = compileValueMatcher(one.value, `${field}.list_match.one_of`);
      return (v) => Array.isArray(v) && v.some(item);
    }
    case "orMatch": {
      const list = p.value.valueMatchers.map((x, i) =>
        compileValueMatcher(x, `${field}.or_match.value_matchers[${i}]`)
      );
      if (list.length < 2) {
        throw new Error(`${field}.or_match: value_matchers needs at least 2 matchers`);
      }
      return (v) => list.some((f) => f(v));
    }
    default:
      throw new Error(`${field}: match_pattern is required`);
  }
}

/** A metadata lookup: the value at a MetadataMatcher's `filter` and `path`, if any. */
export type MetadataPath = (metadata: Readonly<Record<string, unknown>>) => unknown;

/** The value a MetadataMatcher looks at: `filter`, then each path key in turn. */
export function metadataPath(m: MetadataMatcher): MetadataPath {
  const keys = m.path.map((s) => (s.segment.case === "key" ? s.segment.value : ""));
  const filter = m.filter;
  return (metadata) => {
    let v: unknown = metadata[filter];
    for (const k of keys) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
      v = (v as Record<string, unknown>)[k];
    }
    return v;
  };
}
