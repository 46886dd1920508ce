import { create, fromJson } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { HttpConnectionManager } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { assert, assertEquals } from "../testing/assert.ts";
import { preUnpack, unpackAny } from "./any.ts";
import { apiRegistry, messageSchema } from "./api.ts";

Deno.test("preUnpack attaches every nested typed config; clones keep it; unpackAny reads it", () => {
  const schema = messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap");
  const b = fromJson(schema, {
    static_resources: {
      listeners: [{
        name: "l",
        filter_chains: [{
          filters: [{
            name: "hcm",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network." +
                "http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: "s",
              http_filters: [{
                name: "r",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                },
              }],
            },
          }],
        }],
      }],
    },
  }, { registry: apiRegistry() });
  preUnpack(b);
  const clone = structuredClone(b);
  const any = clone.staticResources!.listeners[0].filterChains[0].filters[0].configType;
  assert(any.case === "typedConfig");
  const hcm = unpackAny<HttpConnectionManager>(any.value);
  assertEquals(hcm?.statPrefix, "s");
  const inner = (any.value as unknown as {
    unpacked: { httpFilters: { configType: { value: { unpacked?: { $typeName: string } } } }[] };
  })
    .unpacked.httpFilters[0].configType.value.unpacked;
  assertEquals(inner?.$typeName, "envoy.extensions.filters.http.router.v3.Router");
  assertEquals(
    unpackAny(create(AnySchema, { typeUrl: "type.googleapis.com/no.such.Type" })),
    undefined,
  );
});
