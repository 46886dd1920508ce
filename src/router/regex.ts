/**
 * Envoy's regexes (`safe_regex`, `regex_rewrite`, ...) are RE2. JavaScript's RegExp is close
 * but not the same language, so patterns are translated once at config time: RE2 syntax that
 * has a JavaScript equivalent is rewritten (`(?P<n>`, `\z`, `\x{...}`, `\pL`, POSIX classes,
 * escaped punctuation, leading `(?i)`), and what RE2 itself rejects (backreferences,
 * lookaround) is rejected here too, so a config Envoy refuses is refused by denvoy.
 * Patterns compile with the `u` flag, as RE2 matches code points, not UTF-16 units.
 */

/** A compiled RE2 pattern for whole-string matching. */
export interface CompiledRegex {
  /** The pattern as configured. */
  readonly pattern: string;
  /** Whether all of `input` matches (RE2's FullMatch). */
  fullMatch(input: string): boolean;
}

/** A compiled `RegexMatchAndSubstitute`. */
export interface RegexRewrite {
  /** The pattern as configured. */
  readonly pattern: string;
  /** The substitution as configured; `\1`..`\9` name capture groups, `\0` the whole match. */
  readonly substitution: string;
  /** Replaces every non-overlapping match (RE2's GlobalReplace). */
  replaceAll(input: string): string;
}

/** RE2 allows at most this many repetitions in `{n,m}`. */
const MAX_REPEAT = 1000;

/** Characters that must stay escaped in a JavaScript `u`-mode pattern. */
const JS_SYNTAX = "^$\\.*+?()[]{}|/";

const POSIX_CLASSES: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

interface Translation {
  source: string;
  /** JavaScript flags from a leading `(?flags)`, a subset of "ims". */
  flags: string;
  /** Number of capture groups. */
  groups: number;
}

class Re2SyntaxError extends Error {}

function fail(msg: string): never {
  throw new Re2SyntaxError(msg);
}

function isOctal(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "7";
}

