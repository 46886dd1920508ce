/**
 * gRPC-Web and the gRPC filters end to end: `@connectrpc/connect-web`'s gRPC-Web transport
 * (binary and text) from Deno's fetch over HTTP/1.1 to an `@grpc/grpc-js` server behind the
 * proxy (upstream HTTP/2), through `envoy.filters.http.grpc_web` and
 * `envoy.filters.http.grpc_stats`; and an HTTP/1.1 client without trailers through
 * `envoy.filters.http.grpc_http1_bridge`.
 */
// @ts-types="./grpc_js.d.ts"
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { Code, ConnectError } from "@connectrpc/connect";
import { StringValueSchema } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, httpConfig, Proxy, staticCluster } from "./proxy.ts";
import { freePort } from "./helpers.ts";

/** google.protobuf.StringValue on the wire: field 1, length-delimited (short strings). */
const encodeString = (s: string) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([0x0a, b.length]), b]);
};
const decodeString = (b: Buffer) => b.length === 0 ? "" : b.subarray(2, 2 + b[1]).toString();

const id = (b: Buffer) => b;
const SERVICE = {
  say: {
    path: "/test.Echo/Say",
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
  fail: {
    path: "/test.Echo/Fail",
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
} as unknown as grpc.ServiceDefinition;

// deno-lint-ignore no-explicit-any
type Call = any;

/** x-envoy-downstream-service-cluster of each Say call (add_user_agent). */
const seenCluster: string[] = [];

async function grpcServer(): Promise<{ port: number; close: () => void }> {
  const server = new grpc.Server();
  server.addService(SERVICE, {
    say: (call: Call, cb: Call) => {
      seenCluster.push(String(call.metadata.get("x-envoy-downstream-service-cluster")[0] ?? ""));
      cb(null, encodeString(`hello ${decodeString(call.request)}`));
    },
    fail: (_call: Call, cb: Call) => cb({ code: grpc.status.NOT_FOUND, details: "no such thing" }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (e: Error | null, p: number) => e ? reject(e) : resolve(p),
    )
  );
  return { port, close: () => server.forceShutdown() };
}

const H2 = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: {} }`;

/** A proxy with `filters` (YAML list items) before the router, routing to the gRPC server. */
async function withProxy(filters: string, fn: (p: Proxy) => Promise<void>) {
  const server = await grpcServer();
  const yaml = httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: grpc }`,
    clusters: staticCluster("grpc", server.port, H2),
  }).replace(
    "          http_filters:\n",
    "          http_filters:\n" + filters.replace(/^/gm, "          ") + "\n",
  );
  const proxy = await Proxy.start(yaml);
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
    server.close();
  }
}

const GRPC_WEB_FILTERS = `- name: envoy.filters.http.grpc_web
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb
- name: envoy.filters.http.grpc_stats
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig
    stats_for_all_methods: true`;

/** The methods as connect's descriptors: StringValue in and out. */
function methodDesc(name: string) {
  return {
    kind: "rpc",
    name,
    localName: name.toLowerCase(),
    methodKind: "unary",
    input: StringValueSchema,
    output: StringValueSchema,
    idempotency: 0,
    parent: { typeName: "test.Echo", kind: "service", name: "Echo" },
    // deno-lint-ignore no-explicit-any
  } as any;
}

Deno.test("gRPC-Web (binary): connect-web over HTTP/1.1 calls a grpc-js server behind the proxy", async () => {
  await withProxy(GRPC_WEB_FILTERS, async (proxy) => {
    const transport = createGrpcWebTransport({
      baseUrl: `http://127.0.0.1:${proxy.port()}`,
      useBinaryFormat: true,
    });
    const ok = await transport.unary(
      methodDesc("Say"),
      undefined,
      5000,
      undefined,
      create(StringValueSchema, { value: "web" }),
    );
    assertEquals((ok.message as unknown as { value: string }).value, "hello web");
    let failed: ConnectError | undefined;
    try {
      await transport.unary(
        methodDesc("Fail"),
        undefined,
        5000,
        undefined,
        create(StringValueSchema, { value: "" }),
      );
    } catch (e) {
      failed = e as ConnectError;
    }
    assertEquals(failed?.code, Code.NotFound);
    assertEquals(failed?.rawMessage, "no such thing");
    const stats = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["cluster.grpc.grpc.test.Echo.Fail.total"] === 1,
    );
    assertEquals(stats["cluster.grpc.grpc.test.Echo.Say.success"], 1);
    assertEquals(stats["cluster.grpc.grpc.test.Echo.Say.request_message_count"], 1);
    assertEquals(stats["cluster.grpc.grpc.test.Echo.Say.response_message_count"], 1);
    assertEquals(stats["cluster.grpc.grpc.test.Echo.Fail.failure"], 1);
    assertEquals(stats["http.test.downstream_rq_http1_total"], 2);
  });
});

