/**
 * Fields of the shared matchers (`envoy.type.matcher.v3`) that router/matchers.ts and
 * router/value_matcher.ts implement (see config/field_support.ts).
 */
import type { FieldTable } from "../config/field_support.ts";

/** String, regex, metadata and value matcher fields. */
export const MATCHER_FIELDS: FieldTable = {
  implemented: {
    "envoy.type.matcher.v3.StringMatcher": [
      "exact",
      "prefix",
      "suffix",
      "safe_regex",
      "contains",
      "ignore_case",
    ],
    "envoy.type.matcher.v3.ListStringMatcher": ["patterns"],
    "envoy.type.matcher.v3.RegexMatcher": ["regex", "google_re2"],
    "envoy.type.matcher.v3.RegexMatcher.GoogleRE2": ["max_program_size"],
    "envoy.type.matcher.v3.RegexMatchAndSubstitute": ["pattern", "substitution"],
    "envoy.type.matcher.v3.MetadataMatcher": ["filter", "path", "value"],
    "envoy.type.matcher.v3.MetadataMatcher.PathSegment": ["key"],
    "envoy.type.matcher.v3.ValueMatcher": [
      "null_match",
      "double_match",
      "string_match",
      "bool_match",
      "present_match",
      "list_match",
      "or_match",
    ],
    "envoy.type.matcher.v3.ValueMatcher.NullMatch": [],
    "envoy.type.matcher.v3.DoubleMatcher": ["range", "exact"],
    "envoy.type.matcher.v3.ListMatcher": ["one_of"],
    "envoy.type.matcher.v3.OrMatcher": ["value_matchers"],
    "envoy.type.v3.DoubleRange": ["start", "end"],
    "envoy.type.v3.Int64Range": ["start", "end"],
  },
  // matchers.ts refuses custom (extension) string matchers by name.
  checked: { "envoy.type.matcher.v3.StringMatcher": ["custom"] },
};
