/**
 * What the connection manager and the router do to headers and routing, end to end:
 * x-forwarded-for and internal/external requests, x-request-id, the server header, path
 * normalization, host port stripping, virtual host selection, cluster selection, host
 * rewrites, route matchers, header removal and local reply mapping.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  delay,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  type RawResponse,
  staticCluster,
  tcpServer,
  upstream,
} from "./proxy.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the upstream saw of a request. */
interface Seen {
  path: string;
  headers: Headers;
}

/**
 * The default upstream: records each request; `/wait/<ms>` answers late, `/with-server` sets
 * its own server header, `/real404` is an upstream 404; every answer carries x-upstream-secret.
 */
function recordingUpstream(name = "backend") {
  const seen: Seen[] = [];
  const srv = upstream(async (req) => {
    const url = new URL(req.url);
    seen.push({ path: url.pathname + url.search, headers: new Headers(req.headers) });
    const m = /^\/wait\/(\d+)/.exec(url.pathname);
    if (m) await delay(Number(m[1]), req.signal);
    const headers: Record<string, string> = { "x-upstream-secret": "s3cr3t" };
    if (url.pathname === "/with-server") headers["server"] = "upstream-srv";
    if (url.pathname === "/real404") return new Response("real 404", { status: 404, headers });
    return new Response(`${name} ${url.pathname}${url.search}`, { headers });
  });
  return { ...srv, seen };
}

/**
 * A raw HTTP/1.1 upstream that records each request-target exactly as it arrived on the wire
 * (a `Request`'s URL would already be normalized) and answers 200 "ok".
 */
function rawTargetUpstream() {
  const targets: string[] = [];
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const srv = tcpServer(async (c) => {
    let pending = "";
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        pending += dec.decode(buf.subarray(0, n));
        let end;
        while ((end = pending.indexOf("\r\n\r\n")) >= 0) {
          targets.push(pending.slice(0, pending.indexOf("\r\n")).split(" ")[1]);
          pending = pending.slice(end + 4);
          await c.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
        }
      }
    } catch { /* the proxy closed the connection */ }
    try {
      c.close();
    } catch { /* closed */ }
  });
  return { ...srv, targets };
}

/** Runs `fn` with a proxy whose cluster `backend` is a {@linkcode rawTargetUpstream}. */
async function withRawProxy(
  opts: { routes?: string; hcmExtra?: string },
  fn: (p: Proxy, targets: string[]) => Promise<void>,
) {
  const up = rawTargetUpstream();
  const proxy = await Proxy.start(httpConfig({
    routes: opts.routes ?? `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port),
    hcmExtra: opts.hcmExtra,
  }));
  try {
    await fn(proxy, up.targets);
  } finally {
    await proxy.stop();
    up.close();
  }
}

/** Runs `fn` with a proxy (HCM extras, routes, vhost extras) in front of a recording upstream. */
async function withProxy(
  opts: { routes?: string; hcmExtra?: string; vhostExtra?: string },
  fn: (p: Proxy, seen: Seen[]) => Promise<void>,
) {
  const up = recordingUpstream();
  const proxy = await Proxy.start(httpConfig({
    routes: opts.routes ?? `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port),
    hcmExtra: opts.hcmExtra,
    vhostExtra: opts.vhostExtra,
  }));
  try {
    await fn(proxy, up.seen);
  } finally {
    await proxy.stop();
    await up.close();
  }
}

/** One request on its own connection; `headers` are extra raw header lines. */
async function req(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  host = "a.test",
): Promise<RawResponse> {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return parseResponse(
    await rawExchange(
      port,
      `GET ${path} HTTP/1.1\r\nhost: ${host}\r\n${extra}connection: close\r\n\r\n`,
    ),
  );
}

const last = (seen: Seen[]) => seen[seen.length - 1];

// ---- x-forwarded-for, internal and external requests ----