function codePointEscape(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

/** `\p{Name}` in RE2 names a general category or a script; JavaScript wants `Script=` for scripts. */
function unicodeProperty(name: string, negated: boolean): string {
  let neg = negated;
  let n = name;
  if (n.startsWith("^")) {
    neg = !neg;
    n = n.slice(1);
  }
  if (!/^[A-Za-z_]+$/.test(n)) fail(`invalid character class range: \\p{${name}}`);
  const prop = /^[A-Z][a-z]?$/.test(n) || n === "Any" ? n : `Script=${n}`;
  return `\\${neg ? "P" : "p"}{${prop}}`;
}

/** Translates one escape at `p[i]` (a backslash); returns the JavaScript text and its length. */
function translateEscape(p: string, i: number, inClass: boolean): [string, number] {
  const c = p[i + 1];
  if (c === undefined) fail("trailing \\");
  switch (c) {
    case "d":
    case "D":
    case "w":
    case "W":
    case "s":
    case "S":
    case "f":
    case "t":
    case "n":
    case "r":
    case "v":
      return [`\\${c}`, 2];
    case "a":
      return ["\\x07", 2];
    case "b":
    case "B":
      if (inClass) fail(`invalid escape sequence: \\${c}`);
      return [`\\${c}`, 2];
    case "A":
      if (inClass) fail("invalid escape sequence: \\A");
      return ["(?<![\\s\\S])", 2];
    case "z":
      if (inClass) fail("invalid escape sequence: \\z");
      return ["(?![\\s\\S])", 2];
    case "C":
      return fail("\\C (any byte) is not supported");
    case "x": {
      if (p[i + 2] === "{") {
        const close = p.indexOf("}", i + 3);
        const hex = close < 0 ? "" : p.slice(i + 3, close);
        if (!/^[0-9A-Fa-f]{1,6}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) {
          fail(`invalid escape sequence: \\x{${hex}`);
        }
        return [codePointEscape(parseInt(hex, 16)), close - i + 1];
      }
      const hex = p.slice(i + 2, i + 4);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail(`invalid escape sequence: \\x${hex}`);
      return [`\\x${hex}`, 4];
    }
    case "p":
    case "P": {
      if (p[i + 2] === "{") {
        const close = p.indexOf("}", i + 3);
        if (close < 0) fail(`invalid character class range: ${p.slice(i)}`);
        return [unicodeProperty(p.slice(i + 3, close), c === "P"), close - i + 1];
      }
      const one = p[i + 2];
      if (one === undefined) fail(`invalid character class range: \\${c}`);
      return [unicodeProperty(one, c === "P"), 3];
    }
    case "Q": {
      // \Q...\E quotes a literal run.
      const end = p.indexOf("\\E", i + 2);
      const lit = p.slice(i + 2, end < 0 ? p.length : end);
      let out = "";
      for (const ch of lit) out += literal(ch, inClass);
      return [out, (end < 0 ? p.length : end + 2) - i];
    }
    default:
      break;
  }
  if (c >= "0" && c <= "9") {
    // RE2 reads \0 and \1..\7 followed by more octal digits as octal; a lone \1..\9 would be a
    // backreference, which RE2 does not support.
    if (c === "8" || c === "9" || (c !== "0" && !isOctal(p[i + 2]))) {
      fail(`invalid escape sequence: \\${c} (backreferences are not supported)`);
    }
    let len = 1;
    while (len < 3 && isOctal(p[i + 1 + len])) len++;
    return [codePointEscape(parseInt(p.slice(i + 1, i + 1 + len), 8)), len + 1];
  }
  if (/[A-Za-z]/.test(c) || c.charCodeAt(0) > 0x7f) fail(`invalid escape sequence: \\${c}`);
  return [literal(c, inClass), 2];
}

/** A literal character in JavaScript `u`-mode syntax. */
function literal(ch: string, inClass: boolean): string {
  if (JS_SYNTAX.includes(ch) || (inClass && ch === "-")) return `\\${ch}`;
  return ch;
}

/** `{n}`, `{n,}` or `{n,m}` at `p[i]`, or undefined when RE2 reads the brace literally. */
function repetition(p: string, i: number): string | undefined {
  const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i, i + 16));
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = m[3] === undefined || m[3] === "" ? min : Number(m[3]);
  if (min > MAX_REPEAT || max > MAX_REPEAT || max < min) {
    fail(`bad repetition operator: ${m[0]}`);
  }
  return m[0];
}

