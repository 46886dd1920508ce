/**
 * ORIGINAL_DST clusters end to end: the real main.ts routes to the destination named by
 * x-envoy-original-dst-host (or the configured header), applies upstream_port_override, and
 * forgets hosts once they are idle for cleanup_interval.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { MAIN, tempFile } from "./helpers.ts";
import { curl, httpConfig, Proxy } from "./proxy.ts";

/** An upstream on `hostname` answering with its own name. */
function upstreamOn(hostname: string) {
  const srv = Deno.serve(
    { hostname, port: 0, onListen: () => {} },
    () => new Response(`from ${hostname}`),
  );
  return { port: srv.addr.port, close: () => srv.shutdown() };
}

function originalDst(name: string, lbConfig: string): string {
  return `- name: ${name}
  type: ORIGINAL_DST
  lb_policy: CLUSTER_PROVIDED
  connect_timeout: 1s
  cleanup_interval: 0.2s
  original_dst_lb_config: ${lbConfig}
  typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      common_http_protocol_options: { idle_timeout: 0.1s }
      explicit_http_config: { http_protocol_options: {} }
`;
}

Deno.test("ORIGINAL_DST: routes to the header's ip:port, port override, no header is UH, idle hosts are cleaned up", async () => {
  const a = upstreamOn("127.0.0.2");
  const b = upstreamOn("127.0.0.3");
  const p = await Proxy.start(
    httpConfig({
      routes: `- match: { prefix: "/override" }
  route: { cluster: od_port }
- match: { prefix: "/" }
  route: { cluster: od }`,
      clusters: originalDst("od", "{ use_http_header: true }") +
        originalDst(
          "od_port",
          `{ use_http_header: true, http_header_name: X-Dst, upstream_port_override: ${b.port} }`,
        ),
    }),
    ["--component-log-level", "upstream:debug"],
  );
  try {
    const url = `http://127.0.0.1:${p.port()}`;
    const r1 = await curl([`${url}/`, "-H", `x-envoy-original-dst-host: 127.0.0.2:${a.port}`]);
    assertEquals(r1.out, "from 127.0.0.2");
    const r2 = await curl([`${url}/`, "-H", `x-envoy-original-dst-host: 127.0.0.3:${b.port}`]);
    assertEquals(r2.out, "from 127.0.0.3");
    // The port is replaced by upstream_port_override; the header is the configured one.
    const r3 = await curl([`${url}/override`, "-H", "x-dst: 127.0.0.3:1"]);
    assertEquals(r3.out, "from 127.0.0.3");
    // Without an original destination (no header, no original_dst listener filter): no host.
    const r4 = await curl(["-i", `${url}/`]);
    assertMatch(r4.out, /^HTTP\/1.1 503[\s\S]*no healthy upstream$/);
    const r5 = await curl(["-i", `${url}/`, "-H", "x-envoy-original-dst-host: not-an-address"]);
    assertMatch(r5.out, /^HTTP\/1.1 503/);
    const stats = await curl([
      `http://127.0.0.1:${p.adminPort}/stats?filter=original_dst_host_invalid`,
    ]);
    assertMatch(stats.out, /cluster\.od\.original_dst_host_invalid: 1/);
    // Idle past the idle timeout and two cleanup rounds: the host is forgotten.
    await p.proc.waitFor(new RegExp(`removed stale host 127\\.0\\.0\\.2:${a.port}`));
    const again = await curl([`${url}/`, "-H", `x-envoy-original-dst-host: 127.0.0.2:${a.port}`]);
    assertEquals(again.out, "from 127.0.0.2");
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("ORIGINAL_DST: Envoy's config checks", async () => {
  const start = async (cluster: string) => {
    try {
      const p = await Proxy.start(httpConfig({
        routes: `- match: { prefix: "/" }\n  route: { cluster: od }`,
        clusters: cluster,
      }));
      await p.stop();
      return "";
    } catch (e) {
      return String(e);
    }
  };
  assertMatch(
    await start(`- name: od\n  type: ORIGINAL_DST\n  lb_policy: ROUND_ROBIN\n`),
    /cluster: LB policy ROUND_ROBIN is not valid for Cluster type ORIGINAL_DST\. Only 'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'/,
  );
  assertMatch(
    await start(
      `- name: od\n  type: ORIGINAL_DST\n  lb_policy: CLUSTER_PROVIDED\n  original_dst_lb_config: { http_header_name: x-d }\n`,
    ),
    /invalid config http_header_name=x-d and use_http_header is false/,
  );
  assertMatch(
    await start(
      `- name: od\n  type: ORIGINAL_DST\n  lb_policy: CLUSTER_PROVIDED\n  load_assignment: { cluster_name: od }\n`,
    ),
    /ORIGINAL_DST clusters must have no load assignment configured/,
  );
});

Deno.test({
  name: /\.[jt]s$/.test(MAIN)
    ? "without FFI: original_dst, listener socket_options and keepalive timers are refused at config time"
    : "without FFI (skipped: a compiled binary cannot be denied FFI)",
  ignore: !/\.[jt]s$/.test(MAIN),
  async fn() {
    const yaml = `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    socket_options: [{ level: 1, name: 9, int_value: 1, state: STATE_LISTENING }]
    listener_filters:
    - name: envoy.filters.listener.original_dst
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: t
          cluster: c
  clusters:
  - name: c
    type: ORIGINAL_DST
    lb_policy: CLUSTER_PROVIDED
    upstream_connection_options: { tcp_keepalive: { keepalive_time: 10 } }
`;
    const path = tempFile(yaml);
    const run = (ffi: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", ...ffi, "--unstable-net", MAIN, "--mode", "validate", "-c", path],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
    const denied = await run(["--deny-ffi"]);
    const text = new TextDecoder().decode(denied.stderr) + new TextDecoder().decode(denied.stdout);
    assert(!denied.success, text);
    for (
      const at of [
        ":5:21: static_resources.listeners[0].socket_options: unsupported",
        ":9:9: static_resources.listeners[0].listener_filters[0].typed_config: unsupported",
        ":18:5: static_resources.clusters[0]: cluster 'c': upstream_connection_options.tcp_keepalive",
      ]
    ) assert(text.includes(at), `${at}:\n${text}`);
    assertEquals((text.match(/--allow-ffi/g) ?? []).length, 3, text);
    assert((await run([])).success);
  },
});
