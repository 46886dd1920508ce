import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import type { ListenerFilterChainMatchPredicate } from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { assertEquals } from "../testing/assert.ts";
import type { AcceptedSocket } from "./listener_filter.ts";
import { compileListenerFilterPredicate } from "./listener_filters_config.ts";

function predicate(json: JsonObject) {
  const p = fromJson(
    messageSchema<ListenerFilterChainMatchPredicate>(
      "envoy.config.listener.v3.ListenerFilterChainMatchPredicate",
    ),
    json,
    { registry: apiRegistry() },
  );
  return compileListenerFilterPredicate(p, "filter_disabled");
}

const port = (localPort: number) => ({ localPort }) as AcceptedSocket;

Deno.test("filter_disabled: destination port ranges (end exclusive), and/or/not, any", () => {
  const range = predicate({ destination_port_range: { start: 80, end: 82 } });
  assertEquals([range(port(79)), range(port(80)), range(port(81)), range(port(82))], [
    false,
    true,
    true,
    false,
  ]);
  const or = predicate({
    or_match: {
      rules: [
        { destination_port_range: { start: 80, end: 81 } },
        { destination_port_range: { start: 443, end: 444 } },
      ],
    },
  });
  assertEquals([or(port(80)), or(port(443)), or(port(8080))], [true, true, false]);
  const not = predicate({ not_match: { destination_port_range: { start: 80, end: 81 } } });
  assertEquals([not(port(80)), not(port(81))], [false, true]);
  const and = predicate({
    and_match: { rules: [{ any_match: true }, { destination_port_range: { start: 1, end: 2 } }] },
  });
  assertEquals([and(port(1)), and(port(2))], [true, false]);
});