Deno.test("use_remote_address: a loopback client without XFF is internal", async () => {
  await withProxy({ hcmExtra: "use_remote_address: true" }, async (p, seen) => {
    // Internal clients may set x-envoy-upstream-rq-timeout-ms: it is honoured.
    const r = await req(p.port(), "/wait/400", {
      "x-envoy-upstream-rq-timeout-ms": "100",
      "x-envoy-internal": "false",
    });
    assertEquals([r.status, r.body], [504, "upstream request timeout"]);
    // What the upstream sees, from a request it answers in time (the one above may time out
    // before it reaches the upstream on a busy machine).
    const ok = await req(p.port(), "/fast", {
      "x-envoy-upstream-rq-timeout-ms": "10000",
      "x-envoy-internal": "false",
    });
    assertEquals([ok.status, ok.body], [200, "backend /fast"]);
    const h = last(seen).headers;
    assertEquals(h.get("x-envoy-internal"), "true");
    assertMatch(h.get("x-forwarded-for") ?? "", /^[0-9.]+$/);
    assertEquals(h.get("x-forwarded-proto"), "http");
    assertEquals(h.get("x-envoy-expected-rq-timeout-ms"), "10000");
    assertEquals(h.get("x-envoy-external-address"), null);
  });
});

Deno.test("use_remote_address: a request with XFF is external: XFF appended, x-envoy-* stripped", async () => {
  await withProxy({ hcmExtra: "use_remote_address: true" }, async (p, seen) => {
    const r = await req(p.port(), "/wait/400", {
      "x-forwarded-for": "203.0.113.7",
      "x-envoy-upstream-rq-timeout-ms": "100",
      "x-envoy-max-retries": "3",
      "x-envoy-retry-on": "5xx",
      "x-envoy-internal": "true",
      "x-envoy-expected-rq-timeout-ms": "5",
    });
    // The client's timeout header was dropped, so the 400 ms upstream answer arrives.
    assertEquals([r.status, r.body], [200, "backend /wait/400"]);
    const h = last(seen).headers;
    // Envoy appends the peer's address (for a loopback peer: its own local address).
    assertMatch(h.get("x-forwarded-for") ?? "", /^203\.0\.113\.7,\s?[0-9.]+$/);
    assertEquals(h.get("x-envoy-internal"), null);
    assertEquals(h.get("x-envoy-max-retries"), null);
    assertEquals(h.get("x-envoy-retry-on"), null);
    assertEquals(h.get("x-envoy-upstream-rq-timeout-ms"), null);
    assertEquals(h.get("x-envoy-expected-rq-timeout-ms"), "15000");
  });
});

Deno.test({
  name: "x-envoy-external-address is set on edge (external) requests",
}, async () => {
  await withProxy({ hcmExtra: "use_remote_address: true" }, async (p, seen) => {
    await req(p.port(), "/", { "x-forwarded-for": "203.0.113.7" });
    // Edge request, no trusted hops: the trusted client address is the connection's peer.
    assertEquals(last(seen).headers.get("x-envoy-external-address"), "127.0.0.1");
  });
});

Deno.test({
  name: "xff_num_trusted_hops with use_remote_address sets the downstream address",
}, async () => {
  await withProxy({
    hcmExtra: "use_remote_address: true\nxff_num_trusted_hops: 1",
    routes: `- match: { prefix: "/" }
  route: { cluster: backend }
  request_headers_to_add:
  - header: { key: x-client, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }`,
  }, async (p, seen) => {
    await req(p.port(), "/", { "x-forwarded-for": "198.51.100.1, 203.0.113.7" });
    const h = last(seen).headers;
    // One trusted hop (the client's proxy at 127.0.0.1 appended 203.0.113.7's address).
    assertEquals(h.get("x-client"), "203.0.113.7");
    assertMatch(h.get("x-forwarded-for") ?? "", /^198\.51\.100\.1, 203\.0\.113\.7,\s?[0-9.]+$/);
  });
});

