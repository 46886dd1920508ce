/**
 * How a listener update applies (Envoy's `ListenerMessageUtil::filterChainOnlyChange` and
 * `supportUpdateFilterChain`): when only the filter chains changed, the listener is updated in
 * place (its socket and unchanged chains stay, the connections of removed chains drain);
 * anything else replaces the whole listener.
 *
 * @module
 */
import { create, equals } from "@bufbuild/protobuf";
import { messageSchema } from "../config/api.ts";
import type { Listener } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import type { FilterChain } from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const filterChainSchema = () => messageSchema<FilterChain>("envoy.config.listener.v3.FilterChain");
const listenerSchema = () => messageSchema<Listener>("envoy.config.listener.v3.Listener");

/** `l` without the fields an in-place update may change. */
function withoutChains(l: Listener): Listener {
  return create(listenerSchema(), {
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
    equals(listenerSchema(), withoutChains(current), withoutChains(next));
}

/** How many chains of `current` (the default one included) `next` no longer has. */
export function removedFilterChains(current: Listener, next: Listener): number {
  const all = (l: Listener) =>
    l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
  const kept = all(next);
  return all(current).filter((c) => !kept.some((k) => equals(filterChainSchema(), c, k))).length;
}
