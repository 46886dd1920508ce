import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { create } from "@bufbuild/protobuf";
import {
  RegexMatcher_GoogleRE2Schema,
  RegexMatcherSchema,
} from "../../proto/gen/envoy/type/matcher/v3/regex_pb.ts";
import {
  compileRegex,
  compileRegexRewrite,
  compileStdRegex,
  literalPrefix,
  maxProgramSize,
} from "./regex.ts";

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

Deno.test("partialMatch finds the pattern anywhere, anchors still anchor", () => {
  const part = (p: string, input: string) => compileRegex(p, "f").partialMatch(input);
  assert(part("rq_[0-9]xx", "cluster.a.upstream_rq_2xx"));
  assert(!part("^server", "listener.server"));
  assert(part("live$", "server.live") && !part("live$", "server.live.x"));
});

Deno.test("RE2-only syntax is understood", () => {
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
  assert(full("a(?i)b", "aB") && !full("a(?i)b", "AB"), "flags in the middle, as RE2 allows");
  assert(full("(?U)(a+)(a*)", "aaa"), "(?U) non-greedy by default");
  assert(full("(?i)straße", "STRASSE") === false && full("(?i)k", "\u212a"), "simple folding");
});

Deno.test("what RE2 rejects is rejected, naming field and pattern", () => {
  assertMatch(
    error(() => compileRegex("(a)\\1", "x.regex")),
    /^x\.regex: invalid regex '\(a\)\\1': invalid escape sequence: \\1 \(backreferences/,
  );
  assertMatch(error(() => compileRegex("(?P<n>a)(?P=n)", "f")), /backreferences/);
  assertMatch(error(() => compileRegex("a(?=b)", "f")), /invalid perl operator: \(\?= \(lookahead/);
  assertMatch(error(() => compileRegex("a(?!b)", "f")), /lookahead/);
  assertMatch(error(() => compileRegex("(?<=a)b", "f")), /lookbehind/);
  assertMatch(error(() => compileRegex("(?<!a)b", "f")), /lookbehind/);
  assertMatch(error(() => compileRegex("a{1001}", "f")), /bad repetition operator: \{1001\}/);
  assertMatch(error(() => compileRegex("a**", "f")), /bad repetition operator: \*\*/);
  assertMatch(error(() => compileRegex("*a", "f")), /no argument for repetition operator: \*/);
  assertMatch(error(() => compileRegex("\\C", "f")), /invalid escape sequence: \\C/);
  assertMatch(error(() => compileRegex("\\e", "f")), /invalid escape sequence/);
  assertMatch(error(() => compileRegex("[a", "f")), /missing \]: \[a/);
  assertMatch(error(() => compileRegex("(a", "f")), /^f: invalid regex '\(a': missing \): \(a$/);
  assertMatch(error(() => compileRegex("a\\", "f")), /trailing \\/);
});

/** Patterns that take a backtracking engine exponential or polynomial time on a near miss. */
const CATASTROPHIC: [string, string, boolean][] = [
  ["^/(a+)+$", `/${"a".repeat(50_000)}b`, false],
  ["(a|a)*b", "a".repeat(50_000), false],
  ["(x+x+)+y", "x".repeat(50_000), false],
  ["(a*)*(b*)*(a*)*c", "ab".repeat(25_000), false],
  ["^(([a-z])+.)+[A-Z]([a-z])+$", "a".repeat(50_000), false],
  ["(\\w+\\s?)+$", `${"word ".repeat(10_000)}!`, false],
  ["(.*a){20}", "a".repeat(50_000), true],
  ["(?:a?){30}a{30}", "a".repeat(30), true],
];

Deno.test("catastrophic patterns on 50k-character inputs finish in linear time", () => {
  const started = performance.now();
  for (const [pattern, input, matches] of CATASTROPHIC) {
    const re = compileRegex(pattern, "f");
    assertEquals(re.fullMatch(input), matches, pattern);
    re.partialMatch(input);
    compileRegexRewrite(pattern, "<\\0>", "f").replaceAll(input);
  }
  const ms = performance.now() - started;
  // A backtracking engine needs minutes to years for any one of these; a generous bound
  // leaves room for a slow, shared machine.
  assert(ms < 5000, `took ${ms.toFixed(0)} ms`);
});

Deno.test("std::regex patterns (stats_tags) search linearly; only lookaround falls back", () => {
  const started = performance.now();
  const evil = compileStdRegex("^cluster\\.((a+)+)\\.$", "t.regex");
  assertEquals(evil.search(`cluster.${"a".repeat(50_000)}!`), undefined);
  assert(performance.now() - started < 5000);

  const m = compileStdRegex("^cluster\\.((.+?)\\.)", "t.regex").search(
    "cluster.svc_a.upstream_rq",
  )!;
  assertEquals([m.group(1), m.group(2), m.start(1), m.end(1)], ["svc_a.", "svc_a", 8, 14]);
  const optional = compileStdRegex("^a(x)?(b)", "t").search("ab")!;
  assertEquals([optional.group(1), optional.start(1), optional.group(2)], [undefined, -1, "b"]);
  assertEquals([optional.group(3), optional.start(3), optional.end(3)], [undefined, -1, -1]);

  // Envoy's std::regex takes lookahead; RE2 cannot, so these keep the ECMAScript engine.
  const ahead = compileStdRegex("^cluster(?=\\.)\\.(\\w+)", "t").search("cluster.x")!;
  assertEquals([ahead.group(1), ahead.start(1), ahead.end(1)], ["x", 8, 9]);
  assertEquals(compileStdRegex("^(\\w)\\1", "t").search("aab")?.group(1), "a");
  assertMatch(error(() => compileStdRegex("(", "t.regex")), /^t\.regex: Invalid regex '\(': /);
});

Deno.test("google_re2.max_program_size refuses a larger program with Envoy's message", () => {
  const big = "/asdf/.*/asdf/.*/asdf/.*";
  assertMatch(
    error(() => compileRegex(big, "r.safe_regex.regex", 10)),
    /^r\.safe_regex\.regex: regex '.*' RE2 program size of \d+ > max program size of 10\. Increase configured max program size if necessary\.$/,
  );
  assertMatch(error(() => compileRegexRewrite(big, "x", "f", 10)), /program size of \d+ > /);
  assert(compileRegex(big, "f", 1000).fullMatch("/asdf/x/asdf/y/asdf/z"));
  const m = create(RegexMatcherSchema, {
    regex: "a",
    engineType: { case: "googleRe2", value: create(RegexMatcher_GoogleRE2Schema, {}) },
  });
  assertEquals(maxProgramSize(m), undefined, "google_re2 without a size sets no limit");
  m.engineType = {
    case: "googleRe2",
    value: create(RegexMatcher_GoogleRE2Schema, { maxProgramSize: 7 }),
  };
  assertEquals(maxProgramSize(m), 7);
  assertEquals(maxProgramSize(create(RegexMatcherSchema, { regex: "a" })), undefined);
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
  assertEquals(r("a*", "X", "baaac"), "XbXcX", "no empty match right after a match (RE2, not JS)");
  assertEquals(r("", "-", "ab"), "-a-b-");
  assertEquals(r("x*", "-", "😀"), "-😀-", "an empty match advances by a code point");
  assertEquals(r("^a", "X", "aaa"), "Xaa", "^ holds only at the start of the input");
  assertEquals(r("z", "X", "abc"), "abc");
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

/**
 * Files allowed to build a RegExp from a string, and why: every other regex from config or from
 * a request must go through this module, so that it runs in linear time.
 */
const REGEXP_ALLOWED: Record<string, string> = {
  "src/router/regex.ts": "this module (std::regex fallback for lookaround only)",
  "src/config/rules.ts": "protoc-gen-validate patterns: fixed, from the API's own protos",
};

Deno.test("no module but this one compiles a RegExp from a string", () => {
  const root = new URL("../../", import.meta.url);
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(new URL(dir, root))) {
      const path = `${dir}${e.name}`;
      if (e.isDirectory) walk(`${path}/`);
      else if (path.endsWith(".ts") && !path.endsWith("_test.ts") && !(path in REGEXP_ALLOWED)) {
        const text = Deno.readTextFileSync(new URL(path, root));
        if (/\bRegExp\s*\(/.test(text)) offenders.push(path);
      }
    }
  };
  walk("src/");
  assertEquals(offenders, [], "use compileRegex / compileRegexRewrite / compileStdRegex");
});
