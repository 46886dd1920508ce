/**
 * Access logs end to end: main.ts as a process in front of real upstreams, real clients, and
 * the lines it writes. HTTP and TCP, JSON (typed) and text, every operator group, filters,
 * Envoy's default formats, listener-level logs, TCP log options, and logrotate (POST
 * /reopen_logs and SIGUSR1) across workers.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { runMain, tempFile } from "./helpers.ts";
import { curl, Proxy, rawExchange, staticCluster, tcpServer, waitForLines } from "./proxy.ts";
import { refusedPort } from "./refused_port.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Flush access log buffers every 20 ms, so tests can read lines while the proxy runs. */
const FAST_FLUSH = ["--file-flush-interval-msec", "20"];

/** A YAML file access log entry (`format` is the rest of the FileAccessLog). */
function fileLog(path: string, format: string, extra = ""): string {
  const indent = (s: string, n: number) => s.replace(/^/gm, " ".repeat(n));
  return `- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${path}
${indent(format, 4)}
${indent(extra, 2)}`;
}

const indent = (s: string, n: number) => s.replace(/^/gm, " ".repeat(n));

/** One HTTP listener (filter chain `main_chain`) with `accessLogs` on its HCM. */
function httpListener(opts: {
  accessLogs: string;
  routes: string;
  clusters: string;
  hcmExtra?: string;
}): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - name: main_chain
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
${indent(opts.hcmExtra ?? "", 10)}
          access_log:
