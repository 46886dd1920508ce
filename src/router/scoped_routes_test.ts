import { fromJson } from "@bufbuild/protobuf";
import { ScopedRouteConfigurationSchema } from "../../proto/gen/envoy/config/route/v3/scoped_route_pb.ts";
import { ScopedRoutes_ScopeKeyBuilderSchema } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { HeaderMap } from "../http/header_map.ts";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { checkScopes, scopeKey, ScopeKeyBuilder } from "./scoped_routes.ts";

const builder = (fragments: unknown[]) =>
  new ScopeKeyBuilder(fromJson(ScopedRoutes_ScopeKeyBuilderSchema, { fragments } as never));
const headers = (h: Record<string, string>) => {
  const m = new HeaderMap();
  for (const [k, v] of Object.entries(h)) m.add(k, v);
  return m;
};
const scope = (name: string, ...keys: string[]) =>
  fromJson(ScopedRouteConfigurationSchema, {
    name,
    route_configuration_name: `rc_${name}`,
    key: { fragments: keys.map((k) => ({ string_key: k })) },
  });
function error(f: () => void): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

Deno.test("scope key: whole header, element by index, key=value element, missing ones", () => {
  const b = builder([
    { header_value_extractor: { name: "X-Scope" } },
    { header_value_extractor: { name: "x-path", element_separator: "/", index: 1 } },
    {
      header_value_extractor: {
        name: "cookie",
        element_separator: ";",
        element: { key: "t", separator: "=" },
      },
    },
  ]);
  const key = b.key(headers({ "x-scope": "a", "x-path": "/v1/x", cookie: "u=1;t=one" }));
  assertEquals(key, scopeKey(scope("s", "a", "v1", "one")));
  assertEquals(b.key(headers({ "x-path": "/v1", cookie: "t=one" })), undefined);
  assertEquals(b.key(headers({ "x-scope": "a", "x-path": "v1", cookie: "t=one" })), undefined);
  assertEquals(b.key(headers({ "x-scope": "a", "x-path": "/v1", cookie: "u=1" })), undefined);
});

Deno.test("scope key builder and scopes: Envoy's refusals", () => {
  assertMatch(
    error(() => builder([{ header_value_extractor: { name: "x", index: 1 } }])),
    /Index > 0 for empty string element separator/,
  );
  assertMatch(error(() => builder([])), /at least one/);
  assertMatch(
    error(() => checkScopes([scope("a", "k"), scope("b", "k")])),
    /scope key conflict found, first scope is 'a', second scope is 'b'/,
  );
  assertMatch(error(() => checkScopes([scope("a", "k"), scope("a", "j")])), /duplicate/);
  const onDemand = scope("c", "x");
  onDemand.onDemand = true;
  assertMatch(error(() => checkScopes([onDemand])), /on_demand scopes are not supported/);
  assertEquals(error(() => checkScopes([scope("a", "k"), scope("b", "j")])), "");
});
