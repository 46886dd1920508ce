/**
 * Upstream HTTP/2 over TLS and `auto_config` (ALPN) with real peers: nginx with `ssl http2`
 * and with `ssl` only, nghttpd, `openssl s_server` (no ALPN at all), a grpc-js server over TLS,
 * and an upstream that hangs up during the handshake. Downstream: curl, nghttp, h2load and a
 * grpc-js client.
 */
// @ts-types="./grpc_js.d.ts"
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  adminStatsWhen,
  curl,
  fileAccessLog,
  httpConfig,
  Proxy,
  staticCluster,
  tcpServer,
  waitForLines,
} from "./proxy.ts";
import { runMain, tempFile } from "./helpers.ts";
import { type TestCerts, testCerts } from "./tls_certs.ts";
import { freePort } from "./helpers.ts";

/** Resolves once something accepts connections on `port`. */
async function waitForPort(port: number): Promise<void> {
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (e) {
      if (i > 400) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** A peer process listening on `port`; `stop` ends it. */
async function peer(cmd: string, args: string[], port: number) {
  const proc = new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).spawn();
  await waitForPort(port);
  return {
    port,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.status;
    },
  };
}

/** nginx over TLS answering with what it negotiated: HTTP/2 on `h2`, HTTP/1.1 only on `h1`. */
async function nginx(c: TestCerts) {
  const dir = await Deno.makeTempDir({ prefix: "denvoy-nginx-h2-" });
  const h2 = freePort();
  const h1 = freePort();
  const server = (listen: string) =>
    `  server {
    listen ${listen};
    ssl_certificate ${c.serverChain};
    ssl_certificate_key ${c.serverKey};
    location / {
      return 200 "proto=$server_protocol alpn=$ssl_alpn_protocol sni=$ssl_server_name\\n";
    }
  }
`;
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    `pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
${server(`127.0.0.1:${h2} ssl http2`)}${server(`127.0.0.1:${h1} ssl`)}}
`,
  );
  const p = await peer("nginx", ["-p", dir, "-c", `${dir}/nginx.conf`, "-g", "daemon off;"], h2);
  await waitForPort(h1);
  return { h2, h1, stop: p.stop };
}

