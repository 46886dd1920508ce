import { create, fromJson } from "@bufbuild/protobuf";
import {
  type ScopedRoutes,
  ScopedRoutesSchema,
} from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { ScopedRouteConfigurationSchema } from "../../proto/gen/envoy/config/route/v3/scoped_route_pb.ts";
import { RouteConfigurationSchema } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { apiRegistry } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { RouteConfigProviders } from "./route_config_provider.ts";
import { ScopedRouteProviders, scopedRoutesProblems } from "./scoped_route_provider.ts";

function scopedRoutes(json: Record<string, unknown>): ScopedRoutes {
  return fromJson(ScopedRoutesSchema, {
    name: "sr",
    scope_key_builder: { fragments: [{ header_value_extractor: { name: "x-scope" } }] },
    rds_config_source: { ads: {}, resource_api_version: "V3" },
    ...json,
  } as never, { registry: apiRegistry() });
}
const scope = (name: string, key: string) =>
  fromJson(ScopedRouteConfigurationSchema, {
    name,
    route_configuration_name: `rc_${name}`,
    key: { fragments: [{ string_key: key }] },
  });
const request = (scope: string) => new HeaderMap(["x-scope", scope]);

Deno.test("scopedRoutesProblems: what Envoy rejects, what denvoy refuses", () => {
  const ok = scopedRoutes({
    scoped_route_configurations_list: {
      scoped_route_configurations: [{ name: "a", route_configuration_name: "rc_a" }],
    },
  });
  assertEquals(scopedRoutesProblems(ok), []);
  const conflict = scopedRoutes({
    scoped_route_configurations_list: {
      scoped_route_configurations: [
        { name: "a", route_configuration_name: "rc_a", key: { fragments: [{ string_key: "k" }] } },
        { name: "b", route_configuration_name: "rc_b", key: { fragments: [{ string_key: "k" }] } },
      ],
    },
  });
  assertMatch(scopedRoutesProblems(conflict)[0].message, /scope key conflict/);
  const locator = scopedRoutes({
    scoped_rds: {
      scoped_rds_config_source: { ads: {}, resource_api_version: "V3" },
      srds_resources_locator: "xdstp://x/y/*",
    },
  });
  const p = scopedRoutesProblems(locator);
  assertEquals(p.map((x) => [x.field, x.unsupported]), [
    ["scoped_rds.srds_resources_locator", false],
  ]);
  assertMatch(p[0].message, /xdstp:\/\/ type does not match .*ScopedRouteConfiguration in/);
  const glob = scopedRoutes({
    scoped_rds: {
      scoped_rds_config_source: { api_config_source: { api_type: "AGGREGATED_DELTA_GRPC" } },
      srds_resources_locator: "xdstp://x/envoy.config.route.v3.ScopedRouteConfiguration/*",
    },
  });
  assertEquals(scopedRoutesProblems(glob), []);
});

Deno.test("ScopedRouteProviders: RDS tables follow their route configurations; SRDS replaces scopes", () => {
  const routes = new RouteConfigProviders();
  const providers = new ScopedRouteProviders(routes);
  const set = providers.build(
    scopedRoutes({ scoped_rds: { scoped_rds_config_source: { ads: {} } } }),
  );
  assertEquals(set.table(request("a")), undefined);
  providers.update("sr", [scope("a", "one")]);
  assertEquals(set.table(request("one"))?.name, "rc_a");
  routes.update(create(RouteConfigurationSchema, { name: "rc_a", virtualHosts: [] }));
  assertEquals(set.table(request("one")), routes.table("rc_a"));
  providers.update("sr", [scope("a", "uno")]);
  assertEquals(set.table(request("one")), undefined);
  assertEquals(set.table(request("uno"))?.name, "rc_a");
  // A connection manager built later starts with the current scopes.
  const later = providers.build(
    scopedRoutes({ scoped_rds: { scoped_rds_config_source: { ads: {} } } }),
  );
  assertEquals(later.table(request("uno"))?.name, "rc_a");
});