Deno.test("xff_num_trusted_hops without use_remote_address picks the address before the trusted hops", async () => {
  await withProxy({
    hcmExtra: "xff_num_trusted_hops: 1",
    routes: `- match: { prefix: "/" }
  route: { cluster: backend }
  request_headers_to_add:
  - header: { key: x-client, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }`,
  }, async (p, seen) => {
    await req(p.port(), "/", { "x-forwarded-for": "198.51.100.1, 203.0.113.7" });
    const h = last(seen).headers;
    assertEquals(h.get("x-client"), "198.51.100.1");
    // Not using the remote address: XFF is passed on untouched.
    assertEquals(h.get("x-forwarded-for"), "198.51.100.1, 203.0.113.7");
  });
});

Deno.test({
  name: "without use_remote_address a single internal XFF address is treated as internal",
}, async () => {
  await withProxy({}, async (p, seen) => {
    await req(p.port(), "/", { "x-forwarded-for": "10.1.2.3" });
    assertEquals(last(seen).headers.get("x-envoy-internal"), "true");
  });
});

Deno.test({
  name: "without use_remote_address, x-envoy-* control headers of external requests are removed",
}, async () => {
  await withProxy({}, async (p, seen) => {
    // No XFF (or a public XFF address) and use_remote_address false: Envoy deems it external.
    const a = await req(p.port(), "/wait/300", { "x-envoy-upstream-rq-timeout-ms": "50" });
    assertEquals(a.status, 200);
    const b = await req(p.port(), "/wait/300", {
      "x-forwarded-for": "203.0.113.7",
      "x-envoy-upstream-rq-timeout-ms": "50",
      "x-envoy-retry-on": "5xx",
    });
    assertEquals(b.status, 200);
    assertEquals(last(seen).headers.get("x-envoy-retry-on"), null);
    assertEquals(last(seen).headers.get("x-envoy-expected-rq-timeout-ms"), "15000");
  });
});

// ---- x-request-id ----

Deno.test("x-request-id: generated when absent, kept from internal clients, echoed when asked", async () => {
  await withProxy({
    hcmExtra: "use_remote_address: true\nalways_set_request_id_in_response: true",
  }, async (p, seen) => {
    const a = await req(p.port(), "/a");
    const generated = last(seen).headers.get("x-request-id") ?? "";
    assertMatch(generated, UUID);
    assertEquals(a.headers["x-request-id"], generated);
    const b = await req(p.port(), "/b", { "x-request-id": "client-chosen-id" });
    assertEquals(last(seen).headers.get("x-request-id"), "client-chosen-id");
    assertEquals(b.headers["x-request-id"], "client-chosen-id");
  });
});

Deno.test("x-request-id: regenerated for external requests unless preserve_external_request_id", async () => {
  await withProxy({ hcmExtra: "use_remote_address: true" }, async (p, seen) => {
    const r = await req(p.port(), "/", {
      "x-forwarded-for": "203.0.113.7",
      "x-request-id": "spoofed",
    });
    const id = last(seen).headers.get("x-request-id") ?? "";
    assertMatch(id, UUID);
    // Without always_set_request_id_in_response the response carries none.
    assertEquals(r.headers["x-request-id"], undefined);
  });
  await withProxy({
    hcmExtra: "use_remote_address: true\npreserve_external_request_id: true",
  }, async (p, seen) => {
    await req(p.port(), "/", { "x-forwarded-for": "203.0.113.7", "x-request-id": "kept-id" });
    assertEquals(last(seen).headers.get("x-request-id"), "kept-id");
  });
});

// ---- server header ----