${indent(opts.accessLogs, 10)}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
${indent(opts.routes, 14)}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${indent(opts.clusters, 2)}
`;
}

/**
 * A raw HTTP/1.1 upstream that records exactly what it read and answers `response`, so the
 * upstream byte counters can be checked to the byte.
 */
function recordingUpstream(response: string) {
  const requests: { raw: string; headLength: number }[] = [];
  const server = tcpServer(async (c) => {
    let raw = "";
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        raw += dec.decode(buf.subarray(0, n));
        const end = raw.indexOf("\r\n\r\n");
        if (end < 0) continue;
        const length = Number(/content-length: *(\d+)/i.exec(raw.slice(0, end))?.[1] ?? 0);
        if (raw.length >= end + 4 + length) {
          requests.push({ raw, headLength: end + 4 });
          await c.write(enc.encode(response));
          raw = "";
        }
      }
    } catch { /* the proxy closed the connection */ }
    try {
      c.close();
    } catch { /* already closed */ }
  });
  return { ...server, requests };
}

Deno.test("HTTP: typed JSON access log with every operator group, bytes exact", async () => {
  const log = Deno.makeTempFileSync();
  const upstreamResponse = "HTTP/1.1 200 OK\r\ncontent-length: 6\r\nx-up: yes\r\n\r\nworld!";
  const up = recordingUpstream(upstreamResponse);
  Deno.env.set("DENVOY_ACCESS_LOG_TEST", "production");
  const json = {
    start: "%START_TIME(%s)%",
    method: "%REQ(:METHOD)%",
    path: "%PATH(NQ)%",
    query: "%QUERY_PARAM(x)%",
    protocol: "%PROTOCOL%",
    upstream_protocol: "%UPSTREAM_PROTOCOL%",
    code: "%RESPONSE_CODE%",
    details: "%RESPONSE_CODE_DETAILS%",
    flags: "%RESPONSE_FLAGS%",
    bytes_received: "%BYTES_RECEIVED%",
    bytes_sent: "%BYTES_SENT%",
    up_wire_sent: "%UPSTREAM_WIRE_BYTES_SENT%",
    up_wire_received: "%UPSTREAM_WIRE_BYTES_RECEIVED%",
    up_header_sent: "%UPSTREAM_HEADER_BYTES_SENT%",
    up_header_received: "%UPSTREAM_HEADER_BYTES_RECEIVED%",
    down_wire_received: "%DOWNSTREAM_WIRE_BYTES_RECEIVED%",
    down_wire_sent: "%DOWNSTREAM_WIRE_BYTES_SENT%",
    down_header_received: "%DOWNSTREAM_HEADER_BYTES_RECEIVED%",
    down_header_sent: "%DOWNSTREAM_HEADER_BYTES_SENT%",
    request_headers_bytes: "%REQUEST_HEADERS_BYTES%",
    response_headers_bytes: "%RESPONSE_HEADERS_BYTES%",
    duration: "%DURATION%",
    request_duration: "%REQUEST_DURATION%",
    request_tx_duration: "%REQUEST_TX_DURATION%",
    response_duration: "%RESPONSE_DURATION%",
    response_tx_duration: "%RESPONSE_TX_DURATION%",
    common: "%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%",
    connect: "%COMMON_DURATION(US_CX_BEG:US_CX_END:us)%",
    pool_ready: "%UPSTREAM_CONNECTION_POOL_READY_DURATION%",
    upstream_host: "%UPSTREAM_HOST%",
    upstream_host_name: "%UPSTREAM_HOST_NAME%",
    cluster: "%UPSTREAM_CLUSTER%",
    cluster_raw: "%UPSTREAM_CLUSTER_RAW%",
    upstream_remote: "%UPSTREAM_REMOTE_ADDRESS%",
    upstream_local: "%UPSTREAM_LOCAL_ADDRESS%",
    upstream_local_port: "%UPSTREAM_LOCAL_PORT%",
    downstream_remote: "%DOWNSTREAM_REMOTE_ADDRESS%",
    downstream_remote_port: "%DOWNSTREAM_REMOTE_PORT%",
    downstream_direct: "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%",
    downstream_masked: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT(8)%",
    downstream_local: "%DOWNSTREAM_LOCAL_ADDRESS%",
    downstream_local_port: "%DOWNSTREAM_LOCAL_PORT%",
    route: "%ROUTE_NAME%",
    route_team: "%METADATA(ROUTE:com.example:team)%",
    cluster_canary: "%CLUSTER_METADATA(envoy.lb:canary)%",
    host_version: "%UPSTREAM_METADATA(envoy.lb:version)%",
    filter_chain: "%FILTER_CHAIN_NAME%",
    log_type: "%ACCESS_LOG_TYPE%",
    attempts: "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    connection_id: "%CONNECTION_ID%",
    upstream_connection_id: "%UPSTREAM_CONNECTION_ID%",
    stream_id: "%STREAM_ID%",
    request_id: "%REQ(X-REQUEST-ID)%",
    unique_id: "%UNIQUE_ID%",
    hostname: "%HOSTNAME%",
    env: "%ENVIRONMENT(DENVOY_ACCESS_LOG_TEST):4%",
    resp_header: "%RESP(X-UP)%",
    trailer: "%TRAILER(X-T)%",
    grpc: "%GRPC_STATUS%",
    tls: "%DOWNSTREAM_TLS_VERSION%",
    local_reply_body: "%LOCAL_REPLY_BODY%",
    nested: { ua: "%REQ(USER-AGENT):3%", list: ["%RESPONSE_CODE%", "fixed"] },
  };
  const p = await Proxy.start(
    httpListener({
      accessLogs: fileLog(log, `log_format: { json_format: ${JSON.stringify(json)} }`),
      routes: `- name: echo_route
  match: { prefix: "/echo" }
  route: { cluster: backend }
  metadata: { filter_metadata: { com.example: { team: edge } } }`,
      clusters: `- name: backend
  type: STATIC
  connect_timeout: 1s
  alt_stat_name: backend_alt
  metadata: { filter_metadata: { envoy.lb: { canary: true } } }
  load_assignment:
    cluster_name: backend
    endpoints:
    - lb_endpoints:
      - endpoint:
          hostname: backend.local
          address: { socket_address: { address: 127.0.0.1, port_value: ${up.port} } }
        metadata: { filter_metadata: { envoy.lb: { version: v2 } } }`,
    }),
    FAST_FLUSH,
  );
  try {
    const request = "POST /echo?x=hello%20there&y=2 HTTP/1.1\r\nhost: example.com\r\n" +
      "user-agent: test/1.0\r\nx-request-id: 11111111-2222-4333-8444-555555555555\r\n" +
      "content-length: 5\r\nconnection: close\r\n\r\nhello";
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
    const clientPort = (conn.localAddr as Deno.NetAddr).port;
    await conn.write(enc.encode(request));
    let response = "";
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      response += dec.decode(buf.subarray(0, n));
    }
    conn.close();
    assertMatch(response, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nworld!$/);
    const [line] = await waitForLines(log, 1);
    const e = JSON.parse(line);
    const now = Date.now() / 1000;
    assert(Math.abs(Number(e.start) - now) < 60, `start ${e.start}`);
    assertEquals(typeof e.start, "string");
    const upstreamRequest = up.requests[0];
    const expect: Record<string, unknown> = {
      method: "POST",
      path: "/echo",
      query: "hello there",
      protocol: "HTTP/1.1",
      upstream_protocol: "HTTP/1.1",
      code: 200,
      details: "via_upstream",
      flags: "-",
      bytes_received: 5,
      bytes_sent: 6,
      up_wire_sent: upstreamRequest.raw.length,
      up_wire_received: upstreamResponse.length,
      up_header_sent: upstreamRequest.headLength,
      up_header_received: upstreamResponse.indexOf("\r\n\r\n") + 4,
      down_wire_received: request.length,
      down_wire_sent: response.length,
      down_header_received: request.indexOf("\r\n\r\n") + 4,
      down_header_sent: response.indexOf("\r\n\r\n") + 4,
      upstream_host: `127.0.0.1:${up.port}`,
      upstream_host_name: "backend.local",
      cluster: "backend_alt",
      cluster_raw: "backend",
      upstream_remote: `127.0.0.1:${up.port}`,
      downstream_remote: `127.0.0.1:${clientPort}`,
      downstream_remote_port: clientPort,
      downstream_direct: "127.0.0.1",
      downstream_masked: "127.0.0.0/8",
      downstream_local: `127.0.0.1:${p.port()}`,
      downstream_local_port: p.port(),
      route: "echo_route",
      route_team: "edge",
      cluster_canary: true,
      host_version: "v2",
      filter_chain: "main_chain",
      log_type: "DownstreamEnd",
      attempts: 1,
      stream_id: "11111111-2222-4333-8444-555555555555",
      request_id: "11111111-2222-4333-8444-555555555555",
      hostname: Deno.hostname(),
      env: "prod",
      resp_header: "yes",
      trailer: null,
      grpc: null,
      tls: null,
      local_reply_body: "",
      nested: { ua: "tes", list: [200, "fixed"] },
    };
    for (const [k, v] of Object.entries(expect)) assertEquals(e[k], v, k);
    // Keys come in the config's order.
    assertEquals(Object.keys(e), Object.keys(json));
    for (
      const k of [
        "request_headers_bytes",
        "response_headers_bytes",
        "duration",
        "request_duration",
        "request_tx_duration",
        "response_duration",
        "response_tx_duration",
        "common",
        "connect",
        "pool_ready",
        "upstream_local_port",
        "connection_id",
        "upstream_connection_id",
      ]
    ) assert(typeof e[k] === "number" && e[k] >= 0, `${k}: ${e[k]}`);
    assert(e.duration >= e.response_duration && e.response_duration >= e.request_duration);
    // The last byte went out just before the stream ended.
    assert(e.common <= (e.duration + 1) * 1000, `common ${e.common} vs duration ${e.duration}`);
    assertMatch(e.upstream_local, /^127\.0\.0\.1:\d+$/);
    assertEquals(e.upstream_local, `127.0.0.1:${e.upstream_local_port}`);
    assertMatch(
      e.unique_id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  } finally {
    await p.stop();
    up.close();
    Deno.env.delete("DENVOY_ACCESS_LOG_TEST");
  }
});

Deno.test("HTTP: text log prints - for unset values; local replies and failures", async () => {
  const log = Deno.makeTempFileSync();
  const dead = refusedPort();
  const format = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_FLAGS_LONG% " +
    "%RESPONSE_CODE_DETAILS% %UPSTREAM_HOST% %UPSTREAM_TRANSPORT_FAILURE_REASON% " +
    "%UPSTREAM_REQUEST_ATTEMPT_COUNT% %ROUTE_NAME% [%LOCAL_REPLY_BODY%]";
  const p = await Proxy.start(
    httpListener({
      accessLogs: fileLog(
        log,
        `log_format: { text_format_source: { inline_string: "${format}\\n" } }`,
      ),
      routes: `- name: to_dead
  match: { prefix: "/dead" }
  route: { cluster: dead }
