/**
 * The connection manager's HTTP/2 downstream settings and defences with real peers:
 * `http2_protocol_options` (SETTINGS sent, bad values refused with their location),
 * `stream_error_on_invalid_http_message`, `connection_keepalive`, rapid reset
 * (CVE-2023-44487) and drain (`drain_timeout` between the two GOAWAYs).
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  adminStats,
  adminStatsWhen,
  curl,
  httpConfig,
  Proxy,
  staticCluster,
  upstream,
} from "./proxy.ts";
import { runMain, tempFile } from "./helpers.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const SETTINGS = 4;
const PING = 6;

/** One frame header + payload. */
function frame(type: number, flags: number, sid: number, payload = new Uint8Array()): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  f[0] = payload.length >> 16;
  f[1] = (payload.length >> 8) & 0xff;
  f[2] = payload.length & 0xff;
  f[3] = type;
  f[4] = flags;
  new DataView(f.buffer).setUint32(5, sid);
  f.set(payload, 9);
  return f;
}

interface Frame {
  type: number;
  flags: number;
  sid: number;
  payload: Uint8Array;
}

/** Reads frames off `conn` until `until` says stop or the server closes; returns them. */
async function readFrames(conn: Deno.Conn, until: (f: Frame) => boolean): Promise<Frame[]> {
  const out: Frame[] = [];
  let buf = new Uint8Array();
  const chunk = new Uint8Array(65536);
  for (;;) {
    while (buf.length >= 9) {
      const len = (buf[0] << 16) | (buf[1] << 8) | buf[2];
      if (buf.length < 9 + len) break;
      const f = {
        type: buf[3],
        flags: buf[4],
        sid: new DataView(buf.buffer, buf.byteOffset).getUint32(5) & 0x7fffffff,
        payload: buf.slice(9, 9 + len),
      };
      buf = buf.slice(9 + len);
      out.push(f);
      if (until(f)) return out;
    }
    const n = await conn.read(chunk).catch(() => null);
    if (n === null) return out;
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  }
}

/** The parameters of a SETTINGS frame's payload. */
function settingsOf(p: Uint8Array): Map<number, number> {
  const m = new Map<number, number>();
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  for (let i = 0; i + 6 <= p.length; i += 6) m.set(dv.getUint16(i), dv.getUint32(i + 2));
  return m;
}

/** A proxy answering every request directly (no upstream), `hcmExtra` in its HCM. */
function directConfig(hcmExtra: string): string {
  return httpConfig({
    routes:
      `- match: { prefix: "/" }\n  direct_response: { status: 200, body: { inline_string: "ok" } }`,
    hcmExtra,
  });
}

/** curl over h2c prior knowledge: `http_version status body`. */
async function h2Get(port: number, path = "/"): Promise<string> {
  const r = await curl([
    "-s",
    "--http2-prior-knowledge",
    "-w",
    " %{http_version} %{http_code}",
    `http://127.0.0.1:${port}${path}`,
  ]);
  return r.out;
}

Deno.test("http2_protocol_options: SETTINGS carry max_concurrent_streams and the stream window", async () => {
  const proxy = await Proxy.start(directConfig(`http2_protocol_options:
  max_concurrent_streams: 7
  initial_stream_window_size: 131072
  allow_connect: true`));
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port() });
    await conn.write(PREFACE);
    await conn.write(frame(SETTINGS, 0, 0));
    const frames = await readFrames(conn, (f) => f.type === SETTINGS && (f.flags & 1) === 0);
    conn.close();
    const s = settingsOf(frames.at(-1)!.payload);
    assertEquals(s.get(3), 7); // SETTINGS_MAX_CONCURRENT_STREAMS
    assertEquals(s.get(4), 131072); // SETTINGS_INITIAL_WINDOW_SIZE
    assertEquals(s.get(8), 1); // SETTINGS_ENABLE_CONNECT_PROTOCOL
    assertEquals(await h2Get(proxy.port()), "ok 2 200");
  } finally {
    await proxy.stop();
  }
});

