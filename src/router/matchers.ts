/**
 * Envoy's value matchers as compiled predicates: `StringMatcher`, the route `HeaderMatcher`
 * (with its legacy fields, `invert_match` and `treat_missing_header_as_empty`) and
 * `QueryParameterMatcher`. Each compiles once; matching only reads the request and allocates
 * nothing unless a header repeats (its values are then joined with `,`, as Envoy does).
 * `ignore_case` folds ASCII only, like Envoy's.
 */
import type { HeaderMap } from "../http/header_map.ts";
import type {
  HeaderMatcher,
  QueryParameterMatcher,
} from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { StringMatcher } from "../../proto/gen/envoy/type/matcher/v3/string_pb.ts";
import { compileRegex, maxProgramSize } from "./regex.ts";

/** A compiled string matcher. */
export type StringPredicate = (value: string) => boolean;

/** A compiled header matcher (or an all-of list of them). */
export type HeaderPredicate = (headers: HeaderMap) => boolean;

/**
 * A compiled query parameter matcher, given the whole `:path` and the index of its `?`
 * (or -1): the query string is scanned in place rather than parsed into a map.
 */
export type QueryPredicate = (path: string, queryStart: number) => boolean;

function lowerAscii(c: number): number {
  return c >= 65 && c <= 90 ? c | 32 : c;
}

