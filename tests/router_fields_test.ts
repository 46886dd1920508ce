/**
 * Router and route fields end to end, each as Envoy does it: router `suppress_envoy_headers`,
 * route `idle_timeout`, route `upgrade_configs`, `host_rewrite_path_regex` (with
 * `append_x_forwarded_host`), `weighted_clusters.runtime_key_prefix`, `max_stream_duration`
 * (connection manager and route, with the gRPC timeout header knobs) and
 * `internal_redirect_policy`.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  adminStatsWhen as statsWhen,
  curl,
  delay,
  fileAccessLog as accessLog,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  tcpServer,
  upstream,
} from "./proxy.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An upstream that answers with what it received, as JSON; `/wait/<ms>` answers late. */
function echoUpstream(name = "echo") {
  return upstream(async (req) => {
    const url = new URL(req.url);
    const m = /\/wait\/(\d+)/.exec(url.pathname);
    if (m) await delay(Number(m[1]), req.signal);
    const body = await req.text().catch(() => "");
    return Response.json({
      name,
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      body,
    });
  });
}

function get(port: number, path: string, extra = ""): Promise<string> {
  return rawExchange(
    port,
    `GET ${path} HTTP/1.1\r\nhost: a\r\n${extra}connection: close\r\n\r\n`,
  );
}

const LOG_FORMAT = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%";

const SUPPRESS =
  `              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
              suppress_envoy_headers: true
`;

Deno.test("Router suppress_envoy_headers: no x-envoy-* headers from the router either way", async () => {
  const up = echoUpstream();
  const routes = `- match: { prefix: "/old/" }
  route: { cluster: up, prefix_rewrite: "/new/", timeout: 5s }`;
  const plain = await Proxy.start(httpConfig({ routes, clusters: staticCluster("up", up.port) }));
  const suppressed = await Proxy.start(
    httpConfig({ routes, clusters: staticCluster("up", up.port) }).replace(
      /^ *"@type": type\.googleapis\.com\/envoy\.extensions\.filters\.http\.router\.v3\.Router\n/m,
      SUPPRESS,
    ),
  );
  try {
    const a = parseResponse(await get(plain.port(), "/old/x"));
    const seenA = JSON.parse(a.body).headers;
    assertEquals(seenA["x-envoy-expected-rq-timeout-ms"], "5000");
    assertEquals(seenA["x-envoy-original-path"], "/old/x");
    assertMatch(a.headers["x-envoy-upstream-service-time"] ?? "", /^\d+$/);

    // The connection manager's own x-envoy-* headers (x-envoy-internal, ...) are not the router's.
    const b = parseResponse(await get(suppressed.port(), "/old/x"));
    const seenB = JSON.parse(b.body);
    assertEquals(seenB.path, "/new/x");
    assertEquals(seenB.headers["x-envoy-expected-rq-timeout-ms"], undefined);
    assertEquals(seenB.headers["x-envoy-original-path"], undefined);
    assertEquals(Object.keys(b.headers).filter((h) => h.startsWith("x-envoy-")), []);
  } finally {
    await plain.stop();
    await suppressed.stop();
    await up.close();
  }
});

Deno.test("Router respect_expected_rq_timeout: an internal x-envoy-expected-rq-timeout-ms is the route timeout", async () => {
  const up = echoUpstream();
  const p = await Proxy.start(
    httpConfig({
      routes: `- match: { prefix: "/" }\n  route: { cluster: up, timeout: 0s }`,
      clusters: staticCluster("up", up.port),
      hcmExtra: "use_remote_address: true",
    }).replace(
      /^ *"@type": type\.googleapis\.com\/envoy\.extensions\.filters\.http\.router\.v3\.Router\n/m,
      SUPPRESS.replace("suppress_envoy_headers", "respect_expected_rq_timeout"),
    ),
  );
  try {
    const r = parseResponse(
      await get(p.port(), "/wait/3000", "x-envoy-expected-rq-timeout-ms: 200\r\n"),
    );
    assertEquals([r.status, r.body], [504, "upstream request timeout"]);
    // It goes upstream as the timeout in force; x-envoy-upstream-rq-timeout-ms is then ignored.
    const seen = JSON.parse(
      parseResponse(
        await get(
          p.port(),
          "/fast",
          "x-envoy-expected-rq-timeout-ms: 900\r\nx-envoy-upstream-rq-timeout-ms: 5\r\n",
        ),
      ).body,
    );
    assertEquals(seen.headers["x-envoy-expected-rq-timeout-ms"], "900");
  } finally {
    await p.stop();
    await up.close();
  }
});