Deno.test("http2_protocol_options: out-of-range and unsupported values are refused with their location", async () => {
  const bad = tempFile(directConfig(`http2_protocol_options:
  initial_stream_window_size: 10`));
  const r = await runMain(["--mode", "validate", "-c", bad]);
  assertEquals(r.code, 1);
  const out = r.stdout + r.stderr;
  assertMatch(out, /http2_protocol_options\.initial_stream_window_size: must be at least 65535/);
  const push = tempFile(directConfig(`http2_protocol_options:
  custom_settings_parameters: [{ identifier: 2, value: 1 }]`));
  const p = await runMain(["--mode", "validate", "-c", push]);
  assertEquals(p.code, 1);
  assertMatch(
    p.stdout + p.stderr,
    /:\d+:\d+: .*http2_protocol_options\.custom_settings_parameters: server push is not supported/,
  );
  const keepalive = tempFile(directConfig(`http2_protocol_options:
  connection_keepalive: { interval: 1s, timeout: 0s }`));
  const k = await runMain(["--mode", "validate", "-c", keepalive]);
  assertEquals(k.code, 1);
  assertMatch(k.stdout + k.stderr, /connection_keepalive\.timeout: must be at least/);
});

/** python-h2: a request with an invalid header name on stream 1, then a good one on stream 3. */
const INVALID_THEN_GOOD = `
import json, socket, sys
import h2.config, h2.connection, h2.events
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
c = h2.connection.H2Connection(config=h2.config.H2Configuration(
    client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
c.initiate_connection()
req = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")]
c.send_headers(1, req + [("bad header", "x")], end_stream=True)
c.send_headers(3, req, end_stream=True)
s.sendall(c.data_to_send())
out = {"reset1": False, "status3": None, "goaway": False}
while out["status3"] is None and not out["goaway"]:
    data = s.recv(65535)
    if not data:
        break
    for e in c.receive_data(data):
        if isinstance(e, h2.events.StreamReset) and e.stream_id == 1:
            out["reset1"] = True
        elif isinstance(e, h2.events.ResponseReceived) and e.stream_id == 3:
            out["status3"] = dict(e.headers)[b":status"].decode()
        elif isinstance(e, h2.events.ConnectionTerminated):
            out["goaway"] = True
    s.sendall(c.data_to_send())
print(json.dumps(out))
`;

async function python(script: string, ...args: string[]): Promise<unknown> {
  const r = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const out = dec.decode(r.stdout);
  assertEquals(r.code, 0, dec.decode(r.stderr));
  return JSON.parse(out);
}

Deno.test("stream_error_on_invalid_http_message: HTTP/2 resets only the bad stream when set, closes the connection when not", async () => {
  const lenient = await Proxy.start(directConfig("stream_error_on_invalid_http_message: true"));
  try {
    assertEquals(await python(INVALID_THEN_GOOD, String(lenient.port())), {
      reset1: true,
      status3: "200",
      goaway: false,
    });
  } finally {
    await lenient.stop();
  }
  const strict = await Proxy.start(directConfig(""));
  try {
    const r = await python(INVALID_THEN_GOOD, String(strict.port())) as Record<string, unknown>;
    assertEquals(r.goaway, true);
    assertEquals(r.status3, null);
  } finally {
    await strict.stop();
  }
});

Deno.test("connection_keepalive: PINGs the client and closes a connection whose ACK never comes", async () => {
  // A 1 s timeout: curl, below, must answer every PING within it even on a busy machine.
  const proxy = await Proxy.start(directConfig(`http2_protocol_options:
  connection_keepalive: { interval: 0.1s, timeout: 1s, interval_jitter: { value: 0 } }`));
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port() });
    await conn.write(PREFACE);
    await conn.write(frame(SETTINGS, 0, 0));
    // The client reads but never acknowledges: the frames end with the server's close.
    const frames = await readFrames(conn, () => false);
    conn.close();
    assert(frames.some((f) => f.type === PING && (f.flags & 1) === 0), "a PING was sent");
    const stats = await adminStats(proxy.adminPort);
    assertEquals(stats["http2.keepalive_timeout"], 1);
    // A client that answers PINGs (curl) is served.
    assertEquals(await h2Get(proxy.port()), "ok 2 200");
  } finally {
    await proxy.stop();
  }
});

