/**
 * Listeners end to end: several listeners in one config, IPv6, filter chain matching on what
 * loopback can vary (destination IP and port, source IP and port), connections that match no
 * chain, a port already in use, and per-connection buffer limits with flow control.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { runMain, tempFile } from "./helpers.ts";
import {
  curl,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  tcpServer,
  upstream,
} from "./proxy.ts";
import { freePort } from "./helpers.ts";

/** An HCM filter chain answering every request with `body` (plus the peer's address). */
function directChain(body: string, match?: string): string {
  return `${match ? `filter_chain_match: ${match}\n` : ""}filters:
- name: envoy.filters.network.http_connection_manager
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
    stat_prefix: ${body.replace(/\W/g, "_")}
    route_config:
      virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
        - match: { prefix: "/" }
          direct_response: { status: 200, body: { inline_string: "${body}" } }
          response_headers_to_add:
          - header: { key: x-peer, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }
    http_filters:
    - name: envoy.filters.http.router`;
}

const indent = (s: string, n: number) => s.replace(/^/gm, " ".repeat(n));

/** One listener with `chains` (each a directChain) and an optional default chain. */
function chainsConfig(
  address: string,
  port: number,
  chains: string[],
  defaultChain?: string,
): string {
  return `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: "${address}", port_value: ${port} } }
    filter_chains:
${chains.map((c) => indent(c, 6).replace(/^ {6}/, "    - ")).join("\n")}
${defaultChain ? `    default_filter_chain:\n${indent(defaultChain, 6)}` : ""}
`;
}

/** curl's body for `url`, with extra curl arguments. */
async function body(url: string, ...args: string[]): Promise<string> {
  const r = await curl([...args, url]);
  assertEquals(r.code, 0, `${url}: curl exit ${r.code} ${r.err}`);
  return r.out;
}

Deno.test("two listeners in one config: HTTP and TCP, each on its own port", async () => {
  const echo = tcpServer(async (c) => {
    const buf = new Uint8Array(1024);
    for (;;) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) break;
      await c.write(buf.subarray(0, n));
    }
    c.close();
  });
  const yaml = `static_resources:
  listeners:
  - name: web
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
${indent(directChain("web says hi"), 6).replace(/^ {6}/, "    - ")}
  - name: raw
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: raw
          cluster: echo
  clusters:
${indent(staticCluster("echo", echo.port), 2)}
`;
  const p = await Proxy.start(yaml);
  try {
    assert(p.port("web") > 0 && p.port("raw") > 0 && p.port("web") !== p.port("raw"));
    assertEquals(await body(`http://127.0.0.1:${p.port("web")}/`), "web says hi");
    const text = await rawExchange(p.port("raw"), "echo me", { until: /echo me$/ });
    assertEquals(text, "echo me");
  } finally {
    await p.stop();
    echo.close();
  }
});

Deno.test("two unnamed listeners get names of their own, each bound to its own port", async () => {
  const yaml = `static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
${indent(directChain("first"), 6).replace(/^ {6}/, "    - ")}
  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
${indent(directChain("second"), 6).replace(/^ {6}/, "    - ")}
`;
  const p = await Proxy.start(yaml);
  try {
    assert(p.port("listener_0") !== p.port("listener_1"));
    assertEquals(await body(`http://127.0.0.1:${p.port("listener_0")}/`), "first");
    assertEquals(await body(`http://127.0.0.1:${p.port("listener_1")}/`), "second");
  } finally {
    await p.stop();
  }
});

const hasIpv6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: hasIpv6
    ? "an IPv6 listener on ::1 accepts IPv6 clients"
    : "an IPv6 listener on ::1: SKIPPED because this machine has no IPv6 loopback",
  ignore: !hasIpv6,
  async fn() {
    const p = await Proxy.start(chainsConfig("::1", 0, [directChain("over ipv6")]));
    try {
      const r = await curl(["-g", "-i", `http://[::1]:${p.port()}/`]);
      assertEquals(r.code, 0, r.err);
      const res = parseResponse(r.out);
      assertEquals(res.body, "over ipv6");
      assertEquals(res.headers["x-peer"], "::1");
    } finally {
      await p.stop();
    }
  },
});

Deno.test("filter_chain_match source_prefix_ranges: longest prefix wins, else default_filter_chain", async () => {
  const p = await Proxy.start(chainsConfig("127.0.0.1", 0, [
    directChain(
      "slash-32",
      `{ source_prefix_ranges: [{ address_prefix: 127.0.0.1, prefix_len: 32 }] }`,
    ),
    directChain(
      "slash-30",
      `{ source_prefix_ranges: [{ address_prefix: 127.0.0.0, prefix_len: 30 }] }`,
    ),
  ], directChain("default")));
  try {
    const url = `http://127.0.0.1:${p.port()}/`;
    assertEquals(await body(url), "slash-32");
    assertEquals(await body(url, "--interface", "127.0.0.2"), "slash-30");
    assertEquals(await body(url, "--interface", "127.0.0.5"), "default");
  } finally {
    await p.stop();
  }
});

Deno.test("filter_chain_match prefix_ranges picks a chain by the destination IP", async () => {
  const p = await Proxy.start(chainsConfig("0.0.0.0", 0, [
    directChain("to-dot-2", `{ prefix_ranges: [{ address_prefix: 127.0.0.2, prefix_len: 32 }] }`),
  ], directChain("default")));
  try {
    assertEquals(await body(`http://127.0.0.2:${p.port()}/`), "to-dot-2");
    assertEquals(await body(`http://127.0.0.1:${p.port()}/`), "default");
  } finally {
    await p.stop();
  }
});

