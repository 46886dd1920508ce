/**
 * Envoy's regexes (`safe_regex`, `regex_rewrite`, ...) are RE2, chosen because matching time is
 * linear in the input whatever the pattern. JavaScript's RegExp backtracks (`^/(a+)+$` against
 * 30 characters takes seconds), so every regex denvoy compiles from config or from an admin
 * query goes through this module, which runs it on `re2js`, a pure-JavaScript port of RE2's
 * linear-time engines (lazy DFA, one-pass, NFA). Being pure JavaScript it behaves the same
 * under `deno task`, `deno run`, in worker isolates and in the compiled binary, with no V8 flag
 * (V8's own linear engine needs `--enable-experimental-regexp-engine`, lacks the `u` and `i`
 * flags and measured slower: bench/RESULTS.md). The syntax is RE2's own, parsed by the port, so
 * what RE2 rejects (backreferences, lookaround, `\C`) is rejected with RE2's error text.
 */
import { RE2JS, RE2JSSyntaxException } from "re2js";
import type { RegexMatcher } from "../../proto/gen/envoy/type/matcher/v3/regex_pb.ts";

/** A compiled RE2 pattern for whole-string matching. */
export interface CompiledRegex {
  /** The pattern as configured. */
  readonly pattern: string;
  /** Whether all of `input` matches (RE2's FullMatch), in time linear in `input`. */
  fullMatch(input: string): boolean;
  /** Whether some part of `input` matches (RE2's PartialMatch), in time linear in `input`. */
  partialMatch(input: string): boolean;
}

/** A compiled `RegexMatchAndSubstitute`. */
export interface RegexRewrite {
  /** The pattern as configured. */
  readonly pattern: string;
  /** The substitution as configured; `\1`..`\9` name capture groups, `\0` the whole match. */
  readonly substitution: string;
  /** Replaces every non-overlapping match (RE2's GlobalReplace), in time linear in `input`. */
  replaceAll(input: string): string;
}

/** The port's error texts (Go's) as RE2 itself words them, which is what Envoy reports. */
const RE2_ERRORS: Record<string, string> = {
  "invalid named capture": "invalid named capture group",
  "invalid or unsupported Perl syntax": "invalid perl operator",
  "invalid nested repetition operator": "bad repetition operator",
  "invalid repeat count": "bad repetition operator",
  "missing closing ]": "missing ]",
  "missing closing )": "missing )",
  "missing argument to repetition operator": "no argument for repetition operator",
  "trailing backslash at end of expression": "trailing \\",
  "duplicate capture group name": "invalid named capture group",
};

