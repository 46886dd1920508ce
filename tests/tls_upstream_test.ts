/**
 * Upstream TLS end to end against nginx with ssl: SNI, a client certificate (mTLS to the
 * upstream), the server certificate checked against trusted_ca and SANs, TLS sessions resumed
 * across a pool's connections, and `cluster.<name>.ssl.*` stats. Also tcp_proxy to a TLS
 * upstream.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  adminStatsWhen,
  curl,
  fileAccessLog,
  httpConfig,
  Proxy,
  rawExchange,
  staticCluster,
  waitForLines,
} from "./proxy.ts";
import { tempFile } from "./helpers.ts";
import { type TestCerts, testCerts } from "./tls_certs.ts";
import * as http2 from "node:http2";
import * as tls from "node:tls";
import { freePort } from "./helpers.ts";

const FAST_FLUSH = ["--file-flush-interval-msec", "20"];

/**
 * nginx serving TLS that echoes TLS facts: on `port` it demands a client certificate of the test
 * CA, on `openPort` it does not.
 */
async function nginxTls(
  c: TestCerts,
): Promise<{ port: number; openPort: number; stop: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "denvoy-nginx-" });
  const port = freePort();
  const openPort = freePort();
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
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${c.serverChain};
    ssl_certificate_key ${c.serverKey};
    ssl_client_certificate ${c.caCert};
    ssl_verify_client on;
    ssl_session_cache shared:SSL:1m;
    location / {
      return 200 "client=$ssl_client_s_dn sni=$ssl_server_name reused=$ssl_session_reused proto=$ssl_protocol\\n";
    }
  }
  server {
    listen 127.0.0.1:${openPort} ssl;
    ssl_certificate ${c.serverChain};
    ssl_certificate_key ${c.serverKey};
    ssl_session_cache shared:SSL2:1m;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      return 200 "sni=$ssl_server_name reused=$ssl_session_reused proto=$ssl_protocol\\n";
    }
  }
}
`,
  );
  const proc = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`, "-g", "daemon off;"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Ready once it accepts connections.
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    port,
    openPort,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.output();
    },
  };
}

function upstreamTls(c: TestCerts, extra = ""): string {
  return `transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
    sni: example.com
    common_tls_context:
      tls_certificates:
      - certificate_chain: { filename: ${c.clientCert} }
        private_key: { filename: ${c.clientKey} }
      validation_context:
        trusted_ca: { filename: ${c.caCert} }
${extra}`;
}

