/**
 * HTTP/2 downstream through the codec-independent connection manager: h2c with prior knowledge
 * (`codec_type: AUTO` by the preface, and `codec_type: HTTP2`) from curl and nghttp, HTTP/1.1
 * `Upgrade: h2c` offers answered over HTTP/1.1 as Envoy does, to an HTTP/1.1 upstream, with the
 * same routing, local replies, stats and access logs as HTTP/1.1.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  adminStatsWhen,
  curl,
  fileAccessLog,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  upstream,
  waitForLines,
} from "./proxy.ts";
import { tempFile } from "./helpers.ts";

/** Bytes of the large response (many HTTP/2 flow-control windows of curl's). */
const BIG = 4 * 1024 * 1024 + 17;

/** Runs `fn` with a proxy (`hcmExtra` added to its HCM) in front of an echo upstream. */
async function withProxy(
  hcmExtra: string,
  fn: (p: Proxy) => Promise<void>,
) {
  const up = upstream(async (req) => {
    if (new URL(req.url).pathname === "/big") return new Response(new Uint8Array(BIG).fill(0x61));
    const body = await req.text();
    return new Response(`echo ${req.method} ${new URL(req.url).pathname} ${body}`, {
      headers: {
        "x-upstream": "1",
        "x-seen-host": req.headers.get("host") ?? "",
        "x-seen-upgrade": `${req.headers.get("upgrade")}|${req.headers.get("http2-settings")}`,
      },
    });
  });
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/missing" }
  direct_response: { status: 404 }
- match: { prefix: "/" }
  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port),
    hcmExtra,
  }));
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
    await up.close();
  }
}