Deno.test("route idle_timeout overrides stream_idle_timeout; 0 disables it", async () => {
  const log = Deno.makeTempFileSync();
  const up = echoUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/short/" }
  route: { cluster: up, timeout: 0s, idle_timeout: 0.25s }
- match: { prefix: "/none/" }
  route: { cluster: up, timeout: 0s, idle_timeout: 0s }
- match: { prefix: "/" }
  route: { cluster: up, timeout: 0s }`,
    clusters: staticCluster("up", up.port),
    hcmExtra: `stream_idle_timeout: 0.4s\n${accessLog(log, LOG_FORMAT)}`,
  }));
  try {
    const short = parseResponse(await get(p.port(), "/short/wait/3000"));
    assertEquals(short.body, "stream timeout");
    // The connection manager's 0.4 s would cut this one; the route turned the timer off.
    const none = parseResponse(await get(p.port(), "/none/wait/900"));
    assertEquals([none.status, JSON.parse(none.body).path], [200, "/none/wait/900"]);
    assertEquals(parseResponse(await get(p.port(), "/other/wait/3000")).body, "stream timeout");
  } finally {
    await p.stop();
    await up.close();
  }
  const lines = Deno.readTextFileSync(log);
  assertMatch(lines, /^\/short\/wait\/3000 \d+ SI stream_idle_timeout$/m);
  assertMatch(lines, /^\/none\/wait\/900 200 - via_upstream$/m);
});

/** A raw upstream that accepts any upgrade with a 101 and then echoes. */
function upgradeUpstream() {
  return tcpServer(async (c) => {
    const buf = new Uint8Array(65536);
    try {
      const n = await c.read(buf);
      if (n === null) return;
      const req = dec.decode(buf.subarray(0, n));
      const type = /^upgrade: *(.*)$/im.exec(req)?.[1].trim() ?? "";
      await c.write(
        enc.encode(
          `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${type}\r\nconnection: upgrade\r\n\r\n`,
        ),
      );
      for (;;) {
        const m = await c.read(buf);
        if (m === null) break;
        await c.write(buf.slice(0, m));
      }
    } catch { /* closed */ }
    try {
      c.close();
    } catch { /* closed */ }
  });
}

/** Sends an upgrade request; returns the status line, and the echo of "ping" after a 101. */
async function tryUpgrade(port: number, path: string, type: string): Promise<[string, string]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buf = new Uint8Array(65536);
  try {
    await conn.write(enc.encode(
      `GET ${path} HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: ${type}\r\n\r\n`,
    ));
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      head += dec.decode(buf.subarray(0, n));
    }
    const status = head.slice(0, head.indexOf("\r\n"));
    if (!status.includes(" 101 ")) return [status, ""];
    await conn.write(enc.encode("ping"));
    const n = await conn.read(buf);
    return [status, n === null ? "" : dec.decode(buf.subarray(0, n))];
  } finally {
    conn.close();
  }
}

Deno.test("route upgrade_configs enable and disable upgrade types over the HCM's", async () => {
  const up = upgradeUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/no-ws" }
  route:
    cluster: up
    upgrade_configs: [{ upgrade_type: WebSocket, enabled: false }]
- match: { prefix: "/custom" }
  route:
    cluster: up
    upgrade_configs: [{ upgrade_type: custom-proto }]
- match: { prefix: "/" }
  route: { cluster: up }`,
    clusters: staticCluster("up", up.port),
    hcmExtra: `upgrade_configs: [{ upgrade_type: websocket }]`,
  }));
  try {
    assertEquals(await tryUpgrade(p.port(), "/ws", "websocket"), [
      "HTTP/1.1 101 Switching Protocols",
      "ping",
    ]);
    assertEquals((await tryUpgrade(p.port(), "/no-ws", "websocket"))[0], "HTTP/1.1 403 Forbidden");
    // Enabled by the route alone; refused where only the HCM decides.
    assertEquals(await tryUpgrade(p.port(), "/custom", "custom-proto"), [
      "HTTP/1.1 101 Switching Protocols",
      "ping",
    ]);
    assertEquals((await tryUpgrade(p.port(), "/ws", "custom-proto"))[0], "HTTP/1.1 403 Forbidden");
  } finally {
    await p.stop();
    up.close();
  }
});