/** Translates a group opener `(?...` at `p[i]`. */
function translateGroup(p: string, i: number): [string, number, boolean] {
  const rest = p.slice(i, i + 4);
  if (rest.startsWith("(?:")) return ["(?:", 3, false];
  if (rest.startsWith("(?=") || rest.startsWith("(?!")) {
    fail(`invalid or unsupported Perl syntax: ${rest.slice(0, 3)} (lookahead)`);
  }
  if (rest.startsWith("(?<=") || rest.startsWith("(?<!")) {
    fail(`invalid or unsupported Perl syntax: ${rest} (lookbehind)`);
  }
  const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(p.slice(i));
  if (named) return [`(?<${named[1]}>`, named[0].length, true];
  const mod = /^\(\?([a-zA-Z]*)(-[a-zA-Z]*)?:/.exec(p.slice(i));
  if (mod) {
    const all = mod[1] + (mod[2] ?? "");
    if (!/^[ims]*(-[ims]*)?$/.test(all)) {
      fail(`invalid or unsupported Perl syntax: ${mod[0]} (only the i, m and s flags)`);
    }
    return [mod[0], mod[0].length, false];
  }
  if (/^\(\?[a-zA-Z-]*\)/.test(p.slice(i))) {
    fail("flags such as (?i) are supported only at the start of the pattern");
  }
  fail(`invalid or unsupported Perl syntax: ${p.slice(i, i + 3)}`);
}

function translate(pattern: string): Translation {
  let flags = "";
  let i = 0;
  const lead = /^\(\?([a-zA-Z]+)(-[a-zA-Z]*)?\)/.exec(pattern);
  if (lead) {
    if (!/^[ims]+$/.test(lead[1]) || (lead[2] !== undefined && !/^-[ims]*$/.test(lead[2]))) {
      fail(`invalid or unsupported Perl syntax: ${lead[0]} (only the i, m and s flags)`);
    }
    flags = [...new Set(lead[1])].join("");
    i = lead[0].length;
  }
  let out = "";
  let groups = 0;
  let inClass = false;
  let classStart = -1;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === "\\") {
      const [js, len] = translateEscape(pattern, i, inClass);
      out += js;
      i += len;
      continue;
    }
    if (inClass) {
      if (c === "]" && i !== classStart) {
        inClass = false;
        out += "]";
      } else if (c === "[" && pattern.startsWith("[:", i)) {
        const close = pattern.indexOf(":]", i + 2);
        const name = close < 0 ? "" : pattern.slice(i + 2, close);
        const members = POSIX_CLASSES[name];
        if (members === undefined) fail(`invalid character class range: [:${name}:]`);
        out += members;
        i = close + 2;
        continue;
      } else if (c === "[" || c === "]") {
        out += `\\${c}`;
      } else {
        out += c;
      }
      i += c.length;
      continue;
    }
    switch (c) {
      case "[":
        inClass = true;
        out += "[";
        i++;
        if (pattern[i] === "^") {
          out += "^";
          i++;
        }
        // A `]` first in a class is a literal in RE2.
        classStart = i;
        continue;
      case "(": {
        if (pattern[i + 1] === "?") {
          const [js, len, capturing] = translateGroup(pattern, i);
          out += js;
          i += len;
          if (capturing) groups++;
        } else {
          out += "(";
          i++;
          groups++;
        }
        continue;
      }
      case "{": {
        const rep = repetition(pattern, i);
        out += rep ?? "\\{";
        i += rep?.length ?? 1;
        continue;
      }
      case "}":
      case "]":
        out += `\\${c}`;
        i++;
        continue;
      default:
        out += c;
        i++;
    }
  }
  if (inClass) fail("missing ]");
  return { source: out, flags, groups };
}

function compileJs(pattern: string, source: string, flags: string, field: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/^Invalid regular expression: /, "") : e;
    throw new Error(`${field}: invalid regex '${pattern}': ${why}`);
  }
}

function translateOrThrow(pattern: string, field: string): Translation {
  try {
    return translate(pattern);
  } catch (e) {
    if (e instanceof Re2SyntaxError) {
      throw new Error(`${field}: invalid regex '${pattern}': ${e.message}`);
    }
    throw e;
  }
}

/**
 * Compiles an RE2 pattern for whole-string matching.
 *
 * @param field where the pattern sits in the config, for the error message.
 * @throws {Error} naming the field and the pattern when RE2 (or this translation) rejects it.
 */
export function compileRegex(pattern: string, field: string): CompiledRegex {
  const t = translateOrThrow(pattern, field);
  // The outer anchors must stay whole-input anchors, so a leading (?m) scopes to the body only.
  const body = t.flags.includes("m") ? `(?m:${t.source})` : `(?:${t.source})`;
  const re = compileJs(pattern, `^${body}$`, `u${t.flags.replace("m", "")}`, field);
  return { pattern, fullMatch: (input) => re.test(input) };
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
 * @throws {Error} for a bad pattern, or a substitution naming a group the pattern lacks.
 */
export function compileRegexRewrite(
  pattern: string,
  substitution: string,
  field: string,
): RegexRewrite {
  const t = translateOrThrow(pattern, field);
  const re = compileJs(pattern, t.source, `gu${t.flags}`, field);
  const parts = parseSubstitution(substitution, t.groups, field);
  if (parts.every((p) => typeof p === "string")) {
    const text = parts.join("");
    return { pattern, substitution, replaceAll: (input) => input.replace(re, () => text) };
  }
  const replacer = (...m: unknown[]): string => {
    let s = "";
    for (const p of parts) s += typeof p === "string" ? p : (m[p] as string | undefined) ?? "";
    return s;
  };
  return { pattern, substitution, replaceAll: (input) => input.replace(re, replacer) };
}
