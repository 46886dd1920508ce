import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import type {
  HeaderMatcher,
  QueryParameterMatcher,
} from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { StringMatcher } from "../../proto/gen/envoy/type/matcher/v3/string_pb.ts";
import {
  compileHeaderMatcher,
  compileHeaderMatchers,
  compileQueryParameterMatcher,
  compileStringMatcher,
  headerValue,
  queryParameter,
} from "./matchers.ts";

function msg<T>(type: string, json: JsonValue): T {
  // deno-lint-ignore no-explicit-any
  return fromJson(messageSchema<any>(type), json, { registry: apiRegistry() }) as T;
}

function str(json: JsonValue): (s: string) => boolean {
  return compileStringMatcher(msg<StringMatcher>("envoy.type.matcher.v3.StringMatcher", json), "m");
}

function hdr(json: JsonValue): (h: HeaderMap) => boolean {
  return compileHeaderMatcher(msg<HeaderMatcher>("envoy.config.route.v3.HeaderMatcher", json), "h");
}

function query(json: JsonValue): (path: string) => boolean {
  const q = compileQueryParameterMatcher(
    msg<QueryParameterMatcher>("envoy.config.route.v3.QueryParameterMatcher", json),
    "q",
  );
  return (path) => q(path, path.indexOf("?"));
}

const h = (...kv: string[]) => new HeaderMap(kv);

Deno.test("StringMatcher: exact, prefix, suffix, contains, with and without ignore_case", () => {
  assert(str({ exact: "Foo" })("Foo") && !str({ exact: "Foo" })("foo"));
  assert(str({ exact: "Foo", ignoreCase: true })("fOO"));
  assert(!str({ exact: "Foo", ignoreCase: true })("fOOx"));
  assert(str({ prefix: "/Api" })("/Api/x") && !str({ prefix: "/Api" })("/api/x"));
  assert(str({ prefix: "/Api", ignoreCase: true })("/aPI/x"));
  assert(str({ suffix: ".JPG" })("a.JPG") && !str({ suffix: ".JPG" })("a.jpg"));
  assert(str({ suffix: ".JPG", ignoreCase: true })("a.jpg"));
  assert(!str({ suffix: ".JPG", ignoreCase: true })("jpg"));
  assert(str({ contains: "Mid" })("aMidb") && !str({ contains: "Mid" })("amidb"));
  assert(str({ contains: "Mid", ignoreCase: true })("xxmIDyy"));
  assert(!str({ contains: "Mid", ignoreCase: true })("mi"));
  assert(str({ exact: "ß", ignoreCase: true })("ß"), "non-ASCII compares as is");
});

Deno.test("StringMatcher: safe_regex is a full match and ignores ignore_case", () => {
  assert(str({ safeRegex: { regex: "v\\d+" } })("v12"));
  assert(!str({ safeRegex: { regex: "v\\d+" } })("xv12"));
  assert(!str({ safeRegex: { regex: "v" }, ignoreCase: true })("V"));
  let err = "";
  try {
    str({ safeRegex: { regex: "(" } });
  } catch (e) {
    err = (e as Error).message;
  }
  assertMatch(err, /^m\.safe_regex\.regex: invalid regex '\(':/);
});

Deno.test("HeaderMatcher: legacy value fields and string_match", () => {
  assert(hdr({ name: "X-A", exactMatch: "v" })(h("x-a", "v")), "names are lower-cased");
  assert(!hdr({ name: "x-a", exactMatch: "v" })(h("x-a", "V")));
  assert(hdr({ name: "x-a", exactMatch: "" })(h("x-a", "anything")), "empty exact: any value");
  assert(hdr({ name: "x-a", prefixMatch: "ab" })(h("x-a", "abc")));
  assert(hdr({ name: "x-a", suffixMatch: "bc" })(h("x-a", "abc")));
  assert(hdr({ name: "x-a", containsMatch: "b" })(h("x-a", "abc")));
  assert(hdr({ name: "x-a", safeRegexMatch: { regex: "\\d{3}" } })(h("x-a", "123")));
  assert(!hdr({ name: "x-a", safeRegexMatch: { regex: "\\d{3}" } })(h("x-a", "1234")));
  assert(hdr({ name: "x-a", stringMatch: { exact: "V", ignoreCase: true } })(h("x-a", "v")));
  assert(!hdr({ name: "x-a", prefixMatch: "a" })(h()), "absent header fails a value match");
});

