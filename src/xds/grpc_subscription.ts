/**
 * gRPC xDS subscriptions (`api_config_source` GRPC and DELTA_GRPC, and `ads: {}` over the
 * bootstrap's `ads_config`): each subscription is a watch on a stream's multiplexer. ADS
 * subscriptions share one stream; a per-type source gets a stream of its own to the type's
 * discovery service, as Envoy does. The streams run on denvoy's gRPC client over the source's
 * `envoy_grpc` cluster.
 *
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type {
  ApiConfigSource,
  ConfigSource,
} from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import type { AggregatedDiscoveryService } from "../../proto/gen/envoy/service/discovery/v3/ads_pb.ts";
import type { ClusterDiscoveryService } from "../../proto/gen/envoy/service/cluster/v3/cds_pb.ts";
import type { ListenerDiscoveryService } from "../../proto/gen/envoy/service/listener/v3/lds_pb.ts";
import type {
  RouteDiscoveryService,
  VirtualHostDiscoveryService,
} from "../../proto/gen/envoy/service/route/v3/rds_pb.ts";
import type { ScopedRoutesDiscoveryService } from "../../proto/gen/envoy/service/route/v3/srds_pb.ts";
import type { EndpointDiscoveryService } from "../../proto/gen/envoy/service/endpoint/v3/eds_pb.ts";
import type { SecretDiscoveryService } from "../../proto/gen/envoy/service/secret/v3/sds_pb.ts";
import type { RuntimeDiscoveryService } from "../../proto/gen/envoy/service/runtime/v3/rtds_pb.ts";
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { getLogger } from "../common/logger.ts";
import { serviceDesc } from "../config/api.ts";
import type { DescService } from "@bufbuild/protobuf";
import { clusterTransport, googleGrpcTransport, grpcClient } from "../grpc/grpc_client.ts";
import type { ClusterHttpDeps } from "../grpc/cluster_http_client.ts";
import type { Scope } from "../stats/store.ts";
import type { DecodeContext } from "./decode.ts";
import {
  adsCalls,
  ControlPlaneStats,
  DeltaGrpcStream,
  type OpenCall,
  SotwGrpcStream,
  type StreamListener,
} from "./grpc_stream.ts";
import { requestLimiter } from "./rate_limit.ts";
import type { ResourceType } from "./resource_types.ts";
import { SubscriptionBase, type SubscriptionCallbacks } from "./subscription.ts";
import type { SubscriptionStats } from "./subscription_stats.ts";
import { normalName } from "./xdstp.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const aggregatedDiscoveryService = () =>
  serviceDesc<typeof AggregatedDiscoveryService>(
    "envoy.service.discovery.v3.AggregatedDiscoveryService",
  );
const clusterDiscoveryService = () =>
  serviceDesc<typeof ClusterDiscoveryService>("envoy.service.cluster.v3.ClusterDiscoveryService");
const endpointDiscoveryService = () =>
  serviceDesc<typeof EndpointDiscoveryService>(
    "envoy.service.endpoint.v3.EndpointDiscoveryService",
  );
const listenerDiscoveryService = () =>
  serviceDesc<typeof ListenerDiscoveryService>(
    "envoy.service.listener.v3.ListenerDiscoveryService",
  );
const routeDiscoveryService = () =>
  serviceDesc<typeof RouteDiscoveryService>("envoy.service.route.v3.RouteDiscoveryService");
const runtimeDiscoveryService = () =>
  serviceDesc<typeof RuntimeDiscoveryService>("envoy.service.runtime.v3.RuntimeDiscoveryService");
const scopedRoutesDiscoveryService = () =>
  serviceDesc<typeof ScopedRoutesDiscoveryService>(
    "envoy.service.route.v3.ScopedRoutesDiscoveryService",
  );
const secretDiscoveryService = () =>
  serviceDesc<typeof SecretDiscoveryService>("envoy.service.secret.v3.SecretDiscoveryService");
const virtualHostDiscoveryService = () =>
  serviceDesc<typeof VirtualHostDiscoveryService>(
    "envoy.service.route.v3.VirtualHostDiscoveryService",
  );

const log = getLogger("config");

/** `ApiConfigSource.ApiType` values of the gRPC transports. */
export const API_GRPC = 2;
export const API_DELTA_GRPC = 3;
/** `AGGREGATED_DELTA_GRPC`: an xdstp authority's delta ADS stream. */
const API_AGGREGATED_DELTA_GRPC = 6;

type AnyStream = SotwGrpcStream | DeltaGrpcStream;

/** A subscription watching a gRPC stream. */
export class GrpcSubscription extends SubscriptionBase implements StreamListener {
  #unwatch: (() => void) | undefined;

