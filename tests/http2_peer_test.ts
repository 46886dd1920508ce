/**
 * Interop of the HTTP/2 codec with real peers: the server role behind a socket (echo server of
 * tests/http2_peer.ts) driven by Python's h2 package (tests/http2_peer.py), nghttp and h2load;
 * the client role against nghttpd. Debian packages: python3-h2, nghttp2-client,
 * nghttp2-server (see .ci/run).
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { fetchAll, startEchoServer } from "./http2_peer.ts";
import { Connection } from "../src/network/connection.ts";
import { HeaderMap } from "../src/http/header_map.ts";
import { Store } from "../src/stats/store.ts";
import { http2CodecStats } from "../src/http/http2/codec_stats.ts";
import { DEFAULT_HTTP2_OPTIONS, Http2Connection } from "../src/http/http2/connection.ts";

const PY = (() => {
  try {
    Deno.statSync("/usr/bin/python3");
    return "/usr/bin/python3";
  } catch {
    return "python3";
  }
})();
const DRIVER = new URL("./http2_peer.py", import.meta.url).pathname;

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const p = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout) + dec.decode(p.stderr) };
}

async function python(scenario: string, port: number): Promise<Record<string, unknown>> {
  const { code, out } = await run(PY, [DRIVER, scenario, String(port)]);
  assertEquals(code, 0, out);
  return JSON.parse(out.trim().split("\n").pop()!);
}

Deno.test("h2 peer: python h2 — 100 concurrent streams, large bodies with flow control, trailers", async () => {
  const srv = startEchoServer();
  try {
    assertEquals(await python("concurrent", srv.port), { ok: 100 });
    assertEquals(await python("large", srv.port), {
      echoed: 4194321,
      sent: "4194321",
      downloaded: 5000000,
    });
    assertEquals(await python("trailers", srv.port), {
      trailers: { "x-trailer": "done", "x-echo-x-req": "1" },
      body: 3,
    });
    assertEquals(srv.codecErrors, []);
  } finally {
    srv.close();
  }
});

Deno.test("h2 peer: python h2 — malformed input gets the right GOAWAY or RST_STREAM", async () => {
  const srv = startEchoServer();
  // [scenario, frame type, error code]
  const cases: [string, string, number][] = [
    ["bad_preface", "GOAWAY", 0x1],
    ["closed_stream_data", "RST_STREAM", 0x5],
    ["closed_stream_headers", "GOAWAY", 0x5],
    ["oversized", "GOAWAY", 0x6],
    ["bad_hpack", "GOAWAY", 0x9],
    ["window_overflow", "GOAWAY", 0x3],
    ["stream_window_overflow", "RST_STREAM", 0x3],
    ["idle_data", "GOAWAY", 0x1],
    ["hpack_bomb", "RST_STREAM", 0x2],
  ];
  try {
    for (const [scenario, type, code] of cases) {
      const got = await python(scenario, srv.port);
      assertEquals([got.type, got.code], [type, code], scenario);
    }
    // The server survived all of them.
    assertEquals(await python("concurrent", srv.port), { ok: 100 });
  } finally {
    srv.close();
  }
});

Deno.test("h2 peer: python h2 — floods close the connection and bump the counters", async () => {
  const srv = startEchoServer();
  try {
    const empty = await python("empty_frames", srv.port);
    assert(empty.type === "eof" || empty.type === "closed", JSON.stringify(empty));
    assertEquals(srv.stats.inbound_empty_frames_flood.value, 1);
    const cont = await python("continuation_flood", srv.port);
    assert(cont.type !== "timeout", JSON.stringify(cont));
    assertEquals(srv.stats.header_overflow.value, 1);
    // Rapid reset: the codec resets nothing itself and keeps serving; the connection manager's
    // premature reset tracker (premature_reset.ts) is what closes such a connection.
    assertEquals(await python("rapid_reset", srv.port), { type: "answered", stream: 2001 });
    assertEquals(srv.stats.rx_reset.value, 1000);
    const ping = await python("ping_flood", srv.port);
    assert(ping.type !== "timeout", JSON.stringify(ping));
    assertEquals(srv.stats.outbound_control_flood.value, 1);
    assertEquals(await python("concurrent", srv.port), { ok: 100 });
  } finally {
    srv.close();
  }
});

Deno.test("h2 peer: nghttp — concurrent requests, an upload and trailers", async () => {
  const srv = startEchoServer();
  const upload = await Deno.makeTempFile();
  try {
    const base = `http://127.0.0.1:${srv.port}`;
    const multi = await run("nghttp", [
      "-n",
      "-s",
      `${base}/size/1000`,
      `${base}/size/300000`,
      `${base}/trailers`,
    ]);
    assertEquals(multi.code, 0, multi.out);
    assert(/200\s+292K \/size\/300000/.test(multi.out), multi.out);
    assert(/200\s+1000 \/size\/1000/.test(multi.out), multi.out);
    await Deno.writeFile(upload, new Uint8Array(3_000_000).fill(7));
    const up = await run("nghttp", ["-v", "-n", "-d", upload, `${base}/echo`]);
    assertEquals(up.code, 0, up.out);
    assert(up.out.includes("x-request-bytes: 3000000"), up.out);
  } finally {
    srv.close();
    await Deno.remove(upload);
  }
});

Deno.test("h2 peer: curl --http2-prior-knowledge — GET and POST", async () => {
  const srv = startEchoServer();
  try {
    const base = `http://127.0.0.1:${srv.port}`;
    const get = await run("curl", ["-sS", "--http2-prior-knowledge", "-i", `${base}/size/5`]);
    assertEquals(get.code, 0, get.out);
    assert(get.out.startsWith("HTTP/2 200"), get.out);
    assert(get.out.endsWith("abcde"), get.out);
    const post = await run("curl", [
      "-sS",
      "--http2-prior-knowledge",
      "-D",
      "-",
      "--data-binary",
      "hello h2",
      `${base}/echo`,
    ]);
    assertEquals(post.code, 0, post.out);
    assert(post.out.includes("x-request-bytes: 8"), post.out);
    assert(post.out.endsWith("hello h2"), post.out);
    assertEquals(srv.codecErrors, []);
  } finally {
    srv.close();
  }
});

Deno.test("h2 peer: h2load — 4 connections x 16 streams, every request succeeds", async () => {
  const srv = startEchoServer();
  try {
    const r = await run("h2load", [
      "-n",
      "4000",
      "-c",
      "4",
      "-m",
      "16",
      `http://127.0.0.1:${srv.port}/size/1024`,
    ]);
    assertEquals(r.code, 0, r.out);
    assert(r.out.includes("4000 succeeded, 0 failed, 0 errored"), r.out);
    assertEquals(srv.codecErrors, []);
  } finally {
    srv.close();
  }
});

Deno.test("h2 peer: client role against nghttpd", async () => {
  const root = await Deno.makeTempDir();
  const file = new Uint8Array(700_000);
  for (let i = 0; i < file.length; i++) file[i] = i % 251;
  await Deno.writeFile(`${root}/big.bin`, file);
  await Deno.writeTextFile(`${root}/small.txt`, "hello from nghttpd\n");
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const child = new Deno.Command("nghttpd", {
    args: ["--no-tls", "-a", "127.0.0.1", "-d", root, String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    // Wait for the port (no fixed sleep): retry connecting until nghttpd listens.
    for (let i = 0;; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch (e) {
        if (i > 200) throw e;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    // The upload is larger than nghttpd's 64 KiB windows: it goes out as WINDOW_UPDATEs arrive.
    const [big, small, missing, posted] = await fetchAll(port, `127.0.0.1:${port}`, [
      "/big.bin",
      "/small.txt",
      "/missing",
      { method: "POST", path: "/small.txt", body: new Uint8Array(1_000_000).fill(1) },
    ]);
    assertEquals(big.headers.get(":status"), "200");
    assertEquals(big.body.length, file.length);
    assertEquals(big.body, file);
    assertEquals(new TextDecoder().decode(small.body), "hello from nghttpd\n");
    assertEquals(missing.headers.get(":status"), "404");
    assertEquals(posted.headers.get(":status"), "200");
  } finally {
    child.kill();
    await child.status;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("h2 peer: a client that never reads keeps the server's buffers bounded", async () => {
  const srv = startEchoServer({ streamBufferLimit: 256 * 1024 });
  const c = new Connection(await Deno.connect({ hostname: "127.0.0.1", port: srv.port }));
  let received = 0;
  const codec = new Http2Connection("client", c, {
    onGoAway() {},
    onCodecError() {},
  }, {
    ...DEFAULT_HTTP2_OPTIONS,
    initialStreamWindowSize: 65535,
    initialConnectionWindowSize: 65535,
  }, http2CodecStats(new Store()));
  c.start({
    onData: (chunk) => void codec.dispatch(chunk),
    onEnd: () => c.close(),
    onClose: () => codec.onConnectionClosed(),
  });
  try {
    const stream = codec.newStream({
      decodeHeaders() {},
      decodeData(d) {
        received += d.length;
      },
      decodeTrailers() {},
      onResetStream() {},
      onAboveWriteBufferHighWatermark() {},
      onBelowWriteBufferLowWatermark() {},
    })!;
    // The body is never consumed: no window is granted back.
    stream.readDisable(true);
    stream.encodeHeaders(
      new HeaderMap([
        ":method",
        "GET",
        ":scheme",
        "http",
        ":path",
        "/size/100000000",
        ":authority",
        "a",
      ]),
      true,
    );
    const start = performance.now();
    while (received < 65535 || srv.stats.pending_send_bytes.value === 0) {
      assert(performance.now() - start < 20_000, `received ${received}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(received, 65535);
    // The producer stopped at the stream's limit (plus one chunk), not at 100 MB.
    const pending = srv.stats.pending_send_bytes.value;
    assert(pending > 0 && pending <= 256 * 1024 + 65536, `pending_send_bytes ${pending}`);
  } finally {
    c.close();
    srv.close();
  }
});