/** The test service of the gRPC case: a unary echo and a server stream, bytes as messages. */
const id = (b: Buffer) => b;
const method = (path: string, responseStream: boolean) => ({
  path: `/test.Echo/${path}`,
  requestStream: false,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const SERVICE = {
  unary: method("Unary", false),
  serverStream: method("ServerStream", true),
} as unknown as grpc.ServiceDefinition;
// deno-lint-ignore no-explicit-any
type Call = any;

/** The grpc-js server over TLS (tests/grpc_tls_server.cjs, run by Node) on an ephemeral port. */
async function grpcTlsServer(c: TestCerts): Promise<{ port: number; close: () => Promise<void> }> {
  const proc = new Deno.Command("node", {
    args: [new URL("./grpc_tls_server.cjs", import.meta.url).pathname, c.serverChain, c.serverKey],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the gRPC server exited before it listened");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    port: Number(text.trim()),
    close: async () => {
      proc.kill("SIGTERM");
      await proc.stdout.cancel();
      await proc.status;
    },
  };
}

/** An UpstreamTlsContext checking the test CA, with extra common_tls_context lines. */
function upstreamTls(c: TestCerts, extra = ""): string {
  return `transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
    sni: example.com
    common_tls_context:
      validation_context:
        trusted_ca: { filename: ${c.caCert} }
${extra}`;
}

/** typed_extension_protocol_options with the given upstream protocol config. */
function protocol(config: string): string {
  return `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    ${config}
`;
}
const EXPLICIT_H2 = protocol("explicit_http_config: { http2_protocol_options: {} }");
const AUTO = protocol("auto_config: { http_protocol_options: {}, http2_protocol_options: {} }");

Deno.test("upstream HTTP/2 over TLS and auto_config: ALPN h2 offered, the negotiated protocol picks the codec (nginx, nghttpd, s_server), bad handshakes are 503 UF", async () => {
  const c = await testCerts();
  const ng = await nginx(c);
  const docroot = await Deno.makeTempDir({ prefix: "denvoy-nghttpd-" });
  await Deno.mkdir(`${docroot}/auto-ng`);
  await Deno.writeTextFile(`${docroot}/auto-ng/hello`, "hello from nghttpd\n");
  const nghttpdPort = freePort();
  const nghttpd = await peer(
    "nghttpd",
    ["-a", "127.0.0.1", "-d", docroot, String(nghttpdPort), c.serverKey, c.serverChain],
    nghttpdPort,
  );
  // openssl s_server negotiates no ALPN (no -alpn): an "old TLS stack".
  const noAlpnPort = freePort();
  const noAlpn = await peer("openssl", [
    "s_server",
    "-quiet",
    "-accept",
    `127.0.0.1:${noAlpnPort}`,
    "-cert",
    c.serverChain,
    "-cert_chain",
    `${c.dir}/inter.pem`,
    "-key",
    c.serverKey,
    "-www",
  ], noAlpnPort);
  // Reads the ClientHello, then hangs up.
  const hangup = tcpServer(async (conn) => {
    await conn.read(new Uint8Array(4096)).catch(() => null);
    conn.close();
  });
  const log = tempFile("", ".log");
  const route = (prefix: string, cluster: string, extra = "") =>
    `- match: { prefix: "${prefix}" }\n  route: { cluster: ${cluster}${extra} }\n`;
  const proxy = await Proxy.start(
    httpConfig({
      routes: route("/h2/", "h2") + route("/own/", "own") +
        route("/h2-none/", "h2_none", ", timeout: 1s") +
        route("/h2-hangup/", "h2_hangup") + route("/auto-h2/", "auto_h2") +
        route("/auto-h1/", "auto_h1") + route("/auto-ng/", "auto_ng") +
        route("/auto-own/", "auto_own") + route("/auto-none/", "auto_none") +
        route("/auto-hangup/", "auto_hangup"),
      hcmExtra: fileAccessLog(
        log,
        "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_PROTOCOL%",
      ),
      clusters: staticCluster("h2", ng.h2, EXPLICIT_H2 + upstreamTls(c)) +
        staticCluster(
          "own",
          ng.h2,
          EXPLICIT_H2 + upstreamTls(c, "      alpn_protocols: [h2, http/1.1]\n"),
        ) +
        staticCluster("h2_none", noAlpn.port, EXPLICIT_H2 + upstreamTls(c)) +
        staticCluster("h2_hangup", hangup.port, EXPLICIT_H2 + upstreamTls(c)) +
        staticCluster("auto_h2", ng.h2, AUTO + upstreamTls(c)) +
        staticCluster("auto_h1", ng.h1, AUTO + upstreamTls(c)) +
        staticCluster("auto_ng", nghttpd.port, AUTO + upstreamTls(c)) +
        staticCluster(
          "auto_own",
          ng.h2,
          AUTO + upstreamTls(c, "      alpn_protocols: [http/1.1]\n"),
        ) +
        staticCluster("auto_none", noAlpn.port, AUTO + upstreamTls(c)) +
        staticCluster("auto_hangup", hangup.port, AUTO + upstreamTls(c)),
    }),
    ["--file-flush-interval-msec", "20"],
  );
  const port = proxy.port("http");
  const get = (path: string) => curl([`http://127.0.0.1:${port}${path}`, "-w", "%{http_code}"]);
  try {
    // Explicit HTTP/2: ALPN h2 offered (no alpn_protocols), the server certificate checked.
    let r = await get("/h2/a");
    assertEquals(r.out, "proto=HTTP/2.0 alpn=h2 sni=example.com\n200");
    // The context's own alpn_protocols are offered instead; nginx still picks h2.
    r = await get("/own/a");
    assertEquals(r.out, "proto=HTTP/2.0 alpn=h2 sni=example.com\n200");
    // auto_config: h2 from nginx and nghttpd, HTTP/1.1 where the upstream picks http/1.1 —
    // the nginx server without http2, or because the context offers only http/1.1.
    r = await get("/auto-h2/a");
    assertEquals(r.out, "proto=HTTP/2.0 alpn=h2 sni=example.com\n200");
    r = await get("/auto-ng/hello");
    assertEquals(r.out, "hello from nghttpd\n200");
    r = await get("/auto-h1/a");
    assertEquals(r.out, "proto=HTTP/1.1 alpn=http/1.1 sni=example.com\n200");
    r = await get("/auto-own/a");
    assertEquals(r.out, "proto=HTTP/1.1 alpn=http/1.1 sni=example.com\n200");
    // No ALPN at all: HTTP/1.1 (s_server -www answers a GET with its status page).
    r = await get("/auto-none/");
    assertMatch(r.out, /200$/);
    // Explicit HTTP/2 speaks HTTP/2 whatever ALPN says, as Envoy's HTTP/2 pool: s_server
    // never answers the preface, so the route timeout ends the request.
    r = await get("/h2-none/");
    assertEquals(r.out.slice(-3), "504");
    // A handshake the upstream hangs up on fails the connect: 503 UF, both pools.
    r = await get("/h2-hangup/");
    assertEquals(r.out.slice(-3), "503");
    r = await get("/auto-hangup/");
    assertEquals(r.out.slice(-3), "503");

    // HTTP/2 downstream too (nghttp, h2c prior knowledge), multiplexed on one upstream connection.
    const ng1 = await new Deno.Command("nghttp", { args: [`http://127.0.0.1:${port}/h2/b`] })
      .output();
    assertEquals(new TextDecoder().decode(ng1.stdout), "proto=HTTP/2.0 alpn=h2 sni=example.com\n");
    const load = await new Deno.Command("h2load", {
      args: ["-n", "40", "-c", "2", "-m", "8", `http://127.0.0.1:${port}/h2/c`],
    }).output();
    assertMatch(new TextDecoder().decode(load.stdout), /40 succeeded, 0 failed, 0 errored/);
    // Concurrent requests on auto_config pools: multiplexed where h2 was negotiated, one per
    // connection (more connections, each reused) where http/1.1 was.
    for (const path of ["/auto-h2/m", "/auto-h1/m"]) {
      const out = await new Deno.Command("h2load", {
        args: ["-n", "12", "-c", "1", "-m", "4", `http://127.0.0.1:${port}${path}`],
      }).output();
      assertMatch(new TextDecoder().decode(out.stdout), /12 succeeded, 0 failed, 0 errored/);
    }

    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) =>
        s["cluster.h2.upstream_rq_200"] === 42 && s["cluster.auto_h1.upstream_rq_200"] === 13 &&
        s["cluster.auto_h2.upstream_rq_200"] === 13,
    );
    assertEquals(s["cluster.h2.upstream_cx_total"], 1);
    assertEquals(s["cluster.h2.upstream_cx_http2_total"], 1);
    assertEquals(s["cluster.h2.ssl.handshake"], 1);
    assertEquals(s["cluster.auto_h2.upstream_cx_total"], 1);
    assertEquals(s["cluster.auto_h2.upstream_cx_http2_total"], 1);
    assertEquals(s["cluster.auto_h2.upstream_cx_http1_total"], 0);
    assert(s["cluster.auto_h1.upstream_cx_http1_total"] >= 1);
    assert(s["cluster.auto_h1.upstream_cx_http1_total"] <= 4);
    assertEquals(
      s["cluster.auto_h1.upstream_cx_total"],
      s["cluster.auto_h1.upstream_cx_http1_total"],
    );
    assertEquals(s["cluster.auto_h1.upstream_cx_http2_total"], 0);
    assertEquals(s["cluster.auto_none.upstream_cx_http1_total"], 1);
    assertEquals(s["cluster.h2_hangup.upstream_cx_connect_fail"], 1);
    assertEquals(s["cluster.h2_hangup.ssl.connection_error"], 1);
    assertEquals(s["cluster.auto_hangup.upstream_cx_connect_fail"], 1);

    const lines = await waitForLines(log, 75);
    const byPath = Object.fromEntries(lines.map((l) => [l.split(" ")[0], l]));
    assertEquals(byPath["/h2/a"], "/h2/a 200 - HTTP/2");
    assertEquals(byPath["/auto-h2/a"], "/auto-h2/a 200 - HTTP/2");
    assertEquals(byPath["/auto-h1/a"], "/auto-h1/a 200 - HTTP/1.1");
    assertEquals(byPath["/auto-none/"], "/auto-none/ 200 - HTTP/1.1");
    assertEquals(byPath["/h2-none/"], "/h2-none/ 504 UT HTTP/2");
    assertEquals(byPath["/h2-hangup/"], "/h2-hangup/ 503 UF -");
    assertEquals(byPath["/auto-hangup/"], "/auto-hangup/ 503 UF -");
  } finally {
    await proxy.stop();
    hangup.close();
    await noAlpn.stop();
    await nghttpd.stop();
    await ng.stop();
  }
});

Deno.test("gRPC through the proxy to a grpc-js server over TLS (explicit HTTP/2, ALPN h2): unary with trailers, server streaming", async () => {
  const c = await testCerts();
  const server = await grpcTlsServer(c);
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/", grpc: {} }\n  route: { cluster: grpc }`,
    clusters: staticCluster("grpc", server.port, EXPLICIT_H2 + upstreamTls(c)),
  }));
  const Client = grpc.makeGenericClientConstructor(SERVICE, "Echo");
  const client: Call = new Client(`127.0.0.1:${proxy.port()}`, grpc.credentials.createInsecure());
  try {
    const unary = await new Promise<{ value: string; trailer: unknown }>((resolve, reject) => {
      let value = "";
      const call = client.unary(Buffer.from("hi"), (err: Error | null, v?: Buffer) => {
        if (err) reject(err);
        else value = v!.toString();
      });
      call.on("status", (st: grpc.StatusObject) => {
        resolve({ value, trailer: st.metadata.get("x-trailer")[0] });
      });
    });
    assertEquals(unary, { value: "echo:hi", trailer: "t-hi" });
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.serverStream(Buffer.from("go"));
      call.on("data", (d: Buffer) => got.push(d.toString()));
      call.on("error", reject);
      call.on("end", () => resolve());
    });
    assertEquals(got, ["m0", "m1", "m2"]);
    const s = await adminStatsWhen(proxy.adminPort, (s) => s["cluster.grpc.upstream_rq_200"] === 2);
    assertEquals(s["cluster.grpc.upstream_cx_http2_total"], 1);
    assertEquals(s["cluster.grpc.ssl.handshake"], 1);
  } finally {
    client.close();
    await proxy.stop();
    await server.close();
  }
});

Deno.test("auto_config without TLS is refused as Envoy refuses it (non-ALPN transport socket), HTTP/3 under auto_config is refused", async () => {
  const config = (name: string, extra: string) =>
    httpConfig({
      routes: `- match: { prefix: "/" }\n  route: { cluster: ${name} }`,
      clusters: staticCluster(name, 1, extra),
    });
  let r = await runMain(["--mode", "validate", "-c", tempFile(config("plain", AUTO))]);
  assert(r.code !== 0);
  assertMatch(
    r.stderr,
    /ALPN configured for cluster plain which has a non-ALPN transport socket/,
  );
  r = await runMain([
    "--mode",
    "validate",
    "-c",
    tempFile(config("h3", protocol("auto_config: { http3_protocol_options: {} }"))),
  ]);
  assert(r.code !== 0);
  assertMatch(r.stderr, /upstream HTTP\/3/);
});