Deno.test("host_rewrite_path_regex sets the host from the original path; append_x_forwarded_host", async () => {
  const up = echoUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/svc/" }
  route:
    cluster: up
    prefix_rewrite: "/"
    append_x_forwarded_host: true
    host_rewrite_path_regex:
      pattern: { regex: "^/svc/([^/]+)/.*$" }
      substitution: "\\\\1.internal"`,
    clusters: staticCluster("up", up.port),
  }));
  try {
    const seen = JSON.parse(parseResponse(await get(p.port(), "/svc/orders/list?x=/a/b")).body);
    assertEquals(seen.headers.host, "orders.internal");
    assertEquals(seen.headers["x-forwarded-host"], "a");
    assertEquals(seen.path, "/orders/list?x=/a/b");
  } finally {
    await p.stop();
    await up.close();
  }
});

Deno.test("weighted_clusters.runtime_key_prefix: weights follow the runtime, 0 in total is no route", async () => {
  const a = upstream(() => new Response("a"));
  const b = upstream(() => new Response("b"));
  const yaml = httpConfig({
    routes: `- match: { prefix: "/" }
  route:
    weighted_clusters:
      runtime_key_prefix: routing.split
      clusters:
      - { name: a, weight: 100 }
      - { name: b, weight: 0 }`,
    clusters: staticCluster("a", a.port) + staticCluster("b", b.port),
  }) + `layered_runtime:
  layers:
  - name: static
    static_layer:
      routing: { split: { a: 0, b: 7 } }
  - name: admin
    admin_layer: {}
`;
  const p = await Proxy.start(yaml);
  const admin = `http://127.0.0.1:${p.adminPort}`;
  /** Polls until 8 requests in a row answer `want` (the worker applies runtime updates async). */
  const eventually = async (want: string) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const got = [];
      for (let i = 0; i < 8; i++) {
        const r = parseResponse(await get(p.port(), "/"));
        got.push(r.status === 200 ? r.body : String(r.status));
      }
      if (got.every((b) => b === want)) return;
      if (Date.now() > deadline) throw new Error(`expected every answer to be ${want}: ${got}`);
    }
  };
  try {
    await eventually("b");
    await curl(["-X", "POST", `${admin}/runtime_modify?routing.split.a=3&routing.split.b=0`]);
    await eventually("a");
    await curl(["-X", "POST", `${admin}/runtime_modify?routing.split.a=0`]);
    await eventually("404");
    // Removing the overrides brings the static layer's weights back.
    await curl(["-X", "POST", `${admin}/runtime_modify?routing.split.a=&routing.split.b=`]);
    await eventually("b");
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("max_stream_duration: HCM limit, route override and 0, gRPC header max and offset", async () => {
  const log = Deno.makeTempFileSync();
  const up = echoUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/off/" }
  route: { cluster: up, timeout: 0.1s, max_stream_duration: { max_stream_duration: 0s } }
- match: { prefix: "/grpc/" }
  route:
    cluster: up
    max_stream_duration: { grpc_timeout_header_max: 0.3s, grpc_timeout_header_offset: 0.05s }
- match: { prefix: "/" }
  route: { cluster: up, timeout: 0s }`,
    clusters: staticCluster("up", up.port),
    hcmExtra: `common_http_protocol_options: { max_stream_duration: 0.3s }
${accessLog(log, LOG_FORMAT)}`,
  }));
  try {
    const r = parseResponse(await get(p.port(), "/slow/wait/3000"));
    assertEquals([r.status, r.body], [504, "downstream duration timeout"]);

    // The route disables the limit, and with it (Envoy's "new timeouts") the route timeout.
    const off = parseResponse(await get(p.port(), "/off/wait/700"));
    assertEquals(off.status, 200);

    // grpc-timeout 10S capped to 300 ms, less the 50 ms offset: sent upstream, and enforced.
    const grpcHeaders = "content-type: application/grpc\r\ngrpc-timeout: 10S\r\n";
    const g = parseResponse(await get(p.port(), "/grpc/echo", grpcHeaders));
    assertEquals(JSON.parse(g.body).headers["grpc-timeout"], "250m");
    const gs = parseResponse(await get(p.port(), "/grpc/wait/3000", grpcHeaders));
    // A gRPC request gets the 504 as a trailers-only gRPC error (Unavailable).
    assertEquals([gs.status, gs.headers["grpc-status"]], [200, "14"]);
    assertMatch(gs.headers["grpc-message"], /timeout/);

    // A request still arriving when the limit hits gets 408.
    const partial = parseResponse(
      await rawExchange(
        p.port(),
        "POST /slow HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nabc",
      ),
    );
    assertEquals([partial.status, partial.body], [408, "downstream duration timeout"]);
    const s = await statsWhen(
      p.adminPort,
      (s) => s["http.test.downstream_rq_max_duration_reached"] === 3,
    );
    assertEquals(s["http.test.downstream_rq_max_duration_reached"], 3);
  } finally {
    await p.stop();
    await up.close();
  }
  const lines = Deno.readTextFileSync(log);
  assertMatch(lines, /^\/slow\/wait\/3000 504 - max_duration_timeout$/m);
  assertMatch(lines, /^\/off\/wait\/700 200 - via_upstream$/m);
});

Deno.test("deprecated max_grpc_timeout and grpc_timeout_offset set a gRPC request's route timeout", async () => {
  const up = echoUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }
  route: { cluster: up, max_grpc_timeout: 0.3s, grpc_timeout_offset: 0.05s }`,
    clusters: staticCluster("up", up.port),
  }));
  try {
    const grpcHeaders = "content-type: application/grpc\r\ngrpc-timeout: 10S\r\n";
    const seen = JSON.parse(parseResponse(await get(p.port(), "/echo", grpcHeaders)).body);
    assertEquals(seen.headers["grpc-timeout"], "300m");
    assertEquals(seen.headers["x-envoy-expected-rq-timeout-ms"], "300");
    const r = parseResponse(await get(p.port(), "/wait/3000", grpcHeaders));
    // UT as a trailers-only gRPC error: Envoy maps the 504 to 14 (Unavailable).
    assertEquals(
      [r.status, r.headers["grpc-status"], r.headers["grpc-message"], r.body],
      [200, "14", "upstream request timeout", ""],
    );
    // Not gRPC: the route's own timeout (15 s) and no grpc-timeout.
    const plain = JSON.parse(parseResponse(await get(p.port(), "/echo")).body);
    assertEquals(plain.headers["x-envoy-expected-rq-timeout-ms"], "15000");
  } finally {
    await p.stop();
    await up.close();
  }
});

