import { create, fromJson } from "@bufbuild/protobuf";
import {
  type ApiConfigSource,
  ApiConfigSourceSchema,
  ConfigSourceSchema,
} from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { RouteConfigurationSchema } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { RouteTable } from "../router/route_table.ts";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { checkVhdsSource, VhdsInterest, withVirtualHosts } from "./vhds.ts";

function error(f: () => void): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

Deno.test("vhds: only incremental gRPC carries it, directly or over a delta ADS stream", () => {
  const source = (json: unknown) => fromJson(ConfigSourceSchema, json as never);
  const delta = create(ApiConfigSourceSchema, { apiType: 3 });
  const sotw: ApiConfigSource = create(ApiConfigSourceSchema, { apiType: 2 });
  assertEquals(error(() => checkVhdsSource(source({ ads: {} }), delta)), "");
  assertEquals(
    error(() => checkVhdsSource(source({ api_config_source: { api_type: "DELTA_GRPC" } }), sotw)),
    "",
  );
  assertMatch(
    error(() => checkVhdsSource(source({ api_config_source: { api_type: "GRPC" } }), delta)),
    /only 'DELTA_GRPC' is supported/,
  );
  assertMatch(error(() => checkVhdsSource(source({ ads: {} }), sotw)), /ADS must use DELTA_GRPC/);
  assertMatch(error(() => checkVhdsSource(source({ ads: {} }), undefined)), /no ADS configured/);
});

Deno.test("vhds: virtual hosts join the route configuration; on-demand names are aliases", () => {
  const rc = fromJson(RouteConfigurationSchema, {
    name: "rc",
    vhds: { config_source: { ads: {} } },
    virtual_hosts: [{ name: "own", domains: ["own.example"] }],
  });
  const merged = withVirtualHosts(rc, [
    create(RouteConfigurationSchema, {
      virtualHosts: [
        fromJson(RouteConfigurationSchema, {
          virtual_hosts: [{ name: "rc/foo", domains: ["foo.example"] }],
        }).virtualHosts[0],
      ],
    }).virtualHosts[0],
  ]);
  assertEquals(merged.virtualHosts.map((v) => v.name), ["own", "rc/foo"]);
  assertEquals(withVirtualHosts(rc, []), rc);
  const i = new VhdsInterest("rc");
  assertEquals(i.demand("foo.example"), true);
  assertEquals(i.demand("foo.example"), false);
  assertEquals(i.names, ["rc", "rc/foo.example"]);
  // An inline route configuration cannot use VHDS; one from RDS can.
  assertMatch(error(() => new RouteTable(rc)), /vhds: virtual hosts on demand need .* RDS/);
  assertEquals(new RouteTable(merged, { fromRds: true }).virtualHosts.length, 2);
});