- match: { prefix: "/direct" }
  direct_response: { status: 418, body: { inline_string: "teapot" } }`,
      clusters: staticCluster("dead", dead),
    }),
    FAST_FLUSH,
  );
  try {
    await curl([`http://127.0.0.1:${p.port()}/nope`]);
    await waitForLines(log, 1);
    await curl([`http://127.0.0.1:${p.port()}/dead`]);
    await waitForLines(log, 2);
    await curl([`http://127.0.0.1:${p.port()}/direct`]);
    const lines = await waitForLines(log, 3);
    assertEquals(lines[0], "/nope 404 NR NoRouteFound route_not_found - - 0 - []");
    assertMatch(
      lines[1],
      new RegExp(
        `^/dead 503 UF UpstreamConnectionFailure ` +
          `upstream_reset_before_response_started\\{remote_connection_failure\\|` +
          `delayed_connect_error:_111\\} ` +
          `127\\.0\\.0\\.1:${dead} \\S+ 1 to_dead \\[upstream connect error or ` +
          `disconnect/reset before headers\\. reset reason: remote connection failure, ` +
          `transport failure reason: delayed connect error: 111\\]$`,
      ),
    );
    assertEquals(lines[2], "/direct 418 - - direct_response - - 0 - [teapot]");
  } finally {
    await p.stop();
  }
});

