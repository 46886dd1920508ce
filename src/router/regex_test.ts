import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { compileRegex, compileRegexRewrite, literalPrefix } from "./regex.ts";

function full(pattern: string, input: string): boolean {
  return compileRegex(pattern, "f").fullMatch(input);
}

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

Deno.test("fullMatch needs the whole input, whatever alternative matches first", () => {
  assert(full("/api/v[0-9]+", "/api/v12"));
  assert(!full("/api/v[0-9]+", "/api/v12/x"));
  assert(!full("/api", "x/api"));
  assert(full("a|ab", "ab"));
  assert(full("", ""));
});

Deno.test("RE2-only syntax is translated", () => {
  assert(full("(?P<id>\\d+)", "42"), "(?P<name>");
  assert(full("a\\z", "a"), "\\z");
  assert(full("\\Aa", "a"), "\\A");
  assert(full("\\x{41}\\x42", "AB"), "\\x{..} and \\xHH");
  assert(full("\\101", "A"), "octal");
  assert(full("\\pL+", "héllo"), "\\pL");
  assert(full("\\p{Greek}+", "αβγ"), "script names");
  assert(!full("\\P{Greek}", "α"), "negated script");
  assert(full("[[:digit:]]+[[:upper:]]", "12X"), "POSIX classes");
  assert(full("\\-\\:\\/\\_?", "-:/"), "escaped punctuation is literal");
  assert(full("\\Q.*\\E", ".*") && !full("\\Q.*\\E", "ab"), "\\Q...\\E");
  assert(full("a{,3}", "a{,3}"), "a brace that is no repetition is literal");
  assert(full("[]a]+", "]a]"), "] first in a class is literal");
  assert(full("a]", "a]"), "a lone ] is literal");
  assert(full(".", "😀"), ". matches a code point");
  assert(full("\\a", "\x07"), "\\a");
});

Deno.test("leading flags apply to the whole pattern", () => {
  assert(full("(?i)/api", "/API"));
  assert(full("(?s)a.b", "a\nb"));
  assert(!full("a.b", "a\nb"));
  assert(full("(?m)a$", "a"));
  assert(!full("(?m)a$", "a\n"), "(?m) must not loosen the whole-input anchors");
  assert(full("(?i:a)b", "Ab") && !full("(?i:a)b", "AB"), "scoped flags");
});

Deno.test("what RE2 rejects is rejected, naming field and pattern", () => {
  assertMatch(
    error(() => compileRegex("(a)\\1", "x.regex")),
    /^x\.regex: invalid regex '\(a\)\\1': .*backreference/,
  );
  assertMatch(error(() => compileRegex("a(?=b)", "f")), /lookahead/);
  assertMatch(error(() => compileRegex("(?<=a)b", "f")), /lookbehind/);
  assertMatch(error(() => compileRegex("(?U)a+", "f")), /only the i, m and s flags/);
  assertMatch(error(() => compileRegex("a(?i)b", "f")), /only at the start/);
  assertMatch(error(() => compileRegex("a{1001}", "f")), /bad repetition operator/);
  assertMatch(error(() => compileRegex("\\C", "f")), /not supported/);
  assertMatch(error(() => compileRegex("\\e", "f")), /invalid escape sequence/);
  assertMatch(error(() => compileRegex("[a", "f")), /missing \]/);
  assertMatch(error(() => compileRegex("(a", "f")), /^f: invalid regex '\(a': /);
  assertMatch(error(() => compileRegex("a\\", "f")), /trailing \\/);
});

Deno.test("replaceAll follows the RE2 examples of the Envoy docs", () => {
  const r = (p: string, s: string, input: string) =>
    compileRegexRewrite(p, s, "f").replaceAll(input);
  assertEquals(
    r("^/service/([^/]+)(/.*)$", "\\2/instance/\\1", "/service/foo/v1/api"),
    "/v1/api/instance/foo",
  );
  assertEquals(r("one", "two", "/xxx/one/yyy/one/zzz"), "/xxx/two/yyy/two/zzz");
  assertEquals(r("^(.*?)one(.*)$", "\\1two\\2", "/xxx/one/yyy/one/zzz"), "/xxx/two/yyy/one/zzz");
  assertEquals(r("(?i)/xxx/", "/yyy/", "/aaa/XxX/bbb"), "/aaa/yyy/bbb");
  assertEquals(r("b", "[\\0\\\\$1]", "abc"), "a[b\\$1]c", "\\0, \\\\ and a literal $");
  assertEquals(r("(x)?b", "<\\1>", "ab"), "a<>", "a group that did not take part is empty");
});

Deno.test("substitutions must name existing groups", () => {
  assertMatch(
    error(() => compileRegexRewrite("(a)(b)", "\\3", "r.regex_rewrite")),
    /^r\.regex_rewrite: substitution '\\3' uses group \\3 but the regex has 2 groups/,
  );
  assertMatch(error(() => compileRegexRewrite("a", "\\n", "f")), /invalid substitution/);
});

Deno.test("literalPrefix is what every full match must start with", () => {
  assertEquals(literalPrefix("/api/v[0-9]+/.*"), "/api/v");
  assertEquals(literalPrefix("^/svc1/x?"), "/svc1/", "an optional character is not required");
  assertEquals(literalPrefix("\\/a\\.b\\d"), "/a.b");
  assertEquals(literalPrefix("/a/b|/c"), "", "top-level alternation");
  assertEquals(literalPrefix("/a/(b|c)"), "/a/", "alternation inside a group is fine");
  assertEquals(literalPrefix("[|]/x"), "", "a class comes first");
  assertEquals(literalPrefix("(?i)/api"), "", "flags");
  assertEquals(literalPrefix(".*"), "");
});