/** Why RE2 lacks a construct people often try, added to the error. */
function hint(pattern: string, arg: string): string {
  if (/^\\[1-9]/.test(arg) || (arg === "(?P" && pattern.includes("(?P="))) {
    return " (backreferences are not supported)";
  }
  if (/^\(\?[=!]/.test(arg)) return " (lookahead is not supported)";
  if (/^\(\?<[=!]/.test(arg) || (arg === pattern && /\(\?<[=!]/.test(pattern))) {
    return " (lookbehind is not supported)";
  }
  return "";
}

function compile(pattern: string, field: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (e) {
    if (!(e instanceof RE2JSSyntaxException)) throw e;
    const arg = e.input ?? "";
    const what = RE2_ERRORS[e.error] ?? e.error;
    throw new Error(
      `${field}: invalid regex '${pattern}': ${what}${arg ? `: ${arg}` : ""}${hint(pattern, arg)}`,
    );
  }
}

/**
 * Compiles an RE2 pattern for whole-string matching.
 *
 * @param field where the pattern sits in the config, for the error message.
 * @param maxProgramSize refuse a pattern whose RE2 program is larger (the deprecated
 *   `google_re2.max_program_size`).
 * @throws {Error} naming the field and the pattern when RE2 rejects it.
 */
export function compileRegex(
  pattern: string,
  field: string,
  maxProgramSize?: number,
): CompiledRegex {
  const re = compile(pattern, field);
  if (maxProgramSize !== undefined) checkProgramSize(re, pattern, field, maxProgramSize);
  return {
    pattern,
    fullMatch: (input) => re.testExact(input),
    partialMatch: (input) => re.test(input),
  };
}

/** The leftmost match of a {@link SearchRegex}, with its capture groups. */
export interface SearchMatch {
  /** Group `n` (0 is the whole match), or undefined when it took no part. */
  group(n: number): string | undefined;
  /** Where group `n` starts in the input, -1 when it took no part. */
  start(n: number): number;
  /** Where group `n` ends in the input, -1 when it took no part. */
  end(n: number): number;
}

/** A pattern searched for anywhere in the input (`std::regex_search`). */
export interface SearchRegex {
  /** The pattern as configured. */
  readonly pattern: string;
  /** The leftmost match in `input`, or undefined. */
  search(input: string): SearchMatch | undefined;
}

/**
 * Compiles a pattern that Envoy runs with `std::regex` (ECMAScript syntax), such as a custom
 * `stats_tags` regex. Whatever RE2 also accepts runs on the linear engine; for these patterns
 * and the inputs they see (stat names: no line breaks, no Unicode spaces) both engines give the
 * same matches and groups. Only what RE2 cannot express (lookaround, backreferences, `\u....`
 * escapes), which Envoy accepts here, falls back to a backtracking RegExp; refusing it would
 * refuse configs Envoy takes.
 *
 * @param builtIn the pattern is one of Envoy's own (default tag regexes), fixed and known to be
 *   fast: it runs on RegExp directly, which is quicker, as before.
 * @throws {Error} `<field>: Invalid regex '<pattern>': <why>` when neither engine accepts it.
 */
export function compileStdRegex(pattern: string, field: string, builtIn = false): SearchRegex {
  let re: RE2JS | undefined;
  try {
    if (!builtIn) re = RE2JS.compile(pattern);
  } catch (e) {
    if (!(e instanceof RE2JSSyntaxException)) throw e;
  }
  if (re !== undefined) {
    const linear = re;
    const groups = re.groupCount();
    return {
      pattern,
      search(input) {
        const m = linear.matcher(input);
        if (!m.find()) return undefined;
        // As in ECMAScript, a group the pattern lacks did not take part.
        return {
          group: (n) => n <= groups ? m.group(n) ?? undefined : undefined,
          start: (n) => n <= groups ? m.start(n) : -1,
          end: (n) => n <= groups ? m.end(n) : -1,
        };
      },
    };
  }
  let js: RegExp;
  try {
    // The d flag reports where each group is.
    js = new RegExp(pattern, "d");
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`${field}: Invalid regex '${pattern}': ${why}`);
  }
  return {
    pattern,
    search(input) {
      const m = js.exec(input);
      if (m === null) return undefined;
      return {
        group: (n) => m[n],
        start: (n) => m.indices?.[n]?.[0] ?? -1,
        end: (n) => m.indices?.[n]?.[1] ?? -1,
      };
    },
  };
}

/** The deprecated `google_re2.max_program_size` of a `RegexMatcher`, when set. */
export function maxProgramSize(matcher: RegexMatcher | undefined): number | undefined {
  const engine = matcher?.engineType;
  return engine?.case === "googleRe2" ? engine.value.maxProgramSize : undefined;
}

/**
 * Envoy's check of the deprecated `max_program_size`, with its error text. The size is the
 * port's count of program instructions, which is close to but not always equal to RE2's own
 * (RE2 compiles to UTF-8 byte ranges, so `.` costs it more): a pattern near the limit may be
 * judged differently from Envoy.
 */
function checkProgramSize(re: RE2JS, pattern: string, field: string, max: number): void {
  const size = re.programSize();
  if (size > max) {
    throw new Error(
      `${field}: regex '${pattern}' RE2 program size of ${size} > max program size of ${max}. ` +
        "Increase configured max program size if necessary.",
    );
  }
}

/** Characters that are literal in RE2 outside a class (no escaping needed). */
const PLAIN = /[A-Za-z0-9\/_\-~%:@!&',;="<>#`]/;
const QUANTIFIERS = "?*+{";

/** Whether `p` has a `|` outside any group or class. */
function hasTopLevelAlternation(p: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") {
      inClass = true;
      if (p[i + 1] === "^") i++;
      if (p[i + 1] === "]") i++;
    } else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) return true;
  }
  return false;
}

