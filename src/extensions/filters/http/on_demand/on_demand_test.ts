import { create, fromJson } from "@bufbuild/protobuf";
import { RouteConfigurationSchema } from "../../../../../proto/gen/envoy/config/route/v3/route_pb.ts";
import type { ServerContext } from "../../../../config/extensions.ts";
import type { StreamFilterCallbacks } from "../../../../http/filter.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { RouteTable } from "../../../../router/route_table.ts";
import { assertEquals } from "../../../../testing/assert.ts";
import { RouteConfigProviders } from "../../../../xds/route_config_provider.ts";
import { onDemandFilterFactory } from "./on_demand.ts";

function setup(vhds: boolean) {
  const routes = new RouteConfigProviders();
  const asked: string[] = [];
  routes.onDemand = (rc, host) => asked.push(`${rc}/${host}`);
  const rc = fromJson(RouteConfigurationSchema, {
    name: "rc",
    ...(vhds ? { vhds: { config_source: { ads: {} } } } : {}),
  });
  const events: string[] = [];
  const cb = {
    route: () => undefined,
    routeTable: () => new RouteTable(rc, { fromRds: true }),
    clearRouteCache: () => events.push("clearRouteCache"),
    continueDecoding: () => events.push("continueDecoding"),
  } as unknown as StreamFilterCallbacks;
  const filter = onDemandFilterFactory({ routeConfigs: routes } as ServerContext)(cb).decoder!;
  return { routes, asked, events, filter };
}

Deno.test("on_demand: no route on a VHDS route table: asks for the host, resumes on the next version", () => {
  const { routes, asked, events, filter } = setup(true);
  assertEquals(filter.decodeHeaders(new HeaderMap([":authority", "foo.example"]), true), "stop");
  assertEquals(asked, ["rc/foo.example"]);
  routes.update(create(RouteConfigurationSchema, { name: "other" }));
  assertEquals(events, []);
  routes.update(
    fromJson(RouteConfigurationSchema, { name: "rc", vhds: { config_source: { ads: {} } } }),
  );
  assertEquals(events, ["clearRouteCache", "continueDecoding"]);
});

Deno.test("on_demand: without VHDS it does nothing; a stream gone before the answer is left alone", () => {
  const plain = setup(false);
  assertEquals(plain.filter.decodeHeaders(new HeaderMap([":authority", "x"]), true), "continue");
  assertEquals(plain.asked, []);
  const gone = setup(true);
  assertEquals(gone.filter.decodeHeaders(new HeaderMap([":authority", "x"]), true), "stop");
  gone.filter.onDestroy!();
  gone.routes.update(
    fromJson(RouteConfigurationSchema, { name: "rc", vhds: { config_source: { ads: {} } } }),
  );
  assertEquals(gone.events, []);
});