Deno.test("server_name with OVERWRITE (default), APPEND_IF_ABSENT and PASS_THROUGH", async () => {
  const cases: [string, string, string | undefined][] = [
    ["OVERWRITE", "denvoy-test", "denvoy-test"],
    ["APPEND_IF_ABSENT", "upstream-srv", "denvoy-test"],
    ["PASS_THROUGH", "upstream-srv", undefined],
  ];
  for (const [mode, withServer, withoutServer] of cases) {
    await withProxy({
      hcmExtra: `server_name: denvoy-test\nserver_header_transformation: ${mode}`,
      routes: `- match: { prefix: "/direct" }
  direct_response: { status: 200, body: { inline_string: "local" } }
- match: { prefix: "/" }
  route: { cluster: backend }`,
    }, async (p) => {
      const a = await req(p.port(), "/with-server");
      assertEquals(a.headers["server"], withServer, mode);
      const b = await req(p.port(), "/plain");
      assertEquals(b.headers["server"], withoutServer, mode);
      // Local replies have no server header of their own: they get what a bare response gets.
      const c = await req(p.port(), "/direct");
      assertEquals([c.body, c.headers["server"]], ["local", withoutServer], mode);
    });
  }
});

// ---- paths ----

Deno.test("normalize_path and merge_slashes rewrite the path before routing; the query is kept", async () => {
  await withRawProxy({
    hcmExtra: "normalize_path: true\nmerge_slashes: true",
    routes: `- match: { prefix: "/secret" }
  direct_response: { status: 403, body: { inline_string: "forbidden" } }
- match: { prefix: "/" }
  route: { cluster: backend }`,
  }, async (p, targets) => {
    const cases: [string, string][] = [
      ["/a/./b/../c", "/a/c"],
      ["//x///y", "/x/y"],
      ["/a/../b?q=1//2/../3", "/b?q=1//2/../3"],
      ["/a/b/..", "/a/"],
      ["/../../x", "/x"],
    ];
    for (const [sent, expected] of cases) {
      const r = await req(p.port(), sent);
      assertEquals(r.status, 200, sent);
      assertEquals(targets[targets.length - 1], expected, sent);
    }
    // Routing sees the normalized path: dot segments cannot dodge a prefix rule.
    const s = await req(p.port(), "/public/../secret/x");
    assertEquals([s.status, s.body], [403, "forbidden"]);
    const m = await req(p.port(), "//secret");
    assertEquals(m.status, 403);
  });
});

Deno.test("without normalize_path and merge_slashes the path is forwarded as sent", async () => {
  await withRawProxy({}, async (p, targets) => {
    await req(p.port(), "/a/./b/../c//d");
    assertEquals(targets, ["/a/./b/../c//d"]);
  });
});

Deno.test("path_with_escaped_slashes_action: REJECT_REQUEST answers 400", async () => {
  await withRawProxy({
    hcmExtra: "path_with_escaped_slashes_action: REJECT_REQUEST",
  }, async (p, targets) => {
    const r = await req(p.port(), "/a%2Fb");
    assertEquals(r.status, 400);
    const lower = await req(p.port(), "/a%2fb%5Cc");
    assertEquals(lower.status, 400);
    const ok = await req(p.port(), "/a/b%20c");
    assertEquals(ok.status, 200);
    assertEquals(targets, ["/a/b%20c"]);
  });
});

Deno.test("path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT answers 307 to the unescaped path", async () => {
  await withRawProxy({
    hcmExtra: "path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT",
  }, async (p, targets) => {
    const r = await req(p.port(), "/a%2Fb%2fc?x=%2F");
    assertEquals(r.status, 307);
    // Only the path is unescaped; the query is left alone.
    assertEquals(r.headers["location"], "/a/b/c?x=%2F");
    assertEquals(targets, []);
    // Following the redirect reaches the upstream.
    const f = await req(p.port(), r.headers["location"]);
    assertEquals(f.status, 200);
    assertEquals(targets, ["/a/b/c?x=%2F"]);
  });
});

Deno.test("strip_any_host_port: the port is removed from the host before routing", async () => {
  await withProxy({
    hcmExtra: "strip_any_host_port: true",
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
  }, async (p, seen) => {
    const r = await req(p.port(), "/", {}, "example.com:8080");
    assertEquals(r.status, 200);
    assertEquals(last(seen).headers.get("host"), "example.com");
  });
  // Without it a vhost for "example.com" does not match "example.com:8080".
  const up = recordingUpstream();
  const yaml = httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port),
  }).replace(`domains: ["*"]`, `domains: ["example.com"]`);
  const p = await Proxy.start(yaml);
  try {
    assertEquals((await req(p.port(), "/", {}, "example.com:8080")).status, 404);
    assertEquals((await req(p.port(), "/", {}, "example.com")).status, 200);
  } finally {
    await p.stop();
    await up.close();
  }
});

