/**
 * A route's `metadata_match`: the `envoy.lb` key/values the subset load balancer selects
 * hosts by. A weighted cluster's own `metadata_match` is merged over the route's (its values
 * win for the same key), as Envoy merges match criteria.
 *
 * @module
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { Metadata } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { MetadataMatchCriteria } from "../upstream/subset_lb.ts";

/** The `envoy.lb` criteria of `md` over `parent`, sorted by key; undefined when empty. */
export function metadataMatchCriteria(
  md: Metadata | undefined,
  parent?: MetadataMatchCriteria,
): MetadataMatchCriteria | undefined {
  const own = md?.filterMetadata["envoy.lb"];
  if (!own || Object.keys(own).length === 0) return parent;
  const merged = new Map<string, JsonValue>(parent?.entries ?? []);
  for (const [k, v] of Object.entries(own)) merged.set(k, v);
  const entries = [...merged].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  return { entries };
}