Deno.test("upstream TLS to nginx: SNI, client certificate (mTLS), server SAN checked, cluster ssl stats and UPSTREAM_TLS operators", async () => {
  const c = await testCerts();
  const nginx = await nginxTls(c);
  const log = tempFile("", ".log");
  const proxy = await Proxy.start(
    httpConfig({
      routes: `- match: { prefix: "/" }\n  route: { cluster: tls }`,
      hcmExtra: fileAccessLog(
        log,
        "%UPSTREAM_TLS_VERSION% %UPSTREAM_PEER_SUBJECT% %UPSTREAM_PEER_DNS_SAN%",
      ),
      clusters: staticCluster(
        "tls",
        nginx.port,
        upstreamTls(
          c,
          `        match_typed_subject_alt_names:
        - san_type: DNS
          matcher: { exact: example.com }
`,
        ),
      ),
    }),
    FAST_FLUSH,
  );
  try {
    const port = proxy.port("http");
    const r = await curl([`http://127.0.0.1:${port}/`]);
    assertMatch(r.out, /^client=O=denvoy,CN=client sni=example.com reused=\. proto=TLSv1\.2/);
    const s = await adminStatsWhen(proxy.adminPort, (s) => s["cluster.tls.ssl.handshake"] === 1);
    assertEquals(s["cluster.tls.ssl.versions.TLSv1.2"], 1);
    const lines = await waitForLines(log, 1);
    assertMatch(
      lines[0],
      /^TLSv1\.2 O=denvoy,CN=example\.com example\.com,\*\.example\.com,localhost$/,
    );
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

Deno.test("upstream TLS: sessions are resumed across a pool's connections (max_session_keys default), counted in ssl.session_reused; TLS 1.3 when tls_params allow it", async () => {
  const c = await testCerts();
  const nginx = await nginxTls(c);
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: tls }`,
    clusters: staticCluster(
      "tls",
      nginx.openPort,
      `max_requests_per_connection: 1
transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
    sni: example.com
    common_tls_context:
      tls_params: { tls_maximum_protocol_version: TLSv1_3 }
`,
    ),
  }));
  try {
    const port = proxy.port("http");
    const first = await curl([`http://127.0.0.1:${port}/`]);
    assertMatch(first.out, /^sni=example.com reused=\. proto=TLSv1\.3/);
    // The first connection closed after its request (max_requests_per_connection: 1).
    await adminStatsWhen(proxy.adminPort, (s) => s["cluster.tls.upstream_cx_destroy"] === 1);
    const second = await curl([`http://127.0.0.1:${port}/`]);
    assertMatch(second.out, /reused=r/);
    const s = await adminStatsWhen(proxy.adminPort, (s) => s["cluster.tls.ssl.handshake"] === 2);
    assertEquals(s["cluster.tls.ssl.session_reused"], 1);
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

Deno.test("upstream TLS: a server certificate failing the SAN match or the CA is refused (503 UF, cluster ssl.fail_verify_*), without a client certificate nginx refuses", async () => {
  const c = await testCerts();
  const nginx = await nginxTls(c);
  const cluster = (name: string, tls: string) => staticCluster(name, nginx.port, tls);
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/san" }
  route: { cluster: wrong_san }
- match: { prefix: "/ca" }
  route: { cluster: wrong_ca }`,
    clusters: cluster(
      "wrong_san",
      upstreamTls(
        c,
        `        match_typed_subject_alt_names:
        - san_type: DNS
          matcher: { exact: other.example.org }
`,
      ),
    ) +
      cluster(
        "wrong_ca",
        upstreamTls(c).replace(
          `trusted_ca: { filename: ${c.caCert} }`,
          `trusted_ca: { filename: ${c.otherCaCert} }`,
        ),
      ),
  }));
  try {
    const port = proxy.port("http");
    for (const path of ["/san", "/ca"]) {
      const r = await rawExchange(port, `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`, {
        until: /\r\n\r\n[\s\S]*$/,
      });
      assertMatch(r, /^HTTP\/1\.1 503/);
      assert(
        r.includes(
          "transport failure reason: TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end",
        ),
        r,
      );
    }
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) =>
        s["cluster.wrong_san.ssl.fail_verify_san"] >= 1 &&
        s["cluster.wrong_ca.ssl.fail_verify_error"] >= 1,
    );
    assertEquals(s["cluster.wrong_san.ssl.handshake"], 0);
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

Deno.test("upstream TLS under tcp_proxy: the TCP proxy's upstream connection is TLS", async () => {
  const c = await testCerts();
  const nginx = await nginxTls(c);
  const proxy = await Proxy.start(`static_resources:
  listeners:
  - name: tcp
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: tls
  clusters:
${staticCluster("tls", nginx.port, upstreamTls(c)).replace(/^/gm, "  ")}
`);
  try {
    const r = await rawExchange(
      proxy.port("tcp"),
      "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assertMatch(r, /client=O=denvoy,CN=client sni=example.com/);
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

Deno.test("transport_socket_matches: an endpoint whose envoy.transport_socket_match metadata matches gets that TLS socket; others get the cluster's transport_socket (plaintext here)", async () => {
  const c = await testCerts();
  const nginx = await nginxTls(c);
  const cluster = (name: string, labels: string) =>
    `- name: ${name}
  type: STATIC
  connect_timeout: 1s
  transport_socket_matches:
  - name: tls
    match: { secure: "yes" }
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: example.com
  load_assignment:
    cluster_name: ${name}
    endpoints:
    - lb_endpoints:
      - endpoint:
          address: { socket_address: { address: 127.0.0.1, port_value: ${nginx.openPort} } }
        metadata: { filter_metadata: { envoy.transport_socket_match: ${labels} } }
`;
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/tls" }
  route: { cluster: matched }
- match: { prefix: "/plain" }
  route: { cluster: unmatched }`,
    clusters: cluster("matched", `{ secure: "yes" }`) + cluster("unmatched", `{ secure: "no" }`),
  }));
  try {
    const port = proxy.port("http");
    const tls = await curl([`http://127.0.0.1:${port}/tls`]);
    assertMatch(tls.out, /^sni=example\.com /);
    // nginx answers a plaintext request on its TLS port with a 400.
    const plain = await curl([
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `http://127.0.0.1:${port}/plain`,
    ]);
    assertEquals(plain.out, "400");
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["cluster.matched.ssl.handshake"] === 1,
    );
    assertEquals(s["cluster.unmatched.ssl.handshake"] ?? 0, 0);
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

Deno.test("upstream TLS auto_sni and auto_san_validation: the SNI is the request's host; a certificate without that host as a DNS SAN is refused (503, ssl.fail_verify_san)", async () => {
  const c = await testCerts();
  const nginx = await nginxTls(c);
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: tls }`,
    clusters: staticCluster(
      "tls",
      nginx.openPort,
      `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http_protocol_options: {} }
    upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true }
transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
    sni: default.example.com
`,
    ),
  }));
  try {
    const port = proxy.port("http");
    const foo = await curl(["-H", "host: foo.example.com:8080", `http://127.0.0.1:${port}/`]);
    assertMatch(foo.out, /^sni=foo\.example\.com /);
    const bare = await curl(["-H", "host: example.com", `http://127.0.0.1:${port}/`]);
    assertMatch(bare.out, /^sni=example\.com /);
    const other = await curl([
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      "host: other.org",
      `http://127.0.0.1:${port}/`,
    ]);
    assertEquals(other.out, "503");
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["cluster.tls.ssl.fail_verify_san"] === 1,
    );
    assertEquals(s["cluster.tls.ssl.handshake"], 2);
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

Deno.test("active HTTP health checks of a TLS cluster go through its transport socket: nginx's TLS port answers them", async () => {
  const c = await testCerts();
  const nginx = await nginxTls(c);
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: tls }`,
    clusters: staticCluster(
      "tls",
      nginx.openPort,
      `health_checks:
- timeout: 2s
  interval: 0.2s
  unhealthy_threshold: 1
  healthy_threshold: 1
  http_health_check: { path: /healthz }
transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
    sni: example.com
`,
    ),
  }));
  try {
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["cluster.tls.health_check.success"] >= 1,
    );
    assertEquals(s["cluster.tls.health_check.failure"], 0);
    assert(s["cluster.tls.ssl.handshake"] >= 1);
    const r = await curl([`http://127.0.0.1:${proxy.port("http")}/`]);
    assertMatch(r.out, /^sni=example\.com /);
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

Deno.test("health check transport_socket_match_criteria picks the checks' transport socket from transport_socket_matches: a plaintext cluster's checks speak TLS to nginx's TLS port", async () => {
  const c = await testCerts();
  const nginx = await nginxTls(c);
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: mixed }`,
    clusters: staticCluster(
      "mixed",
      nginx.openPort,
      `health_checks:
- timeout: 2s
  interval: 0.2s
  unhealthy_threshold: 1
  healthy_threshold: 1
  http_health_check: { path: /healthz }
  transport_socket_match_criteria: { hc: tls }
transport_socket_matches:
- name: tls-for-checks
  match: { hc: tls }
  transport_socket:
    name: envoy.transport_sockets.tls
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
      sni: example.com
`,
    ),
  }));
  try {
    // Without the criteria the checks would be plaintext HTTP to a TLS port, and fail.
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["cluster.mixed.health_check.success"] >= 1,
    );
    assertEquals(s["cluster.mixed.health_check.failure"], 0);
    assert(s["cluster.mixed.ssl.handshake"] >= 1);
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

Deno.test({
  name:
    "HTTP/2 health checks through the cluster's TLS transport socket: scheme https, no ALPN the context does not configure",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const c = await testCerts();
  let status = 200;
  const seen: http2.IncomingHttpHeaders[] = [];
  const alpn: (string | false | null)[] = [];
  // node's HTTP/2 server (nghttp2) behind a TLS server that speaks HTTP/2 whatever ALPN the
  // client offered.
  const h2 = http2.createServer();
  h2.on("stream", (stream, headers) => {
    seen.push(headers);
    stream.respond({ ":status": status });
    stream.end("ok");
  });
  const srv = tls.createServer({
    cert: Deno.readTextFileSync(c.serverChain),
    key: Deno.readTextFileSync(c.serverKey),
    ALPNProtocols: ["h2", "http/1.1"],
  }, (sock) => {
    alpn.push(sock.alpnProtocol);
    Object.defineProperty(sock, "alpnProtocol", { value: "h2" });
    h2.emit("connection", sock);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  let proxy: Proxy | undefined;
  try {
    proxy = await Proxy.start(httpConfig({
      routes: `- match: { prefix: "/" }\n  route: { cluster: tls }`,
      clusters: staticCluster(
        "tls",
        port,
        `health_checks:
- timeout: 2s
  interval: 0.05s
  no_traffic_interval: 0.05s
  unhealthy_threshold: 1
  healthy_threshold: 1
  http_health_check: { path: /healthz, host: hc.test, codec_client_type: HTTP2 }
transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
    sni: example.com
    common_tls_context:
      validation_context: { trusted_ca: { filename: ${c.caCert} } }
`,
      ),
    }));
    let s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["cluster.tls.health_check.success"] >= 3,
    );
    assertEquals(s["cluster.tls.membership_healthy"], 1);
    assert(s["cluster.tls.ssl.handshake"] >= 1);
    assertEquals(seen[0][":scheme"], "https");
    assertEquals(seen[0][":authority"], "hc.test");
    // The TLS context configures no ALPN protocol, and the check adds none (as Envoy's).
    assertEquals(alpn[0], false);
    status = 503;
    s = await adminStatsWhen(proxy.adminPort, (s) => s["cluster.tls.membership_healthy"] === 0);
    assertEquals(s["cluster.tls.health_check.network_failure"], 0);
  } finally {
    await proxy?.stop();
    srv.close();
    h2.close();
  }
});