/** Runs nghttp with `args`; its exit code and output. */
async function nghttp(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command("nghttp", {
    args: ["-t", "10", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("h2c prior knowledge with codec_type AUTO: curl gets the upstream's answer over HTTP/2", async () => {
  const log = tempFile("", ".log");
  let port = 0;
  await withProxy(
    fileAccessLog(log, "%PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:AUTHORITY)%\\n"),
    async (p) => {
      const url = `http://127.0.0.1:${p.port()}/hello`;
      const r = await curl(["-i", "--http2-prior-knowledge", "-d", "ping", url]);
      assertEquals(r.code, 0, r.err);
      const [head, body] = r.out.split("\r\n\r\n");
      assertMatch(head, /^HTTP\/2 200 ?\r\n/);
      assertMatch(head, /\r\nserver: envoy(\r\n|$)/);
      assertMatch(head, /\r\nx-envoy-upstream-service-time: \d+(\r\n|$)/);
      assertMatch(head, /\r\nx-seen-host: 127\.0\.0\.1:\d+(\r\n|$)/);
      assert(!/\r\n(connection|transfer-encoding|keep-alive):/i.test(head), head);
      assertEquals(body, "echo POST /hello ping");
      // The same listener still speaks HTTP/1.1 to a client that does.
      const h1 = parseResponse(
        await rawExchange(p.port(), "GET /h1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
      );
      assertEquals(h1.body, "echo GET /h1 ");
      // curl --http2 over plain http offers `Upgrade: h2c`; Envoy strips the offer and answers
      // over HTTP/1.1, and the upstream never sees it.
      const up = await curl(["-i", "-v", "--http2", url.replace("/hello", "/up")]);
      assertEquals(up.code, 0, up.err);
      assertMatch(up.err, /> Upgrade: h2c\r?\n/i);
      assertMatch(up.err, /> HTTP2-Settings: /i);
      assertMatch(up.out, /^HTTP\/1\.1 200 OK\r\n/);
      assertMatch(up.out, /\r\nx-seen-upgrade: null\|null\r\n/);
      assert(!/\r\nupgrade:/i.test(up.out), up.out);
      assert(up.out.endsWith("\r\n\r\necho GET /up "), up.out);
      const stats = await adminStatsWhen(
        p.adminPort,
        (s) => s["http.test.downstream_cx_http1_total"] === 2,
      );
      assertEquals(stats["http.test.downstream_rq_http2_total"], 1);
      assertEquals(stats["http.test.downstream_cx_http2_total"], 1);
      assertEquals(stats["http.test.downstream_rq_http1_total"], 2);
      assertEquals(stats["http.test.downstream_cx_upgrades_total"] ?? 0, 0);
      assertEquals(stats["http.test.downstream_rq_2xx"], 3);
      port = p.port();
    },
  );
  // The log is flushed when the proxy stops.
  const lines = await waitForLines(log, 3);
  assert(lines.includes(`HTTP/2 200 - 127.0.0.1:${port}`), lines.join("\n"));
  assert(lines.includes("HTTP/1.1 200 - x"), lines.join("\n"));
  assert(lines.includes(`HTTP/1.1 200 - 127.0.0.1:${port}`), lines.join("\n"));
});

Deno.test("HTTP/2: concurrent streams on one connection from nghttp, local replies per stream", async () => {
  await withProxy("codec_type: HTTP2", async (p) => {
    const base = `http://127.0.0.1:${p.port()}`;
    const r = await nghttp(["-n", "-s", "-m", "8", `${base}/a`]);
    assertEquals(r.code, 0, r.out);
    const missing = await curl(["-i", "--http2-prior-knowledge", `${base}/missing`]);
    assertMatch(missing.out, /^HTTP\/2 404 ?\r\n/);
    const stats = await adminStatsWhen(
      p.adminPort,
      (s) => s["http.test.downstream_rq_completed"] === 9,
    );
    assertEquals(stats["http.test.downstream_rq_http2_total"], 9);
    assertEquals(stats["http.test.downstream_cx_http2_total"], 2);
    assertEquals(stats["http.test.downstream_rq_2xx"], 8);
    assertEquals(stats["http.test.downstream_rq_4xx"], 1);
  });
});

Deno.test("codec_type HTTP2: an HTTP/1.1 client is refused as a protocol error", async () => {
  await withProxy("codec_type: HTTP2", async (p) => {
    const out = await rawExchange(p.port(), "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert(!out.startsWith("HTTP/1.1"), out);
    const stats = await adminStatsWhen(
      p.adminPort,
      (s) => s["http.test.downstream_cx_protocol_error"] === 1,
    );
    assertEquals(stats["http.test.downstream_rq_total"] ?? 0, 0);
  });
});

Deno.test("HTTP/2: a large response flows through the client's flow-control window", async () => {
  await withProxy("", async (p) => {
    const r = await new Deno.Command("curl", {
      args: [
        "-s",
        "--max-time",
        "20",
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code} %{size_download}",
        `http://127.0.0.1:${p.port()}/big`,
      ],
      stdout: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(r.stdout), `2 200 ${BIG}`);
  });
});

/** A python-h2 client: a request on stream 1, reset (CANCEL) on cue, then one on stream 3. */
const RESET_CLIENT = `
import json, socket, sys
import h2.config, h2.connection, h2.errors, h2.events
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
c.initiate_connection()
req = lambda p: [(":method", "GET"), (":path", p), (":scheme", "http"), (":authority", "x")]
c.send_headers(1, req("/slow"), end_stream=True)
s.sendall(c.data_to_send())
sys.stdin.readline()
c.reset_stream(1, h2.errors.ErrorCodes.CANCEL)
c.send_headers(3, req("/fast"), end_stream=True)
s.sendall(c.data_to_send())
status, body, done = None, b"", False
while not done:
    data = s.recv(65535)
    if not data:
        break
    for e in c.receive_data(data):
        if isinstance(e, h2.events.ResponseReceived) and e.stream_id == 3:
            status = dict(e.headers)[b":status"].decode()
        elif isinstance(e, h2.events.DataReceived) and e.stream_id == 3:
            body += e.data
        elif isinstance(e, h2.events.StreamEnded) and e.stream_id == 3:
            done = True
    s.sendall(c.data_to_send())
print(json.dumps({"status": status, "body": body.decode()}))
`;

Deno.test("HTTP/2: a client's RST_STREAM ends only its stream (DR) and cancels its upstream request", async () => {
  let slowArrived!: () => void;
  const arrived = new Promise<void>((r) => slowArrived = r);
  let upstreamCancelled!: () => void;
  const cancelled = new Promise<void>((r) => upstreamCancelled = r);
  const up = upstream((req) => {
    if (new URL(req.url).pathname !== "/slow") return new Response("fast");
    slowArrived();
    return new Promise<Response>((resolve) => {
      req.signal.addEventListener("abort", () => {
        upstreamCancelled();
        resolve(new Response("too late"));
      });
    });
  });
  const log = tempFile("", ".log");
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port),
    hcmExtra: fileAccessLog(log, "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %PROTOCOL%"),
  }));
  try {
    const child = new Deno.Command("/usr/bin/python3", {
      args: ["-c", RESET_CLIENT, String(proxy.port())],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await arrived;
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("go\n"));
    await w.close();
    const out = await child.output();
    assertEquals(
      JSON.parse(new TextDecoder().decode(out.stdout)),
      { status: "200", body: "fast" },
      new TextDecoder().decode(out.stderr),
    );
    await cancelled;
    const stats = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["http.test.downstream_rq_completed"] === 1,
    );
    assertEquals(stats["http.test.downstream_rq_rx_reset"], 1);
    assertEquals(stats["http.test.downstream_cx_http2_total"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
  const lines = await waitForLines(log, 2);
  assert(lines.includes("/slow 0 DR HTTP/2"), lines.join("\n"));
  assert(lines.includes("/fast 200 - HTTP/2"), lines.join("\n"));
});
