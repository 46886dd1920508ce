/**
 * HCM and HTTP/1 codec options end to end, with raw sockets on both sides so header bytes are
 * visible: `via`, `strip_trailing_host_dot`, `header_key_format.proper_case_words` (downstream
 * and upstream), `allow_chunked_length` (downstream and upstream),
 * `headers_with_underscores_action`, downstream `max_requests_per_connection` and the upstream
 * `max_headers_count`, `header_key_format.stateful_formatter` (preserve_case) and the
 * upstream `enable_trailers`.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  curl,
  fileAccessLog,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  tcpServer,
} from "./proxy.ts";

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/** Where a raw HTTP/1.1 request that starts `s` ends, or -1 while it is incomplete. */
function requestEnd(s: string): number {
  const headEnd = s.indexOf("\r\n\r\n");
  if (headEnd < 0) return -1;
  const head = s.slice(0, headEnd).toLowerCase();
  let p = headEnd + 4;
  if (/\r\ntransfer-encoding: *chunked/.test(head)) {
    for (;;) {
      const nl = s.indexOf("\r\n", p);
      if (nl < 0) return -1;
      const size = parseInt(s.slice(p, nl), 16);
      if (size === 0) {
        const end = s.indexOf("\r\n\r\n", nl);
        return end < 0 ? -1 : end + 4;
      }
      p = nl + 2 + size + 2;
      if (p > s.length) return -1;
    }
  }
  const cl = /\r\ncontent-length: *(\d+)/.exec(head);
  const end = p + (cl ? Number(cl[1]) : 0);
  return end <= s.length ? end : -1;
}

/**
 * A raw HTTP/1.1 upstream: records every request exactly as it arrived and answers each with
 * the raw response `reply` gives for it.
 */
function rawUpstream(reply: (request: string) => string = () => OK) {
  const requests: string[] = [];
  const srv = tcpServer(async (c) => {
    let pending = "";
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        pending += String.fromCharCode(...buf.subarray(0, n));
        let end;
        while ((end = requestEnd(pending)) >= 0) {
          const request = pending.slice(0, end);
          pending = pending.slice(end);
          requests.push(request);
          await c.write(Uint8Array.from(reply(request), (ch) => ch.charCodeAt(0)));
        }
      }
    } catch { /* the proxy closed the connection */ }
    try {
      c.close();
    } catch { /* closed */ }
  });
  return { ...srv, requests };
}

/** Every counter and gauge of `/stats?format=json`, by name. */
async function stats(p: Proxy): Promise<Record<string, number>> {
  const r = await curl([`http://127.0.0.1:${p.adminPort}/stats?format=json`]);
  const out: Record<string, number> = {};
  for (const s of JSON.parse(r.out).stats) if ("value" in s) out[s.name] = s.value;
  return out;
}

/** Polls the stats until `name` has `value` (workers report them asynchronously). */
async function expectStat(p: Proxy, name: string, value: number): Promise<void> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const s = await stats(p);
    if (s[name] === value) return;
    if (performance.now() > deadline) assertEquals(s[name], value, name);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** typed_extension_protocol_options with upstream HTTP/1 options `h1` and common options. */
function upstreamOptions(h1: string, common = "{}"): string {
  return `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    common_http_protocol_options: ${common}
    explicit_http_config: { http_protocol_options: ${h1} }`;
}

/** Runs `fn` against a proxy on `yaml`, always stopping it. */
async function withProxy(yaml: string, fn: (p: Proxy) => Promise<void>): Promise<string> {
  const p = await Proxy.start(yaml);
  try {
    await fn(p);
  } finally {
    await p.stop();
  }
  return p.proc.stderr;
}

const ROUTE_ALL = `- match: { prefix: "/direct" }
  direct_response: { status: 200, body: { inline_string: "direct" } }
- match: { prefix: "/" }
  route: { cluster: backend }`;

