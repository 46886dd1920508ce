import { fromJson } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { Listener } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import { ecdsRefs, warmsFor } from "./ecds_provider.ts";

const P = "type.googleapis.com/";
const ROUTER = P + "envoy.extensions.filters.http.router.v3.Router";

Deno.test("ecdsRefs: the config_discovery filters of a listener's connection managers; warming unless a default applies without it", () => {
  const l = fromJson(messageSchema<Listener>("envoy.config.listener.v3.Listener"), {
    name: "l",
    filter_chains: [{
      filters: [{
        name: "hcm",
        typed_config: {
          "@type": P +
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          stat_prefix: "x",
          http_filters: [
            {
              name: "warm",
              config_discovery: { config_source: { ads: {} }, type_urls: [ROUTER] },
            },
            {
              name: "cold",
              config_discovery: {
                config_source: { ads: {} },
                default_config: { "@type": ROUTER },
                apply_default_config_without_warming: true,
                type_urls: [ROUTER],
              },
            },
          ],
        },
      }],
    }],
  }, { registry: apiRegistry() });
  const refs = ecdsRefs(l);
  assertEquals(refs.map((r) => r.name), ["warm", "cold"]);
  assertEquals(refs.map(warmsFor), [true, false]);
});
