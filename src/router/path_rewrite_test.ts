import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { pathEnd, rewritePath } from "./path_rewrite.ts";
import { RouteTable } from "./route_table.ts";

/** The rewritten :path of `path` under a single route `match` + `route` action. */
function rewrite(match: JsonValue, action: Record<string, JsonValue>, path: string) {
  const json = {
    virtualHosts: [{
      name: "vh",
      domains: ["*"],
      routes: [{ match, route: { cluster: "c", ...action } }],
    }],
  };
  const schema = messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
  const t = new RouteTable(fromJson(schema, json, { registry: apiRegistry() }));
  const headers = HeaderMap.from([[":path", path]]);
  const m = t.route({ headers, random: 0 });
  if (!m) throw new Error(`no route for ${path}`);
  return rewritePath(m, headers);
}

Deno.test("pathEnd stops at the query or fragment", () => {
  assertEquals(pathEnd("/a/b?c#d"), 4);
  assertEquals(pathEnd("/a#d?c"), 2);
  assertEquals(pathEnd("/a"), 2);
});

Deno.test("prefix_rewrite replaces the matched prefix and keeps the query", () => {
  assertEquals(rewrite({ prefix: "/foo" }, { prefixRewrite: "/bar" }, "/foo/x?q=1"), "/bar/x?q=1");
  assertEquals(rewrite({ prefix: "/foo/" }, { prefixRewrite: "/" }, "/foo/x"), "/x");
  assertEquals(
    rewrite({ prefix: "/foo" }, { prefixRewrite: "/" }, "/foo/x"),
    "//x",
    "mind the slashes",
  );
  assertEquals(
    rewrite({ prefix: "/FOO", caseSensitive: false }, { prefixRewrite: "/bar" }, "/foo/x"),
    "/bar/x",
  );
  assertEquals(rewrite({ path: "/exact" }, { prefixRewrite: "/new" }, "/exact?a=b"), "/new?a=b");
  assertEquals(
    rewrite({ pathSeparatedPrefix: "/api" }, { prefixRewrite: "/v2" }, "/api/x?y"),
    "/v2/x?y",
  );
});

Deno.test("on a regex route prefix_rewrite replaces the whole path, keeping the query", () => {
  assertEquals(
    rewrite({ safeRegex: { regex: "/a/.*" } }, { prefixRewrite: "/b" }, "/a/x/y?q"),
    "/b?q",
  );
});

Deno.test("regex_rewrite rewrites every match in the path, never the query", () => {
  const action = { regexRewrite: { pattern: { regex: "one" }, substitution: "two" } };
  assertEquals(rewrite({ prefix: "/" }, action, "/one/one?one=1"), "/two/two?one=1");
});

Deno.test("no rewrite configured: undefined", () => {
  assertEquals(rewrite({ prefix: "/" }, {}, "/a"), undefined);
});
