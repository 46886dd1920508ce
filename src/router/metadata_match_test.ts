import { fromJson } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { Metadata } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import { metadataMatchCriteria } from "./metadata_match.ts";

const md = (filter_metadata: Record<string, Record<string, unknown>>) =>
  fromJson(messageSchema<Metadata>("envoy.config.core.v3.Metadata"), { filter_metadata } as never, {
    registry: apiRegistry(),
  });

Deno.test("metadata_match: envoy.lb values sorted by key; others ignored", () => {
  const c = metadataMatchCriteria(md({ "envoy.lb": { z: 1, a: "x" }, other: { b: 2 } }));
  assertEquals(c?.entries, [["a", "x"], ["z", 1]]);
  assertEquals(metadataMatchCriteria(md({ other: { b: 2 } })), undefined);
  assertEquals(metadataMatchCriteria(undefined), undefined);
});

Deno.test("metadata_match: a weighted cluster's values win over the route's", () => {
  const route = metadataMatchCriteria(md({ "envoy.lb": { version: "v1", stage: "prod" } }));
  const merged = metadataMatchCriteria(md({ "envoy.lb": { version: "v2" } }), route);
  assertEquals(merged?.entries, [["stage", "prod"], ["version", "v2"]]);
  assertEquals(metadataMatchCriteria(undefined, route), route);
});