/** Whether `s` at `offset` holds `lower` (already lower case), ignoring ASCII case. */
export function regionEqualsIgnoreCase(s: string, offset: number, lower: string): boolean {
  if (offset < 0 || offset + lower.length > s.length) return false;
  for (let i = 0; i < lower.length; i++) {
    if (lowerAscii(s.charCodeAt(offset + i)) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** ASCII lower case, leaving other characters alone (what ignore_case compares). */
export function toLowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * Compiles a `StringMatcher`.
 *
 * @throws {Error} for a bad regex or a matcher kind denvoy does not implement (`custom`).
 */
export function compileStringMatcher(m: StringMatcher, field: string): StringPredicate {
  const p = m.matchPattern;
  const fold = m.ignoreCase;
  switch (p.case) {
    case "exact": {
      const v = fold ? toLowerAscii(p.value) : p.value;
      return fold
        ? (s) => s.length === v.length && regionEqualsIgnoreCase(s, 0, v)
        : (s) => s === v;
    }
    case "prefix": {
      const v = fold ? toLowerAscii(p.value) : p.value;
      return fold ? (s) => regionEqualsIgnoreCase(s, 0, v) : (s) => s.startsWith(v);
    }
    case "suffix": {
      const v = fold ? toLowerAscii(p.value) : p.value;
      return fold ? (s) => regionEqualsIgnoreCase(s, s.length - v.length, v) : (s) => s.endsWith(v);
    }
    case "contains": {
      const v = fold ? toLowerAscii(p.value) : p.value;
      if (!fold) return (s) => s.includes(v);
      return (s) => {
        for (let i = 0; i + v.length <= s.length; i++) {
          if (regionEqualsIgnoreCase(s, i, v)) return true;
        }
        return false;
      };
    }
    case "safeRegex": {
      // ignore_case has no effect on regexes in Envoy; the pattern's own (?i) does.
      const re = compileRegex(
        p.value.regex,
        `${field}.safe_regex.regex`,
        maxProgramSize(p.value),
      );
      return re.fullMatch;
    }
    case "custom":
      throw new Error(`${field}.custom: custom string matchers are not supported`);
    default:
      throw new Error(`${field}: match_pattern is required`);
  }
}

/**
 * The value of header `name` as Envoy matches it: the first value, or all values joined with
 * `,` when the header repeats; undefined when absent.
 */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const kv = headers.raw();
  let found: string | undefined;
  for (let i = 0; i < kv.length; i += 2) {
    if (kv[i] !== name) continue;
    found = found === undefined ? kv[i + 1] : `${found},${kv[i + 1]}`;
  }
  return found;
}

const INT = /^[+-]?\d+$/;

function rangePredicate(start: bigint, end: bigint): StringPredicate {
  const small = start >= BigInt(Number.MIN_SAFE_INTEGER) && end <= BigInt(Number.MAX_SAFE_INTEGER);
  const lo = Number(start);
  const hi = Number(end);
  return (s) => {
    if (!INT.test(s)) return false;
    // Up to 15 digits is exact as a double; longer values go through BigInt.
    if (small && s.length <= 16) {
      const n = Number(s);
      return n >= lo && n < hi;
    }
    const n = BigInt(s);
    return n >= start && n < end;
  };
}

function valuePredicate(h: HeaderMatcher, field: string): StringPredicate {
  const spec = h.headerMatchSpecifier;
  switch (spec.case) {
    case "exactMatch": {
      // Envoy's legacy exact match with an empty value matches any value.
      const v = spec.value;
      return v === "" ? () => true : (s) => s === v;
    }
    case "safeRegexMatch":
      return compileRegex(
        spec.value.regex,
        `${field}.safe_regex_match.regex`,
        maxProgramSize(spec.value),
      ).fullMatch;
    case "rangeMatch":
      return rangePredicate(spec.value.start, spec.value.end);
    case "prefixMatch": {
      const v = spec.value;
      return (s) => s.startsWith(v);
    }
    case "suffixMatch": {
      const v = spec.value;
      return (s) => s.endsWith(v);
    }
    case "containsMatch": {
      const v = spec.value;
      return (s) => s.includes(v);
    }
    case "stringMatch":
      return compileStringMatcher(spec.value, `${field}.string_match`);
    default:
      throw new Error(`${field}: unexpected header_match_specifier ${spec.case}`);
  }
}

/**
 * Compiles a route `HeaderMatcher`. A matcher with no specifier tests presence. A missing
 * header fails every value matcher (whatever `invert_match` says) unless
 * `treat_missing_header_as_empty` is set, in which case it matches as "".
 */
export function compileHeaderMatcher(h: HeaderMatcher, field: string): HeaderPredicate {
  const name = h.name.toLowerCase();
  const invert = h.invertMatch;
  const spec = h.headerMatchSpecifier;
  if (spec.case === undefined || spec.case === "presentMatch") {
    const want = spec.case === undefined ? true : spec.value;
    return (headers) => ((headers.get(name) !== undefined) === want) !== invert;
  }
  const match = valuePredicate(h, field);
  const missingAsEmpty = h.treatMissingHeaderAsEmpty;
  return (headers) => {
    const v = headerValue(headers, name);
    if (v === undefined) return missingAsEmpty ? match("") !== invert : false;
    return match(v) !== invert;
  };
}

/** Compiles a list of header matchers that must all match; undefined for an empty list. */
export function compileHeaderMatchers(
  list: readonly HeaderMatcher[],
  field: string,
): HeaderPredicate | undefined {
  if (list.length === 0) return undefined;
  const preds = list.map((h, i) => compileHeaderMatcher(h, `${field}[${i}]`));
  if (preds.length === 1) return preds[0];
  return (headers) => {
    for (let i = 0; i < preds.length; i++) if (!preds[i](headers)) return false;
    return true;
  };
}

/**
 * The first value of query parameter `name` in `path` (raw, not percent-decoded, like Envoy's
 * route matching), "" for a bare `name`, or undefined when absent.
 */
export function queryParameter(path: string, queryStart: number, name: string): string | undefined {
  if (queryStart < 0) return undefined;
  let start = queryStart + 1;
  while (start < path.length) {
    let end = path.indexOf("&", start);
    if (end < 0) end = path.length;
    const keyEnd = start + name.length;
    if (path.startsWith(name, start) && (keyEnd === end || path.charCodeAt(keyEnd) === 61)) {
      return keyEnd === end ? "" : path.slice(keyEnd + 1, end);
    }
    start = end + 1;
  }
  return undefined;
}

/** Compiles a `QueryParameterMatcher`; with no specifier (or present_match) it tests presence. */
export function compileQueryParameterMatcher(
  q: QueryParameterMatcher,
  field: string,
): QueryPredicate {
  const name = q.name;
  const spec = q.queryParameterMatchSpecifier;
  if (spec.case === "stringMatch") {
    const match = compileStringMatcher(spec.value, `${field}.string_match`);
    return (path, qs) => {
      const v = queryParameter(path, qs, name);
      return v !== undefined && match(v);
    };
  }
  // Envoy treats present_match, whatever its value, as "the parameter is there".
  return (path, qs) => queryParameter(path, qs, name) !== undefined;
}
