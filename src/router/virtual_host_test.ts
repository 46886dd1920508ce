import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { redirectLocation } from "./redirect.ts";
import { RouteTable } from "./route_table.ts";

function table(
  vhost: Record<string, JsonValue>,
  config: Record<string, JsonValue> = {},
): RouteTable {
  const json = { name: "rc", ...config, virtualHosts: [{ name: "vh", domains: ["*"], ...vhost }] };
  const schema = messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
  return new RouteTable(fromJson(schema, json, { registry: apiRegistry() }));
}

function req(path: string, extra: [string, string][] = []): HeaderMap {
  return HeaderMap.from([[":authority", "example.com:8080"], [":path", path], ...extra]);
}

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

const routes = [{ name: "r", match: { prefix: "/" }, route: { cluster: "c" } }];

Deno.test("require_tls ALL redirects plain-text requests to https, port and path kept", () => {
  const t = table({ requireTls: "ALL", routes });
  const plain = req("/a?b", [["x-forwarded-proto", "http"]]);
  const m = t.route({ headers: plain, random: 0 })!;
  assertEquals(m.route.action, "redirect");
  assertEquals(m.route.redirect?.responseCode, 301);
  assertEquals(m.route.responseHeaderParsers.length, 0);
  assertEquals(redirectLocation(m.route, plain), "https://example.com:8080/a?b");
  const tls = req("/a", [["x-forwarded-proto", "https"]]);
  assertEquals(t.route({ headers: tls, random: 0 })?.route.name, "r");
});

Deno.test("require_tls EXTERNAL_ONLY lets internal requests through", () => {
  const t = table({ requireTls: "EXTERNAL_ONLY", routes });
  const internal = req("/", [["x-forwarded-proto", "http"], ["x-envoy-internal", "true"]]);
  assertEquals(t.route({ headers: internal, random: 0 })?.route.name, "r");
  const external = req("/", [["x-forwarded-proto", "http"]]);
  assertEquals(t.route({ headers: external, random: 0 })?.route.action, "redirect");
});

Deno.test("ignore_path_parameters_in_path_matching matches up to the first ';'", () => {
  const vh = { routes: [{ match: { path: "/foo" }, route: { cluster: "c" } }] };
  const ignoring = table(vh, { ignorePathParametersInPathMatching: true });
  assert(ignoring.route({ headers: req("/foo;jsessionid=1?x"), random: 0 }));
  assert(!table(vh).route({ headers: req("/foo;jsessionid=1"), random: 0 }));
});

Deno.test("virtual clusters: the first whose headers match, else other", () => {
  const t = table({
    routes,
    virtualClusters: [
      { name: "api", headers: [{ name: ":path", stringMatch: { prefix: "/api" } }] },
      { name: "posts", headers: [{ name: ":method", exactMatch: "POST" }] },
    ],
  });
  const vh = t.route({ headers: req("/"), random: 0 })!.virtualHost;
  assertEquals(vh.virtualClusterName(req("/api/x")), "api");
  assertEquals(vh.virtualClusterName(req("/x", [[":method", "POST"]])), "posts");
  assertEquals(vh.virtualClusterName(req("/x")), "other");
  assertEquals(table({ routes }).virtualHosts[0].virtualClusterName(req("/")), undefined);
  assertMatch(
    error(() => table({ routes, virtualClusters: [{ name: "x" }] })),
    /^virtual_hosts\[0\]\.virtual_clusters\[0\]: virtual clusters must define 'headers'$/,
  );
});

Deno.test("mirror policies are inherited: route, else virtual host, else configuration", () => {
  const t = table({
    requestMirrorPolicies: [{ cluster: "vh-mirror" }],
    routes: [
      {
        name: "own",
        match: { path: "/own" },
        route: { cluster: "c", requestMirrorPolicies: [{ cluster: "own-mirror" }] },
      },
      { name: "inherit", match: { path: "/inherit" }, route: { cluster: "c" } },
    ],
  }, { requestMirrorPolicies: [{ cluster: "rc-mirror" }] });
  const mirror = (p: string) =>
    t.route({ headers: req(p), random: 0 })!.route.requestMirrorPolicies[0].cluster;
  assertEquals(mirror("/own"), "own-mirror");
  assertEquals(mirror("/inherit"), "vh-mirror");
  assertEquals(
    table({ routes }, { requestMirrorPolicies: [{ cluster: "rc-mirror" }] }).virtualHosts[0]
      .requestMirrorPolicies[0].cluster,
    "rc-mirror",
  );
});

Deno.test("many routes: the index keeps first-match order with regexes in between", () => {
  const rs: JsonValue[] = [];
  for (let i = 0; i < 200; i++) {
    rs.push({ name: `p${i}`, match: { prefix: `/svc${i}/` }, route: { cluster: "c" } });
    if (i === 50) {
      rs.push({
        name: "re",
        match: { safeRegex: { regex: "/svc1[0-9]{2}/special" } },
        route: { cluster: "c" },
      });
    }
  }
  rs.push({ name: "exact", match: { path: "/svc150/special" }, route: { cluster: "c" } });
  rs.push({ name: "ci", match: { prefix: "/CI/", caseSensitive: false }, route: { cluster: "c" } });
  rs.push({ name: "last", match: { prefix: "/" }, route: { cluster: "c" } });
  const t = table({ routes: rs });
  const pick = (p: string) => t.route({ headers: req(p), random: 0 })?.route.name;
  assertEquals(pick("/svc7/x"), "p7");
  assertEquals(pick("/svc199/x?y"), "p199");
  assertEquals(pick("/svc150/special"), "re", "the regex comes before /svc150/");
  assertEquals(pick("/svc1/special"), "p1");
  assertEquals(pick("/ci/x"), "ci");
  assertEquals(pick("/svc200/x"), "last");
  assertEquals(pick("/"), "last");
});

Deno.test("matcher trees are not supported", () => {
  assertMatch(
    error(() => table({ matcher: { matcherList: { matchers: [] } } })),
    /^virtual_hosts\[0\]\.matcher: matcher trees are not supported$/,
  );
});
