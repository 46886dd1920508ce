/**
 * Listener filters end to end: the PROXY protocol (v1 and v2 with TLVs) restoring the client's
 * address for XFF, access logs and source_prefix_ranges; http_inspector choosing chains by
 * HTTP version; listener_filters_timeout with and without continue_on_listener_filters_timeout;
 * filter_chain_matcher with tls_inspector; and bad input (broken PROXY headers, garbage,
 * truncated or oversized ClientHellos, silent clients), each closed and counted while other
 * connections go on.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import {
  adminStatsWhen,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  tcpServer,
  upstream,
  waitForLines,
} from "./proxy.ts";

const FAST_FLUSH = ["--file-flush-interval-msec", "20"];
const indent = (s: string, n: number) => s.replace(/^/gm, " ".repeat(n));

/** An HCM chain answering with `body` and echoing the downstream addresses in headers. */
function hcmChain(body: string, match = "", extra = ""): string {
  return `${match ? `filter_chain_match: ${match}\n` : ""}filters:
- name: envoy.filters.network.http_connection_manager
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
    stat_prefix: ${body}
${indent(extra, 4)}
    route_config:
      virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
        - match: { prefix: "/up" }
          route: { cluster: up }
        - match: { prefix: "/" }
          direct_response: { status: 200, body: { inline_string: "${body}" } }
          response_headers_to_add:
          - header: { key: x-remote, value: "%DOWNSTREAM_REMOTE_ADDRESS%" }
          - header: { key: x-direct, value: "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%" }
          - header: { key: x-local, value: "%DOWNSTREAM_LOCAL_ADDRESS%" }
          - header: { key: x-direct-local, value: "%DOWNSTREAM_DIRECT_LOCAL_ADDRESS%" }
    http_filters:
    - name: envoy.filters.http.router
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`;
}

/** A tcp_proxy chain to cluster `cluster`, with a listener-style access log if `log`. */
function tcpChain(cluster: string, match = "", log = "", format = ""): string {
  return `${match ? `filter_chain_match: ${match}\n` : ""}filters:
- name: envoy.filters.network.tcp_proxy
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
    stat_prefix: ${cluster}
    cluster: ${cluster}${
    log
      ? `
    access_log:
    - name: envoy.access_loggers.file
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
        path: ${log}
        log_format: { text_format_source: { inline_string: "${format}\\n" } }`
      : ""
  }`;
}

/** One listener named `l` with `filters` (YAML list) and `chains`, plus admin and clusters. */
function config(o: {
  listenerFilters: string;
  chains: string[];
  extra?: string;
  clusters?: string;
}): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${indent(o.extra ?? "", 4)}
    listener_filters:
${indent(o.listenerFilters, 4)}
    filter_chains:
${o.chains.map((c) => indent(c, 6).replace(/^ {6}/, "    - ")).join("\n")}
  clusters:
${indent(o.clusters ?? "", 2)}
`;
}

const PROXY_PROTOCOL = (extra = "") =>
  `- name: envoy.filters.listener.proxy_protocol
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol
${indent(extra, 4)}`;

const GET = "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

function v2Header(src: number[], srcPort: number, tlvs: number[] = []): Uint8Array {
  const body = [...src, 127, 0, 0, 1, srcPort >> 8, srcPort & 0xff, 0x1f, 0x90, ...tlvs];
  return new Uint8Array([
    0x0d,
    0x0a,
    0x0d,
    0x0a,
    0x00,
    0x0d,
    0x0a,
    0x51,
    0x55,
    0x49,
    0x54,
    0x0a,
    0x21,
    0x11,
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ]);
}

const concat = (a: Uint8Array, b: string) => new Uint8Array([...a, ...new TextEncoder().encode(b)]);

Deno.test("PROXY protocol: the header's source is the downstream address for XFF, access logs and chain matching", async () => {
  let seenXff = "";
  const up = upstream((req) => {
    seenXff = req.headers.get("x-forwarded-for") ?? "";
    return new Response("up");
  });
  const log = Deno.makeTempFileSync();
  const proxy = await Proxy.start(
    config({
      listenerFilters: PROXY_PROTOCOL(),
      chains: [
        hcmChain(
          "clients",
          `{ source_prefix_ranges: [{ address_prefix: 203.0.113.0, prefix_len: 24 }] }`,
          `use_remote_address: true
