import { fromJson } from "@bufbuild/protobuf";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { assertEquals } from "../testing/assert.ts";
import { deprecatedFieldUses } from "./deprecated.ts";

Deno.test("deprecated fields set anywhere in the config are found", () => {
  const schema = messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap");
  const b = fromJson(schema, {
    admin: { access_log_path: "/dev/null" },
    static_resources: {
      clusters: [{
        name: "c",
        typed_extension_protocol_options: {},
        max_requests_per_connection: 5,
      }],
    },
  }, { registry: apiRegistry() });
  assertEquals(deprecatedFieldUses(schema, b).sort(), [
    "envoy.config.bootstrap.v3.Admin.access_log_path",
    "envoy.config.cluster.v3.Cluster.max_requests_per_connection",
  ]);
  assertEquals(deprecatedFieldUses(schema, fromJson(schema, {}, { registry: apiRegistry() })), []);
});