/** python-h2: `n` streams each opened (HEADERS) and at once reset (RST_STREAM), in one burst. */
const RAPID_RESET = `
import json, socket, sys
import h2.config, h2.connection, h2.errors, h2.events
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
c.initiate_connection()
s.sendall(c.data_to_send())
req = [(":method", "GET"), (":path", "/hang"), (":scheme", "http"), (":authority", "x")]
closed, goaway = False, False
try:
    for i in range(int(sys.argv[2])):
        sid = 1 + 2 * i
        c.send_headers(sid, req, end_stream=True)
        c.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    # One write: the server reads the whole burst before it closes (no RST for unread bytes).
    s.sendall(c.data_to_send())
    while True:
        data = s.recv(65535)
        if not data:
            closed = True
            break
        for e in c.receive_data(data):
            if isinstance(e, h2.events.ConnectionTerminated):
                goaway = True
except (ConnectionResetError, BrokenPipeError):
    closed = True
except Exception as e:
    if "ProtocolError" in type(e).__name__ or "closed" in str(e).lower():
        closed = True
    else:
        raise
print(json.dumps({"closed": closed, "goaway": goaway}))
`;

Deno.test("rapid reset (CVE-2023-44487): a burst of HEADERS+RST_STREAM gets GOAWAY and a close, counted; others are served", async () => {
  // The upstream never answers: every stream the client resets is premature.
  const up = upstream(() => new Promise<Response>(() => {}));
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/hang" }
  route: { cluster: backend }
- match: { prefix: "/" }
  direct_response: { status: 200, body: { inline_string: "ok" } }`,
    clusters: staticCluster("backend", up.port),
  }));
  try {
    const started = Date.now();
    assertEquals(await python(RAPID_RESET, String(proxy.port()), "600"), {
      closed: true,
      goaway: true,
    });
    assert(Date.now() - started < 30_000);
    const stats = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["http.test.downstream_rq_too_many_premature_resets"] === 1,
    );
    assert(stats["http.test.downstream_rq_rx_reset"] >= 250);
    assertEquals(await h2Get(proxy.port()), "ok 2 200");
  } finally {
    await proxy.stop();
    await up.close().catch(() => {});
  }
});

/**
 * python-h2: a request, then waits for the graceful GOAWAY, sends another request, and reads
 * on until the final GOAWAY and the close. Prints the GOAWAYs' last stream ids and statuses.
 */
const DRAIN_CLIENT = `
import json, socket, struct, sys
import hpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(20)
enc, dec = hpack.Encoder(), hpack.Decoder()
def frame(t, flags, sid, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([t, flags]) + sid.to_bytes(4, "big") + payload
def request(sid):
    block = enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")])
    s.sendall(frame(1, 5, sid, block))
s.sendall(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n" + frame(4, 0, 0))
request(1)
out = {"goaways": [], "statuses": {}, "closed": False}
buf = b""
while True:
    data = s.recv(65535)
    if not data:
        out["closed"] = True
        break
    buf += data
    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
        n = int.from_bytes(buf[:3], "big")
        t, flags, sid, payload = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff, buf[9:9 + n]
        buf = buf[9 + n:]
        if t == 4 and not flags & 1:
            s.sendall(frame(4, 1, 0))
        elif t == 1:
            out["statuses"][str(sid)] = dict(dec.decode(payload))[":status"]
        elif t == 7:
            out["goaways"].append(struct.unpack(">I", payload[:4])[0] & 0x7fffffff)
            if len(out["goaways"]) == 1:
                # A request the client sent before it saw the graceful GOAWAY.
                request(3)
print(json.dumps(out))
`;

Deno.test("HTTP/2 drain: graceful GOAWAY, streams still served for drain_timeout, then the final GOAWAY and the close", async () => {
  const proxy = await Proxy.start(directConfig(`drain_timeout: 2s
common_http_protocol_options: { max_connection_duration: 0.3s }`));
  try {
    const r = await python(DRAIN_CLIENT, String(proxy.port())) as {
      goaways: number[];
      statuses: Record<string, string>;
      closed: boolean;
    };
    assertEquals(r.goaways, [2147483647, 3]);
    assertEquals(r.statuses, { "1": "200", "3": "200" });
    assertEquals(r.closed, true);
    const stats = await adminStats(proxy.adminPort);
    assertEquals(stats["http2.goaway_graceful_sent"], 1);
    assertEquals(stats["http.test.downstream_cx_max_duration_reached"], 1);
  } finally {
    await proxy.stop();
  }
});
