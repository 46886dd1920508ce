import { equals, fromJson } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "./api.ts";
import { preUnpack } from "./any.ts";
import { compactMessages } from "./compact.ts";
import type { Cluster } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";

Deno.test("compactMessages: equal copies, their unpacked Anys kept", () => {
  const schema = messageSchema<Cluster>("envoy.config.cluster.v3.Cluster");
  const cluster = (name: string) =>
    fromJson(schema, {
      name,
      connect_timeout: "1s",
      typed_extension_protocol_options: {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
          "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
      load_assignment: {
        cluster_name: name,
        endpoints: [{
          lb_endpoints: [{
            endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 80 } } },
          }],
        }],
      },
    }, { registry: apiRegistry() });
  const originals = [cluster("a"), cluster("b")];
  preUnpack(originals);
  const compact = compactMessages(originals);
  assertEquals(compact.length, 2);
  for (let i = 0; i < 2; i++) {
    assert(compact[i] !== originals[i]);
    assert(equals(schema, compact[i], originals[i]));
  }
  const opts = (c: Cluster) =>
    c.typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] as
      & typeof c.typedExtensionProtocolOptions[string]
      & { unpacked?: { $typeName: string } };
  assertEquals(
    opts(compact[1]).unpacked?.$typeName,
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  );
});