/**
 * The literal text every string a pattern fully matches starts with ("" when there is none
 * to be sure of): the leading run of plain or escaped-punctuation characters, without one that
 * a quantifier makes optional. Lets regex routes share the path index with prefix routes.
 */
export function literalPrefix(pattern: string): string {
  let i = pattern.startsWith("^") ? 1 : 0;
  if (pattern.startsWith("(?", i) || hasTopLevelAlternation(pattern)) return "";
  let lit = "";
  while (i < pattern.length) {
    const c = pattern[i];
    if (PLAIN.test(c)) {
      lit += c;
      i++;
    } else if (c === "\\" && i + 1 < pattern.length && /[^A-Za-z0-9]/.test(pattern[i + 1])) {
      lit += pattern[i + 1];
      i += 2;
    } else {
      break;
    }
  }
  // The last character may be repeated zero times.
  if (lit !== "" && i < pattern.length && QUANTIFIERS.includes(pattern[i])) lit = lit.slice(0, -1);
  return lit;
}

/** A substitution split into literal text and group numbers. */
function parseSubstitution(sub: string, groups: number, field: string): (string | number)[] {
  const parts: (string | number)[] = [];
  let lit = "";
  for (let i = 0; i < sub.length; i++) {
    const c = sub[i];
    if (c !== "\\") {
      lit += c;
      continue;
    }
    const n = sub[i + 1];
    if (n === "\\") {
      lit += "\\";
    } else if (n !== undefined && n >= "0" && n <= "9") {
      const g = Number(n);
      if (g > groups) {
        throw new Error(
          `${field}: substitution '${sub}' uses group \\${g} but the regex has ${groups} groups`,
        );
      }
      if (lit) parts.push(lit);
      lit = "";
      parts.push(g);
    } else {
      throw new Error(`${field}: invalid substitution '${sub}': use \\0-\\9 or \\\\ after \\`);
    }
    i++;
  }
  if (lit) parts.push(lit);
  return parts;
}

/**
 * Compiles a regex with its substitution (`RegexMatchAndSubstitute`).
 *
 * @param maxProgramSize as for {@link compileRegex}.
 * @throws {Error} for a bad pattern, or a substitution naming a group the pattern lacks.
 */
export function compileRegexRewrite(
  pattern: string,
  substitution: string,
  field: string,
  maxProgramSize?: number,
): RegexRewrite {
  const re = compile(pattern, field);
  if (maxProgramSize !== undefined) checkProgramSize(re, pattern, field, maxProgramSize);
  const parts = parseSubstitution(substitution, re.groupCount(), field);
  return {
    pattern,
    substitution,
    replaceAll: (input) => globalReplace(re, parts, input),
  };
}

/**
 * RE2's GlobalReplace: every leftmost-first match, left to right, except an empty match right
 * where the previous match ended (so `a*` on `baaac` gives `XbXcX`, not JavaScript's `XbXXcX`).
 */
function globalReplace(re: RE2JS, parts: (string | number)[], input: string): string {
  const m = re.matcher(input);
  let out = "";
  let copied = 0;
  let lastEnd = -1;
  while (m.find()) {
    const start = m.start();
    const end = m.end();
    if (start === end && start === lastEnd) continue;
    out += input.slice(copied, start);
    for (const p of parts) out += typeof p === "string" ? p : m.group(p) ?? "";
    copied = end;
    lastEnd = end;
  }
  return copied === 0 && lastEnd === -1 ? input : out + input.slice(copied);
}
