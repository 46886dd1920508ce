import { create } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../testing/assert.ts";
import { CorsPolicySchema as LegacySchema } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { CorsPolicySchema } from "../../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.ts";
import { CorsPolicy } from "./cors_policy.ts";

Deno.test("CorsPolicy: unset settings stay unset; enabled by default, shadow off", () => {
  const p = new CorsPolicy(create(CorsPolicySchema, {}), "p");
  assertEquals([p.allowOrigins.length, p.allowMethods, p.maxAge], [0, "", ""]);
  assertEquals(
    [p.allowCredentials, p.allowPrivateNetworkAccess, p.forwardNotMatchingPreflights],
    [undefined, undefined, undefined],
  );
  assert(p.enabled());
  assert(!p.shadowEnabled());
});

Deno.test("CorsPolicy: the deprecated message's filter_enabled oneof and shadow_enabled", () => {
  const p = new CorsPolicy(
    create(LegacySchema, {
      allowOriginStringMatch: [{ matchPattern: { case: "exact", value: "https://a" } }],
      enabledSpecifier: { case: "filterEnabled", value: { defaultValue: { numerator: 0 } } },
      shadowEnabled: { defaultValue: { numerator: 100 } },
      allowCredentials: false,
    }),
    "p",
  );
  assert(p.allowOrigins[0]("https://a"));
  assert(!p.enabled());
  assert(p.shadowEnabled());
  assertEquals(p.allowCredentials, false, "set to false is not unset");
});
