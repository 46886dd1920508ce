/**
 * gRPC xDS end to end against a control plane built on a different gRPC stack (@grpc/grpc-js,
 * messages encoded with @bufbuild/protobuf): listeners, routes, clusters and endpoints over
 * ADS (state of the world); endpoints change under a request loop with no failure; a bad
 * cluster is NACKed with error_detail while traffic flows on the old config; the control
 * plane restarts and the proxy reconnects and subscribes again.
 */
// @ts-types="./grpc_js.d.ts"
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import {
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { apiRegistry } from "../src/config/api.ts";
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, Proxy, staticCluster, upstream } from "./proxy.ts";

const P = "type.googleapis.com/";
const CLUSTER = P + "envoy.config.cluster.v3.Cluster";
const LISTENER = P + "envoy.config.listener.v3.Listener";
const ROUTE = P + "envoy.config.route.v3.RouteConfiguration";
const ENDPOINT = P + "envoy.config.endpoint.v3.ClusterLoadAssignment";
const ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/** The duplex call of a grpc-js bidirectional streaming handler (what the test uses). */
interface Call {
  on(event: "data", f: (req: DiscoveryRequest) => void): void;
  on(event: "end" | "close", f: () => void): void;
  on(event: "error", f: (e: Error) => void): void;
  write(b: Buffer): void;
  end(): void;
}

/** A SotW ADS control plane: serves `resources` by type, records every request. */
class ControlPlane {
  readonly requests: DiscoveryRequest[] = [];
  readonly streams = new Set<Call>();
  readonly versions = new Map<string, number>();
  #server: grpc.Server | undefined;
  #nonce = 0;
  #waiters: (() => void)[] = [];
  port = 0;

  constructor(readonly resources: Map<string, unknown[]>) {}

  async start(port = 0): Promise<void> {
    const server = new grpc.Server();
    server.addService({
      StreamAggregatedResources: {
        path: ADS,
        requestStream: true,
        responseStream: true,
        requestSerialize: (m: DiscoveryRequest) => Buffer.from(toBinary(DiscoveryRequestSchema, m)),
        requestDeserialize: (b: Uint8Array) => fromBinary(DiscoveryRequestSchema, b),
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    }, {
      StreamAggregatedResources: (call: Call) => {
        this.streams.add(call);
        call.on("data", (req: DiscoveryRequest) => {
          this.requests.push(req);
          for (const w of this.#waiters.splice(0)) w();
          // A new subscription (or new names): answer with the current state of the type.
          if (req.responseNonce === "" || req.resourceNames.length > 0 && !req.errorDetail) {
            if (req.responseNonce === "") this.#send(call, req.typeUrl);
          }
        });
        call.on("end", () => call.end());
        call.on("error", () => {});
        call.on("close", () => this.streams.delete(call));
      },
    });
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

  #send(call: Call, typeUrl: string): void {
    const list = this.resources.get(typeUrl);
    if (!list) return;
    const msg = fromJson(DiscoveryResponseSchema, {
      version_info: String(this.versions.get(typeUrl) ?? 1),
      type_url: typeUrl,
      nonce: `n${++this.#nonce}`,
      resources: list,
    } as never, { registry: apiRegistry() });
    call.write(Buffer.from(toBinary(DiscoveryResponseSchema, msg)));
  }

  /** Pushes a new version of `typeUrl` to every stream. */
  push(typeUrl: string, list: unknown[]): void {
    this.resources.set(typeUrl, list);
    this.versions.set(typeUrl, (this.versions.get(typeUrl) ?? 1) + 1);
    for (const c of this.streams) this.#send(c, typeUrl);
  }

  /** Waits for a request matching `pred` (among all received so far). */
  async waitRequest(pred: (r: DiscoveryRequest) => boolean): Promise<DiscoveryRequest> {
    for (;;) {
      const r = this.requests.find(pred);
      if (r) return r;
      await new Promise<void>((res) => this.#waiters.push(res));
    }
  }
}

function endpoints(port: number) {
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

function cluster(extra: Record<string, unknown> = {}) {
  return {
    "@type": CLUSTER,
    name: "backend",
    type: "EDS",
    connect_timeout: "1s",
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
    ...extra,
  };
}

const listener = {
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

const route = {
  "@type": ROUTE,
  name: "local_route",
  virtual_hosts: [{
    name: "all",
    domains: ["*"],
    routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }],
  }],
};

function adsBootstrap(port: number): string {
  const h2 = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: {} }`;
  return `node: { id: grpc-node, cluster: test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: xds } }]
  cds_config: { ads: {}, resource_api_version: V3 }
  lds_config: { ads: {}, resource_api_version: V3 }
static_resources:
  clusters:
${staticCluster("xds", port, h2).replace(/^/gm, "  ")}
`;
}

async function get(url: string): Promise<string> {
  const r = await fetch(url);
  const body = await r.text();
  if (r.status !== 200) throw new Error(`${r.status}: ${body}`);
  return body;
}

Deno.test("ADS over gRPC: resources applied, endpoints change under load, NACK, reconnect", async () => {
  const a = upstream(() => new Response("a"));
  const b = upstream(() => new Response("b"));
  const c = upstream(() => new Response("c"));
  const cp = new ControlPlane(
    new Map<string, unknown[]>([
      [CLUSTER, [cluster()]],
      [ENDPOINT, [endpoints(a.port)]],
      [LISTENER, [listener]],
      [ROUTE, [route]],
    ]),
  );
  await cp.start();
  const p = await Proxy.start(adsBootstrap(cp.port));
  try {
    await p.proc.waitFor(/listener 'ads_listener' added on [^:]+:\d+/);
    const port = Number(/listener 'ads_listener' added on [^:]+:(\d+)/.exec(p.proc.stderr)![1]);
    const url = `http://127.0.0.1:${port}/`;
    assertEquals(await get(url), "a");
    // The first request carries the node; every request does by default.
    const first = cp.requests[0];
    assertEquals(first.node?.id, "grpc-node");
    assert(cp.requests.every((r) => r.node?.id === "grpc-node"));
    const edsReq = await cp.waitRequest((r) => r.typeUrl === ENDPOINT);
    assertEquals(edsReq.resourceNames, ["backend"]);
    const rdsReq = await cp.waitRequest((r) => r.typeUrl === ROUTE);
    assertEquals(rdsReq.resourceNames, ["local_route"]);
    await cp.waitRequest((r) => r.typeUrl === CLUSTER && r.versionInfo === "1");

