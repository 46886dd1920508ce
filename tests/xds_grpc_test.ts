/**
 * gRPC xDS end to end against a control plane built on a different gRPC stack (@grpc/grpc-js,
 * messages encoded with @bufbuild/protobuf): listeners, routes, clusters and endpoints over
 * ADS (state of the world); endpoints change under a request loop with no failure; a bad
 * cluster is NACKed with error_detail while traffic flows on the old config; the control
 * plane restarts and the proxy reconnects and subscribes again.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, Proxy, staticCluster, upstream } from "./proxy.ts";
import { CORPUS } from "./corpus.ts";
import {
  adsBootstrap,
  adsPlane,
  CLUSTER,
  cluster,
  ControlPlane,
  ENDPOINT,
  endpoints,
  get,
  H2,
  LISTENER,
  listener,
  ROUTE,
  route,
} from "./xds_control_plane.ts";

Deno.test("ADS over gRPC: resources applied, endpoints change under load, NACK, reconnect", async () => {
  const a = upstream(() => new Response("a"));
  const b = upstream(() => new Response("b"));
  const c = upstream(() => new Response("c"));
  const cp = await adsPlane(a.port);
  const p = await Proxy.start(adsBootstrap(cp.port));
  try {
    const port = await p.addedPort("ads_listener");
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
    // The streams ran on the xds cluster's HTTP/2 pool: its stats count them.
    assert(stats["cluster.xds.upstream_cx_http2_total"] >= 2, "two connections (restart)");
    assert(stats["cluster.xds.upstream_rq_total"] >= 2);
    assertEquals(stats["control_plane.pending_requests"], 0);
  } finally {
    await p.stop();
    cp.stop();
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

Deno.test("delta ADS over gRPC: subscribe, apply, update, NACK; a removed listener's route configuration is unsubscribed", async () => {
  const a = upstream(() => new Response("a"));
  const b = upstream(() => new Response("b"));
  const cp = await adsPlane(a.port);
  const p = await Proxy.start(adsBootstrap(cp.port, "DELTA_GRPC"));
  try {
    const port = await p.addedPort("ads_listener");
    const url = `http://127.0.0.1:${port}/`;
    assertEquals(await get(url), "a");
    // Delta: the node on the first request only; named types subscribe by name.
    assertEquals(cp.deltaRequests[0].node?.id, "grpc-node");
    assert(cp.deltaRequests.slice(1).every((r) => r.node === undefined));
    const eds = await cp.waitDelta((r) => r.typeUrl === ENDPOINT);
    assertEquals(eds.resourceNamesSubscribe, ["backend"]);
    const rds = await cp.waitDelta((r) => r.typeUrl === ROUTE);
    assertEquals(rds.resourceNamesSubscribe, ["local_route"]);

    cp.push(ENDPOINT, [endpoints(b.port)]);
    for (;;) {
      if (await get(url) === "b") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    cp.push(CLUSTER, [cluster({ connect_timeout: "-1s" })]);
    const nack = await cp.waitDelta((r) => r.typeUrl === CLUSTER && !!r.errorDetail);
    assertMatch(nack.errorDetail?.message ?? "", /connect_timeout/);
    assertEquals(await get(url), "b");
    await adminStatsWhen(p.adminPort, (s) => s["control_plane.connected_state"] === 1);

    // The listener goes: its route configuration's subscription goes with its last user.
    cp.push(LISTENER, [], ["ads_listener"]);
    const unsub = await cp.waitDelta((r) =>
      r.typeUrl === ROUTE && r.resourceNamesUnsubscribe.includes("local_route")
    );
    assertEquals(unsub.resourceNamesSubscribe, []);
  } finally {
    await p.stop();
    cp.stop();
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("per-type gRPC streams: CDS and LDS each on their own service", async () => {
  const a = upstream(() => new Response("a"));
  const staticBackend = {
    "@type": CLUSTER,
    name: "backend",
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: (({ "@type": _, ...rest }) => rest)(endpoints(a.port)),
  };
  const inline = structuredClone(listener);
  const hcm = inline.filter_chains[0].filters[0].typed_config as Record<string, unknown>;
  delete hcm.rds;
  hcm.route_config = (({ "@type": _, ...rest }) => rest)(route);
  const cp = new ControlPlane(
    new Map<string, unknown[]>([[CLUSTER, [staticBackend]], [LISTENER, [inline]]]),
  );
  await cp.start();
  const source = `{ api_config_source: { api_type: GRPC, transport_api_version: V3,
      set_node_on_first_message_only: true,
      grpc_services: [{ envoy_grpc: { cluster_name: xds } }] }, resource_api_version: V3 }`;
  const p = await Proxy.start(`node: { id: grpc-node, cluster: test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  cds_config: ${source}
  lds_config: ${source}
static_resources:
  clusters:
${staticCluster("xds", cp.port, H2).replace(/^/gm, "  ")}
`);
  try {
    const port = await p.addedPort("ads_listener");
    assertEquals(await get(`http://127.0.0.1:${port}/`), "a");
    // Two streams, each with the node on its first request only.
    await cp.waitRequest((r) => r.typeUrl === LISTENER && r.versionInfo === "1");
    const withNode = cp.requests.filter((r) => r.node !== undefined);
    assertEquals(withNode.map((r) => r.typeUrl).sort(), [CLUSTER, LISTENER]);
  } finally {
    await p.stop();
    cp.stop();
    await a.close();
  }
});

Deno.test("gRPC xDS: initial_fetch_timeout ends the wait for a type that never comes", async () => {
  const cp = new ControlPlane(new Map<string, unknown[]>([[LISTENER, []]]));
  await cp.start();
  const boot = adsBootstrap(cp.port).replace(
    "cds_config: { ads: {}, resource_api_version: V3 }",
    "cds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 0.2s }",
  );
  const p = await Proxy.start(boot);
  try {
    const stats = await adminStatsWhen(
      p.adminPort,
      (s) =>
        s["cluster_manager.cds.init_fetch_timeout"] === 1 &&
        s["listener_manager.lds.update_success"] >= 1,
    );
    assertEquals(stats["cluster_manager.cds.update_success"] ?? 0, 0);
    const ready = await fetch(`http://127.0.0.1:${p.adminPort}/ready`);
    assertEquals(await ready.text(), "LIVE\n");
  } finally {
    await p.stop();
    cp.stop();
  }
});

Deno.test("ADS over google_grpc: served by denvoy's own HTTP/2 pool to target_uri", async () => {
  const a = upstream(() => new Response("a"));
  const cp = await adsPlane(a.port);
  const boot = adsBootstrap(cp.port).replace(
    "grpc_services: [{ envoy_grpc: { cluster_name: xds } }]",
    `grpc_services: [{ google_grpc: { target_uri: "127.0.0.1:${cp.port}", stat_prefix: ads } }]`,
  );
  const p = await Proxy.start(boot);
  try {
    const port = await p.addedPort("ads_listener");
    assertEquals(await get(`http://127.0.0.1:${port}/`), "a");
    const stats = await adminStatsWhen(
      p.adminPort,
      (s) => s["cluster.google_grpc.ads.upstream_cx_total"] >= 1,
    );
    assertEquals(stats["cluster.xds.upstream_cx_total"] ?? 0, 0);
  } finally {
    await p.stop();
    cp.stop();
    await a.close();
  }
});

Deno.test("the corpus dynamic-config-cp bootstrap against the test control plane", async () => {
  const a = upstream(() => new Response("a"));
  const cp = await adsPlane(a.port);
  const corpus = Deno.readTextFileSync(`${CORPUS}envoy-examples/dynamic-config-cp/envoy.yaml`)
    .replace("address: go-control-plane", "address: 127.0.0.1")
    .replace("port_value: 18000", `port_value: ${cp.port}`)
    .replace(
      "address: 0.0.0.0\n      port_value: 19000",
      "address: 127.0.0.1\n      port_value: 0",
    );
  const p = await Proxy.start(corpus);
  try {
    const port = await p.addedPort("ads_listener");
    assertEquals(await get(`http://127.0.0.1:${port}/`), "a");
    assertEquals(cp.requests[0].node?.id, "test-id");
    assertEquals(cp.requests[0].node?.cluster, "test-cluster");
  } finally {
    await p.stop();
    cp.stop();
    await a.close();
  }
});