Deno.test("HTTP: Envoy's default format when none is given", async () => {
  const log = Deno.makeTempFileSync();
  const up = recordingUpstream("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  const p = await Proxy.start(
    httpListener({
      accessLogs: fileLog(log, ""),
      routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
      clusters: staticCluster("backend", up.port),
    }),
    FAST_FLUSH,
  );
  try {
    await curl([
      "-H",
      "x-request-id: abc-123",
      "-A",
      "agent/9",
      `http://127.0.0.1:${p.port()}/default?q=1`,
    ]);
    const [line] = await waitForLines(log, 1);
    assertMatch(
      line,
      new RegExp(
        String.raw`^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /default\?q=1 HTTP/1\.1" ` +
          String.raw`200 - 0 2 \d+ \d+ "[^"]*" "agent/9" "abc-123" "127\.0\.0\.1:${p.port()}" ` +
          String.raw`"127\.0\.0\.1:${up.port}"$`,
      ),
    );
  } finally {
    await p.stop();
    up.close();
  }
});

Deno.test("HTTP: filters choose which requests each log records", async () => {
  const errors = Deno.makeTempFileSync();
  const tagged = Deno.makeTempFileSync();
  const up = recordingUpstream("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  const format = 'log_format: { text_format_source: { inline_string: "%REQ(:PATH)%\\n" } }';
  const p = await Proxy.start(
    httpListener({
      accessLogs: fileLog(
        errors,
        format,
        `filter:
  and_filter:
    filters:
    - status_code_filter: { comparison: { op: GE, value: { default_value: 400, runtime_key: a } } }
    - not_health_check_filter: {}`,
      ) + "\n" + fileLog(
        tagged,
        format,
        `filter:
  or_filter:
    filters:
    - header_filter: { header: { name: x-log, present_match: true } }
    - response_flag_filter: { flags: [NR] }`,
      ),
      routes: `- match: { prefix: "/ok" }\n  route: { cluster: backend }`,
      clusters: staticCluster("backend", up.port),
    }),
    FAST_FLUSH,
  );
  try {
    const base = `http://127.0.0.1:${p.port()}`;
    await curl([`${base}/ok/plain`]);
    await curl(["-H", "x-log: 1", `${base}/ok/tagged`]);
    await curl([`${base}/missing`]);
    assertEquals(await waitForLines(errors, 1), ["/missing"]);
    assertEquals(await waitForLines(tagged, 2), ["/ok/tagged", "/missing"]);
  } finally {
    await p.stop();
    up.close();
  }
  // Nothing else was written by the time the proxy flushed on shutdown.
  assertEquals(Deno.readTextFileSync(errors), "/missing\n");
  assertEquals(Deno.readTextFileSync(tagged), "/ok/tagged\n/missing\n");
});

Deno.test("HTTP: access_log_options log at the start of a request and periodically", async () => {
  const log = Deno.makeTempFileSync();
  // An upstream that answers only once the test has seen a periodic entry.
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const slow = tcpServer(async (c) => {
    const buf = new Uint8Array(65536);
    await c.read(buf);
    await released;
    await c.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    c.close();
  });
  const p = await Proxy.start(
    httpListener({
      accessLogs: fileLog(
        log,
        'log_format: { text_format_source: { inline_string: "%ACCESS_LOG_TYPE% %RESPONSE_CODE%\\n" } }',
      ),
      hcmExtra: `access_log_options:
  flush_access_log_on_new_request: true
  access_log_flush_interval: 0.05s`,
      routes: `- match: { prefix: "/" }\n  route: { cluster: slow }`,
      clusters: staticCluster("slow", slow.port),
    }),
    FAST_FLUSH,
  );
  try {
    const answer = curl([`http://127.0.0.1:${p.port()}/slow`]);
    const deadline = Date.now() + 20_000;
    while (!(await waitForLines(log, 1)).includes("DownstreamPeriodic 0")) {
      assert(Date.now() < deadline, "no periodic entry");
      await new Promise((r) => setTimeout(r, 20));
    }
    release();
    assertEquals((await answer).out, "ok");
    let lines = await waitForLines(log, 2);
    while (lines[lines.length - 1] !== "DownstreamEnd 200") {
      assert(Date.now() < deadline, `no end entry: ${lines}`);
      await new Promise((r) => setTimeout(r, 20));
      lines = await waitForLines(log, 2);
    }
    assertEquals(lines[0], "DownstreamStart 0");
    assert(
      lines.slice(1, -1).every((l) => /^DownstreamPeriodic (0|200)$/.test(l)),
      lines.join("|"),
    );
  } finally {
    release();
    await p.stop();
    slow.close();
  }
});

/** A TCP echo server. */
function echoServer() {
  return tcpServer(async (c) => {
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        await c.write(buf.subarray(0, n));
      }
      await c.closeWrite();
    } catch { /* closed */ }
    try {
      c.close();
    } catch { /* closed */ }
  });
}

