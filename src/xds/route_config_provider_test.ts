import { create } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { RouteConfigurationSchema } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { RouteConfigProviders, type RouteTableHolder } from "./route_config_provider.ts";

Deno.test("holders route with an empty table until RDS arrives, then with each update", () => {
  const p = new RouteConfigProviders();
  const holder: RouteTableHolder = { routeTable: p.table("r") };
  p.track("r", holder);
  assertEquals(holder.routeTable.virtualHosts.length, 0);
  p.update(create(RouteConfigurationSchema, {
    name: "r",
    virtualHosts: [{ name: "all", domains: ["*"] }],
  }));
  assertEquals(holder.routeTable.virtualHosts.length, 1);
  assertEquals(p.table("r"), holder.routeTable);
  // Another name leaves it alone.
  p.update(create(RouteConfigurationSchema, { name: "other" }));
  assertEquals(holder.routeTable.virtualHosts.length, 1);
});
