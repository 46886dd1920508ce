/**
 * The `match` of a JWT requirement rule (Envoy's jwt_authn Matcher): a RouteMatch reduced to
 * what Envoy's filter reads there — `prefix`, `path`, `safe_regex`, `path_separated_prefix`
 * (each against the path without its query, honouring `case_sensitive`), `connect_matcher`,
 * `headers` and `query_parameters`. The other RouteMatch fields are refused at validate (see
 * config.ts), since Envoy's filter would not look at them.
 *
 * @module
 */
import type { RouteMatch } from "../../../../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { HeaderMap } from "../../../../http/header_map.ts";
import {
  compileHeaderMatchers,
  compileQueryParameterMatcher,
  toLowerAscii,
} from "../../../../router/matchers.ts";
import { compileRegex, maxProgramSize } from "../../../../router/regex.ts";

/** Whether a request matches a rule. */
export type RequestPredicate = (headers: HeaderMap) => boolean;

/** RouteMatch fields the filter's matcher reads. */
export const RULE_MATCH_FIELDS: readonly string[] = [
  "prefix",
  "path",
  "safe_regex",
  "path_separated_prefix",
  "connect_matcher",
  "case_sensitive",
  "headers",
  "query_parameters",
];

/**
 * Compiles a rule's match.
 * @throws {Error} naming the field, for a bad regex or a missing path specifier.
 */
export function compileRuleMatch(m: RouteMatch, field: string): RequestPredicate {
  const caseSensitive = m.caseSensitive ?? true;
  const fold = (s: string) => caseSensitive ? s : toLowerAscii(s);
  const p = m.pathSpecifier;
  let path: (p: string) => boolean;
  switch (p.case) {
    case "prefix": {
      const lit = fold(p.value);
      path = (s) => fold(s).startsWith(lit);
      break;
    }
    case "path": {
      const lit = fold(p.value);
      path = (s) => fold(s) === lit;
      break;
    }
    case "pathSeparatedPrefix": {
      const lit = fold(p.value);
      path = (s) => {
        const f = fold(s);
        return f.startsWith(lit) && (f.length === lit.length || f.charCodeAt(lit.length) === 47);
      };
      break;
    }
    case "safeRegex": {
      const re = compileRegex(p.value.regex, `${field}.safe_regex.regex`, maxProgramSize(p.value));
      path = (s) => re.fullMatch(s);
      break;
    }
    case "connectMatcher":
      path = () => true;
      break;
    default:
      throw new Error(
        `${field}: one of prefix, path, safe_regex, connect_matcher or path_separated_prefix is required`,
      );
  }
  const connect = p.case === "connectMatcher";
  const headers = compileHeaderMatchers(m.headers, `${field}.headers`);
  const query = m.queryParameters.map((q, i) =>
    compileQueryParameterMatcher(q, `${field}.query_parameters[${i}]`)
  );
  return (h) => {
    if (connect) {
      if (h.get(":method") !== "CONNECT") return false;
    } else {
      const full = h.get(":path");
      if (full === undefined) return false;
      let end = full.length;
      const q = full.indexOf("?");
      if (q >= 0) end = q;
      const hash = full.indexOf("#");
      if (hash >= 0 && hash < end) end = hash;
      if (!path(full.slice(0, end))) return false;
      for (const pred of query) if (!pred(full, q)) return false;
    }
    return headers === undefined || headers(h);
  };
}