function tcpListener(name: string, tcpProxy: string, clusters: string, extra = ""): string {
  return `static_resources:
  listeners:
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${indent(extra, 4)}
    filter_chains:
    - name: tcp_chain
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
${indent(tcpProxy, 10)}
  clusters:
${indent(clusters, 2)}
`;
}

/** Sends `data`, half-closes, and reads until the proxy closes. */
async function tcpExchange(port: number, data: string): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(enc.encode(data));
  await c.closeWrite();
  let out = "";
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await c.read(buf);
    if (n === null) break;
    out += dec.decode(buf.subarray(0, n));
  }
  c.close();
  return out;
}

Deno.test("TCP: Envoy's default format, and typed JSON with the TCP operators", async () => {
  const text = Deno.makeTempFileSync();
  const json = Deno.makeTempFileSync();
  const echo = echoServer();
  const fields = {
    type: "%ACCESS_LOG_TYPE%",
    code: "%RESPONSE_CODE%",
    protocol: "%PROTOCOL%",
    method: "%REQ(:METHOD)%",
    received: "%BYTES_RECEIVED%",
    sent: "%BYTES_SENT%",
    up_sent: "%UPSTREAM_WIRE_BYTES_SENT%",
    up_received: "%UPSTREAM_WIRE_BYTES_RECEIVED%",
    down_received: "%DOWNSTREAM_WIRE_BYTES_RECEIVED%",
    down_sent: "%DOWNSTREAM_WIRE_BYTES_SENT%",
    headers_bytes: "%REQUEST_HEADERS_BYTES%",
    attempts: "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    host: "%UPSTREAM_HOST%",
    remote: "%UPSTREAM_REMOTE_ADDRESS%",
    cluster: "%UPSTREAM_CLUSTER%",
    chain: "%FILTER_CHAIN_NAME%",
    flags: "%RESPONSE_FLAGS%",
    close: "%DOWNSTREAM_DETECTED_CLOSE_TYPE%",
    duration: "%DURATION%",
  };
  const p = await Proxy.start(
    tcpListener(
      "tcp",
      `cluster: echo
access_log:
${fileLog(text, "")}
${fileLog(json, `log_format: { json_format: ${JSON.stringify(fields)} }`)}`,
      staticCluster("echo", echo.port),
    ),
    FAST_FLUSH,
  );
  try {
    assertEquals(await tcpExchange(p.port(), "hello"), "hello");
    const [line] = await waitForLines(text, 1);
    assertMatch(
      line,
      new RegExp(
        String.raw`^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "- - -" 0 - 5 5 \d+ - ` +
          String.raw`"-" "-" "-" "-" "127\.0\.0\.1:${echo.port}"$`,
      ),
    );
    const e = JSON.parse((await waitForLines(json, 1))[0]);
    const { duration, ...rest } = e;
    assert(typeof duration === "number");
    assertEquals(rest, {
      type: "TcpConnectionEnd",
      code: 0,
      protocol: null,
      method: null,
      received: 5,
      sent: 5,
      up_sent: 5,
      up_received: 5,
      down_received: 5,
      down_sent: 5,
      headers_bytes: 0,
      attempts: 1,
      host: `127.0.0.1:${echo.port}`,
      remote: `127.0.0.1:${echo.port}`,
      cluster: "echo",
      chain: "tcp_chain",
      flags: "-",
      close: "Normal",
    });
  } finally {
    await p.stop();
    echo.close();
  }
});

