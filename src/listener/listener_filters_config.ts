/**
 * Builds a listener's `listener_filters` through the extension registry, each with its
 * `filter_disabled` predicate (ListenerFilterChainMatchPredicate); one with `config_discovery`
 * takes its config from ECDS (ecds_filters.ts).
 */
import type { ListenerFilter as ListenerFilterConfig } from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import type { ListenerFilterChainMatchPredicate } from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import type { ListenerFilterContext } from "../config/extensions.ts";
import { ecdsListenerFilter } from "./ecds_filters.ts";
import type { AcceptedSocket, ConfiguredListenerFilter } from "./listener_filter.ts";

type SocketPredicate = (s: AcceptedSocket) => boolean;

/** Compiles a `filter_disabled` predicate (matched against the socket's local port). */
export function compileListenerFilterPredicate(
  p: ListenerFilterChainMatchPredicate,
  at: string,
): SocketPredicate {
  const r = p.rule;
  switch (r.case) {
    case "anyMatch":
      return () => true;
    case "notMatch": {
      const q = compileListenerFilterPredicate(r.value, `${at}.not_match`);
      return (s) => !q(s);
    }
    case "orMatch": {
      const qs = r.value.rules.map((x, i) =>
        compileListenerFilterPredicate(x, `${at}.or_match.rules[${i}]`)
      );
      return (s) => qs.some((q) => q(s));
    }
    case "andMatch": {
      const qs = r.value.rules.map((x, i) =>
        compileListenerFilterPredicate(x, `${at}.and_match.rules[${i}]`)
      );
      return (s) => qs.every((q) => q(s));
    }
    case "destinationPortRange": {
      // Int32Range: start inclusive, end exclusive.
      const { start, end } = r.value;
      return (s) => s.localPort >= start && s.localPort < end;
    }
    default:
      throw new Error(`${at}: a match predicate needs a rule`);
  }
}

/**
 * The listener's filters, built in order.
 *
 * @param where the listener, for error messages.
 * @throws {Error} for filters denvoy does not implement and configs they refuse.
 */
export function buildListenerFilters(
  configs: readonly ListenerFilterConfig[],
  ctx: ListenerFilterContext,
  where: string,
): ConfiguredListenerFilter[] {
  return configs.map((f, i) => {
    const at = `${where} listener_filters[${i}]`;
    const disabled = f.filterDisabled
      ? compileListenerFilterPredicate(f.filterDisabled, `${at}.filter_disabled`)
      : undefined;
    if (f.configType.case === "configDiscovery") {
      return { filter: ecdsListenerFilter(f.name, f.configType.value, ctx), disabled };
    }
    const typeUrl = f.configType.case === "typedConfig" ? f.configType.value.typeUrl : undefined;
    const factory = typeUrl
      ? ctx.server.extensions.byTypeUrl(typeUrl)
      : ctx.server.extensions.byName(f.name);
    if (!factory?.createListenerFilter) {
      throw new Error(`${at}: listener filter '${f.name}' has no implementation`);
    }
    let filter;
    try {
      filter = factory.createListenerFilter(
        f.configType.case === "typedConfig" ? f.configType.value : undefined,
        ctx,
      );
    } catch (e) {
      throw new Error(`${at}: ${(e as Error).message}`);
    }
    return { filter, disabled };
  });
}
