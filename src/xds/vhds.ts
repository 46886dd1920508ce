/**
 * VHDS (Envoy's VhdsSubscription): the virtual hosts of a route configuration from RDS that
 * sets `vhds`, over incremental xDS. The subscription starts with the route configuration's
 * name (every virtual host of that namespace, `<route config>/<virtual host>`); a request for
 * a host no virtual host matches (the `on_demand` filter) subscribes to `<route config>/<host>`
 * too. The virtual hosts received join the route configuration's own; each change rebuilds it.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { messageSchema } from "../config/api.ts";
import type {
  ApiConfigSource,
  ConfigSource,
} from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import type { VirtualHost } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { API_DELTA_GRPC } from "./grpc_subscription.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const routeConfigurationSchema = () =>
  messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");

/**
 * Throws Envoy's error when `source` cannot carry VHDS: only incremental gRPC, directly or
 * over an ADS stream that is itself incremental.
 */
export function checkVhdsSource(source: ConfigSource, adsConfig: ApiConfigSource | undefined) {
  const spec = source.configSourceSpecifier;
  if (spec.case === "ads") {
    if (!adsConfig) {
      throw new Error("vhds: ADS config source specified but no ADS configured in bootstrap.");
    }
    if (adsConfig.apiType !== API_DELTA_GRPC) {
      throw new Error("vhds: ADS must use DELTA_GRPC api_type when used as VHDS config source.");
    }
    return;
  }
  if (spec.case !== "apiConfigSource" || spec.value.apiType !== API_DELTA_GRPC) {
    throw new Error("vhds: only 'DELTA_GRPC' is supported as an api_type.");
  }
}

/** The name a request for `host` subscribes to (Envoy's domainNameToAlias). */
export function vhdsAlias(routeConfigName: string, host: string): string {
  return `${routeConfigName}/${host}`;
}

/** `rc` with the virtual hosts VHDS brought after its own. */
export function withVirtualHosts(
  rc: RouteConfiguration,
  hosts: readonly VirtualHost[],
): RouteConfiguration {
  if (hosts.length === 0) return rc;
  return create(routeConfigurationSchema(), {
    ...rc,
    virtualHosts: [...rc.virtualHosts, ...hosts],
  });
}

/** The names a VHDS subscription of `routeConfigName` wants: its namespace, hosts asked for. */
export class VhdsInterest {
  readonly #names: Set<string>;

  constructor(readonly routeConfigName: string) {
    this.#names = new Set([routeConfigName]);
  }

  /** Adds the alias of `host`; returns whether it is new (the subscription must say so). */
  demand(host: string): boolean {
    const alias = vhdsAlias(this.routeConfigName, host);
    if (this.#names.has(alias)) return false;
    this.#names.add(alias);
    return true;
  }

  get names(): string[] {
    return [...this.#names];
  }
}