Deno.test("TCP: access_log_options log when connected and periodically", async () => {
  const log = Deno.makeTempFileSync();
  const echo = echoServer();
  const p = await Proxy.start(
    tcpListener(
      "tcp",
      `cluster: echo
access_log_options:
  access_log_flush_interval: 0.05s
  flush_access_log_on_connected: true
access_log:
${
        fileLog(
          log,
          'log_format: { text_format_source: { inline_string: "%ACCESS_LOG_TYPE% %BYTES_SENT%\\n" } }',
        )
      }`,
      staticCluster("echo", echo.port),
    ),
    FAST_FLUSH,
  );
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: p.port() });
    await c.write(enc.encode("abc"));
    const buf = new Uint8Array(3);
    let got = 0;
    while (got < 3) got += (await c.read(buf.subarray(got))) ?? 3;
    // Held open until a periodic entry shows it was logged while still running.
    const deadline = Date.now() + 20_000;
    while (!(await waitForLines(log, 1)).some((l) => l === "TcpPeriodic 3")) {
      assert(Date.now() < deadline, "no TcpPeriodic entry");
      await new Promise((r) => setTimeout(r, 20));
    }
    c.close();
    const deadline2 = Date.now() + 20_000;
    let lines = await waitForLines(log, 2);
    while (lines[lines.length - 1] !== "TcpConnectionEnd 3") {
      assert(Date.now() < deadline2, `no end entry: ${lines}`);
      await new Promise((r) => setTimeout(r, 20));
      lines = await waitForLines(log, 2);
    }
    // One entry when connected (a periodic one may come first on a slow connect), periodic
    // ones while open, and the end.
    const connected = lines.filter((l) => l.startsWith("TcpUpstreamConnected"));
    assertEquals(connected.length, 1, lines.join("|"));
    assertMatch(connected[0], /^TcpUpstreamConnected [03]$/);
    const rest = lines.slice(0, -1).filter((l) => !l.startsWith("TcpUpstreamConnected"));
    assert(rest.every((l) => /^TcpPeriodic [03]$/.test(l)), lines.join("|"));
  } finally {
    await p.stop();
    echo.close();
  }
});

