/**
 * The original_dst listener filter with a real NAT redirect: in a network namespace of its own
 * (`unshare -rn`), iptables/ip6tables REDIRECT the test client's connections (made from source
 * ports 20000-20099, below the kernel's ephemeral range, so the proxy's own upstream
 * connections are not redirected) to the proxy. The proxy reads SO_ORIGINAL_DST /
 * IP6T_SO_ORIGINAL_DST, picks the filter chain by the original destination port, logs it as
 * `%DOWNSTREAM_LOCAL_ADDRESS%` (the socket's own address as the direct one) and an
 * ORIGINAL_DST cluster connects to it, from the HTTP router and from tcp_proxy. A listener
 * with `use_original_dst` hands redirected connections to the listener bound to their original
 * address (exact, else the port's wildcard), or keeps them.
 *
 * This file runs itself inside the namespace: the outer test starts `deno test` on this file
 * under `unshare -rn` with DENVOY_IN_NETNS=1, where the inner tests run.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { tempFile } from "./helpers.ts";
import { curl, fileAccessLog, Proxy, waitForLines } from "./proxy.ts";

const INSIDE = Deno.env.get("DENVOY_IN_NETNS") === "1";
/** The client's source ports: the only connections the NAT rules redirect. */
const CLIENT_PORTS = "20000-20099";