access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format_source: { inline_string: "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_ADDRESS%\\n" } }`,
        ),
        hcmChain("others"),
      ],
      clusters: staticCluster("up", up.port),
    }),
    FAST_FLUSH,
  );
  try {
    const port = proxy.port("l");
    const v1 = parseResponse(
      await rawExchange(port, `PROXY TCP4 203.0.113.9 10.0.0.1 5555 8080\r\n${GET}`),
    );
    assertEquals(v1.body, "clients");
    assertEquals(v1.headers["x-remote"], "203.0.113.9:5555");
    assertEquals(v1.headers["x-direct"]?.startsWith("127.0.0.1:"), true);
    assertEquals(v1.headers["x-local"], "10.0.0.1:8080");
    assertEquals(v1.headers["x-direct-local"], `127.0.0.1:${port}`);
    const other = parseResponse(
      await rawExchange(port, `PROXY TCP4 198.51.100.1 10.0.0.1 5555 8080\r\n${GET}`),
    );
    assertEquals([other.body, other.headers["x-remote"]], ["others", "198.51.100.1:5555"]);
    // v2, to the upstream: XFF carries the PROXY source.
    const v2 = parseResponse(
      await rawExchange(
        port,
        concat(v2Header([203, 0, 113, 77], 4242), GET.replace("GET /", "GET /up")),
      ),
    );
    assertEquals([v2.status, v2.body, seenXff], [200, "up", "203.0.113.77"]);
    const lines = await waitForLines(log, 2);
    assertEquals(lines[0], "203.0.113.9:5555 127.0.0.1 10.0.0.1:8080");
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["proxy_proto.versions.v1.found"] === 2 && s["proxy_proto.versions.v2.found"] === 1,
    );
    assertEquals(s["proxy_proto.versions.v1.error"], 0);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("PROXY protocol v2 TLVs: rules into dynamic metadata of the connection's access log", async () => {
  const echo = tcpServer(async (c) => {
    const buf = new Uint8Array(1024);
    const n = await c.read(buf).catch(() => null);
    if (n) await c.write(buf.subarray(0, n)).catch(() => {});
    c.close();
  });
  const log = Deno.makeTempFileSync();
  const proxy = await Proxy.start(
    config({
      listenerFilters: PROXY_PROTOCOL(`rules:
- tlv_type: 0xEA
  on_tlv_present: { key: vpce }
- tlv_type: 0x02
  on_tlv_present: { metadata_namespace: my.ns, key: authority }`),
      chains: [tcpChain(
        "echo",
        "",
        log,
        "%DOWNSTREAM_REMOTE_ADDRESS% %DYNAMIC_METADATA(envoy.filters.listener.proxy_protocol:vpce)% %DYNAMIC_METADATA(my.ns:authority)%",
      )],
      clusters: staticCluster("echo", echo.port),
    }),
    FAST_FLUSH,
  );
  try {
    const tlvs = [
      0xea,
      0,
      4,
      ...new TextEncoder().encode("vpce"),
      0x02,
      0,
      5,
      ...new TextEncoder().encode("a.com"),
    ];
    const got = await rawExchange(
      proxy.port("l"),
      concat(v2Header([192, 0, 2, 7], 9999, tlvs), "ping"),
    );
    assertEquals(got, "ping");
    const [line] = await waitForLines(log, 1);
    assertEquals(line, "192.0.2.7:9999 vpce a.com");
  } finally {
    await proxy.stop();
    echo.close();
  }
});

Deno.test("http_inspector: HTTP/1.1, HTTP/1.0 and h2c prior knowledge pick their chains", async () => {
  const names = ["h11", "h10", "h2c", "other"];
  const servers = names.map((n) =>
    tcpServer(async (c) => {
      await c.write(new TextEncoder().encode(n)).catch(() => {});
      c.close();
    })
  );
  const proxy = await Proxy.start(config({
    listenerFilters: `- name: envoy.filters.listener.http_inspector
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
    chains: [
      tcpChain("h11", `{ application_protocols: ["http/1.1"] }`),
      tcpChain("h10", `{ application_protocols: ["http/1.0"] }`),
      tcpChain("h2c", `{ application_protocols: ["h2c"] }`),
      tcpChain("other"),
    ],
    clusters: names.map((n, i) => staticCluster(n, servers[i].port)).join(""),
  }));
  try {
    const port = proxy.port("l");
    assertEquals(await rawExchange(port, "GET / HTTP/1.1\r\n\r\n"), "h11");
    assertEquals(await rawExchange(port, "GET / HTTP/1.0\r\n\r\n"), "h10");
    assertEquals(await rawExchange(port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "h2c");
    assertEquals(await rawExchange(port, "\x00\x01binary"), "other");
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["http_inspector.http_not_found"] === 1,
    );
    assertEquals(
      [
        s["http_inspector.http11_found"],
        s["http_inspector.http10_found"],
        s["http_inspector.http2_found"],
      ],
      [1, 1, 1],
    );
  } finally {
    await proxy.stop();
    for (const s of servers) s.close();
  }
});

