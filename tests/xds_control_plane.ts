/**
 * A test xDS control plane on a different gRPC stack from the proxy's (@grpc/grpc-js, messages
 * encoded with @bufbuild/protobuf): serves `resources` by type URL over ADS (state of the
 * world and delta) and over the per-type SotW services of CDS, LDS, SDS, RTDS and ECDS;
 * answers a stream's first request of a type and every request whose resource names changed;
 * records every request (ACKs, NACKs with their error_detail). Also the fixtures the xDS
 * tests share (type URLs, an ADS bootstrap, a cluster, listener and route).
 *
 * @module
 */
// @ts-types="./grpc_js.d.ts"
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { create, fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { apiRegistry } from "../src/config/api.ts";
import { staticCluster } from "./proxy.ts";

export const P = "type.googleapis.com/";
export const CLUSTER = P + "envoy.config.cluster.v3.Cluster";
export const LISTENER = P + "envoy.config.listener.v3.Listener";
export const ROUTE = P + "envoy.config.route.v3.RouteConfiguration";
export const ENDPOINT = P + "envoy.config.endpoint.v3.ClusterLoadAssignment";
export const ADS =
  "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
export const DELTA_ADS =
  "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

/** The duplex call of a grpc-js bidirectional streaming handler (what the test uses). */
export interface Call {
  on(event: "data", f: (req: DiscoveryRequest | DeltaDiscoveryRequest) => void): void;
  on(event: "end" | "close", f: () => void): void;
  on(event: "error", f: (e: Error) => void): void;
  write(b: Buffer): void;
  end(): void;
}

/** A stream of the control plane: SotW or delta. */
export interface PlaneStream {
  call: Call;
  delta: boolean;
  /** The names last asked for, by type URL. */
  names: Map<string, string>;
}

/** The per-type SotW services the control plane serves beside ADS. */
const PER_TYPE: Record<string, string> = {
  StreamClusters: "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters",
  StreamListeners: "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners",
  StreamSecrets: "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets",
  StreamRuntime: "/envoy.service.runtime.v3.RuntimeDiscoveryService/StreamRuntime",
  StreamExtensionConfigs:
    "/envoy.service.extension.v3.ExtensionConfigDiscoveryService/StreamExtensionConfigs",
};

/** The name of a resource (JSON with `@type`). */
function nameOf(r: unknown): string {
  const o = r as { name?: string; cluster_name?: string };
  return o.name ?? o.cluster_name ?? "";
}

/**
 * A control plane serving `resources` by type over ADS (SotW and delta) and the per-type
 * SotW services; records every request.
 */
export class ControlPlane {
  readonly requests: DiscoveryRequest[] = [];
  readonly deltaRequests: DeltaDiscoveryRequest[] = [];
  readonly streams = new Set<PlaneStream>();
  readonly versions = new Map<string, number>();
  #server: grpc.Server | undefined;
  #nonce = 0;
  #waiters: (() => void)[] = [];
  port = 0;

  constructor(readonly resources: Map<string, unknown[]>) {}

  async start(port = 0): Promise<void> {
    const server = new grpc.Server();
    const method = <T>(path: string, schema: T) => ({
      path,
      requestStream: true,
      responseStream: true,
      requestSerialize: () => Buffer.alloc(0),
      // deno-lint-ignore no-explicit-any
      requestDeserialize: (b: Uint8Array) => fromBinary(schema as any, b),
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    });
    const sotw = (call: Call) => {
      const st: PlaneStream = { call, delta: false, names: new Map() };
      this.streams.add(st);
      call.on("data", (m) => {
        const req = m as DiscoveryRequest;
        this.requests.push(req);
        for (const w of this.#waiters.splice(0)) w();
        // A new stream's request for a type, or new resource names: answer with the type's
        // current state.
        const names = req.resourceNames.join(",");
        const changed = st.names.get(req.typeUrl) !== names;
        st.names.set(req.typeUrl, names);
        if (req.responseNonce === "" || changed) this.#send(st, req.typeUrl);
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
      call.on("close", () => this.streams.delete(st));
    };
    const delta = (call: Call) => {
      const st: PlaneStream = { call, delta: true, names: new Map() };
      this.streams.add(st);
      call.on("data", (m) => {
        const req = m as DeltaDiscoveryRequest;
        this.deltaRequests.push(req);
        for (const w of this.#waiters.splice(0)) w();
        if (req.responseNonce === "" || req.resourceNamesSubscribe.length > 0) {
          this.#send(st, req.typeUrl);
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
      call.on("close", () => this.streams.delete(st));
    };
    const defs: Record<string, ReturnType<typeof method>> = {
      StreamAggregatedResources: method(ADS, DiscoveryRequestSchema),
      DeltaAggregatedResources: method(DELTA_ADS, DeltaDiscoveryRequestSchema),
    };
    const handlers: Record<string, (call: Call) => void> = {
      StreamAggregatedResources: sotw,
      DeltaAggregatedResources: delta,
    };
    for (const [name, path] of Object.entries(PER_TYPE)) {
      defs[name] = method(path, DiscoveryRequestSchema);
      handlers[name] = sotw;
    }
    server.addService(defs, handlers);
    this.port = await new Promise<number>((res, rej) =>
      server.bindAsync(
        `127.0.0.1:${port}`,
        grpc.ServerCredentials.createInsecure(),
        (e, p) => e ? rej(e) : res(p),
      )
    );
    this.#server = server;
  }

  stop(): void {
    this.#server?.forceShutdown();
    this.streams.clear();
  }

  #send(st: PlaneStream, typeUrl: string, removed: string[] = []): void {
    const list = this.resources.get(typeUrl);
    if (!list) return;
    const version = String(this.versions.get(typeUrl) ?? 1);
    const nonce = `n${++this.#nonce}`;
    const registry = apiRegistry();
    if (st.delta) {
      const msg = fromJson(DeltaDiscoveryResponseSchema, {
        system_version_info: version,
        type_url: typeUrl,
        nonce,
        resources: list.map((r) => ({ name: nameOf(r), version, resource: r })),
        removed_resources: removed,
      } as never, { registry });
      st.call.write(Buffer.from(toBinary(DeltaDiscoveryResponseSchema, msg)));
      return;
    }
    const msg = fromJson(DiscoveryResponseSchema, {
      version_info: version,
      type_url: typeUrl,
      nonce,
      resources: list,
    } as never, { registry });
    st.call.write(Buffer.from(toBinary(DiscoveryResponseSchema, msg)));
  }

  /** Pushes a new version of `typeUrl` to every stream (delta: `list` changed, `removed`). */
  push(typeUrl: string, list: unknown[], removed: string[] = []): void {
    this.resources.set(typeUrl, list);
    this.versions.set(typeUrl, (this.versions.get(typeUrl) ?? 1) + 1);
    for (const st of this.streams) this.#send(st, typeUrl, removed);
  }

  /**
   * Writes `response` as it is to every SotW stream (bad input: it need not be valid), with a
   * fresh nonce; returns the nonce.
   */
  sendSotw(response: { versionInfo: string; typeUrl: string; resources: Any[] }): string {
    const nonce = `n${++this.#nonce}`;
    const msg = create(DiscoveryResponseSchema, { ...response, nonce });
    const bytes = Buffer.from(toBinary(DiscoveryResponseSchema, msg));
    for (const st of this.streams) if (!st.delta) st.call.write(bytes);
    return nonce;
  }

  /**
   * Writes a delta response as given to every delta stream: resources may carry a `ttl` (proto
   * JSON, "0.3s") and no body (a heartbeat). `resources` here are not remembered.
   */
  sendDelta(
    typeUrl: string,
    version: string,
    resources: { name: string; ttl?: string; resource?: unknown }[],
    removed: string[] = [],
  ): void {
    const msg = fromJson(DeltaDiscoveryResponseSchema, {
      system_version_info: version,
      type_url: typeUrl,
      nonce: `n${++this.#nonce}`,
      resources: resources.map((r) => ({ version, ...r })),
      removed_resources: removed,
    } as never, { registry: apiRegistry() });
    const bytes = Buffer.from(toBinary(DeltaDiscoveryResponseSchema, msg));
    for (const st of this.streams) if (st.delta) st.call.write(bytes);
  }

  /** Waits for a SotW request matching `pred` (among all received so far). */
  waitRequest(pred: (r: DiscoveryRequest) => boolean): Promise<DiscoveryRequest> {
    return this.#wait(() => this.requests.find(pred));
  }

  /** Waits for a delta request matching `pred`. */
  waitDelta(pred: (r: DeltaDiscoveryRequest) => boolean): Promise<DeltaDiscoveryRequest> {
    return this.#wait(() => this.deltaRequests.find(pred));
  }

  async #wait<T>(find: () => T | undefined): Promise<T> {
    for (;;) {
      const r = find();
      if (r) return r;
      await new Promise<void>((res) => this.#waiters.push(res));
    }
  }
}

/** A load assignment of cluster `backend`: one endpoint. */
export function endpoints(port: number) {
  return {
    "@type": ENDPOINT,
    cluster_name: "backend",
    endpoints: [{
      lb_endpoints: [{
        endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } },
      }],
    }],
  };
}

/** EDS cluster `backend` over ADS. */
export function cluster(extra: Record<string, unknown> = {}) {
  return {
    "@type": CLUSTER,
    name: "backend",
    type: "EDS",
    connect_timeout: "1s",
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
    ...extra,
  };
}

/** Listener `ads_listener` on a port of its own, routes from RDS `local_route`. */
export const listener = {
  "@type": LISTENER,
  name: "ads_listener",
  address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
  filter_chains: [{
    filters: [{
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type": P +
          "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix: "ads",
        rds: {
          route_config_name: "local_route",
          config_source: { ads: {}, resource_api_version: "V3" },
        },
        http_filters: [{
          name: "envoy.filters.http.router",
          typed_config: { "@type": P + "envoy.extensions.filters.http.router.v3.Router" },
        }],
      },
    }],
  }],
};

/** Route configuration `local_route`: everything to `backend`. */
export const route = {
  "@type": ROUTE,
  name: "local_route",
  virtual_hosts: [{
    name: "all",
    domains: ["*"],
    routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }],
  }],
};

/** The typed options that make a static cluster speak HTTP/2 (gRPC). */
export const H2 = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: {} }`;

/** A bootstrap taking CDS and LDS over ADS from the control plane at `port`. */
export function adsBootstrap(port: number, apiType = "GRPC"): string {
  return `node: { id: grpc-node, cluster: test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  ads_config:
    api_type: ${apiType}
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: xds } }]
  cds_config: { ads: {}, resource_api_version: V3 }
  lds_config: { ads: {}, resource_api_version: V3 }
static_resources:
  clusters:
${staticCluster("xds", port, H2).replace(/^/gm, "  ")}
`;
}

/** GET `url`: the body of a 200, else throws. */
export async function get(url: string): Promise<string> {
  const r = await fetch(url);
  const body = await r.text();
  if (r.status !== 200) throw new Error(`${r.status}: ${body}`);
  return body;
}

/**
 * A started control plane serving the shared fixtures: cluster `backend` (EDS) with its one
 * endpoint on `upstreamPort`, listener `ads_listener` and route `local_route`.
 */
export async function adsPlane(upstreamPort: number): Promise<ControlPlane> {
  const cp = new ControlPlane(
    new Map<string, unknown[]>([
      [CLUSTER, [cluster()]],
      [ENDPOINT, [endpoints(upstreamPort)]],
      [LISTENER, [listener]],
      [ROUTE, [route]],
    ]),
  );
  await cp.start();
  return cp;
}