Deno.test("upstream max_stream_duration: the cluster's limit or x-envoy-upstream-stream-duration-ms, flag UMSDR", async () => {
  const log = Deno.makeTempFileSync();
  const up = echoUpstream();
  const limited = staticCluster(
    "limited",
    up.port,
    `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    common_http_protocol_options: { max_stream_duration: 0.3s }
    explicit_http_config: { http_protocol_options: {} }`,
  );
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/limited/" }
  route: { cluster: limited, timeout: 0s }
- match: { prefix: "/" }
  route: { cluster: open, timeout: 0s }`,
    clusters: limited + staticCluster("open", up.port),
    hcmExtra: `use_remote_address: true\n${accessLog(log, LOG_FORMAT)}`,
  }));
  try {
    const r = parseResponse(await get(p.port(), "/limited/wait/3000"));
    assertEquals([r.status, r.body], [504, "upstream max stream duration reached"]);
    assertEquals(parseResponse(await get(p.port(), "/limited/fast")).status, 200);
    // An internal request sets its own limit; the header is consumed, not forwarded.
    const header = "x-envoy-upstream-stream-duration-ms: 200\r\n";
    assertEquals(parseResponse(await get(p.port(), "/open/wait/3000", header)).status, 504);
    const seen = JSON.parse(parseResponse(await get(p.port(), "/open/fast", header)).body);
    assertEquals(seen.headers["x-envoy-upstream-stream-duration-ms"], undefined);
    const s = await statsWhen(
      p.adminPort,
      (s) => s["cluster.open.upstream_rq_max_duration_reached"] === 1,
    );
    assertEquals(s["cluster.limited.upstream_rq_max_duration_reached"], 1);
  } finally {
    await p.stop();
    await up.close();
  }
  assertMatch(
    Deno.readTextFileSync(log),
    /^\/limited\/wait\/3000 504 UMSDR upstream_max_stream_duration_reached$/m,
  );
});

/** An upstream that redirects: `/to/<code>/<location>` answers `<code>` with that Location. */
function redirectingUpstream() {
  return upstream(async (req) => {
    const url = new URL(req.url);
    const body = await req.text().catch(() => "");
    const m = /^\/to\/(\d+)\/(.*)$/.exec(url.pathname);
    if (m) {
      return new Response("redirecting", {
        status: Number(m[1]),
        headers: { location: decodeURIComponent(m[2]), "x-copied": "from-302" },
      });
    }
    return Response.json({
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      body,
    });
  });
}

Deno.test("internal_redirect_policy: the router follows 3xx, replays the body, and passes through what it may not follow", async () => {
  const log = Deno.makeTempFileSync();
  const up = redirectingUpstream();
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/final" }
  route: { cluster: up }
- match: { prefix: "/" }
  route:
    cluster: up
    internal_redirect_policy:
      redirect_response_codes: [302, 303, 307]
      response_headers_to_copy: [x-copied]`,
    clusters: staticCluster("up", up.port),
    hcmExtra: accessLog(log, LOG_FORMAT),
  }));
  const loc = (s: string) => encodeURIComponent(s);
  try {
    const r = parseResponse(await get(p.port(), `/to/302/${loc("http://other.test/final?q=1")}`));
    assertEquals(r.status, 200);
    const seen = JSON.parse(r.body);
    assertEquals(seen.path, "/final?q=1");
    assertEquals(seen.headers.host, "other.test");
    assertEquals(seen.headers["x-copied"], "from-302");
    assertEquals(
      seen.headers["x-envoy-original-url"],
      `http://a/to/302/${loc("http://other.test/final?q=1")}`,
    );

    // 307 replays method and body; 303 turns a POST into a body-less GET.
    const post = (path: string) =>
      rawExchange(
        p.port(),
        `POST ${path} HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello`,
      );
    const r307 = JSON.parse(parseResponse(await post(`/to/307/${loc("http://a/final")}`)).body);
    assertEquals([r307.method, r307.body], ["POST", "hello"]);
    const r303 = JSON.parse(parseResponse(await post(`/to/303/${loc("http://a/final")}`)).body);
    assertEquals([r303.method, r303.body], ["GET", ""]);

    // Passed through: a 301 (not listed), a scheme change, the second redirect of a request.
    assertEquals(
      parseResponse(await get(p.port(), `/to/301/${loc("http://a/final")}`)).status,
      301,
    );
    const https = parseResponse(await get(p.port(), `/to/302/${loc("https://a/final")}`));
    assertEquals([https.status, https.headers.location], [302, "https://a/final"]);
    const twice = `/to/302/${loc("http://a/to/302/" + loc("http://a/final"))}`;
    const t = parseResponse(await get(p.port(), twice));
    assertEquals([t.status, t.headers.location], [302, "http://a/final"]);

    // A keep-alive connection goes on serving after a followed redirect.
    const two = await curl([
      `http://127.0.0.1:${p.port()}/to/302/${loc("http://a/final")}`,
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{num_connects}\\n",
      `http://127.0.0.1:${p.port()}/final`,
    ]);
    assertMatch(two.out, /^200 1\n.*200 0\n$/s);

    const s = await statsWhen(
      p.adminPort,
      (s) => s["cluster.up.upstream_internal_redirect_succeeded_total"] === 5,
    );
    assertEquals(s["cluster.up.upstream_internal_redirect_failed_total"], 2);
    assertEquals(s["http.test.passthrough_internal_redirect_unsafe_scheme"], 1);
    assertEquals(s["http.test.passthrough_internal_redirect_too_many_redirects"], 1);
  } finally {
    await p.stop();
    await up.close();
  }
  const lines = Deno.readTextFileSync(log);
  assertEquals(lines.match(/ internal_redirect$/gm)?.length, 5);
  assertMatch(lines, /^\/final\?q=1 200 - via_upstream$/m);
});

Deno.test("internal_redirect_policy predicates and header names Envoy refuses fail validation", async () => {
  const { runMain, tempFile } = await import("./helpers.ts");
  const bad = (policy: string) =>
    tempFile(httpConfig({
      routes: `- match: { prefix: "/" }
  route:
    cluster: up
    internal_redirect_policy: ${policy}`,
      clusters: staticCluster("up", 1),
    }));
  const host = await runMain([
    "--mode",
    "validate",
    "-c",
    bad("{ response_headers_to_copy: [host] }"),
  ]);
  assert(host.code !== 0);
  assertMatch(host.stderr, /response_headers_to_copy\[0\]: :-prefixed headers or Hosts/);
  const pred = await runMain([
    "--mode",
    "validate",
    "-c",
    bad(
      `{ predicates: [{ name: x, typed_config: { "@type": type.googleapis.com/google.protobuf.Struct } }] }`,
    ),
  ]);
  assert(pred.code !== 0);
  assertMatch(pred.stderr, /predicates\[0\]: internal redirect predicate 'x'/);
});
