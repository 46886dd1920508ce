import { create } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../../../../testing/assert.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import {
  type RouteMatch,
  RouteMatchSchema,
} from "../../../../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { compileRuleMatch } from "./matcher.ts";

const match = (init: Parameters<typeof create<typeof RouteMatchSchema>>[1]) =>
  compileRuleMatch(create(RouteMatchSchema, init) as RouteMatch, "rules[0].match");
const throwsWith = (fn: () => unknown, text: string) => {
  try {
    fn();
  } catch (e) {
    assert((e as Error).message.includes(text), (e as Error).message);
    return;
  }
  throw new Error(`did not throw: ${text}`);
};
const req = (path: string, ...kv: string[]) =>
  new HeaderMap([":method", "GET", ":path", path, ...kv]);

Deno.test("rule match: path specifiers against the path without its query", () => {
  const prefix = match({ pathSpecifier: { case: "prefix", value: "/api" } });
  assertEquals([prefix(req("/api/x?y")), prefix(req("/API")), prefix(req("/ap"))], [
    true,
    false,
    false,
  ]);
  const exact = match({ pathSpecifier: { case: "path", value: "/a" }, caseSensitive: false });
  assertEquals([exact(req("/A?q=1")), exact(req("/a/b"))], [true, false]);
  const sep = match({ pathSpecifier: { case: "pathSeparatedPrefix", value: "/v1" } });
  assertEquals([sep(req("/v1")), sep(req("/v1/x")), sep(req("/v10"))], [true, true, false]);
  const re = match({ pathSpecifier: { case: "safeRegex", value: { regex: "/u/[0-9]+" } } });
  assertEquals([re(req("/u/12?x")), re(req("/u/x"))], [true, false]);
  const connect = match({ pathSpecifier: { case: "connectMatcher", value: {} } });
  assertEquals(
    [connect(new HeaderMap([":method", "CONNECT"])), connect(req("/"))],
    [true, false],
  );
});

Deno.test("rule match: headers and query parameters must all match", () => {
  const m = match({
    pathSpecifier: { case: "prefix", value: "/" },
    headers: [{ name: "x-env", headerMatchSpecifier: { case: "exactMatch", value: "prod" } }],
    queryParameters: [{ name: "debug" }],
  });
  assertEquals(m(req("/?debug=1", "x-env", "prod")), true);
  assertEquals(m(req("/", "x-env", "prod")), false);
  assertEquals(m(req("/?debug", "x-env", "dev")), false);
  throwsWith(() => match({}), "rules[0].match: one of prefix");
  throwsWith(
    () => match({ pathSpecifier: { case: "safeRegex", value: { regex: "(" } } }),
    "rules[0].match.safe_regex.regex",
  );
});