    // Endpoints change while requests run: none fails.
    let failures = 0;
    let seenB = false;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          if (await get(url) === "b") seenB = true;
        } catch {
          failures++;
        }
      }
    })();
    cp.push(ENDPOINT, [endpoints(b.port)]);
    while (!seenB) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await loop;
    assertEquals(failures, 0);
    await cp.waitRequest((r) => r.typeUrl === ENDPOINT && r.versionInfo === "2");

    // A bad cluster is NACKed; traffic stays on the old config.
    cp.push(CLUSTER, [cluster({ connect_timeout: "-1s" })]);
    const nack = await cp.waitRequest((r) => r.typeUrl === CLUSTER && !!r.errorDetail);
    assertEquals(nack.versionInfo, "1");
    assertMatch(nack.errorDetail?.message ?? "", /connect_timeout/);
    assertEquals(await get(url), "b");

    // The control plane restarts: the proxy reconnects and subscribes again, saying what it has.
    const port0 = cp.port;
    cp.stop();
    cp.requests.length = 0;
    cp.resources.set(CLUSTER, [cluster()]);
    await adminStatsWhen(p.adminPort, (s) => s["control_plane.connected_state"] === 0);
    await cp.start(port0);
    const again = await cp.waitRequest((r) => r.typeUrl === CLUSTER);
    assertEquals(again.versionInfo, "1");
    assertEquals(again.responseNonce, "");
    await cp.waitRequest((r) => r.typeUrl === ENDPOINT && r.versionInfo === "2");
    await adminStatsWhen(p.adminPort, (s) => s["control_plane.connected_state"] === 1);
    cp.push(ENDPOINT, [endpoints(c.port)]);
    for (;;) {
      if (await get(url) === "c") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const stats = await adminStatsWhen(
      p.adminPort,
      (s) => s["cluster_manager.cds.update_rejected"] >= 1,
    );
    assertEquals(stats["control_plane.rate_limit_enforced"], 0);
    assertEquals(stats["control_plane.pending_requests"], 0);
  } finally {
    await p.stop();
    cp.stop();
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});
