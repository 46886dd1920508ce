/**
 * Scoped routes (the HCM's `scoped_routes`, Envoy's ScopedConfigImpl): a request's scope key
 * is built from its headers (`scope_key_builder`: one fragment per header value extractor);
 * the scope with that key names the route configuration the request routes with. A request
 * whose key cannot be built, or that no scope has, has no route (404 NR).
 *
 * @module
 */
import type { ScopedRouteConfiguration } from "../../proto/gen/envoy/config/route/v3/scoped_route_pb.ts";
import type { ScopedRoutes_ScopeKeyBuilder } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import type { HeaderMap } from "../http/header_map.ts";
import type { RouteTable } from "./route_table.ts";

/** Joins key fragments: header values cannot hold a NUL, so no two keys collide. */
const SEP = "\u0000";

/** Builds one fragment of a scope key from the request headers; undefined: none. */
type FragmentBuilder = (headers: HeaderMap) => string | undefined;

function fragmentBuilder(
  b: ScopedRoutes_ScopeKeyBuilder["fragments"][number],
  where: string,
): FragmentBuilder {
  if (b.type.case !== "headerValueExtractor") {
    throw new Error(`${where}: a fragment builder needs a header_value_extractor`);
  }
  const x = b.type.value;
  const name = x.name.toLowerCase();
  const sep = x.elementSeparator;
  const extract = x.extractType;
  if (sep === "") {
    if (extract.case === "index" && extract.value > 0) {
      throw new Error(`${where}: Index > 0 for empty string element separator.`);
    }
    if (extract.case === "element") {
      throw new Error(`${where}: Element extractor with empty string element separator.`);
    }
    return (headers) => headers.get(name);
  }
  if (extract.case === "element") {
    const { key, separator } = extract.value;
    return (headers) => {
      const value = headers.get(name);
      if (value === undefined) return undefined;
      for (const element of value.split(sep)) {
        const at = element.indexOf(separator);
        if (at >= 0 && element.slice(0, at) === key) return element.slice(at + separator.length);
      }
      return undefined;
    };
  }
  const index = extract.case === "index" ? extract.value : 0;
  return (headers) => {
    const value = headers.get(name);
    return value === undefined ? undefined : value.split(sep)[index];
  };
}

/** Envoy's ScopeKeyBuilderImpl: the scope key of a request, from `scope_key_builder`. */
export class ScopeKeyBuilder {
  readonly #fragments: FragmentBuilder[];

  /** @throws {Error} for what Envoy rejects (no fragment, an index with no separator). */
  constructor(config: ScopedRoutes_ScopeKeyBuilder, where = "scope_key_builder") {
    if (config.fragments.length === 0) throw new Error(`${where}: fragments: needs at least one`);
    this.#fragments = config.fragments.map((f, i) =>
      fragmentBuilder(f, `${where}.fragments[${i}]`)
    );
  }

  /** The request's scope key, or undefined when a fragment has no value. */
  key(headers: HeaderMap): string | undefined {
    let key = "";
    for (let i = 0; i < this.#fragments.length; i++) {
      const f = this.#fragments[i](headers);
      if (f === undefined) return undefined;
      key = i === 0 ? f : key + SEP + f;
    }
    return key;
  }
}

/** The key of a scope, comparable with {@linkcode ScopeKeyBuilder.key}. */
export function scopeKey(scope: ScopedRouteConfiguration): string {
  return (scope.key?.fragments ?? [])
    .map((f) => f.type.case === "stringKey" ? f.type.value : "")
    .join(SEP);
}

/**
 * Throws Envoy's errors for a set of scopes: each names a route configuration, no two share
 * a name or a key. `on_demand` scopes are for SRDS only (`onDemand`): their route
 * configuration loads when a request first needs it (the `on_demand` HTTP filter).
 */
export function checkScopes(
  scopes: readonly ScopedRouteConfiguration[],
  onDemand = false,
): void {
  const names = new Set<string>();
  const keys = new Map<string, string>();
  for (const s of scopes) {
    if (s.onDemand && !onDemand) {
      throw new Error(
        `scoped route '${s.name}': on_demand scopes are not supported in ` +
          "scoped_route_configurations_list (only over SRDS)",
      );
    }
    if (!s.routeConfigurationName && !s.routeConfiguration) {
      throw new Error(`scoped route '${s.name}': names no route configuration`);
    }
    if (names.has(s.name)) {
      throw new Error(`duplicate scoped route configuration '${s.name}' found`);
    }
    names.add(s.name);
    const key = scopeKey(s);
    const other = keys.get(key);
    if (other !== undefined) {
      throw new Error(
        `scope key conflict found, first scope is '${other}', second scope is '${s.name}'`,
      );
    }
    keys.set(key, s.name);
  }
}

/** What holds a scope's current route table (an RDS provider keeps it current). */
export interface ScopeTable {
  routeTable: RouteTable;
  /** An `on_demand` scope: the route configuration it loads when a request needs it. */
  readonly onDemand?: string;
}

/** The scopes of one `scoped_routes`, by key; replaced whole when SRDS brings a new set. */
export class ScopedRouteSet {
  #scopes = new Map<string, ScopeTable>();

  constructor(readonly name: string, readonly keyBuilder: ScopeKeyBuilder) {}

  /** The route table of the request's scope, or undefined (no key, no such scope). */
  table(headers: HeaderMap): RouteTable | undefined {
    return this.scope(headers)?.routeTable;
  }

  /** The request's scope, or undefined (no key, no such scope). */
  scope(headers: HeaderMap): ScopeTable | undefined {
    const key = this.keyBuilder.key(headers);
    return key === undefined ? undefined : this.#scopes.get(key);
  }

  /** Serves `scopes` (key → table) from now on. */
  replace(scopes: Map<string, ScopeTable>): void {
    this.#scopes = scopes;
  }
}
