/**
 * Finding an HTTP filter's per-route configs (`typed_per_filter_config`) on the matched route,
 * as Envoy's filter manager does: by the filter's name in its chain (`HttpFilter.name`) and,
 * when no level has a config under that name, by the extension's own name. The levels, from
 * least to most specific: route configuration, virtual host, route, weighted cluster.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { unpackAny } from "../../../../config/any.ts";
import type { MatchedRoute } from "../../../../router/route_table.ts";

/** The per-filter config maps of `m`'s levels, least specific first. */
function levels(m: MatchedRoute): (ReadonlyMap<string, Any> | undefined)[] {
  const vh = m.virtualHost;
  return [
    vh.routeConfig.typedPerFilterConfig,
    vh.typedPerFilterConfig,
    m.route.typedPerFilterConfig,
    m.weightedCluster?.typedPerFilterConfig,
  ];
}

function configsNamed(m: MatchedRoute, name: string): Any[] {
  const out: Any[] = [];
  let inherited: Any | undefined;
  // Each level's map holds its parent's entries too (route_entry.ts mergePerFilterConfig): a
  // level has a config of its own when its entry is not the one it inherited.
  for (const map of levels(m)) {
    if (map === undefined) continue;
    const c = map.get(name);
    if (c !== undefined && c !== inherited) out.push(c);
    inherited = c;
  }
  return out;
}

/**
 * Every level's config of the filter, least specific first (Envoy's traversePerFilterConfig):
 * those under `configName`, else those under `filterName`.
 */
export function allPerFilterConfigs(
  m: MatchedRoute,
  configName: string,
  filterName: string,
): Any[] {
  const found = configsNamed(m, configName);
  if (found.length > 0 || configName === filterName) return found;
  return configsNamed(m, filterName);
}

/** The most specific level's config of the filter (Envoy's mostSpecificPerFilterConfig). */
export function mostSpecificPerFilterConfig(
  m: MatchedRoute,
  configName: string,
  filterName: string,
): Any | undefined {
  const most = (name: string) =>
    (m.weightedCluster?.typedPerFilterConfig ?? m.route.typedPerFilterConfig).get(name);
  return most(configName) ?? (configName === filterName ? undefined : most(filterName));
}

/**
 * A lookup that compiles each per-route config of type `typeName` once, keyed by its Any
 * (route tables keep their Anys for their lifetime); configs of other types give undefined.
 * Per-route configs were validated with their route configuration (the factory's `validate`),
 * so `compile` is not expected to throw here.
 */
export function compiledPerRouteConfig<M extends Message, T>(
  typeName: string,
  compile: (config: M) => T,
): (config: Any) => T | undefined {
  const compiled = new WeakMap<Any, T | null>();
  return (config) => {
    let c = compiled.get(config);
    if (c === undefined) {
      const msg = unpackAny<M>(config);
      c = msg?.$typeName === typeName ? compile(msg) : null;
      compiled.set(config, c);
    }
    return c ?? undefined;
  };
}