Deno.test("listener access logs: rejected connections (NR) and each connection's end", async () => {
  const log = Deno.makeTempFileSync();
  const echo = echoServer();
  const format =
    'log_format: { text_format_source: { inline_string: "%FILTER_CHAIN_NAME% %RESPONSE_FLAGS% ' +
    "%RESPONSE_CODE_DETAILS% %BYTES_RECEIVED% %DOWNSTREAM_WIRE_BYTES_RECEIVED% " +
    '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %UPSTREAM_HOST% %ACCESS_LOG_TYPE%\\n" } }';
  const config = `static_resources:
  listeners:
  - name: picky
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    access_log:
${indent(fileLog(log, format), 4)}
    filter_chains:
    - name: ten_only
      filter_chain_match: { source_prefix_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 8 }] }
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: echo
  - name: open
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    access_log:
${indent(fileLog(log, format), 4)}
    filter_chains:
    - name: tcp_chain
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: echo
  clusters:
${indent(staticCluster("echo", echo.port), 2)}
`;
  const p = await Proxy.start(config, FAST_FLUSH);
  try {
    assertEquals(await tcpExchange(p.port("picky"), "dropped"), "");
    const [rejected] = await waitForLines(log, 1);
    assertEquals(rejected, "- NR filter_chain_not_found 0 0 127.0.0.1 - NotSet");
    assertEquals(await tcpExchange(p.port("open"), "hello"), "hello");
    const lines = await waitForLines(log, 2);
    assertEquals(lines[1], `tcp_chain - - 5 5 127.0.0.1 127.0.0.1:${echo.port} NotSet`);
  } finally {
    await p.stop();
    echo.close();
  }
});

/** Sends request `id` (its path) on a fresh connection and checks the answer. */
async function request(port: number, id: string): Promise<void> {
  const r = await rawExchange(port, `GET /${id} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`);
  assertMatch(r, /^HTTP\/1\.1 200/);
}

function rotatingProxy(log: string, upPort: number, workers: number) {
  return Proxy.start(
    httpListener({
      accessLogs: fileLog(
        log,
        'log_format: { text_format_source: { inline_string: "%REQ(:PATH)%\\n" } }',
      ),
      routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
      clusters: staticCluster("backend", upPort),
    }),
    [...FAST_FLUSH, "--concurrency", String(workers)],
  );
}

