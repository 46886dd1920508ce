/**
 * RDS in an isolate: the current route table of each route configuration name, and the
 * connection managers that route with it. An update swaps the table of every one of them at
 * once, so new requests route with it while requests under way keep the route they matched.
 * A connection manager built before its route configuration arrived routes with an empty
 * table (every request gets 404 NR), as Envoy's does once the listener stopped warming.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { messageSchema } from "../config/api.ts";
import { RouteTable } from "../router/route_table.ts";

/** What holds a route table the provider keeps current (a connection manager's config). */
export interface RouteTableHolder {
  routeTable: RouteTable;
}

/** The route tables of one isolate, by route configuration name. */
export class RouteConfigProviders {
  readonly #tables = new Map<string, RouteTable>();
  // Weak: a listener that is gone takes its connection managers with it.
  readonly #holders = new Map<string, Set<WeakRef<RouteTableHolder>>>();
  /** Requests waiting for virtual hosts on demand (VHDS), by route configuration name. */
  readonly #waiting = new Map<string, (() => void)[]>();
  /** Asks the main thread's VHDS subscription of a route configuration for `host`. */
  onDemand: ((routeConfigName: string, host: string) => void) | undefined;
  /** Asks the main thread for the route configuration of an on-demand scope (SRDS). */
  onDemandScope: ((scopedRoutes: string, routeConfigName: string) => void) | undefined;
  /** Route configurations that arrived (an on-demand scope's needs no fetch then). */
  readonly #loaded = new Set<string>();

  /** The current table of `name` (an empty one until its configuration arrives). */
  table(name: string): RouteTable {
    let t = this.#tables.get(name);
    if (!t) {
      // The schema from the API registry: importing the generated one would boot the whole
      // route API in every worker at start-up, for a table most configs never need.
      const schema = messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
      t = new RouteTable(create(schema, { name }));
      this.#tables.set(name, t);
    }
    return t;
  }

  /** Keeps `holder.routeTable` the current table of `name` from now on. */
  track(name: string, holder: RouteTableHolder): void {
    let set = this.#holders.get(name);
    if (!set) this.#holders.set(name, set = new Set());
    set.add(new WeakRef(holder));
  }

  /**
   * Compiles `config` and swaps it in for every holder of its name. Throws (changing nothing)
   * when it does not compile; the main thread compiled it already, so that is a bug.
   */
  update(config: RouteConfiguration): void {
    const table = new RouteTable(config, { fromRds: true });
    this.#tables.set(config.name, table);
    this.#loaded.add(config.name);
    const set = this.#holders.get(config.name);
    if (set) {
      for (const ref of set) {
        const h = ref.deref();
        if (h) h.routeTable = table;
        else set.delete(ref);
      }
    }
    this.settled(config.name);
  }

  /** Whether route configuration `name` arrived. */
  loaded(name: string): boolean {
    return this.#loaded.has(name);
  }

  /**
   * The fetch of route configuration `name` ended (it came, or the main thread gave up on
   * it): the requests waiting for it go on.
   */
  settled(name: string): void {
    const waiting = this.#waiting.get(name);
    if (!waiting) return;
    this.#waiting.delete(name);
    for (const resume of waiting) resume();
  }

  /**
   * An on-demand scope (Envoy's scoped RDS on demand): asks for route configuration
   * `routeConfigName` of `scoped_routes` `scopedRoutes`; `resume` runs once it arrived or its
   * fetch ended. Returns false when nothing can ask.
   */
  requestScope(scopedRoutes: string, routeConfigName: string, resume: () => void): boolean {
    if (!this.onDemandScope) return false;
    const list = this.#waiting.get(routeConfigName);
    if (list) list.push(resume);
    else this.#waiting.set(routeConfigName, [resume]);
    // One ask per route configuration while its fetch is under way.
    if (!list) this.onDemandScope(scopedRoutes, routeConfigName);
    return true;
  }

  /**
   * VHDS on demand (Envoy's requestVirtualHostsUpdate): asks for the virtual host of `host`
   * in route configuration `name`; `resume` runs once the next version of it arrives.
   * Returns false when nothing can ask (no VHDS here).
   */
  requestVirtualHost(name: string, host: string, resume: () => void): boolean {
    if (!this.onDemand) return false;
    const list = this.#waiting.get(name);
    if (list) list.push(resume);
    else this.#waiting.set(name, [resume]);
    this.onDemand(name, host);
    return true;
  }
}
