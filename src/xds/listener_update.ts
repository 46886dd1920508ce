/**
 * How a listener update applies (Envoy's `ListenerMessageUtil::filterChainOnlyChange` and
 * `supportUpdateFilterChain`): when only the filter chains changed, the listener is updated in
 * place (its socket and unchanged chains stay, the connections of removed chains drain);
 * anything else replaces the whole listener.
 *
 * @module
 */
import { create, equals } from "@bufbuild/protobuf";
import { FilterChainSchema } from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import {
  type Listener,
  ListenerSchema,
} from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";

/** `l` without the fields an in-place update may change. */
function withoutChains(l: Listener): Listener {
  return create(ListenerSchema, {
    ...l,
    filterChains: [],
    defaultFilterChain: undefined,
    filterChainMatcher: undefined,
  });
}

/**
 * Whether `next` may update `current` in place: they differ only in `filter_chains`,
 * `default_filter_chain` and `filter_chain_matcher`, and `next` has a filter chain (Envoy
 * replaces a listener whose update has none).
 */
export function filterChainOnlyChange(current: Listener, next: Listener): boolean {
  return next.filterChains.length > 0 &&
    equals(ListenerSchema, withoutChains(current), withoutChains(next));
}

/** How many chains of `current` (the default one included) `next` no longer has. */
export function removedFilterChains(current: Listener, next: Listener): number {
  const all = (l: Listener) =>
    l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
  const kept = all(next);
  return all(current).filter((c) => !kept.some((k) => equals(FilterChainSchema, c, k))).length;
}
