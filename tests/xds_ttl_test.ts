/**
 * xDS resource TTLs against the grpc-js test control plane: a delta resource sent with a TTL
 * is removed when it passes (a cluster, a listener) unless heartbeats (no body, same version)
 * refresh it; an expired load assignment leaves the endpoints as they are (Envoy's EDS: an
 * empty update); over state of the world, an RTDS layer and an ECDS filter config wrapped in
 * `Resource`s live on heartbeats, then when their TTL passes the layer is cleared (the layer
 * below shows through again) and the filter, with no default config, answers 500.
 */
import { create } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import { ResourceSchema } from "../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { assert, assertEquals } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, Proxy, upstream } from "./proxy.ts";
import {
  adsBootstrap,
  adsPlane,
  CLUSTER,
  ControlPlane,
  ENDPOINT,
  endpoints,
  get,
  LISTENER,
  P,
} from "./xds_control_plane.ts";

/** A STATIC cluster `name` with one endpoint on `port`. */
function staticJson(name: string, port: number) {
  const { "@type": _, ...assignment } = endpoints(port);
  return {
    "@type": CLUSTER,
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { ...assignment, cluster_name: name },
  };
}

/** Listener `name` answering `body` itself. */
function directListener(name: string, body: string) {
  return {
    "@type": LISTENER,
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
    filter_chains: [{
      filters: [{
        name: "envoy.filters.network.http_connection_manager",
        typed_config: {
          "@type": P +
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          stat_prefix: name,
          route_config: {
            virtual_hosts: [{
              name: "all",
              domains: ["*"],
              routes: [{
                match: { prefix: "/" },
                direct_response: { status: 200, body: { inline_string: body } },
              }],
            }],
          },
          http_filters: [{
            name: "envoy.filters.http.router",
            typed_config: { "@type": P + "envoy.extensions.filters.http.router.v3.Router" },
          }],
        },
      }],
    }],
  };
}

/** The names of the dynamic active clusters and listeners in `/config_dump`. */
async function dynamicNames(adminPort: number) {
  const dump = await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json();
  const of = (suffix: string) =>
    dump.configs.find((c: { "@type": string }) => c["@type"].endsWith(suffix));
  const clusters = (of("ClustersConfigDump").dynamic_active_clusters ?? [])
    .map((c: { cluster: { name: string } }) => c.cluster.name);
  const listeners = (of("ListenersConfigDump").dynamic_listeners ?? [])
    .filter((l: { active_state?: unknown }) => l.active_state)
    .map((l: { name: string }) => l.name);
  return { clusters, listeners };
}

