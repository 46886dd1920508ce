import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { redirectLocation } from "./redirect.ts";
import { rewritePath, RouteTable } from "./route_table.ts";

function table(routes: JsonValue[]): RouteTable {
  const json = { name: "rc", virtualHosts: [{ name: "vh", domains: ["*"], routes }] };
  const schema = messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
  return new RouteTable(fromJson(schema, json, { registry: apiRegistry() }));
}

function req(path: string, authority = "example.com", scheme = "http"): HeaderMap {
  return HeaderMap.from([
    [":method", "GET"],
    [":scheme", scheme],
    [":authority", authority],
    [":path", path],
    ["x-forwarded-proto", scheme],
  ]);
}

/** The redirect answer for one redirect action: [status, Location]. */
function redirect(action: JsonValue, path: string, authority?: string, scheme?: string) {
  const t = table([{ match: { prefix: "/old/" }, redirect: action }, {
    match: { prefix: "/" },
    redirect: action,
  }]);
  const headers = req(path, authority, scheme);
  const m = t.route({ headers, random: 0 })!;
  return [m.route.redirect!.responseCode, redirectLocation(m.route, headers)];
}

Deno.test("host_redirect keeps scheme, path and query; 301 by default", () => {
  assertEquals(redirect({ hostRedirect: "new.com" }, "/a?b=1"), [301, "http://new.com/a?b=1"]);
  assertEquals(redirect({ hostRedirect: "new.com" }, "/a", "example.com:8080"), [
    301,
    "http://new.com/a",
  ]);
});

Deno.test("https_redirect drops the port only when it was the old scheme's default", () => {
  assertEquals(
    redirect({ httpsRedirect: true }, "/a", "example.com:80")[1],
    "https://example.com/a",
  );
  assertEquals(
    redirect({ httpsRedirect: true }, "/a", "example.com:8080")[1],
    "https://example.com:8080/a",
  );
  assertEquals(redirect({ httpsRedirect: true }, "/a", "[::1]:80")[1], "https://[::1]/a");
  assertEquals(
    redirect({ httpsRedirect: true }, "/a", "example.com:443", "https")[1],
    "https://example.com:443/a",
  );
  assertEquals(
    redirect({ schemeRedirect: "http" }, "/a", "example.com:443", "https")[1],
    "http://example.com/a",
  );
});

Deno.test("port_redirect replaces the request's port", () => {
  assertEquals(
    redirect({ portRedirect: 8443 }, "/a", "example.com:8080")[1],
    "http://example.com:8443/a",
  );
  assertEquals(redirect({ portRedirect: 8443 }, "/a")[1], "http://example.com:8443/a");
  assertEquals(
    redirect({ portRedirect: 8443, hostRedirect: "new.com" }, "/a")[1],
    "http://new.com:8443/a",
  );
  assertEquals(
    redirect({ portRedirect: 443, httpsRedirect: true }, "/a", "example.com:80")[1],
    "https://example.com:443/a",
  );
});

Deno.test("path_redirect keeps the request's query unless it has its own", () => {
  assertEquals(
    redirect({ pathRedirect: "/new-path-1" }, "/old-path-1?bar=1")[1],
    "http://example.com/new-path-1?bar=1",
  );
  assertEquals(
    redirect({ pathRedirect: "/new-path-2", stripQuery: true }, "/old-path-2?bar=1")[1],
    "http://example.com/new-path-2",
  );
  assertEquals(
    redirect({ pathRedirect: "/new-path-3?foo=1", stripQuery: true }, "/old-path-3?bar=1")[1],
    "http://example.com/new-path-3?foo=1",
  );
  assertEquals(
    redirect({ pathRedirect: "relative" }, "/x")[1],
    "http://example.com/relative",
    "a leading / is added",
  );
});

Deno.test("prefix_rewrite swaps the matched prefix; regex_rewrite rewrites the path", () => {
  assertEquals(
    redirect({ prefixRewrite: "/new/" }, "/old/a/b?x=1")[1],
    "http://example.com/new/a/b?x=1",
  );
  assertEquals(
    redirect({ prefixRewrite: "/new/", stripQuery: true }, "/old/a?x=1")[1],
    "http://example.com/new/a",
  );
  const re = {
    regexRewrite: {
      pattern: { regex: "^/service/([^/]+)(/.*)$" },
      substitution: "\\2/instance/\\1",
    },
  };
  assertEquals(
    redirect(re, "/service/foo/v1/api?q")[1],
    "http://example.com/v1/api/instance/foo?q",
  );
  assertEquals(redirect({ stripQuery: true }, "/a?x=1")[1], "http://example.com/a");
});

Deno.test("response codes", () => {
  const codes: [string, number][] = [
    ["MOVED_PERMANENTLY", 301],
    ["FOUND", 302],
    ["SEE_OTHER", 303],
    ["TEMPORARY_REDIRECT", 307],
    ["PERMANENT_REDIRECT", 308],
  ];
  for (const [name, code] of codes) {
    assertEquals(redirect({ responseCode: name }, "/")[0], code, name);
  }
});

Deno.test("a redirect's rewrite also applies to :path, as Envoy rewrites it", () => {
  const t = table([{ match: { prefix: "/old/" }, redirect: { prefixRewrite: "/new/" } }]);
  const headers = req("/old/a?x");
  assertEquals(rewritePath(t.route({ headers, random: 0 })!, headers), "/new/a?x");
});

Deno.test("a direct response's Location is the request's own URL", () => {
  const t = table([{ match: { prefix: "/" }, directResponse: { status: 301 } }]);
  const headers = req("/a?b", "example.com:8080");
  assertEquals(
    redirectLocation(t.route({ headers, random: 0 })!.route, headers),
    "http://example.com:8080/a?b",
  );
});
