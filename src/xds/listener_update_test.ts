import { fromJson } from "@bufbuild/protobuf";
import { ListenerSchema } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import { apiRegistry } from "../config/api.ts";
import { assertEquals } from "../testing/assert.ts";
import { filterChainOnlyChange, removedFilterChains } from "./listener_update.ts";

const tcp = (cluster: string) => ({
  filters: [{
    name: "envoy.filters.network.tcp_proxy",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
      stat_prefix: cluster,
      cluster,
    },
  }],
});

function listener(json: Record<string, unknown>) {
  return fromJson(ListenerSchema, {
    name: "l",
    address: { socket_address: { address: "127.0.0.1", port_value: 1000 } },
    ...json,
  } as never, { registry: apiRegistry() });
}

Deno.test("filterChainOnlyChange: chains, the default chain and the matcher may change in place", () => {
  const a = listener({ filter_chains: [tcp("a")] });
  const b = listener({ filter_chains: [tcp("a"), tcp("b")], default_filter_chain: tcp("c") });
  assertEquals(filterChainOnlyChange(a, b), true);
  assertEquals(removedFilterChains(a, b), 0);
  assertEquals(removedFilterChains(b, a), 2);
  assertEquals(filterChainOnlyChange(b, listener({ filter_chains: [tcp("b")] })), true);
});

Deno.test("filterChainOnlyChange: a listener-level field, or no filter chain left, replaces it", () => {
  const a = listener({ filter_chains: [tcp("a")] });
  assertEquals(
    filterChainOnlyChange(a, listener({ filter_chains: [tcp("a")], stat_prefix: "x" })),
    false,
  );
  assertEquals(
    filterChainOnlyChange(
      a,
      listener({
        filter_chains: [tcp("a")],
        address: { socket_address: { address: "127.0.0.1", port_value: 1001 } },
      }),
    ),
    false,
  );
  assertEquals(filterChainOnlyChange(a, listener({ default_filter_chain: tcp("a") })), false);
});