/** GET `url` once its listener (added by xDS, the workers bind it next) takes connections. */
async function getWhenUp(url: string): Promise<string> {
  for (let i = 0;; i++) {
    try {
      return await get(url);
    } catch (e) {
      if (i > 200 || !/Connection refused/.test(String((e as Error).cause))) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Polls `/config_dump` until `ready` holds. */
async function dumpWhen(
  adminPort: number,
  ready: (d: { clusters: string[]; listeners: string[] }) => boolean,
) {
  for (;;) {
    const d = await dynamicNames(adminPort);
    if (ready(d)) return d;
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("delta TTL: a cluster and a listener expire unless heartbeated; EDS keeps its endpoints", async () => {
  const a = upstream(() => new Response("a"));
  const cp = await adsPlane(a.port);
  const p = await Proxy.start(adsBootstrap(cp.port, "DELTA_GRPC"));
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  try {
    const url = `http://127.0.0.1:${await p.addedPort("ads_listener")}/`;
    assertEquals(await get(url), "a");
    const before = await adminStatsWhen(
      p.adminPort,
      (s) => s["cluster.backend.update_success"] > 0,
    );

    cp.sendDelta(CLUSTER, "2", [
      { name: "temp", ttl: "0.3s", resource: staticJson("temp", a.port) },
      { name: "kept", ttl: "0.5s", resource: staticJson("kept", a.port) },
    ]);
    cp.sendDelta(LISTENER, "2", [
      { name: "ttl_listener", ttl: "5s", resource: directListener("ttl_listener", "ttl") },
    ]);
    cp.sendDelta(ENDPOINT, "2", [
      { name: "backend", ttl: "0.3s", resource: endpoints(a.port) },
    ]);
    // Heartbeats for `kept`: its name and version, no body, the TTL again.
    heartbeat = setInterval(() => cp.sendDelta(CLUSTER, "2", [{ name: "kept", ttl: "0.5s" }]), 100);
    const ttlPort = await p.addedPort("ttl_listener");
    assertEquals(await getWhenUp(`http://127.0.0.1:${ttlPort}/`), "ttl");
    // A heartbeat may shorten the TTL too.
    cp.sendDelta(LISTENER, "2", [{ name: "ttl_listener", ttl: "0.3s" }]);

    const gone = await dumpWhen(
      p.adminPort,
      (d) => !d.clusters.includes("temp") && !d.listeners.includes("ttl_listener"),
    );
    assert(gone.clusters.includes("kept"), `kept: ${gone.clusters}`);
    assert(gone.listeners.includes("ads_listener"));
    await p.proc.waitFor(/listener 'ttl_listener' removed/);
    // An expiry is an update: attempted and successful, version "" (Envoy's GrpcSubscriptionImpl).
    const s = await adminStatsWhen(
      p.adminPort,
      (s) => s["cluster.backend.update_empty"] > (before["cluster.backend.update_empty"] ?? 0),
    );
    assert(s["listener_manager.lds.update_success"] >= 3);
    assertEquals(String(s["listener_manager.lds.version_text"]), "");
    // The expired assignment leaves the endpoints in place: traffic still flows.
    assertEquals(await get(url), "a");

    // Twice its TTL more: the heartbeats alone keep `kept`.
    await new Promise((r) => setTimeout(r, 1000));
    assert((await dynamicNames(p.adminPort)).clusters.includes("kept"));
    clearInterval(heartbeat);
    heartbeat = undefined;
    await dumpWhen(p.adminPort, (d) => !d.clusters.includes("kept"));
    // Expiry sends nothing: every delta request the proxy made is an ACK (or its first ones).
    assert(cp.deltaRequests.every((r) => r.errorDetail === undefined));
  } finally {
    clearInterval(heartbeat);
    await p.stop();
    cp.stop();
    await a.close();
  }
});

const RUNTIME = "type.googleapis.com/envoy.service.runtime.v3.Runtime";
const ECDS = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
const ROUTER = P + "envoy.extensions.filters.http.router.v3.Router";
const RESOURCE = "type.googleapis.com/envoy.service.discovery.v3.Resource";

/** A SotW heartbeat for resource `name`: its wrapper with no body and a 500 ms TTL. */
const heartbeat = (name: string): Any =>
  anyPack(ResourceSchema, create(ResourceSchema, { name, ttl: { seconds: 0n, nanos: 5e8 } }));

/** `resource` wrapped in a `Resource` named `name` with a 5 s TTL. */
const wrapped = (name: string, resource: unknown) => ({
  "@type": RESOURCE,
  name,
  ttl: "5s",
  resource,
});

/** An RTDS layer above a static one, and a listener whose router comes from ECDS (no default). */
const runtimeAndEcds = `layered_runtime:
  layers:
  - name: base
    static_layer: { routing.to_a: 7 }
  - name: rtds
    rtds_layer: { name: rt, rtds_config: { ads: {}, resource_api_version: V3 } }
dynamic_resources:`;
const ecdsListener = `static_resources:
  listeners:
  - name: ecds
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${P}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ecds
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 200, body: { inline_string: "ok" } }
          http_filters:
          - name: router_ecds
            config_discovery:
              config_source: { ads: {}, resource_api_version: V3 }
              type_urls: [${ROUTER}]`;

Deno.test("SotW TTL: an RTDS layer and an ECDS filter config wrapped in Resources live on heartbeats; when the TTL passes the layer is cleared and the filter has no config", async () => {
  const cp = new ControlPlane(
    new Map<string, unknown[]>([
      [RUNTIME, [wrapped("rt", { "@type": RUNTIME, name: "rt", layer: { "routing.to_a": 100 } })]],
      [ECDS, [wrapped("router_ecds", {
        "@type": ECDS,
        name: "router_ecds",
        typed_config: { "@type": ROUTER },
      })]],
    ]),
  );
  await cp.start();
  const yaml = adsBootstrap(cp.port)
    .replace(/^ {2}cds_config.*\n {2}lds_config.*\n/m, "")
    .replace(/^dynamic_resources:/m, runtimeAndEcds)
    .replace(/^static_resources:/m, ecdsListener);
  let beat: ReturnType<typeof setInterval> | undefined;
  let p: Proxy | undefined;
  try {
    p = await Proxy.start(yaml);
    const value = async () => {
      const r = await curl([`http://127.0.0.1:${p!.adminPort}/runtime`]);
      return JSON.parse(r.out).entries["routing.to_a"].final_value;
    };
    const url = `http://127.0.0.1:${p.port("ecds")}/`;
    assertEquals(await value(), "100");
    assertEquals((await curl([url])).out, "ok");
    // Heartbeats at the control plane's version ("1") bring the TTLs down to 500 ms and keep
    // both for twice that.
    beat = setInterval(() => {
      cp.sendSotw({ versionInfo: "1", typeUrl: RUNTIME, resources: [heartbeat("rt")] });
      cp.sendSotw({ versionInfo: "1", typeUrl: ECDS, resources: [heartbeat("router_ecds")] });
    }, 100);
    await new Promise((r) => setTimeout(r, 1000));
    assertEquals(await value(), "100");
    assertEquals((await curl([url])).out, "ok");
    clearInterval(beat);
    // The TTLs pass: each is an update (version ""); the base layer shows; the filter has no
    // config (no default): 500, NFCF.
    const s = await adminStatsWhen(p.adminPort, (s) =>
      s["runtime.update_success"] >= 2 &&
      s["extension_config_discovery.http_filter.router_ecds.update_success"] >= 2);
    // A removal is no empty update (Envoy's delta callbacks do not count it).
    assertEquals(s["runtime.update_empty"], 0);
    assertEquals(await value(), "7");
    for (;;) {
      // The removal reaches the worker by message, just after the main thread.
      if ((await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])).out === "500") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert(cp.requests.every((r) => r.errorDetail === undefined));
  } finally {
    clearInterval(beat);
    await p?.stop();
    cp.stop();
  }
});