  constructor(
    readonly stream: AnyStream,
    public names: string[],
    type: ResourceType,
    stats: SubscriptionStats,
    callbacks: SubscriptionCallbacks,
    initialFetchTimeoutMs: number,
    where: string,
  ) {
    super(type, stats, callbacks, initialFetchTimeoutMs, where);
    // The mux compares xdstp:// names in their normal form, as Envoy's watch map does.
    this.names = names.map(normalName);
  }

  protected begin(): void {
    this.stream.listeners.add(this);
    this.#unwatch = this.stream.mux.watch(this.type, {
      names: this.names,
      deliver: (result) => this.deliver(result),
    });
    this.stream.start();
  }

  protected end(): void {
    this.stream.listeners.delete(this);
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  /**
   * Changes the names of interest (VHDS asks for more virtual hosts on demand): the new
   * watch subscribes to what the old one lacked before the old one goes.
   */
  setNames(names: readonly string[]): void {
    this.names = names.map(normalName);
    if (!this.#unwatch) return;
    const old = this.#unwatch;
    this.#unwatch = this.stream.mux.watch(this.type, {
      names: this.names,
      deliver: (result) => this.deliver(result),
    });
    old();
  }

  /**
   * A stream failure is not a config failure: counted, and the subscription keeps waiting
   * (its initial fetch ends with the timeout), as Envoy's GrpcSubscriptionImpl.
   */
  onStreamFailure(detail: string): void {
    this.stats.updateFailure.inc();
    log.debug(`${this.type.service} ${this.where}: gRPC stream failure: ${detail}`);
  }
}

/** What the gRPC transports need of the server. */
export interface GrpcXdsDeps extends ClusterHttpDeps {
  /** The node (proto JSON) streams carry. */
  node: JsonObject;
  decode: DecodeContext;
  stats: Scope;
  /** The bootstrap's `ads_config`. */
  adsConfig?: ApiConfigSource;
  /** Throws when cluster `name` cannot carry a config source (missing, dynamic, EDS). */
  checkCluster(name: string): void;
}

/** The gRPC xDS streams of a server: the ADS stream, and per-type streams. */
export class GrpcXds {
  #ads: AnyStream | undefined;
  /** The ADS streams of the bootstrap's xdstp config sources. */
  readonly #authorities = new Map<ConfigSource, AnyStream>();
  readonly #streams = new Set<AnyStream>();
  readonly #stats: ControlPlaneStats;

  constructor(readonly deps: GrpcXdsDeps) {
    this.#stats = new ControlPlaneStats(deps.stats);
  }

