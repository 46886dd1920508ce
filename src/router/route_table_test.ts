import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { RouteTable, type RouteTableOptions } from "./route_table.ts";

function table(json: JsonValue, opts?: RouteTableOptions): RouteTable {
  const schema = messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
  return new RouteTable(fromJson(schema, json, { registry: apiRegistry() }), opts);
}

function vhost(name: string, domains: string[], cluster = name): JsonValue {
  return { name, domains, routes: [{ match: { prefix: "/" }, route: { cluster } }] };
}

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

const route = (t: RouteTable, authority: string | undefined, path = "/") => {
  const h = HeaderMap.from([[":path", path]]);
  if (authority !== undefined) h.add(":authority", authority);
  return t.route({ headers: h, random: 0 });
};

Deno.test("a request goes to its virtual host's first matching route", () => {
  const t = table({
    name: "rc",
    virtualHosts: [
      vhost("www", ["www.example.com"]),
      vhost("wild", ["*.example.com"]),
      vhost("api", ["api.*"]),
    ],
  });
  assertEquals(route(t, "WWW.example.com")?.clusterName, "www");
  assertEquals(route(t, "img.example.com")?.virtualHost.name, "wild");
  assertEquals(route(t, "api.example.org")?.clusterName, "api");
  assertEquals(route(t, "other.org"), undefined, "no virtual host: 404");
  assertEquals(route(t, undefined), undefined);
  assertEquals(t.virtualHost("www.example.com")?.name, "www");
});

Deno.test("ignore_port_in_host_matching", () => {
  const json = { virtualHosts: [vhost("a", ["a.com"])] };
  assertEquals(route(table(json), "a.com:8080"), undefined);
  assertEquals(
    route(table({ ...json, ignorePortInHostMatching: true }), "a.com:8080")?.clusterName,
    "a",
  );
});

Deno.test("a domain in two virtual hosts is rejected", () => {
  assertMatch(
    error(() =>
      table({ name: "rc", virtualHosts: [vhost("a", ["x.com"]), vhost("b", ["y.com", "X.com"])] })
    ),
    /^virtual_hosts\[1\]\.domains: Only unique values for domains are permitted\. Duplicate entry of domain x\.com in route rc$/,
  );
  assertMatch(
    error(() => table({ name: "rc", virtualHosts: [vhost("a", ["*"]), vhost("b", ["*"])] })),
    /Only a single wildcard domain is permitted in route rc/,
  );
});

Deno.test("clusters are validated unless validate_clusters is false", () => {
  const exists = (name: string) => name === "known";
  const json = (routeAction: JsonValue, extra: Record<string, JsonValue> = {}) => ({
    ...extra,
    virtualHosts: [{
      name: "v",
      domains: ["*"],
      routes: [{ match: { prefix: "/" }, route: routeAction }],
    }],
  });
  assertMatch(
    error(() => table(json({ cluster: "nope" }), { clusterExists: exists })),
    /^virtual_hosts\[0\]\.routes\[0\]\.route\.cluster: unknown cluster 'nope'$/,
  );
  assertMatch(
    error(() =>
      table(json({ weightedClusters: { clusters: [{ name: "nope", weight: 1 }] } }), {
        clusterExists: exists,
      })
    ),
    /clusters\[0\]\.name: unknown weighted cluster 'nope'/,
  );
  assertMatch(
    error(() =>
      table(json({ cluster: "known", requestMirrorPolicies: [{ cluster: "nope" }] }), {
        clusterExists: exists,
      })
    ),
    /request_mirror_policies\[0\]\.cluster: unknown shadow cluster 'nope'/,
  );
  table(json({ clusterHeader: "x-c" }), { clusterExists: exists });
  table(json({ cluster: "nope" }, { validateClusters: false }), { clusterExists: exists });
  table(json({ cluster: "nope" }));
});

Deno.test("unsupported route configuration features are errors", () => {
  assertMatch(
    error(() => table({ vhds: { configSource: { ads: {} } } })),
    /^vhds: virtual hosts on demand need a route configuration from RDS/,
  );
  assertMatch(
    error(() => table({ clusterSpecifierPlugins: [{ extension: { name: "p" } }] })),
    /^cluster_specifier_plugins: .*not supported/,
  );
});

Deno.test("internal_only_headers are exposed lower case", () => {
  assertEquals(table({ internalOnlyHeaders: ["X-Internal"] }).internalOnlyHeaders, ["x-internal"]);
});
