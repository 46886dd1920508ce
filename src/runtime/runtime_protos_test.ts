import { assert, assertEquals } from "../testing/assert.ts";
import { create } from "@bufbuild/protobuf";
import { RuntimeFractionalPercentSchema } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import { FractionalPercent_DenominatorType } from "../../proto/gen/envoy/type/v3/percent_pb.ts";
import { RuntimeFractionalPercent } from "./runtime_protos.ts";
import { runtimeSnapshot, setRuntimeSnapshot } from "./runtime.ts";

Deno.test("RuntimeFractionalPercent: the default value, then the runtime key's value", () => {
  const p = new RuntimeFractionalPercent(create(RuntimeFractionalPercentSchema, {
    runtimeKey: "feature.on",
    defaultValue: { numerator: 25, denominator: FractionalPercent_DenominatorType.TEN_THOUSAND },
  }));
  assertEquals(p.defaultValue, { numerator: 25, denominator: 10_000 });
  assert(p.enabled(10_024));
  assert(!p.enabled(25));
  const before = runtimeSnapshot();
  try {
    setRuntimeSnapshot({
      layers: [{ name: "l", entries: { "feature.on": { raw: "100", uint: 100 } } }],
    });
    assert(p.enabled(25));
  } finally {
    setRuntimeSnapshot(before);
  }
});

Deno.test("RuntimeFractionalPercent: an unset default value is 0%", () => {
  const p = new RuntimeFractionalPercent(create(RuntimeFractionalPercentSchema, {}));
  assert(!p.enabled());
});