  /** A client of `service` to the source's gRPC service; `name` for logs. */
  #client<T extends DescService>(service: T, api: ApiConfigSource) {
    const svc = api.grpcServices[0]?.targetSpecifier;
    if (svc?.case === "googleGrpc") {
      const g = svc.value;
      const transport = googleGrpcTransport(this.deps.pools, g.targetUri, g.statPrefix);
      return { client: grpcClient(service, transport), cluster: g.targetUri };
    }
    if (svc?.case !== "envoyGrpc") throw new Error("a gRPC config source needs envoy_grpc");
    const cluster = svc.value.clusterName;
    this.deps.checkCluster(cluster);
    const info = this.deps.clusterManager.get(cluster)!.info;
    if (info.upstreamProtocol === undefined) {
      throw new Error(
        `cluster '${cluster}' of a gRPC config source must use HTTP/2 ` +
          "(typed_extension_protocol_options: http2_protocol_options)",
      );
    }
    const transport = clusterTransport(this.deps, cluster, svc.value.authority || undefined);
    return { client: grpcClient(service, transport), cluster };
  }

  #stream(
    api: ApiConfigSource,
    name: string,
    sotw: OpenCall<DiscoveryRequest, DiscoveryResponse>,
    delta: OpenCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse>,
  ): AnyStream {
    const d = this.deps;
    const limiter = requestLimiter(api.rateLimitSettings);
    const s = api.apiType === API_DELTA_GRPC || api.apiType === API_AGGREGATED_DELTA_GRPC
      ? new DeltaGrpcStream(name, delta, d.decode, d.node, this.#stats, undefined, limiter)
      : new SotwGrpcStream(
        name,
        sotw,
        d.decode,
        d.node,
        api.setNodeOnFirstMessageOnly,
        this.#stats,
        undefined,
        limiter,
      );
    this.#streams.add(s);
    return s;
  }

  /**
   * A subscription to `type` on `stream` (from `ads()` or `perType()`), made here so that
   * `config_source.ts` needs no value of this module (see there).
   */
  subscription(
    stream: AnyStream,
    names: string[],
    type: ResourceType,
    stats: SubscriptionStats,
    callbacks: SubscriptionCallbacks,
    initialFetchTimeoutMs: number,
    where: string,
  ): GrpcSubscription {
    return new GrpcSubscription(
      stream,
      names,
      type,
      stats,
      callbacks,
      initialFetchTimeoutMs,
      where,
    );
  }

  /** The ADS stream (opened by its first subscription). */
  ads(): AnyStream {
    if (this.#ads) return this.#ads;
    const api = this.deps.adsConfig;
    if (!api) {
      throw new Error(
        "ADS must be configured to support an ADS config source (dynamic_resources.ads_config)",
      );
    }
    const { client, cluster } = this.#client(aggregatedDiscoveryService(), api);
    const calls = adsCalls(client);
    this.#ads = this.#stream(
      api,
      `StreamAggregatedResources (${cluster})`,
      calls.sotw,
      calls.delta,
    );
    return this.#ads;
  }

  /**
   * The ADS stream of an xdstp config source (a bootstrap `config_sources` entry or the
   * `default_config_source`: AGGREGATED_GRPC or AGGREGATED_DELTA_GRPC), opened by its first
   * subscription.
   */
  authority(cs: ConfigSource): AnyStream {
    let s = this.#authorities.get(cs);
    if (s) return s;
    const spec = cs.configSourceSpecifier;
    if (spec.case !== "apiConfigSource") {
      throw new Error(
        "Only api_config_source type is currently supported for xdstp-based config sources.",
      );
    }
    const { client, cluster } = this.#client(aggregatedDiscoveryService(), spec.value);
    const calls = adsCalls(client);
    const names = cs.authorities.map((a) => a.name).join(",") || "default";
    s = this.#stream(
      spec.value,
      `StreamAggregatedResources xdstp ${names} (${cluster})`,
      calls.sotw,
      calls.delta,
    );
    this.#authorities.set(cs, s);
    return s;
  }

  /** A stream of its own for `type` from `api` (GRPC or DELTA_GRPC). */
  perType(api: ApiConfigSource, type: ResourceType): AnyStream {
    let sotw: OpenCall<DiscoveryRequest, DiscoveryResponse>;
    let delta: OpenCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
    let cluster: string;
    switch (type.service) {
      case "CDS": {
        const c = this.#client(clusterDiscoveryService(), api);
        cluster = c.cluster;
        sotw = (r, signal) => c.client.streamClusters(r, { signal });
        delta = (r, signal) => c.client.deltaClusters(r, { signal });
        break;
      }
      case "LDS": {
        const c = this.#client(listenerDiscoveryService(), api);
        cluster = c.cluster;
        sotw = (r, signal) => c.client.streamListeners(r, { signal });
        delta = (r, signal) => c.client.deltaListeners(r, { signal });
        break;
      }
      case "RDS": {
        const c = this.#client(routeDiscoveryService(), api);
        cluster = c.cluster;
        sotw = (r, signal) => c.client.streamRoutes(r, { signal });
        delta = (r, signal) => c.client.deltaRoutes(r, { signal });
        break;
      }
      case "SRDS": {
        const c = this.#client(scopedRoutesDiscoveryService(), api);
        cluster = c.cluster;
        sotw = (r, signal) => c.client.streamScopedRoutes(r, { signal });
        delta = (r, signal) => c.client.deltaScopedRoutes(r, { signal });
        break;
      }
      case "VHDS": {
        // VHDS is incremental only (its service has no state-of-the-world method).
        const c = this.#client(virtualHostDiscoveryService(), api);
        cluster = c.cluster;
        sotw = () => {
          throw new Error("vhds: only 'DELTA_GRPC' is supported as an api_type.");
        };
        delta = (r, signal) => c.client.deltaVirtualHosts(r, { signal });
        break;
      }
      case "EDS": {
        const c = this.#client(endpointDiscoveryService(), api);
        cluster = c.cluster;
        sotw = (r, signal) => c.client.streamEndpoints(r, { signal });
        delta = (r, signal) => c.client.deltaEndpoints(r, { signal });
        break;
      }
      case "SDS": {
        const c = this.#client(secretDiscoveryService(), api);
        cluster = c.cluster;
        sotw = (r, signal) => c.client.streamSecrets(r, { signal });
        delta = (r, signal) => c.client.deltaSecrets(r, { signal });
        break;
      }
      case "RTDS": {
        const c = this.#client(runtimeDiscoveryService(), api);
        cluster = c.cluster;
        sotw = (r, signal) => c.client.streamRuntime(r, { signal });
        delta = (r, signal) => c.client.deltaRuntime(r, { signal });
        break;
      }
      default:
        throw new Error(`${type.service} over gRPC is not supported yet (issue 13)`);
    }
    return this.#stream(api, `${type.service} (${cluster})`, sotw, delta);
  }

  /** Closes every stream. */
  stop(): void {
    for (const s of this.#streams) s.stop();
    this.#streams.clear();
    this.#ads = undefined;
    this.#authorities.clear();
  }
}
