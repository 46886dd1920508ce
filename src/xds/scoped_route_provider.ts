/**
 * Scoped routes in an isolate (Envoy's scoped route config providers): the scopes of each
 * `scoped_routes`, inline (`scoped_route_configurations_list`) or from SRDS
 * (`scoped_rds`), each scope routing with a route configuration from RDS (kept current by
 * the route config providers) or its own inline `route_configuration`. SRDS updates replace
 * a set's scopes whole; requests under way keep the route they matched.
 *
 * @module
 */
import type { ScopedRouteConfiguration } from "../../proto/gen/envoy/config/route/v3/scoped_route_pb.ts";
import type { ScopedRoutes } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { RouteTable } from "../router/route_table.ts";
import {
  checkScopes,
  ScopedRouteSet,
  scopeKey,
  ScopeKeyBuilder,
  type ScopeTable,
} from "../router/scoped_routes.ts";
import { collectionProblems, configSourceProblems } from "./config_source.ts";
import { RDS, SRDS } from "./resource_types.ts";
import type { RouteConfigProviders } from "./route_config_provider.ts";

/** A problem of a `scoped_routes` config, with the field it is in (relative to it). */
export interface ScopedRoutesProblem {
  message: string;
  field: string;
  unsupported: boolean;
}

/** What Envoy rejects in `sr`, and what denvoy does not implement. */
export function scopedRoutesProblems(sr: ScopedRoutes): ScopedRoutesProblem[] {
  const out: ScopedRoutesProblem[] = [];
  const report = (message: string, field: string, unsupported = false) =>
    out.push({ message, field, unsupported });
  try {
    if (!sr.scopeKeyBuilder) throw new Error("scope_key_builder: required");
    new ScopeKeyBuilder(sr.scopeKeyBuilder);
  } catch (e) {
    report((e as Error).message, "scope_key_builder");
  }
  const locator = sr.configSpecifier.case === "scopedRds"
    ? sr.configSpecifier.value.srdsResourcesLocator
    : "";
  const sources = [
    { cs: sr.rdsConfigSource, type: RDS, field: "rds_config_source" },
    // A glob collection's source is checked with the collection (below).
    ...(sr.configSpecifier.case === "scopedRds" && !locator
      ? [{
        cs: sr.configSpecifier.value.scopedRdsConfigSource,
        type: SRDS,
        field: "scoped_rds.scoped_rds_config_source",
      }]
      : []),
  ];
  for (const { cs, type, field } of sources) {
    for (const p of configSourceProblems(cs, type)) {
      report(p.message, `${field}${p.field ? `.${p.field}` : ""}`, p.unsupported);
    }
  }
  const spec = sr.configSpecifier;
  if (spec.case === "scopedRds" && locator) {
    for (const p of collectionProblems(locator, spec.value.scopedRdsConfigSource, SRDS)) {
      const base = p.of === "locator"
        ? "scoped_rds.srds_resources_locator"
        : "scoped_rds.scoped_rds_config_source";
      report(p.message, p.field ? `${base}.${p.field}` : base, p.unsupported);
    }
  }
  if (spec.case === "scopedRouteConfigurationsList") {
    const scopes = spec.value.scopedRouteConfigurations;
    try {
      checkScopes(scopes);
      for (const s of scopes) if (s.routeConfiguration) new RouteTable(s.routeConfiguration);
    } catch (e) {
      const msg = (e as Error).message;
      report(msg, "scoped_route_configurations_list", /not supported/.test(msg));
    }
  } else if (!spec.case) {
    report("needs scoped_route_configurations_list or scoped_rds", "config_specifier");
  }
  return out;
}

/** The tables of `scopes` by key, RDS ones kept current by `routes`. */
function scopeTables(
  scopes: readonly ScopedRouteConfiguration[],
  routes: RouteConfigProviders,
): Map<string, ScopeTable> {
  const out = new Map<string, ScopeTable>();
  for (const s of scopes) {
    if (s.routeConfiguration) {
      out.set(scopeKey(s), { routeTable: new RouteTable(s.routeConfiguration, { fromRds: true }) });
      continue;
    }
    const holder = {
      routeTable: routes.table(s.routeConfigurationName),
      ...(s.onDemand && { onDemand: s.routeConfigurationName }),
    };
    routes.track(s.routeConfigurationName, holder);
    out.set(scopeKey(s), holder);
  }
  return out;
}

/** The scoped route sets of one isolate that SRDS feeds, by `scoped_routes` name. */
export class ScopedRouteProviders {
  readonly #sets = new Map<string, ScopedRouteSet[]>();
  readonly #current = new Map<string, ScopedRouteConfiguration[]>();

  constructor(readonly routes: RouteConfigProviders) {}

  /**
   * The scopes of `sr` for a connection manager: inline ones now, SRDS ones as they arrive
   * (none until then: every request gets 404).
   */
  build(sr: ScopedRoutes): ScopedRouteSet {
    const set = new ScopedRouteSet(sr.name, new ScopeKeyBuilder(sr.scopeKeyBuilder!));
    const spec = sr.configSpecifier;
    if (spec.case === "scopedRouteConfigurationsList") {
      set.replace(scopeTables(spec.value.scopedRouteConfigurations, this.routes));
      return set;
    }
    let sets = this.#sets.get(sr.name);
    if (!sets) this.#sets.set(sr.name, sets = []);
    sets.push(set);
    const current = this.#current.get(sr.name);
    if (current) set.replace(scopeTables(current, this.routes));
    return set;
  }

  /** SRDS brought `scopes` for the `scoped_routes` named `name`. */
  update(name: string, scopes: ScopedRouteConfiguration[]): void {
    this.#current.set(name, scopes);
    for (const set of this.#sets.get(name) ?? []) set.replace(scopeTables(scopes, this.routes));
  }
}