Deno.test("logrotate: POST /reopen_logs reopens the file in every worker, no line lost", async () => {
  const dir = Deno.makeTempDirSync();
  const log = `${dir}/access.log`;
  const up = recordingUpstream("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  const p = await rotatingProxy(log, up.port, 2);
  try {
    const before = Array.from({ length: 12 }, (_, i) => `/before-${i}`);
    for (const id of before) await request(p.port(), id.slice(1));
    await waitForLines(log, before.length);
    Deno.renameSync(log, `${log}.1`);
    const get = await curl(["-i", `http://127.0.0.1:${p.adminPort}/reopen_logs`]);
    assertMatch(get.out, /^HTTP\/1\.1 405/);
    const post = await curl(["-X", "POST", `http://127.0.0.1:${p.adminPort}/reopen_logs`]);
    assertEquals(post.out, "OK\n");
    const after = Array.from({ length: 12 }, (_, i) => `/after-${i}`);
    for (const id of after) await request(p.port(), id.slice(1));
    const fresh = await waitForLines(log, after.length);
    assertEquals(fresh.sort(), [...after].sort());
    assertEquals(
      Deno.readTextFileSync(`${log}.1`).split("\n").filter(Boolean).sort(),
      [
        ...before,
      ].sort(),
    );
  } finally {
    await p.stop();
    up.close();
  }
  // Shutdown wrote nothing more to either file.
  assertEquals(Deno.readTextFileSync(log).split("\n").filter(Boolean).length, 12);
});

Deno.test("logrotate: SIGUSR1 reopens access logs; every line lands exactly once", async () => {
  const dir = Deno.makeTempDirSync();
  const log = `${dir}/access.log`;
  const up = recordingUpstream("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  const p = await rotatingProxy(log, up.port, 1);
  const sent: string[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      sent.push(`/r-${i}`);
      await request(p.port(), `r-${i}`);
    }
    await waitForLines(log, 5);
    Deno.renameSync(log, `${log}.1`);
    p.proc.child.kill("SIGUSR1");
    await p.proc.waitFor(/caught SIGUSR1\. Reopening access logs\./);
    // The reopen is asynchronous: keep sending until a line reaches the new file.
    const deadline = Date.now() + 20_000;
    for (let i = 5;; i++) {
      sent.push(`/r-${i}`);
      await request(p.port(), `r-${i}`);
      let fresh = "";
      try {
        fresh = Deno.readTextFileSync(log);
      } catch { /* not reopened yet */ }
      if (fresh.length > 0) break;
      assert(Date.now() < deadline, "the log was never reopened");
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await p.stop();
    up.close();
  }
  const old = Deno.readTextFileSync(`${log}.1`).split("\n").filter(Boolean);
  const fresh = Deno.readTextFileSync(log).split("\n").filter(Boolean);
  // One worker writes in order: the old file has a prefix of the requests, the new the rest.
  assertEquals([...old, ...fresh], sent);
  assert(old.length >= 5 && fresh.length >= 1);
});

Deno.test("bad access log configs are clear errors", async () => {
  const config = tempFile(httpListener({
    accessLogs: fileLog(
      "/tmp/never-written.log",
      'log_format: { text_format_source: { inline_string: "%NOT_AN_OPERATOR%" } }',
    ),
    routes: `- match: { prefix: "/" }\n  direct_response: { status: 200 }`,
    clusters: staticCluster("unused", 9),
  }));
  const r = await runMain(["--mode", "validate", "-c", config]);
  assertEquals(r.code, 1);
  assertMatch(
    r.stdout + r.stderr,
    /access_log\[0\]\.typed_config\.log_format: Not supported field in StreamInfo: NOT_AN_OPERATOR/,
  );
  const listener = tempFile(tcpListener(
    "tcp",
    "cluster: echo",
    staticCluster("echo", 9),
    `access_log:\n${
      fileLog(
        "/tmp/never.log",
        'log_format: { text_format_source: { inline_string: "%START_TIME(%n)%" } }',
      )
    }`,
  ));
  const serve = await runMain(["--mode", "init_only", "-c", listener]);
  assert(serve.code !== 0);
  assertMatch(
    serve.stderr,
    /listeners\[0\]\.access_log\[0\]\.typed_config\.log_format: Invalid header configuration\. Format string contains newline\./,
  );
});
