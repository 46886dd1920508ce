/**
 * The upstream PROXY protocol transport socket against real peers: haproxy with `accept-proxy`
 * reports the source it was given (v1 and v2, through tcp_proxy and through the HTTP pool), and
 * a raw socket sees the exact header bytes, TLVs passed through from a downstream PROXY header.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, Proxy, rawExchange, tcpServer } from "./proxy.ts";
import { freePort } from "./helpers.ts";

const haveHaproxy = new Deno.Command("sh", { args: ["-c", "command -v haproxy"] }).outputSync()
  .success;

/** haproxy answering every request with the source and destination the PROXY header gave. */
async function haproxy(): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = freePort();
  const cfg = Deno.makeTempFileSync({ suffix: ".cfg" });
  Deno.writeTextFileSync(
    cfg,
    `global
  log stderr format raw local0 emerg
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:${port} accept-proxy
  http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port] %[dst]:%[dst_port]\\n"
`,
  );
  const child = new Deno.Command("haproxy", {
    args: ["-db", "-f", cfg],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    port,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

function ppCluster(name: string, port: number, pp: string): string {
  return `  - name: ${name}
    type: STATIC
    connect_timeout: 1s
    transport_socket:
      name: envoy.transport_sockets.upstream_proxy_protocol
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport
        config: ${pp}
        transport_socket:
          name: envoy.transport_sockets.raw_buffer
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
`;
}

Deno.test({
  name: haveHaproxy
    ? "upstream PROXY protocol v1 and v2 to haproxy (accept-proxy): tcp_proxy sends the downstream addresses, HTTP pools their own"
    : "upstream PROXY protocol to haproxy SKIPPED because haproxy is not installed",
  ignore: !haveHaproxy,
}, async () => {
  const hap = await haproxy();
  const tcpListener = (name: string, cluster: string) =>
    `  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: ${name}
          cluster: ${cluster}
`;
  const proxy = await Proxy.start(`admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
${tcpListener("tcp_v1", "v1")}${tcpListener("tcp_v2", "v2")}  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: http
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: v1 } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${ppCluster("v1", hap.port, "{ version: V1 }")}${
    ppCluster("v2", hap.port, "{ version: V2 }").replace(
      "    connect_timeout: 1s\n",
      "    connect_timeout: 1s\n    health_checks: [{ timeout: 1s, interval: 0.1s, " +
        "unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: /hc } }]\n",
    )
  }`);
  try {
    for (const name of ["tcp_v1", "tcp_v2"]) {
      const port = proxy.port(name);
      const r = await curl([
        "-sS",
        "--local-port",
        "0",
        "-w",
        " %{local_port}",
        `http://127.0.0.1:${port}/`,
      ]);
      assertEquals(r.code, 0, r.err);
      const [src, dst, localPort] = r.out.trim().split(/\s+/);
      // haproxy saw curl's address and the proxy's listener, not the proxy's upstream socket.
      assertEquals([src, dst], [`127.0.0.1:${localPort}`, `127.0.0.1:${port}`], name);
    }
    // Health checks speak the PROXY protocol too (a LOCAL v2 header): haproxy answers them.
    await adminStatsWhen(proxy.adminPort, (s) => s["cluster.v2.health_check.success"] >= 1);
    // Through the HTTP pool: the upstream connection's own addresses (v1).
    const h = await curl(["-sS", `http://127.0.0.1:${proxy.port("http")}/`]);
    const [src, dst] = h.out.trim().split(" ");
    assertEquals(dst, `127.0.0.1:${hap.port}`);
    assert(src.startsWith("127.0.0.1:"), src);
  } finally {
    await proxy.stop();
    await hap.stop();
  }
});

Deno.test("upstream PROXY protocol v2: exact bytes on the wire, TLVs passed through from the downstream header", async () => {
  let captured: Uint8Array | undefined;
  const got = Promise.withResolvers<void>();
  const sink = tcpServer(async (c) => {
    const buf = new Uint8Array(4096);
    let all = new Uint8Array(0);
    for (;;) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) break;
      all = new Uint8Array([...all, ...buf.subarray(0, n)]);
      if (new TextDecoder().decode(all).endsWith("ping")) break;
    }
    captured = all;
    await c.write(new TextEncoder().encode("pong")).catch(() => {});
    c.close();
    got.resolve();
  });
  const proxy = await Proxy.start(`static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.proxy_protocol
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol
        pass_through_tlvs: { match_type: INCLUDE_ALL }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: l
          cluster: sink
  clusters:
${
    ppCluster(
      "sink",
      sink.port,
      "{ version: V2, pass_through_tlvs: { match_type: INCLUDE, tlv_type: [0xEA] } }",
    )
  }`);
  try {
    const sig = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
    const addr = [203, 0, 113, 5, 198, 51, 100, 9, 0x11, 0x5c, 0x01, 0xbb];
    const tlvs = [0xea, 0, 2, 0x61, 0x62, 0x02, 0, 1, 0x7a];
    const len = addr.length + tlvs.length;
    const down = new Uint8Array([
      ...sig,
      0x21,
      0x11,
      0,
      len,
      ...addr,
      ...tlvs,
      ...new TextEncoder().encode("ping"),
    ]);
    assertEquals(await rawExchange(proxy.port("l"), down), "pong");
    await got.promise;
    // The same addresses, only the TLV the cluster passes (0xEA), then the payload.
    const up = [...sig, 0x21, 0x11, 0, 17, ...addr, 0xea, 0, 2, 0x61, 0x62];
    assertEquals([...captured!], [...up, ...new TextEncoder().encode("ping")]);
  } finally {
    await proxy.stop();
    sink.close();
  }
});

Deno.test("upstream PROXY protocol refusals: wrapping TLS, downstream PROXY over HTTP", async () => {
  const { runMain, tempFile } = await import("./helpers.ts");
  const tls = ppCluster("c", 1, "{ version: V1 }").replace(
    /transport_socket:\n(\s+)name: envoy.transport_sockets.raw_buffer\n(\s+)typed_config:\n(\s+)"@type": [^\n]+/,
    `transport_socket:\n$1name: envoy.transport_sockets.tls\n$2typed_config:\n$3"@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  );
  for (const [clusters, want] of [[tls, "tls"]]) {
    const r = await runMain([
      "--mode",
      "validate",
      "-c",
      tempFile(`static_resources:\n  clusters:\n${clusters}`),
    ]);
    assert(r.code !== 0 && (r.stderr + r.stdout).includes(want), `${want}: ${r.stderr}${r.stdout}`);
  }
  const http = await runMain([
    "--mode",
    "validate",
    "-c",
    tempFile(`static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.proxy_protocol
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: http
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: c } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${ppCluster("c", 1, "{ version: V1 }")}`),
  ]);
  assert(
    http.code !== 0 && (http.stderr + http.stdout).includes("downstream PROXY header"),
    http.stderr,
  );
});

Deno.test("upstream_proxy_protocol on a listener's filter chain is refused in validate", async () => {
  const { runMain, tempFile } = await import("./helpers.ts");
  const r = await runMain([
    "--mode",
    "validate",
    "-c",
    tempFile(`static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.upstream_proxy_protocol
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport
          config: { version: V1 }
          transport_socket:
            name: envoy.transport_sockets.raw_buffer
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: t
          cluster: c
  clusters:
${ppCluster("c", 1, "{ version: V1 }")}`),
  ]);
  assert(r.code !== 0 && (r.stderr + r.stdout).includes("upstream transport socket"), r.stderr);
});
