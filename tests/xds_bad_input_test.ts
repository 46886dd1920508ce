/**
 * gRPC xDS under load and bad input from the control plane (the grpc-js test control plane,
 * state of the world over ADS), on one proxy: an EDS update of 10,000 endpoints applies; a
 * resource whose type URL is not the response's, an undecodable resource, duplicate resource
 * names and an 8 MiB message are each NACKed with an error_detail while traffic flows on the
 * old config; a response for a type nobody subscribed to is ignored; a stream that closes in
 * the middle of a response is opened again and every type is requested again.
 */
import { create, fromJson } from "@bufbuild/protobuf";
import { type Any, AnySchema } from "@bufbuild/protobuf/wkt";
import { DiscoveryResponseSchema } from "../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { apiRegistry } from "../src/config/api.ts";
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, Proxy, upstream } from "./proxy.ts";
import {
  adsBootstrap,
  adsPlane,
  CLUSTER,
  cluster,
  ENDPOINT,
  endpoints,
  get,
  listener,
} from "./xds_control_plane.ts";

/** `resources` (proto JSON with `@type`) packed in Any messages. */
function anys(resources: unknown[]): Any[] {
  return fromJson(DiscoveryResponseSchema, { resources } as never, { registry: apiRegistry() })
    .resources;
}

/** A load assignment of `backend` with `n` endpoints (127.0.0.1, ports from 10,000 up). */
function manyEndpoints(n: number) {
  return {
    "@type": ENDPOINT,
    cluster_name: "backend",
    endpoints: [{
      lb_endpoints: Array.from({ length: n }, (_, i) => ({
        endpoint: {
          address: { socket_address: { address: "127.0.0.1", port_value: 10_000 + i } },
        },
      })),
    }],
  };
}

Deno.test("gRPC xDS: 10,000 endpoints over EDS; bad responses NACKed or retried, never a crash", async () => {
  const a = upstream(() => new Response("a"));
  const cp = await adsPlane(a.port);
  const p = await Proxy.start(adsBootstrap(cp.port));
  try {
    const port = await p.addedPort("ads_listener");
    const url = `http://127.0.0.1:${port}/`;
    assertEquals(await get(url), "a");
    await cp.waitRequest((r) => r.typeUrl === CLUSTER && r.versionInfo === "1");

    // 10,000 endpoints in one assignment: applied (and ACKed); then back to the one host.
    cp.push(ENDPOINT, [manyEndpoints(10_000)]);
    await cp.waitRequest((r) => r.typeUrl === ENDPOINT && r.versionInfo === "2");
    await adminStatsWhen(p.adminPort, (s) => s["cluster.backend.membership_total"] === 10_000);
    cp.push(ENDPOINT, [endpoints(a.port)]);
    await cp.waitRequest((r) => r.typeUrl === ENDPOINT && r.versionInfo === "3");
    assertEquals(await get(url), "a");

    /** Sends a CDS response of `resources` and returns the NACK it gets. */
    const nacked = async (resources: Any[]) => {
      const nonce = cp.sendSotw({ versionInfo: "bad", typeUrl: CLUSTER, resources });
      const r = await cp.waitRequest((r) => r.responseNonce === nonce);
      assertEquals(r.versionInfo, "1", "a NACK names the version still applied");
      assert(r.errorDetail, "NACKed");
      assertEquals(await get(url), "a");
      return r.errorDetail!.message;
    };
    // A resource whose type is not the response's.
    assertMatch(await nacked(anys([listener])), /does not match the message-wide type URL/);
    // A resource that does not decode.
    const garbage = create(AnySchema, { typeUrl: CLUSTER, value: new Uint8Array([0xff, 0xff]) });
    assert((await nacked([garbage])).length > 0);
    // Two resources of one name.
    assertMatch(await nacked(anys([cluster(), cluster()])), /duplicate/);
    // An 8 MiB message (one resource that does not decode).
    const huge = create(AnySchema, { typeUrl: CLUSTER, value: new Uint8Array(8 << 20).fill(7) });
    assert((await nacked([huge])).length > 0);

    // A response for a type nobody subscribed to is ignored (no ACK, no NACK).
    const secret = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
    cp.sendSotw({ versionInfo: "1", typeUrl: secret, resources: [] });
    await p.proc.waitFor(/Ignoring the message for type URL .*Secret/);
    assertEquals(cp.requests.some((r) => r.typeUrl === secret), false);
    const stats = await adminStatsWhen(
      p.adminPort,
      (s) => s["cluster_manager.cds.update_rejected"] >= 4,
    );
    assertEquals(stats["cluster_manager.cds.update_success"], 1);

    // The stream closes in the middle of a response: the proxy opens it again and requests
    // every type again, saying what it has.
    const port0 = cp.port;
    cp.sendSotw({ versionInfo: "2", typeUrl: CLUSTER, resources: [huge] });
    cp.stop();
    cp.requests.length = 0;
    await adminStatsWhen(p.adminPort, (s) => s["control_plane.connected_state"] === 0);
    assertEquals(await get(url), "a");
    await cp.start(port0);
    const again = await cp.waitRequest((r) => r.typeUrl === CLUSTER);
    assertEquals(again.versionInfo, "1");
    assertEquals(again.responseNonce, "");
    await cp.waitRequest((r) => r.typeUrl === ENDPOINT && r.versionInfo === "3");
    await adminStatsWhen(p.adminPort, (s) => s["control_plane.connected_state"] === 1);
    assertEquals(await get(url), "a");
    assertEquals(p.proc.stderr.includes("internal error"), false);
  } finally {
    await p.stop();
    cp.stop();
    await a.close();
  }
});
