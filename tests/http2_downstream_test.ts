/**
 * HTTP/2 downstream through the codec-independent connection manager: h2c with prior knowledge
 * (`codec_type: AUTO` by the preface, and `codec_type: HTTP2`) from curl and nghttp, to an
 * HTTP/1.1 upstream, with the same routing, local replies, stats and access logs as HTTP/1.1.
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
      headers: { "x-upstream": "1", "x-seen-host": req.headers.get("host") ?? "" },
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
      const stats = await adminStatsWhen(
        p.adminPort,
        (s) => s["http.test.downstream_cx_http1_total"] === 1,
      );
      assertEquals(stats["http.test.downstream_rq_http2_total"], 1);
      assertEquals(stats["http.test.downstream_cx_http2_total"], 1);
      assertEquals(stats["http.test.downstream_rq_http1_total"], 1);
      assertEquals(stats["http.test.downstream_rq_2xx"], 2);
      port = p.port();
    },
  );
  // The log is flushed when the proxy stops.
  const lines = await waitForLines(log, 2);
  assert(lines.includes(`HTTP/2 200 - 127.0.0.1:${port}`), lines.join("\n"));
  assert(lines.includes("HTTP/1.1 200 - x"), lines.join("\n"));
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
