import { create } from "@bufbuild/protobuf";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { BootstrapSchema } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { bootstrapVersion, nonReloadableChanges } from "./bootstrap_reload.ts";

Deno.test("only static resources may change in a reload; other fields are named", () => {
  const a = create(BootstrapSchema, {
    node: { id: "n" },
    staticResources: { clusters: [{ name: "a" }] },
  });
  const b = create(BootstrapSchema, {
    node: { id: "n" },
    staticResources: { clusters: [{ name: "b" }] },
  });
  assertEquals(nonReloadableChanges(a, b), []);
  const c = create(BootstrapSchema, {
    node: { id: "m" },
    statsFlushInterval: { seconds: 1n },
  });
  assertEquals(nonReloadableChanges(a, c), ["node", "stats_flush_interval"]);
});

Deno.test("a bootstrap's version is a hash of its text", () => {
  assertMatch(bootstrapVersion("a"), /^[0-9a-f]{16}$/);
  assertEquals(bootstrapVersion("a"), bootstrapVersion("a"));
});