// ---- virtual hosts and routes ----

Deno.test("virtual host domains: exact, then longest *.suffix, then prefix.*, then *", async () => {
  const vh = (name: string, domains: string) =>
    `- name: ${name}
  domains: ${domains}
  routes:
  - match: { prefix: "/" }
    direct_response: { status: 200, body: { inline_string: "${name}" } }`;
  const vhosts = [
    vh("exact", `["www.example.com", "other.test:8080"]`),
    vh("suffix_long", `["*.api.example.com"]`),
    vh("suffix", `["*.example.com"]`),
    vh("prefix", `["www.*"]`),
    vh("any", `["*"]`),
  ].join("\n");
  const yaml = `static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
          route_config:
            virtual_hosts:
${vhosts.replace(/^/gm, "            ")}
          http_filters:
          - name: envoy.filters.http.router
`;
  const p = await Proxy.start(yaml);
  try {
    const cases: [string, string][] = [
      ["www.example.com", "exact"],
      ["WWW.Example.COM", "exact"],
      ["other.test:8080", "exact"],
      ["v1.api.example.com", "suffix_long"],
      ["foo.example.com", "suffix"],
      ["www.foo.example.com", "suffix"],
      ["www.other.org", "prefix"],
      ["example.com", "any"],
      ["other.test", "any"],
    ];
    for (const [host, vhost] of cases) {
      const r = await req(p.port(), "/", {}, host);
      assertEquals(r.body, vhost, host);
    }
  } finally {
    await p.stop();
  }
});