/** Why a network namespace with NAT rules cannot be made here, or undefined. */
function netnsUnavailable(): string | undefined {
  for (const tool of ["unshare", "iptables", "ip6tables", "ip"]) {
    try {
      new Deno.Command(tool, { args: ["--version"], stdout: "null", stderr: "null" })
        .outputSync();
    } catch {
      return `no ${tool} (Debian packages util-linux, iptables, iproute2)`;
    }
  }
  const r = new Deno.Command("unshare", {
    args: ["-rn", "sh", "-c", "ip link set lo up && iptables -t nat -L OUTPUT -n"],
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  return r.success
    ? undefined
    : `unshare -rn with iptables failed: ${new TextDecoder().decode(r.stderr).trim()}`;
}

if (!INSIDE) {
  const why = netnsUnavailable();
  Deno.test({
    name: why
      ? `original_dst with an iptables REDIRECT (skipped: ${why})`
      : "original_dst with an iptables REDIRECT in a network namespace of its own",
    ignore: why !== undefined,
    async fn() {
      const self = new URL(import.meta.url).pathname;
      const out = await new Deno.Command("unshare", {
        args: [
          "-rn",
          "sh",
          "-c",
          `ip link set lo up && exec "$0" test -A --unstable-net --no-check "$1"`,
          Deno.execPath(),
          self,
        ],
        env: { DENVOY_IN_NETNS: "1", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert(out.success, text);
      assert(/ok \| [1-9]\d* passed \| 0 failed/.test(text), text);
    },
  });
}

/** Runs a NAT rule command (iptables or ip6tables) inside the namespace. */
async function nat(tool: string, ...args: string[]): Promise<void> {
  const r = await new Deno.Command(tool, { args: ["-t", "nat", ...args], stderr: "piped" })
    .output();
  if (!r.success) {
    throw new Error(`${tool} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** Redirects the client's connections to `ip`:`port` to the proxy port `to`. */
function redirect(tool: string, ip: string, port: number, to: number): Promise<void> {
  return nat(
    tool,
    ...["-A", "OUTPUT", "-p", "tcp", "-d", ip, "--dport", String(port)],
    ...["--sport", CLIENT_PORTS.replace("-", ":"), "-j", "REDIRECT", "--to-ports", String(to)],
  );
}

const HCM = (log: string, routeTo: string) => `
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: od
${log.replace(/^/gm, "          ")}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, ${routeTo} }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`;

const DIRECT = (body: string) =>
  `direct_response: { status: 200, body: { inline_string: "${body}" } }`;

const ORIGINAL_DST_FILTER = `
    listener_filters:
    - name: envoy.filters.listener.original_dst
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst`;

Deno.test({
  name:
    "original_dst (in the namespace): HTTP and tcp_proxy over IPv4 and IPv6 reach the original destination",
  ignore: !INSIDE,
  async fn() {
    const up = (hostname: string) =>
      Deno.serve(
        { hostname, port: 0, onListen: () => {} },
        (req) => new Response(`upstream ${hostname} ${new URL(req.url).pathname}`),
      );
    const v4 = up("0.0.0.0"), v6 = up("::1");
    const log = tempFile("", ".log");
    const handedLog = tempFile("", ".log");
    const format =
      "%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_DIRECT_LOCAL_ADDRESS% %UPSTREAM_HOST% %RESPONSE_CODE%";
    const yaml = `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: v4
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }${ORIGINAL_DST_FILTER}
    filter_chains:
    - name: redirected
      filter_chain_match: { destination_port: ${v4.addr.port} }
      filters:${HCM(fileAccessLog(log, format), "route: { cluster: od }")}
    - name: direct
      filters:${HCM("", DIRECT("direct"))}
  - name: v6
    address: { socket_address: { address: "::1", port_value: 0 } }${ORIGINAL_DST_FILTER}
    filter_chains:
    - filters:${HCM("", "route: { cluster: od }")}
  - name: tcp
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }${ORIGINAL_DST_FILTER}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: od
  - name: outbound
    use_original_dst: true
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }${ORIGINAL_DST_FILTER}
    filter_chains:
    - filters:${HCM("", DIRECT("outbound"))}
  - name: handed
    address: { socket_address: { address: 127.0.0.4, port_value: 0 } }
    filter_chains:
    - filters:${HCM(fileAccessLog(handedLog, format), DIRECT("handed"))}
  - name: wildcard
    address: { socket_address: { address: 0.0.0.0, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.http_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector
    filter_chains:
    - filter_chain_match: { application_protocols: [http/1.1] }
      filters:${HCM("", DIRECT("wildcard"))}
  clusters:
  - name: od
    type: ORIGINAL_DST
    lb_policy: CLUSTER_PROVIDED
    connect_timeout: 1s
`;
    const p = await Proxy.start(yaml, ["--file-flush-interval-msec", "20"]);
    try {
      await redirect("iptables", "127.0.0.2", v4.addr.port, p.port("v4"));
      await redirect("ip6tables", "::1", v6.addr.port, p.port("v6"));
      await redirect("iptables", "127.0.0.3", v4.addr.port, p.port("tcp"));
      const get = (url: string) => curl(["-g", "--local-port", CLIENT_PORTS, url]);

      // IPv4 through the HTTP connection manager: the chain of the original port, the
      // ORIGINAL_DST cluster connects to 127.0.0.2:<upstream port>.
      const r1 = await get(`http://127.0.0.2:${v4.addr.port}/a`);
      assertEquals(r1.out, "upstream 0.0.0.0 /a", r1.err);
      const [line] = await waitForLines(log, 1);
      assertEquals(
        line,
        `127.0.0.2:${v4.addr.port} 127.0.0.1:${p.port("v4")} 127.0.0.2:${v4.addr.port} 200`,
      );
      // IPv6 (IP6T_SO_ORIGINAL_DST).
      const r2 = await get(`http://[::1]:${v6.addr.port}/b`);
      assertEquals(r2.out, "upstream ::1 /b", r2.err);
      // tcp_proxy to the ORIGINAL_DST cluster.
      const r3 = await get(`http://127.0.0.3:${v4.addr.port}/c`);
      assertEquals(r3.out, "upstream 0.0.0.0 /c", r3.err);
      // use_original_dst: the listener bound to the original address takes the connection
      // (exact address, else the wildcard of the port); without one it stays.
      const [outbound, handed, wildcard] = [
        p.port("outbound"),
        p.port("handed"),
        p.port("wildcard"),
      ];
      await redirect("iptables", "127.0.0.4", handed, outbound);
      await redirect("iptables", "127.0.0.5", handed, outbound);
      await redirect("iptables", "127.0.0.6", wildcard, outbound);
      assertEquals((await get(`http://127.0.0.4:${handed}/`)).out, "handed");
      assertEquals(
        await waitForLines(handedLog, 1),
        [`127.0.0.4:${handed} 127.0.0.1:${outbound} - 200`],
      );
      assertEquals((await get(`http://127.0.0.5:${handed}/`)).out, "outbound");
      assertEquals((await get(`http://127.0.0.6:${wildcard}/`)).out, "wildcard");
      // Not redirected: the proxy's own port picks the other chain.
      const r4 = await curl([`http://127.0.0.1:${p.port("v4")}/`]);
      assertEquals(r4.out, "direct");
    } finally {
      await p.stop();
      await v4.shutdown();
      await v6.shutdown();
    }
  },
});