Deno.test("listener_filters_timeout: a silent client is closed and counted; with continue, a server-first protocol works", async () => {
  const greeter = tcpServer(async (c) => {
    await c.write(new TextEncoder().encode("220 hello\r\n")).catch(() => {});
    c.close();
  });
  const tlsInspector = `- name: envoy.filters.listener.tls_inspector
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`;
  for (const cont of [false, true]) {
    const proxy = await Proxy.start(config({
      listenerFilters: tlsInspector,
      extra: `listener_filters_timeout: 0.2s\ncontinue_on_listener_filters_timeout: ${cont}`,
      chains: [tcpChain("greeter")],
      clusters: staticCluster("greeter", greeter.port),
    }));
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port("l") });
      const buf = new Uint8Array(64);
      const n = await c.read(buf).catch(() => null);
      c.close();
      if (cont) assertEquals(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "220 hello\r\n");
      else assertEquals(n, null);
      const s = await adminStatsWhen(
        proxy.adminPort,
        (s) => s[`listener.127.0.0.1_${proxy.port("l")}.downstream_pre_cx_timeout`] === 1,
      );
      assertEquals(s[`listener.127.0.0.1_${proxy.port("l")}.downstream_pre_cx_active`], 0);
    } finally {
      await proxy.stop();
    }
  }
  greeter.close();
});

