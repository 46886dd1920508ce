/**
 * The xDS resource types by type URL: which discovery service carries each, and whether
 * denvoy applies it yet. A type that is known but not applied is refused where a config
 * source asks for it, and a response carrying it is rejected, never half-applied.
 *
 * @module
 */

const PREFIX = "type.googleapis.com/";

/** One xDS resource type. */
export interface ResourceType {
  /** `type.googleapis.com/<message>`. */
  readonly typeUrl: string;
  /** The proto message name. */
  readonly typeName: string;
  /** Envoy's short name of the discovery service (LDS, CDS, ...), for logs and errors. */
  readonly service: string;
  /** Whether denvoy applies resources of this type yet. */
  readonly supported: boolean;
  /**
   * Resource names are `<namespace>/<name>` and a subscription to a namespace gets every
   * resource in it (Envoy's namespace matching, VHDS: `<route config>/<virtual host>`).
   */
  readonly namespaced?: boolean;
}

function type(
  typeName: string,
  service: string,
  supported: boolean,
  namespaced = false,
): ResourceType {
  return { typeUrl: PREFIX + typeName, typeName, service, supported, namespaced };
}

/** Listener discovery. */
export const LDS = type("envoy.config.listener.v3.Listener", "LDS", true);
/** Cluster discovery. */
export const CDS = type("envoy.config.cluster.v3.Cluster", "CDS", true);
/** Endpoint discovery. */
export const EDS = type("envoy.config.endpoint.v3.ClusterLoadAssignment", "EDS", true);
/** Route discovery. */
export const RDS = type("envoy.config.route.v3.RouteConfiguration", "RDS", true);
/** Scoped route configurations (the HCM's `scoped_rds`). */
export const SRDS = type("envoy.config.route.v3.ScopedRouteConfiguration", "SRDS", true);
/** Virtual hosts on demand (delta only), named `<route config>/<virtual host>`. */
export const VHDS = type("envoy.config.route.v3.VirtualHost", "VHDS", true, true);

/** Secret discovery (TLS certificates and validation contexts). */
export const SDS = type("envoy.extensions.transport_sockets.tls.v3.Secret", "SDS", true);

/** Runtime discovery (RTDS layers). */
export const RTDS = type("envoy.service.runtime.v3.Runtime", "RTDS", true);

/** Extension config discovery (ECDS filter configs). */
export const ECDS = type("envoy.config.core.v3.TypedExtensionConfig", "ECDS", true);

/** Every type xDS defines, by type URL; those not supported are refused (issue 13). */
export const RESOURCE_TYPES: ReadonlyMap<string, ResourceType> = new Map(
  [
    LDS,
    CDS,
    EDS,
    RDS,
    SDS,
    RTDS,
    ECDS,
    VHDS,
    SRDS,
    type("envoy.config.endpoint.v3.LbEndpoint", "LEDS", false),
  ].map((t) => [t.typeUrl, t]),
);