/** Two upstreams named a and b that answer with their name. */
async function withTwoClusters(routes: string, fn: (p: Proxy) => Promise<void>) {
  const a = upstream(() => new Response("from-a"));
  const b = upstream(() => new Response("from-b"));
  const p = await Proxy.start(httpConfig({
    routes,
    clusters: staticCluster("a", a.port) + staticCluster("b", b.port),
  }));
  try {
    await fn(p);
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
}

Deno.test("cluster_header: the cluster named by the header serves; missing or unknown is 503", async () => {
  await withTwoClusters(
    `- match: { prefix: "/" }\n  route: { cluster_header: x-target }`,
    async (p) => {
      assertEquals((await req(p.port(), "/", { "x-target": "a" })).body, "from-a");
      assertEquals((await req(p.port(), "/", { "x-target": "b" })).body, "from-b");
      assertEquals((await req(p.port(), "/", { "x-target": "nope" })).status, 503);
      assertEquals((await req(p.port(), "/")).status, 503);
    },
  );
});

Deno.test("weighted_clusters: requests spread by weight (80/20)", async () => {
  await withTwoClusters(
    `- match: { prefix: "/" }
  route:
    weighted_clusters:
      clusters:
      - { name: a, weight: 80 }
      - { name: b, weight: 20 }`,
    async (p) => {
      const n = 200;
      let wire = "";
      for (let i = 0; i < n; i++) {
        wire += `GET /${i} HTTP/1.1\r\nhost: a\r\n${
          i === n - 1 ? "connection: close\r\n" : ""
        }\r\n`;
      }
      const text = await rawExchange(p.port(), wire, { timeoutMs: 20_000 });
      const a = text.match(/from-a/g)?.length ?? 0;
      const b = text.match(/from-b/g)?.length ?? 0;
      assertEquals(a + b, n);
      // Binomial(200, 0.2): mean 40, sd ~5.7; these bounds fail with probability < 1e-6.
      assert(b >= 12 && b <= 70, `a=${a} b=${b}`);
    },
  );
});

Deno.test("host_rewrite_literal replaces the host the upstream sees", async () => {
  await withProxy({
    routes: `- match: { prefix: "/" }
  route: { cluster: backend, host_rewrite_literal: rewritten.example.org }`,
  }, async (p, seen) => {
    await req(p.port(), "/", {}, "original.test");
    assertEquals(last(seen).headers.get("host"), "rewritten.example.org");
  });
});

Deno.test("auto_host_rewrite uses the DNS name of a STRICT_DNS host; no-op for STATIC", async () => {
  const up = recordingUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/dns" }
  route: { cluster: dns, auto_host_rewrite: true }
- match: { prefix: "/static" }
  route: { cluster: static, auto_host_rewrite: true }`,
    clusters: `- name: dns
  type: STRICT_DNS
  dns_lookup_family: V4_ONLY
  connect_timeout: 1s
  load_assignment:
    cluster_name: dns
    endpoints:
    - lb_endpoints:
      - endpoint:
          address: { socket_address: { address: localhost, port_value: ${up.port} } }
` + staticCluster("static", up.port),
  }));
  try {
    const r = await req(p.port(), "/dns", {}, "original.test");
    assertEquals(r.status, 200);
    assertEquals(last(up.seen).headers.get("host"), "localhost");
    await req(p.port(), "/static", {}, "original.test");
    assertEquals(last(up.seen).headers.get("host"), "original.test");
  } finally {
    await p.stop();
    await up.close();
  }
});

Deno.test("route header matchers (exact, present, regex, AND, invert) and query parameter matchers", async () => {
  const direct = (body: string) =>
    `direct_response: { status: 200, body: { inline_string: "${body}" } }`;
  await withProxy({
    routes: `- match:
    prefix: "/"
    headers:
    - { name: x-a, string_match: { exact: "1" } }
    - { name: x-b, string_match: { exact: "2" } }
  ${direct("both")}
- match:
    prefix: "/"
    headers: [{ name: x-canary, string_match: { exact: "yes" } }]
  ${direct("canary")}
- match:
    prefix: "/"
    headers: [{ name: x-debug, present_match: true }]
  ${direct("debug")}
- match:
    prefix: "/"
    headers: [{ name: x-version, safe_regex_match: { regex: "v[0-9]+" } }]
  ${direct("versioned")}
- match:
    prefix: "/inv"
    headers: [{ name: x-env, string_match: { exact: "prod" }, invert_match: true }]
  ${direct("not-prod")}
- match:
    prefix: "/inv2"
    headers:
    - name: x-env
      string_match: { exact: "prod" }
      invert_match: true
      treat_missing_header_as_empty: true
  ${direct("not-prod-or-missing")}
- match:
    prefix: "/q"
    query_parameters: [{ name: mode, string_match: { exact: "fast" } }]
  ${direct("fast")}
- match:
    prefix: "/q"
    query_parameters: [{ name: flag, present_match: true }]
  ${direct("flag")}
- match: { prefix: "/" }
  ${direct("default")}`,
  }, async (p) => {
    const cases: [string, Record<string, string>, string][] = [
      ["/", { "x-a": "1", "x-b": "2" }, "both"],
      ["/", { "x-a": "1" }, "default"],
      ["/", { "x-canary": "yes" }, "canary"],
      ["/", { "x-canary": "no" }, "default"],
      ["/", { "x-debug": "" }, "debug"],
      ["/", { "x-version": "v12" }, "versioned"],
      ["/", { "x-version": "v12b" }, "default"],
      ["/inv", { "x-env": "dev" }, "not-prod"],
      // A missing header never matches a value matcher, inverted or not...
      ["/inv", {}, "default"],
      ["/inv", { "x-env": "prod" }, "default"],
      // ...unless treat_missing_header_as_empty makes it the empty string.
      ["/inv2", {}, "not-prod-or-missing"],
      ["/inv2", { "x-env": "prod" }, "default"],
      ["/q?mode=fast", {}, "fast"],
      ["/q?x=1&mode=fast", {}, "fast"],
      ["/q?mode=slow", {}, "default"],
      ["/q?flag", {}, "flag"],
      ["/q?flag=anything", {}, "flag"],
      ["/q", {}, "default"],
    ];
    for (const [path, headers, body] of cases) {
      const r = await req(p.port(), path, headers);
      assertEquals(r.body, body, `${path} ${JSON.stringify(headers)}`);
    }
  });
});

Deno.test("request_headers_to_remove (route and vhost) and response_headers_to_remove", async () => {
  await withProxy({
    vhostExtra: "request_headers_to_remove: [x-vh-secret]",
    routes: `- match: { prefix: "/" }
  route: { cluster: backend }
  request_headers_to_remove: [x-secret]
  response_headers_to_remove: [x-upstream-secret]`,
  }, async (p, seen) => {
    const r = await req(p.port(), "/", {
      "x-secret": "1",
      "x-vh-secret": "2",
      "x-keep": "3",
    });
    const h = last(seen).headers;
    assertEquals(h.get("x-secret"), null);
    assertEquals(h.get("x-vh-secret"), null);
    assertEquals(h.get("x-keep"), "3");
    assertEquals(r.status, 200);
    assertEquals(r.headers["x-upstream-secret"], undefined);
  });
});

Deno.test("local_reply_config: a mapper changes status, body and headers; body_format wraps bodies", async () => {
  const up = recordingUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/empty" }
  route: { cluster: empty }
- match: { prefix: "/real404" }
  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port) +
      `- name: empty\n  type: STATIC\n  load_assignment: { cluster_name: empty }\n`,
    hcmExtra: `local_reply_config:
  mappers:
  - filter:
      status_code_filter:
        comparison: { op: EQ, value: { default_value: 404, runtime_key: lr_404 } }
    status_code: 410
    body: { inline_string: "gone fishing" }
    headers_to_add:
    - header: { key: x-mapped, value: "yes" }
  body_format:
    text_format_source: { inline_string: "[%LOCAL_REPLY_BODY%]" }`,
  }));
  try {
    const nr = await req(p.port(), "/nothing-here");
    assertEquals([nr.status, nr.body], [410, "[gone fishing]"]);
    assertEquals(nr.headers["x-mapped"], "yes");
    assertMatch(nr.headers["content-type"], /^text\/plain/);
    const uh = await req(p.port(), "/empty");
    assertEquals([uh.status, uh.body], [503, "[no healthy upstream]"]);
    assertEquals(uh.headers["x-mapped"], undefined);
    // An upstream's own 404 is not a local reply: untouched.
    const real = await req(p.port(), "/real404");
    assertEquals([real.status, real.body], [404, "real 404"]);
  } finally {
    await p.stop();
    await up.close();
  }
});

// ---- keep-alive after local replies ----

Deno.test({
  name: "the next request on a keep-alive connection is served after a direct_response or 404",
}, async () => {
  await withProxy({
    routes: `- match: { path: "/direct" }
  direct_response: { status: 200, body: { inline_string: "direct" } }
- match: { prefix: "/up" }
  route: { cluster: backend }`,
  }, async (p) => {
    for (const first of ["/direct", "/no-route"]) {
      // One request, its full answer, then a second request on the same connection.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
      const enc = new TextEncoder();
      const dec = new TextDecoder();
      const buf = new Uint8Array(65536);
      let text = "";
      const timer = setTimeout(() => conn.close(), 3000);
      try {
        await conn.write(enc.encode(`GET ${first} HTTP/1.1\r\nhost: a\r\n\r\n`));
        while (!/\r\n\r\n(direct)?$/.test(text)) {
          const n = await conn.read(buf);
          if (n === null) break;
          text += dec.decode(buf.subarray(0, n));
        }
        await conn.write(enc.encode("GET /up HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"));
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          text += dec.decode(buf.subarray(0, n));
        }
        conn.close();
      } catch { /* closed by the timer: no second response */ }
      clearTimeout(timer);
      assertEquals(text.match(/HTTP\/1\.1 \d{3}/g)?.length, 2, `${first}: ${text}`);
      assertMatch(text, /backend \/up$/);
    }
  });
});