Deno.test("filter_chain_match source_ports and destination_port", async () => {
  const listenPort = freePort();
  const clientPort = freePort();
  const p = await Proxy.start(chainsConfig("127.0.0.1", listenPort, [
    directChain("from-port", `{ destination_port: ${listenPort}, source_ports: [${clientPort}] }`),
    directChain("to-port", `{ destination_port: ${listenPort} }`),
    directChain(
      "to-other-port",
      `{ destination_port: ${listenPort === 65535 ? 1 : listenPort + 1} }`,
    ),
  ], directChain("default")));
  try {
    const url = `http://127.0.0.1:${listenPort}/`;
    assertEquals(await body(url, "--local-port", String(clientPort)), "from-port");
    assertEquals(await body(url), "to-port");
  } finally {
    await p.stop();
  }
});

Deno.test("a connection that matches no filter chain (and no default) is closed", async () => {
  const p = await Proxy.start(chainsConfig("127.0.0.1", 0, [
    directChain(
      "only-dot-9",
      `{ source_prefix_ranges: [{ address_prefix: 127.0.0.9, prefix_len: 32 }] }`,
    ),
  ]));
  try {
    const text = await rawExchange(
      p.port(),
      "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
      { timeoutMs: 5000 },
    );
    assertEquals(text, "");
    assertEquals(
      await body(`http://127.0.0.1:${p.port()}/`, "--interface", "127.0.0.9"),
      "only-dot-9",
    );
  } finally {
    await p.stop();
  }
});

Deno.test("a listener port already in use: exit 1 with 'address already in use'", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  try {
    const path = tempFile(chainsConfig("127.0.0.1", port, [directChain("never")]));
    const r = await runMain(["-c", path]);
    assertEquals(r.code, 1, r.stderr);
    assertMatch(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}.*address already in use`, "i"));
    assertEquals(r.stderr.includes("all listeners ready"), false);
  } finally {
    held.close();
  }
});

/** 1 MiB of a fixed pattern, so both ends can check it without sharing state. */
const MIB = (() => {
  const b = new Uint8Array(1024 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + (i >> 10)) & 0xff;
  return b;
})();

async function sha256(b: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>));
  return Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** GETs `path` on a new connection, reading slowly at first; returns head and body bytes. */
async function slowGet(port: number, path: string): Promise<{ head: string; body: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`),
  );
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(16 * 1024);
  let reads = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
    if (++reads <= 20) await new Promise((r) => setTimeout(r, 10));
  }
  conn.close();
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const part of parts) {
    all.set(part, off);
    off += part.length;
  }
  let end = 0;
  while (
    end + 3 < all.length &&
    !(all[end] === 13 && all[end + 1] === 10 && all[end + 2] === 13 && all[end + 3] === 10)
  ) end++;
  return { head: new TextDecoder().decode(all.subarray(0, end)), body: all.subarray(end + 4) };
}

/** The 16 KiB-limited proxy config in front of `port`. */
function smallBuffersConfig(port: number): string {
  return httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: up }`,
    clusters: staticCluster("up", port, "per_connection_buffer_limit_bytes: 16384"),
  }).replace(
    "    filter_chains:",
    "    per_connection_buffer_limit_bytes: 16384\n    filter_chains:",
  );
}

Deno.test("per_connection_buffer_limit_bytes 16 KiB still proxies 1 MiB each way intact (flow control)", async () => {
  const up = upstream(async (req) => {
    if (req.method === "POST") {
      const got = new Uint8Array(await req.arrayBuffer());
      return new Response(`${got.length} ${await sha256(got)}`);
    }
    return new Response(MIB.slice());
  });
  const p = await Proxy.start(smallBuffersConfig(up.port));
  try {
    const expected = await sha256(MIB);
    // Upload: 1 MiB request body through the small buffers.
    const file = tempFile(MIB, ".bin");
    const r = await curl(["--data-binary", `@${file}`, `http://127.0.0.1:${p.port()}/up`]);
    assertEquals(r.out, `${MIB.length} ${expected}`, r.err);
    // Download through a slow reader: the proxy must pause the upstream, not drop or grow.
    const got = await slowGet(p.port(), "/");
    assertMatch(got.head, /^HTTP\/1\.1 200/);
    assertMatch(got.head, /\r\ncontent-length: 1048576\r\n/i);
    assertEquals(got.body.length, MIB.length);
    assertEquals(await sha256(got.body), expected);
  } finally {
    await p.stop();
    await up.close();
  }
});

Deno.test({
  name: "after downstream flow control paused a response, the reused upstream conn still serves",
}, async () => {
  const up = upstream((req) =>
    new Response(new URL(req.url).pathname === "/big" ? MIB.slice() : "small")
  );
  const p = await Proxy.start(smallBuffersConfig(up.port));
  try {
    const big = await curl([
      "-o",
      "/dev/null",
      "-w",
      "%{size_download}",
      `http://127.0.0.1:${p.port()}/big`,
    ]);
    assertEquals(big.out, String(MIB.length));
    // The next request goes to the same (pooled) upstream connection and must be answered.
    const small = await curl(["--max-time", "4", `http://127.0.0.1:${p.port()}/small`]);
    assertEquals([small.code, small.out], [0, "small"]);
  } finally {
    await p.stop();
    await up.close();
  }
});