/** An access log (flushed when the proxy stops) with code, details and flags. */
const accessLog = (path: string) =>
  fileAccessLog(path, "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %RESPONSE_FLAGS%");

Deno.test("via: appended to requests upstream and to responses, local replies included", async () => {
  const up = rawUpstream((req) =>
    req.startsWith("GET /upstream-via")
      ? "HTTP/1.1 200 OK\r\nVia: 1.0 up\r\ncontent-length: 2\r\n\r\nok"
      : OK
  );
  try {
    await withProxy(
      httpConfig({
        routes: ROUTE_ALL,
        clusters: staticCluster("backend", up.port),
        hcmExtra: "via: 1.1 denvoy",
      }),
      async (p) => {
        const port = p.port();
        const plain = parseResponse(
          await rawExchange(port, "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        );
        assertEquals([plain.status, plain.headers["via"]], [200, "1.1 denvoy"]);
        assertMatch(up.requests[0], /\r\nvia: 1\.1 denvoy\r\n/);

        const chained = await rawExchange(
          port,
          "GET /upstream-via HTTP/1.1\r\nHost: a\r\nVia: 1.0 fred\r\nConnection: close\r\n\r\n",
        );
        // Envoy appends to the existing value with ", " on both sides.
        assertMatch(up.requests[1], /\r\nvia: 1\.0 fred, 1\.1 denvoy\r\n/);
        assertMatch(chained, /\r\nvia: 1\.0 up, 1\.1 denvoy\r\n/);

        const direct = parseResponse(
          await rawExchange(port, "GET /direct HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        );
        assertEquals([direct.status, direct.headers["via"]], [200, "1.1 denvoy"]);
        assertEquals(up.requests.length, 2);
      },
    );
  } finally {
    up.close();
  }
});

Deno.test("strip_trailing_host_dot: routing and the upstream see the host without its dot", async () => {
  const up = rawUpstream();
  try {
    await withProxy(
      httpConfig({
        routes: `- match:
    prefix: "/"
    headers: [{ name: ":authority", string_match: { exact: "example.com" } }]
  route: { cluster: backend }
- match: { prefix: "/" }
  direct_response: { status: 404 }`,
        clusters: staticCluster("backend", up.port),
        hcmExtra: "strip_trailing_host_dot: true\nstrip_matching_host_port: true",
      }),
      async (p) => {
        const port = p.port();
        const get = async (host: string) =>
          parseResponse(
            await rawExchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
          ).status;
        assertEquals(await get("example.com."), 200);
        assertMatch(up.requests[0], /\r\nhost: example\.com\r\n/);
        // The dot goes first, then the port that matches the listener's.
        assertEquals(await get(`example.com.:${port}`), 200);
        assertMatch(up.requests[1], /\r\nhost: example\.com\r\n/);
        // Another port stays, so this host no longer matches the route.
        assertEquals(await get("example.com.:1"), 404);
        assertEquals(up.requests.length, 2);
      },
    );
  } finally {
    up.close();
  }
});

Deno.test("header_key_format proper_case_words: responses downstream, requests upstream", async () => {
  const up = rawUpstream(() =>
    "HTTP/1.1 200 OK\r\nx-up-thing: 1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
  );
  try {
    await withProxy(
      httpConfig({
        routes: `- match: { prefix: "/plain" }
  route: { cluster: plain }
- match: { prefix: "/" }
  route: { cluster: proper }`,
        clusters: staticCluster(
          "proper",
          up.port,
          upstreamOptions("{ header_key_format: { proper_case_words: {} } }"),
        ) + staticCluster("plain", up.port),
        hcmExtra: "http_protocol_options: { header_key_format: { proper_case_words: {} } }",
      }),
      async (p) => {
        const port = p.port();
        const raw = await rawExchange(
          port,
          "POST /p HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nx-client_thing: c\r\n" +
            "connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
        assertMatch(head, /^HTTP\/1\.1 200 OK\r\n/);
        for (
          const name of [
            "X-Up-Thing",
            "X-Envoy-Upstream-Service-Time",
            "Server",
            "Connection",
            "Transfer-Encoding",
          ]
        ) {
          assertMatch(head, new RegExp(`\r\n${name}: `), name);
        }
        assertEquals(parseResponse(raw).body, "ok");
        const sent = up.requests[0];
        assertMatch(sent, /^POST \/p HTTP\/1\.1\r\nHost: a\r\n/);
        for (const name of ["X-Client_Thing", "X-Forwarded-Proto", "X-Request-Id"]) {
          assertMatch(sent, new RegExp(`\r\n${name}: `), name);
        }
        assertMatch(sent, /\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n$/);

        // A cluster without the option keeps Envoy's lower case.
        await rawExchange(port, "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        assertMatch(up.requests[1], /^GET \/plain HTTP\/1\.1\r\nhost: a\r\n/);
        assert(!/\r\n[A-Z]/.test(up.requests[1]), up.requests[1]);
      },
    );
  } finally {
    up.close();
  }
});

const CHUNKED_WITH_LENGTH = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n" +
  "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";

Deno.test("allow_chunked_length and upstream max_headers_count", async () => {
  const up = rawUpstream((req) => {
    if (/^GET \/(lenient|strict)/.test(req)) return CHUNKED_WITH_LENGTH;
    if (req.startsWith("GET /many")) {
      return "HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\ncontent-length: 0\r\n\r\n";
    }
    if (req.startsWith("GET /few")) return "HTTP/1.1 200 OK\r\na: 1\r\ncontent-length: 0\r\n\r\n";
    return OK;
  });
  const log = Deno.makeTempFileSync();
  try {
    await withProxy(
      httpConfig({
        routes: `- match: { prefix: "/lenient" }
  route: { cluster: lenient }
- match: { prefix: "/strict" }
  route: { cluster: strict }
- match: { prefix: "/many" }
  route: { cluster: few_headers }
- match: { prefix: "/few" }
  route: { cluster: few_headers }
- match: { prefix: "/" }
  route: { cluster: strict }`,
        clusters:
          staticCluster("lenient", up.port, upstreamOptions("{ allow_chunked_length: true }")) +
          staticCluster("strict", up.port) +
          staticCluster("few_headers", up.port, upstreamOptions("{}", "{ max_headers_count: 2 }")),
        hcmExtra: "http_protocol_options: { allow_chunked_length: true }\n" + accessLog(log),
      }),
      async (p) => {
        const port = p.port();
        // Downstream: the request is read as chunked; its Content-Length does not go upstream.
        const posted = parseResponse(
          await rawExchange(
            port,
            "POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n" +
              "Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
          ),
        );
        assertEquals([posted.status, posted.body], [200, "ok"]);
        const sent = up.requests[0];
        assert(!/content-length/i.test(sent), sent);
        assertMatch(sent, /\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n$/);

        const get = (path: string) =>
          rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
            .then(parseResponse);
        // Upstream: the cluster's own option decides.
        const lenient = await get("/lenient");
        assertEquals([lenient.status, lenient.body, lenient.headers["content-length"]], [
          200,
          "ok",
          undefined,
        ]);
        assertEquals((await get("/strict")).status, 502);
        // common_http_protocol_options.max_headers_count of the cluster bounds responses.
        assertEquals((await get("/few")).status, 200);
        assertEquals((await get("/many")).status, 502);
      },
    );
    const lines = Deno.readTextFileSync(log);
    assertMatch(
      lines,
      /^\/strict 502 upstream_reset_before_response_started\{protocol_error\} UPE$/m,
    );
    assertMatch(
      lines,
      /^\/many 502 upstream_reset_before_response_started\{protocol_error\} UPE$/m,
    );
  } finally {
    up.close();
  }
});

Deno.test("headers_with_underscores_action REJECT_REQUEST: 400 http1.unexpected_underscore, counted", async () => {
  const up = rawUpstream();
  const log = Deno.makeTempFileSync();
  try {
    await withProxy(
      httpConfig({
        routes: ROUTE_ALL,
        clusters: staticCluster("backend", up.port),
        hcmExtra:
          "common_http_protocol_options: { headers_with_underscores_action: REJECT_REQUEST }\n" +
          accessLog(log),
      }),
      async (p) => {
        const raw = await rawExchange(p.port(), "GET /u HTTP/1.1\r\nHost: a\r\nX_Foo: 1\r\n\r\n");
        assertEquals(parseResponse(raw).status, 400);
        assertMatch(raw, /\r\nconnection: close\r\n/);
        const fine = await rawExchange(
          p.port(),
          "GET /ok HTTP/1.1\r\nHost: a\r\nX-Foo: 1\r\nConnection: close\r\n\r\n",
        );
        assertEquals(parseResponse(fine).status, 200);
        assertEquals(up.requests.length, 1);
        await expectStat(p, "http1.requests_rejected_with_underscores_in_headers", 1);
        await expectStat(p, "http.test.downstream_cx_protocol_error", 1);
      },
    );
    assertMatch(Deno.readTextFileSync(log), /^- 400 http1\.unexpected_underscore DPE$/m);
  } finally {
    up.close();
  }
});

Deno.test("headers_with_underscores_action DROP_HEADER: the field never reaches filters or upstream", async () => {
  const up = rawUpstream();
  try {
    await withProxy(
      httpConfig({
        routes: ROUTE_ALL,
        clusters: staticCluster("backend", up.port),
        hcmExtra: "common_http_protocol_options: { headers_with_underscores_action: DROP_HEADER }",
      }),
      async (p) => {
        const raw = await rawExchange(
          p.port(),
          "GET /d HTTP/1.1\r\nHost: a\r\nX_Foo: 1\r\nx-keep: 2\r\nother_one: 3\r\nConnection: close\r\n\r\n",
        );
        assertEquals(parseResponse(raw).status, 200);
        assertMatch(up.requests[0], /\r\nx-keep: 2\r\n/);
        assert(!up.requests[0].includes("_"), up.requests[0]);
        await expectStat(p, "http1.dropped_headers_with_underscores", 2);
      },
    );
  } finally {
    up.close();
  }
});

Deno.test("max_requests_per_connection: the last response says connection: close", async () => {
  const up = rawUpstream();
  try {
    await withProxy(
      httpConfig({
        routes: ROUTE_ALL,
        clusters: staticCluster("backend", up.port),
        hcmExtra: "common_http_protocol_options: { max_requests_per_connection: 2 }",
      }),
      async (p) => {
        // Three pipelined requests in one write: two are served, then the connection closes.
        const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;
        const raw = await rawExchange(p.port(), get("/1") + get("/2") + get("/3"));
        const responses = raw.split(/(?=HTTP\/1\.1 )/);
        assertEquals(responses.length, 2, raw);
        assert(!/connection: close/i.test(responses[0]), responses[0]);
        assertMatch(responses[1], /\r\nconnection: close\r\n/);
        assertEquals(up.requests.map((r) => r.split(" ")[1]), ["/1", "/2"]);
        await expectStat(p, "http.test.downstream_cx_max_requests_reached", 1);
        // Each new connection gets its own count.
        const again = await rawExchange(p.port(), get("/4") + get("/5"));
        assertEquals(again.split(/(?=HTTP\/1\.1 )/).length, 2);
        await expectStat(p, "http.test.downstream_cx_max_requests_reached", 2);
      },
    );
  } finally {
    up.close();
  }
});

/** A preserve_case stateful_formatter with `extra` PreserveCaseFormatterConfig fields. */
function preserveCase(extra = ""): string {
  const type = "type.googleapis.com/envoy.extensions.http.header_formatters.preserve_case.v3." +
    "PreserveCaseFormatterConfig";
  const config = [`"@type": ${type}`, ...(extra ? [extra] : [])].join(", ");
  return `{ header_key_format: { stateful_formatter: { name: preserve_case, typed_config: { ${config} } } } }`;
}

Deno.test("preserve_case: names go out as received, both ways; reason phrase forwarded", async () => {
  const up = rawUpstream(() =>
    "HTTP/1.1 200 Totally Fine\r\nX-UP-Thing: 1\r\ncontent-LENGTH: 2\r\n\r\nok"
  );
  try {
    await withProxy(
      httpConfig({
        routes: ROUTE_ALL,
        clusters: staticCluster(
          "backend",
          up.port,
          upstreamOptions(
            preserveCase(
              "forward_reason_phrase: true, formatter_type_on_envoy_headers: PROPER_CASE",
            ),
          ),
        ),
        hcmExtra: `http_protocol_options: ${preserveCase()}`,
      }),
      async (p) => {
        const raw = await rawExchange(
          p.port(),
          "GET /pc HTTP/1.1\r\nHOST: a\r\nX-Client-MiXeD: 1\r\nConnection: close\r\n\r\n",
        );
        // Upstream: the client's spelling; headers the proxy added as stored (DEFAULT).
        const sent = up.requests[0];
        assertMatch(sent, /^GET \/pc HTTP\/1\.1\r\nHOST: a\r\n/);
        assertMatch(sent, /\r\nX-Client-MiXeD: 1\r\n/);
        assertMatch(sent, /\r\nx-forwarded-proto: http\r\n/);
        // Downstream: the upstream's spelling and reason phrase; the proxy's headers in proper
        // case (the cluster's formatter_type_on_envoy_headers).
        assertMatch(raw, /^HTTP\/1\.1 200 Totally Fine\r\n/);
        assertMatch(raw, /\r\nX-UP-Thing: 1\r\n/);
        assertMatch(raw, /\r\ncontent-LENGTH: 2\r\n/);
        assertMatch(raw, /\r\nX-Envoy-Upstream-Service-Time: \d+\r\n/);
        assertMatch(raw, /\r\nConnection: close\r\n/);
        // A local reply has no formatter: Envoy's lower case and reason phrase.
        const direct = await rawExchange(
          p.port(),
          "GET /direct HTTP/1.1\r\nHOST: a\r\nConnection: close\r\n\r\n",
        );
        assertMatch(direct, /^HTTP\/1\.1 200 OK\r\ncontent-length: 6\r\n/);
      },
    );
  } finally {
    up.close();
  }
});

Deno.test("enable_trailers on a cluster: trailers cross the upstream connection only with it", async () => {
  const up = rawUpstream(() =>
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-up-trailer: 1\r\n\r\n"
  );
  try {
    await withProxy(
      httpConfig({
        routes: `- match: { prefix: "/with" }
  route: { cluster: with_trailers }
- match: { prefix: "/" }
  route: { cluster: without }`,
        clusters:
          staticCluster("with_trailers", up.port, upstreamOptions("{ enable_trailers: true }")) +
          staticCluster("without", up.port),
        hcmExtra: "http_protocol_options: { enable_trailers: true }",
      }),
      async (p) => {
        const post = (path: string) =>
          rawExchange(
            p.port(),
            `POST ${path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
              "1\r\na\r\n0\r\nx-down-trailer: 2\r\n\r\n",
          );
        const withTrailers = await post("/with");
        assertMatch(up.requests[0], /\r\n0\r\nx-down-trailer: 2\r\n\r\n$/);
        assertMatch(withTrailers, /\r\n0\r\nx-up-trailer: 1\r\n\r\n$/);
        const without = await post("/plain");
        assertMatch(up.requests[1], /\r\n1\r\na\r\n0\r\n\r\n$/);
        assertMatch(without, /\r\nok\r\n0\r\n\r\n$/);
      },
    );
  } finally {
    up.close();
  }
});