Deno.test("gRPC-Web (text): a base64 request and response over HTTP/1.1, trailers in the last frame", async () => {
  await withProxy(GRPC_WEB_FILTERS, async (proxy) => {
    const message = encodeString("text");
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
    const r = await fetch(`http://127.0.0.1:${proxy.port()}/test.Echo/Say`, {
      method: "POST",
      headers: {
        "content-type": "application/grpc-web-text",
        "accept": "application/grpc-web-text",
        "x-grpc-web": "1",
      },
      body: frame.toString("base64"),
    });
    assertEquals(r.status, 200);
    assertEquals(r.headers.get("content-type"), "application/grpc-web-text+proto");
    const body = Buffer.from(await r.text(), "base64");
    const len = body.readUInt32BE(1);
    assertEquals(decodeString(body.subarray(5, 5 + len)), "hello text");
    const trailer = body.subarray(5 + len);
    assertEquals(trailer[0], 0x80);
    assertEquals(trailer.subarray(5).toString(), "grpc-status:0\r\ngrpc-message:OK\r\n");
  });
});

Deno.test("grpc_http1_bridge: an HTTP/1.1 client reads grpc-status from the response headers", async () => {
  await withProxy(
    `- name: envoy.filters.http.grpc_http1_bridge
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_http1_bridge.v3.Config
    upgrade_protobuf_to_grpc: true`,
    async (proxy) => {
      const body = Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), encodeString("h1!")]);
      const bodyFile = await Deno.makeTempFile();
      await Deno.writeFile(bodyFile, body);
      const ok = await curl([
        "-s",
        "-i",
        "--http1.1",
        "-H",
        "content-type: application/grpc",
        "--data-binary",
        `@${bodyFile}`,
        `http://127.0.0.1:${proxy.port()}/test.Echo/Say`,
      ]);
      assert(/^HTTP\/1.1 200/.test(ok.out), ok.out);
      assert(/\r\ngrpc-status: 0\r\n/i.test(ok.out), ok.out);
      assert(ok.out.includes("hello h1!"), ok.out);
      const fail = await curl([
        "-s",
        "-i",
        "--http1.1",
        "-H",
        "content-type: application/grpc",
        "--data-binary",
        `@${bodyFile}`,
        `http://127.0.0.1:${proxy.port()}/test.Echo/Fail`,
      ]);
      assert(/^HTTP\/1.1 503/.test(fail.out), fail.out);
      assert(/\r\ngrpc-status: 5\r\n/i.test(fail.out), fail.out);
      assert(/\r\ngrpc-message: no%20such%20thing\r\n/i.test(fail.out), fail.out);
      // upgrade_protobuf_to_grpc: a plain protobuf body in, the bare message out.
      await Deno.writeFile(bodyFile, encodeString("pb"));
      const pb = await curl([
        "-s",
        "--http1.1",
        "-H",
        "content-type: application/x-protobuf",
        "--data-binary",
        `@${bodyFile}`,
        `http://127.0.0.1:${proxy.port()}/test.Echo/Say`,
      ]);
      assertEquals(pb.out, encodeString("hello pb").toString("latin1"));
    },
  );
});

const BRIDGE = new URL("../../shared/corpus/envoy-examples/grpc-bridge/", import.meta.url).pathname;
const bridgePresent = (() => {
  try {
    return Deno.statSync(`${BRIDGE}client/envoy-proxy.yaml`).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: bridgePresent
    ? "corpus serve: grpc-bridge client and server proxies carry an HTTP/1.1 gRPC call to grpc-js"
    : "corpus serve: grpc-bridge SKIPPED because ../shared/corpus is absent",
  ignore: !bridgePresent,
  async fn() {
    const grpcSrv = await grpcServer();
    const [clientPort, serverPort] = [freePort(), freePort()];
    const serverYaml = Deno.readTextFileSync(`${BRIDGE}server/envoy-proxy.yaml`)
      .replace("address: 0.0.0.0", "address: 127.0.0.1")
      .replace("port_value: 8811", `port_value: ${serverPort}`)
      .replace("address: grpc-server", "address: 127.0.0.1")
      .replace("port_value: 8081", `port_value: ${grpcSrv.port}`);
    const clientYaml = Deno.readTextFileSync(`${BRIDGE}client/envoy-proxy.yaml`)
      .replace("address: 0.0.0.0", "address: 127.0.0.1")
      .replace("port_value: 9911", `port_value: ${clientPort}`)
      .replace("address: grpc-server-proxy", "address: 127.0.0.1")
      .replace("port_value: 8811", `port_value: ${serverPort}`);
    const server = await Proxy.start(serverYaml);
    const client = await Proxy.start(clientYaml, ["--service-cluster", "bridge-client"]);
    try {
      const bodyFile = await Deno.makeTempFile();
      const message = encodeString("corpus");
      await Deno.writeFile(
        bodyFile,
        Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]),
      );
      const r = await curl([
        "-s",
        "-i",
        "--http1.1",
        "-H",
        "host: grpc",
        "-H",
        "content-type: application/grpc",
        "--data-binary",
        `@${bodyFile}`,
        `http://127.0.0.1:${clientPort}/test.Echo/Say`,
      ]);
      assert(/^HTTP\/1.1 200/.test(r.out), r.out);
      assert(r.out.includes("hello corpus"), r.out);
      // add_user_agent: the client proxy named its service cluster to the next hop.
      assertEquals(seenCluster.at(-1), "bridge-client");
    } finally {
      await client.stop();
      await server.stop();
      grpcSrv.close();
    }
  },
});
