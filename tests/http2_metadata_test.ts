/**
 * HTTP/2 METADATA (`allow_metadata`) through the proxy with Python h2 peers
 * (tests/http2_metadata_peer.py): request metadata from the downstream reaches the upstream and
 * response metadata comes back, where both sides allow it; a side that does not allow it drops
 * it (and ignores the peer's METADATA frames as an unknown frame type); an HTTP/1 downstream
 * neither sends nor receives any.
 */
import { assertEquals } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, httpConfig, Proxy, staticCluster, upstream } from "./proxy.ts";

const PEER = new URL("./http2_metadata_peer.py", import.meta.url).pathname;

/** The Python upstream, on the port it prints first. */
async function metadataUpstream() {
  const proc = new Deno.Command("/usr/bin/python3", {
    args: [PEER, "server"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the metadata upstream exited before it listened");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    port: Number(text.trim()),
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.stdout.cancel();
      await proc.status;
    },
  };
}

interface ClientResult {
  status: string;
  headers: Record<string, string>;
  body: string;
  metadata: Record<string, string>[];
}

/** One request from the Python client: what came back, and the metadata the upstream saw. */
async function h2Client(port: number, path: string) {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [PEER, "client", String(port), path],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as ClientResult;
  return { ...r, upstreamGot: JSON.parse(r.headers["x-got-metadata"] ?? "null") };
}

function h2Cluster(name: string, port: number, allowMetadata: boolean): string {
  return staticCluster(
    name,
    port,
    `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config:
      http2_protocol_options: { allow_metadata: ${allowMetadata} }`,
  );
}

function config(downstreamAllows: boolean, upstreamPort: number, h1Port = 1): string {
  return httpConfig({
    routes: `- match: { prefix: "/meta" }
  route: { cluster: meta }
- match: { prefix: "/plain" }
  route: { cluster: plain }
- match: { prefix: "/h1" }
  route: { cluster: h1 }`,
    clusters: h2Cluster("meta", upstreamPort, true) + h2Cluster("plain", upstreamPort, false) +
      staticCluster("h1", h1Port),
    hcmExtra: `http2_protocol_options: { allow_metadata: ${downstreamAllows} }`,
  });
}

Deno.test("HTTP/2 METADATA passes downstream → upstream and back where both sides allow it, and is dropped where one does not", async () => {
  const up = await metadataUpstream();
  // It answers once the request has ended: an answer before the downstream's METADATA and DATA
  // arrived would complete the stream first (response before request complete, as Envoy), and
  // the late METADATA would never reach the HTTP/1 upstream codec that counts it.
  const h1 = upstream(async (req) => {
    await req.arrayBuffer();
    return new Response("h1 done");
  });
  const proxy = await Proxy.start(config(true, up.port, h1.port));
  try {
    const port = proxy.port();
    // Both sides allow it: the request's map reaches the upstream, the response's comes back.
    let r = await h2Client(port, "/meta");
    assertEquals(r.status, "200");
    assertEquals(r.body, "done");
    assertEquals(r.upstreamGot, [{ "req-key": "req-val" }]);
    assertEquals(r.metadata, [{ "resp-key": "resp-val" }]);
    // The cluster does not allow it: nothing is sent upstream, and the upstream's METADATA
    // frames are ignored as an unknown frame type.
    r = await h2Client(port, "/plain");
    assertEquals(r.status, "200");
    assertEquals(r.upstreamGot, []);
    assertEquals(r.metadata, []);
    // HTTP/1 carries no metadata: the upstream's map is dropped before an HTTP/1 downstream,
    // and an HTTP/2 request's map before an HTTP/1 upstream, each counted as Envoy's HTTP/1
    // codec counts it; the requests are served as usual.
    const viaH1 = await curl([`http://127.0.0.1:${port}/meta`, "-D", "-"]);
    assertEquals(/x-got-metadata: \[\]/.test(viaH1.out), true);
    assertEquals(viaH1.out.endsWith("done"), true);
    r = await h2Client(port, "/h1");
    assertEquals([r.status, r.body, r.metadata], ["200", "h1 done", []]);
    const stats = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["cluster.h1.http1.metadata_not_supported_error"] === 1,
    );
    assertEquals(stats["http1.metadata_not_supported_error"], 1);
  } finally {
    await proxy.stop();
    await h1.close();
  }
  // The downstream does not allow it: its METADATA is ignored, the upstream's is dropped.
  const closed = await Proxy.start(config(false, up.port));
  try {
    const r = await h2Client(closed.port(), "/meta");
    assertEquals(r.status, "200");
    assertEquals(r.upstreamGot, []);
    assertEquals(r.metadata, []);
  } finally {
    await closed.stop();
    await up.stop();
  }
});