Deno.test("filter_chain_matcher: Envoy's TLS detection example with tls_inspector", async () => {
  const plain = tcpServer(async (c) => {
    await c.write(new TextEncoder().encode("plaintext")).catch(() => {});
    c.close();
  });
  const tlsUp = tcpServer(async (c) => {
    await c.write(new TextEncoder().encode("tls")).catch(() => {});
    c.close();
  });
  const proxy = await Proxy.start(config({
    listenerFilters: `- name: envoy.filters.listener.tls_inspector
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
    extra: `filter_chain_matcher:
  matcher_tree:
    input:
      name: transport
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.TransportProtocolInput
    exact_match_map:
      map:
        "tls":
          action:
            name: tls
            typed_config:
              "@type": type.googleapis.com/google.protobuf.StringValue
              value: tls
  on_no_match:
    action:
      name: plaintext
      typed_config:
        "@type": type.googleapis.com/google.protobuf.StringValue
        value: plaintext`,
    chains: [
      `name: tls\n${tcpChain("tls_up")}`,
      `name: plaintext\n${tcpChain("plain")}`,
    ],
    clusters: staticCluster("tls_up", tlsUp.port) + staticCluster("plain", plain.port),
  }));
  try {
    const port = proxy.port("l");
    assertEquals(await rawExchange(port, "GET / HTTP/1.1\r\n\r\n"), "plaintext");
    const hello = new Uint8Array([
      22,
      3,
      1,
      0,
      45,
      1,
      0,
      0,
      41,
      3,
      3,
      ...new Array(32).fill(1),
      0,
      0,
      2,
      0x13,
      0x01,
      1,
      0,
    ]);
    assertEquals(await rawExchange(port, hello), "tls");
  } finally {
    await proxy.stop();
    plain.close();
    tlsUp.close();
  }
});

Deno.test("bad input: broken PROXY headers, garbage and oversized ClientHellos, truncated hellos, silent clients", async () => {
  const echo = tcpServer(async (c) => {
    const buf = new Uint8Array(1024);
    const n = await c.read(buf).catch(() => null);
    if (n) await c.write(buf.subarray(0, n)).catch(() => {});
    c.close();
  });
  const proxy = await Proxy.start(`admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: pp
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
${indent(PROXY_PROTOCOL(), 4)}
    filter_chains:
    - ${indent(tcpChain("echo"), 6).trimStart()}
  - name: sni
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters_timeout: 0.3s
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector
    filter_chains:
    - filter_chain_match: { server_names: [echo.example.com] }
      ${indent(tcpChain("echo"), 6).trimStart()}
  clusters:
${indent(staticCluster("echo", echo.port), 2)}
`);
  const pp = proxy.port("pp");
  const sni = proxy.port("sni");
  const closedWithoutReply = async (port: number, data: Uint8Array | string, end = true) => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    await c.write(typeof data === "string" ? new TextEncoder().encode(data) : data).catch(() => {});
    if (end) await c.closeWrite().catch(() => {});
    const n = await c.read(new Uint8Array(16)).catch(() => null);
    c.close();
    assertEquals(n, null);
  };
  const good = () => rawExchange(pp, "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\nping");
  try {
    // Broken PROXY headers: not PROXY at all, a bad v1 line, a bad v2 version.
    await closedWithoutReply(pp, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    await closedWithoutReply(pp, "PROXY TCP4 1.2.3.4 nonsense 1 2\r\n");
    await closedWithoutReply(
      pp,
      new Uint8Array([...v2Header([1, 2, 3, 4], 1)].map((b, i) => i === 12 ? 0x31 : b)),
    );
    assertEquals(await good(), "ping");
    // Garbage instead of a ClientHello: tls_not_found, and no chain matches.
    await closedWithoutReply(sni, "\x16\x03\x01\x00\x05garbage-and-more", false);
    await closedWithoutReply(sni, "plain text");
    // A ClientHello over 16 KiB.
    const big = new Uint8Array(20_000 + 9);
    big.set([22, 3, 1, 0x40, 0x00, 1, 0, 0x4e, 0x20]);
    await closedWithoutReply(sni, big, false);
    // A truncated ClientHello, then FIN; and one that stalls (closed by the timeout).
    await closedWithoutReply(sni, new Uint8Array([22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]));
    await closedWithoutReply(sni, new Uint8Array([22, 3, 1, 0, 200, 1]), false);
    // A client that sends nothing.
    await closedWithoutReply(sni, "", false);
    assertEquals(await good(), "ping");
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) =>
        s[`listener.127.0.0.1_${sni}.downstream_pre_cx_timeout`] === 2 &&
        s[`listener.127.0.0.1_${sni}.no_filter_chain_match`] === 3,
    );
    assertEquals(s["proxy_proto.not_found_disallowed"], 1);
    assertEquals(s["proxy_proto.versions.v1.error"], 1);
    assertEquals(s["proxy_proto.versions.v2.error"], 1);
    assertEquals(s[`listener.127.0.0.1_${pp}.downstream_cx_proxy_proto_error`], 3);
    assertEquals(s["tls_inspector.tls_not_found"], 3);
    assertEquals(s[`listener.127.0.0.1_${sni}.downstream_listener_filter_remote_close`], 1);
    assertEquals(s[`listener.127.0.0.1_${sni}.downstream_pre_cx_active`], 0);
    assert(!proxy.proc.stderr.includes("bug"), proxy.proc.stderr);
  } finally {
    await proxy.stop();
    echo.close();
  }
});

Deno.test("--mode validate: original_dst's traffic_direction, socket option STATE_PREBIND, all PROXY versions disallowed, a bad matcher, duplicate chains", async () => {
  const { runMain, tempFile } = await import("./helpers.ts");
  const listener = (filters: string, rest: string) =>
    `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
${indent(filters, 4)}
${indent(rest, 4)}
`;
  const chain = (name: string, match = "") =>
    `- name: ${name}\n${match ? `  filter_chain_match: ${match}\n` : ""}${
      indent(tcpChain("c"), 2)
    }`;
  const cases: [string, string][] = [
    [
      listener(
        `- name: envoy.filters.listener.original_dst
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst
    traffic_direction: INBOUND`,
        `filter_chains:\n${chain("a")}`,
      ),
      "traffic_direction",
    ],
    [
      listener(
        PROXY_PROTOCOL(),
        `socket_options: [{ level: 1, name: 9, int_value: 1 }]\nfilter_chains:\n${chain("a")}`,
      ),
      "STATE_PREBIND",
    ],
    [
      listener(PROXY_PROTOCOL("disallowed_versions: [V1, V2]"), `filter_chains:\n${chain("a")}`),
      "all proxy protocol versions are disallowed",
    ],
    [
      listener(
        PROXY_PROTOCOL(),
        `filter_chains:\n${chain("a", "{ destination_port: 80 }")}\n${
          chain("b", "{ destination_port: 80 }")
        }`,
      ),
      "filter chain 'b' has the same matching rules defined as 'a'",
    ],
    [
      listener(
        PROXY_PROTOCOL(),
        `filter_chain_matcher:
  on_no_match:
    action:
      name: x
      typed_config: { "@type": type.googleapis.com/google.protobuf.UInt32Value, value: 1 }
filter_chains:\n${chain("a")}`,
      ),
      "must be a google.protobuf.StringValue",
    ],
  ];
  for (const [yaml, want] of cases) {
    const r = await runMain(["--mode", "validate", "-c", tempFile(yaml + "  clusters: []\n")]);
    assert(r.code !== 0, `accepted:\n${yaml}`);
    assert(r.stderr.includes(want) || r.stdout.includes(want), `${want}:\n${r.stderr}${r.stdout}`);
  }
});

Deno.test("the listener access log records sockets a listener filter closed", async () => {
  const log = Deno.makeTempFileSync();
  const proxy = await Proxy.start(
    config({
      listenerFilters: PROXY_PROTOCOL(),
      extra: `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format_source: { inline_string: "closed %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %BYTES_RECEIVED%\\n" } }`,
      chains: [tcpChain("nowhere")],
      clusters: staticCluster("nowhere", 1),
    }),
    FAST_FLUSH,
  );
  try {
    assertEquals(await rawExchange(proxy.port("l"), "BROKEN / HTTP/1.1\r\n\r\n"), "");
    assertEquals(await waitForLines(log, 1), ["closed 127.0.0.1 0"]);
  } finally {
    await proxy.stop();
  }
});