Deno.test("HeaderMatcher: repeated headers match as one comma-joined value", () => {
  assertEquals(headerValue(h("x-a", "1", "y", "2", "x-a", "3"), "x-a"), "1,3");
  assert(hdr({ name: "x-a", exactMatch: "1,3" })(h("x-a", "1", "x-a", "3")));
});

Deno.test("HeaderMatcher: present_match, no specifier, and invert_match", () => {
  assert(hdr({ name: "x-a" })(h("x-a", "")), "no specifier tests presence");
  assert(!hdr({ name: "x-a" })(h()));
  assert(hdr({ name: "x-a", presentMatch: true })(h("x-a", "1")));
  assert(!hdr({ name: "x-a", presentMatch: true })(h()));
  assert(hdr({ name: "x-a", presentMatch: false })(h()), "present_match false: absent");
  assert(!hdr({ name: "x-a", presentMatch: false })(h("x-a", "1")));
  assert(hdr({ name: "x-a", presentMatch: true, invertMatch: true })(h()));
  assert(!hdr({ name: "x-a", presentMatch: true, invertMatch: true })(h("x-a", "1")));
  assert(
    hdr({ name: "x-a", safeRegexMatch: { regex: "\\d{3}" }, invertMatch: true })(h("x-a", "1234")),
  );
});

Deno.test("HeaderMatcher: range_match takes whole base-10 integers, end exclusive", () => {
  const m = hdr({ name: "x-n", rangeMatch: { start: "-10", end: "0" } });
  assert(m(h("x-n", "-1")));
  assert(m(h("x-n", "-10")));
  assert(m(h("x-n", "+0")) === false, "0 is the excluded end");
  for (const v of ["0", "somestring", "10.9", "-1somestring", "", " -1"]) {
    assert(!m(h("x-n", v)), v);
  }
  const inverted = hdr({ name: "x-n", rangeMatch: { start: "-10", end: "0" }, invertMatch: true });
  assert(!inverted(h("x-n", "-1")));
  const big = hdr({
    name: "x-n",
    rangeMatch: { start: "9007199254740993", end: "9223372036854775807" },
  });
  assert(big(h("x-n", "9007199254740993")) && !big(h("x-n", "9007199254740992")));
  assert(!big(h("x-n", "99999999999999999999")), "beyond int64 never matches");
});

Deno.test("HeaderMatcher: treat_missing_header_as_empty, as the Envoy examples say", () => {
  const range = { start: "0", end: "10" };
  assert(
    hdr({ name: "header1", rangeMatch: range, invertMatch: true, treatMissingHeaderAsEmpty: true })(
      h(),
    ),
  );
  assert(!hdr({ name: "header2", rangeMatch: range, invertMatch: true })(h()));
  assert(
    hdr({
      name: "header3",
      stringMatch: { safeRegex: { regex: "^$" } },
      treatMissingHeaderAsEmpty: true,
    })(h()),
  );
  assert(!hdr({ name: "header4", stringMatch: { safeRegex: { regex: "^$" } } })(h()));
});

Deno.test("compileHeaderMatchers: all must match; none is no condition", () => {
  const list = [
    msg<HeaderMatcher>("envoy.config.route.v3.HeaderMatcher", { name: "a", exactMatch: "1" }),
    msg<HeaderMatcher>("envoy.config.route.v3.HeaderMatcher", { name: "b", presentMatch: true }),
  ];
  const all = compileHeaderMatchers(list, "h")!;
  assert(all(h("a", "1", "b", "")));
  assert(!all(h("a", "1")));
  assertEquals(compileHeaderMatchers([], "h"), undefined);
});

Deno.test("QueryParameterMatcher: presence, values, first value only, raw text", () => {
  assert(query({ name: "debug" })("/p?x=1&debug"), "bare key");
  assert(query({ name: "debug", presentMatch: true })("/p?debug=0"));
  assert(!query({ name: "debug" })("/p?debugger=1"), "a longer key is another key");
  assert(!query({ name: "debug" })("/p"));
  assert(query({ name: "v", stringMatch: { exact: "2" } })("/p?a=1&v=2"));
  assert(!query({ name: "v", stringMatch: { exact: "2" } })("/p?v=1&v=2"), "first value only");
  assert(query({ name: "q", stringMatch: { exact: "a%20b" } })("/p?q=a%20b"), "not decoded");
  assert(query({ name: "q", stringMatch: { exact: "" } })("/p?q="));
  assertEquals(queryParameter("/p?a=1&b=x=y", 2, "b"), "x=y");
});
