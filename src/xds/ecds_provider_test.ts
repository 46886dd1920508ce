import { fromJson } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { Listener } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import { ecdsKeys, ecdsRefs, warmsFor } from "./ecds_provider.ts";

const P = "type.googleapis.com/";
const ROUTER = P + "envoy.extensions.filters.http.router.v3.Router";

Deno.test("ecdsRefs: the config_discovery filters of a listener (listener filters, network filters, connection managers' HTTP filters); warming unless a default applies without it", () => {
  const discovery = (type: string) => ({ config_source: { ads: {} }, type_urls: [P + type] });
  const l = fromJson(messageSchema<Listener>("envoy.config.listener.v3.Listener"), {
    name: "l",
    listener_filters: [{
      name: "pp",
      config_discovery: discovery(
        "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol",
      ),
    }],
    default_filter_chain: {
      filters: [{
        name: "tcp",
        config_discovery: discovery("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"),
      }],
    },
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
  assertEquals(refs.map((r) => `${r.kind} ${r.name}`), [
    "tcp_listener_filter pp",
    "http_filter warm",
    "http_filter cold",
    "network_filter tcp",
  ]);
  assertEquals(refs.map(warmsFor), [true, true, false, true]);
  // The same name of another kind is another config (and subscription).
  const keys = ecdsKeys([...refs, { ...refs[0], kind: "network_filter" }]);
  assertEquals(new Set(keys).size, 5);
});
