/**
 * The on-demand filter (`envoy.filters.http.on_demand`): a request for which no route
 * matches, on a connection manager whose route configuration uses VHDS, waits while the
 * virtual host of its `:authority` is asked for (`<route config>/<host>` over VHDS); once the
 * next version of the route configuration arrives the request routes again: to the new
 * virtual host, or to a 404 (NR) when the control plane had none. With scoped routes, a
 * request whose scope is `on_demand` and whose route configuration is not loaded yet waits
 * while it is fetched over RDS, then routes with it (or gets a 404 when the fetch failed).
 * Without VHDS or on-demand scopes, or with a route, it does nothing. `odcds` (clusters on
 * demand) is refused.
 *
 * Envoy replays the request through the whole filter chain once its virtual host arrived
 * (recreateStream); here the request goes on from this filter with the route cleared, so the
 * filters after it (the router) see the new route.
 *
 * @module
 */
import type { ExtensionFactory, ServerContext } from "../../../../config/extensions.ts";
import type {
  FilterHeadersStatus,
  HttpFilterFactoryCb,
  StreamDecoderFilter,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import type { HeaderMap } from "../../../../http/header_map.ts";

/** The filter's well-known name. */
export const ON_DEMAND_FILTER_NAME = "envoy.filters.http.on_demand";

class OnDemandRouteUpdate implements StreamDecoderFilter {
  #waiting = false;
  #destroyed = false;

  constructor(readonly cb: StreamFilterCallbacks, readonly server: ServerContext) {}

  decodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const cb = this.cb;
    if (cb.route()) return "continue";
    const routes = this.server.routeConfigs;
    const resume = () => {
      if (this.#destroyed || !this.#waiting) return;
      this.#waiting = false;
      cb.clearRouteCache();
      cb.continueDecoding();
    };
    let asked = false;
    const scope = cb.onDemandScope?.();
    if (scope) {
      // An on-demand scope whose route configuration is not here yet.
      if (!routes || routes.loaded(scope.routeConfig)) return "continue";
      asked = routes.requestScope(scope.scopedRoutes, scope.routeConfig, resume);
    } else {
      const table = cb.routeTable?.();
      const host = headers.get(":authority");
      if (!table?.config.vhds || !host) return "continue";
      asked = routes?.requestVirtualHost(table.name, host, resume) ?? false;
    }
    if (!asked) return "continue";
    this.#waiting = true;
    return "stop";
  }

  onDestroy(): void {
    this.#destroyed = true;
  }
}

/** The filter of each stream. */
export function onDemandFilterFactory(server: ServerContext): HttpFilterFactoryCb {
  return (cb) => ({ decoder: new OnDemandRouteUpdate(cb, server) });
}

/** Factory for the on-demand filter. */
export const onDemandFactory: ExtensionFactory = {
  name: ON_DEMAND_FILTER_NAME,
  category: "envoy.filters.http",
  configTypes: ["envoy.extensions.filters.http.on_demand.v3.OnDemand"],
  // odcds (on-demand CDS) stays refused.
  fields: { implemented: { "envoy.extensions.filters.http.on_demand.v3.OnDemand": [] } },
  createHttpFilter: (_config, server) => onDemandFilterFactory(server),
};
