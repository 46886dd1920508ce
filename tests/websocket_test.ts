/**
 * WebSocket through the proxy to a real WebSocket echo upstream (Deno.upgradeWebSocket over
 * HTTP/1.1): from the npm `ws` client over HTTP/1.1 (Upgrade), and from python-h2 over HTTP/2
 * as an extended CONNECT (RFC 8441, `allow_connect: true`), which the connection manager sees
 * as an HTTP/1 upgrade and answers with the 200 that accepts it.
 */
import { assertEquals } from "../src/testing/assert.ts";
import WebSocket from "ws";
import { adminStatsWhen, httpConfig, Proxy, staticCluster, upstream } from "./proxy.ts";
import * as http2 from "node:http2";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import type { AddressInfo } from "node:net";

/** An upstream echoing each WebSocket message back, prefixed with "echo ". */
function echoUpstream() {
  return upstream((req) => {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("not a websocket", { status: 400 });
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => socket.send(`echo ${e.data}`);
    return response;
  });
}

/**
 * An h2c WebSocket echo upstream (node:http2 with extended CONNECT, RFC 8441): answers 200
 * (with the Sec-WebSocket-Accept an HTTP/1.1 client checks) and echoes each text frame.
 */
async function h2EchoUpstream(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http2.createServer({ settings: { enableConnectProtocol: true } });
  server.on("stream", (stream, headers) => {
    if (headers[":method"] !== "CONNECT" || headers[":protocol"] !== "websocket") {
      stream.respond({ ":status": 400 });
      stream.end();
      return;
    }
    const key = String(headers["sec-websocket-key"] ?? "");
    const accept = createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
      .digest("base64");
    stream.respond({ ":status": 200, "sec-websocket-accept": accept });
    let buf = Buffer.alloc(0);
    stream.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      // Short masked client frames: FIN+opcode, MASK|len, 4 mask bytes, payload.
      while (buf.length >= 6 && buf.length >= 6 + (buf[1] & 0x7f)) {
        const len = buf[1] & 0x7f;
        const opcode = buf[0] & 0x0f;
        const mask = buf.subarray(2, 6);
        const payload = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]));
        buf = buf.subarray(6 + len);
        if (opcode === 8) {
          stream.end(Buffer.from([0x88, 0]));
          return;
        }
        const out = Buffer.concat([Buffer.from("echo "), payload]);
        stream.write(Buffer.concat([Buffer.from([0x81, out.length]), out]));
      }
    });
    stream.on("end", () => stream.end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const H2_UPSTREAM = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: { allow_connect: true } }`;

async function withProxy(fn: (p: Proxy) => Promise<void>, h2Upstream = false) {
  const up = h2Upstream ? await h2EchoUpstream() : echoUpstream();
  const proxy = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port, h2Upstream ? H2_UPSTREAM : ""),
    hcmExtra: `upgrade_configs: [{ upgrade_type: websocket }]
http2_protocol_options: { allow_connect: true }`,
  }));
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
    await up.close();
  }
}

for (const h2Upstream of [false, true]) {
  Deno.test(`WebSocket over HTTP/1.1: the npm ws client exchanges messages through the proxy with an HTTP/${h2Upstream ? "2" : "1.1"} upstream`, async () => {
    await withProxy(async (proxy) => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port()}/chat`);
      const got: string[] = [];
      await new Promise<void>((resolve, reject) => {
        ws.on("open", () => ws.send("one"));
        ws.on("message", (m: unknown) => {
          got.push(String(m));
          if (got.length === 1) ws.send("two");
          else ws.close();
        });
        ws.on("close", () => resolve());
        ws.on("error", reject);
      });
      assertEquals(got, ["echo one", "echo two"]);
      const stats = await adminStatsWhen(
        proxy.adminPort,
        (s) => s["http.test.downstream_cx_upgrades_active"] === 0,
      );
      assertEquals(stats["http.test.downstream_cx_upgrades_total"], 1);
    }, h2Upstream);
  });

  Deno.test(`WebSocket over HTTP/2: an RFC 8441 extended CONNECT from python-h2 reaches an HTTP/${h2Upstream ? "2" : "1.1"} WebSocket upstream`, async () => {
    await withProxy(async (proxy) => {
      await h2WebSocket(proxy);
    }, h2Upstream);
  });
}

/**
 * python-h2: an extended CONNECT for `websocket` on stream 1, then a masked text frame in
 * DATA; prints the response status and the echoed frame's text. Stream 3, a plain GET on the
 * same connection afterwards, shows the connection outlives the tunnel's stream.
 */
const H2_WEBSOCKET = `
import json, socket, sys
import h2.config, h2.connection, h2.events
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
c = h2.connection.H2Connection(config=h2.config.H2Configuration(
    client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
c.initiate_connection()
s.sendall(c.data_to_send())
def events():
    data = s.recv(65535)
    if not data:
        raise SystemExit("closed")
    ev = c.receive_data(data)
    s.sendall(c.data_to_send())
    return ev
# The server's SETTINGS must allow extended CONNECT first.
enabled = None
while enabled is None:
    for e in events():
        if isinstance(e, h2.events.RemoteSettingsChanged):
            enabled = c.remote_settings.get(8, 0)
c.send_headers(1, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
    (":path", "/chat"), (":authority", "x"), ("sec-websocket-version", "13"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")])
s.sendall(c.data_to_send())
out = {"enable_connect": enabled, "status": None, "text": None, "status3": None}
mask = bytes([1, 2, 3, 4])
payload = b"hello"
frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
buf = b""
while out["text"] is None:
    for e in events():
        if isinstance(e, h2.events.ResponseReceived) and e.stream_id == 1:
            out["status"] = dict(e.headers)[b":status"].decode()
            c.send_data(1, frame)
            s.sendall(c.data_to_send())
        elif isinstance(e, h2.events.DataReceived) and e.stream_id == 1:
            c.acknowledge_received_data(e.flow_controlled_length, 1)
            buf += e.data
            if len(buf) >= 2 and len(buf) >= 2 + (buf[1] & 0x7f):
                out["text"] = buf[2:2 + (buf[1] & 0x7f)].decode()
        elif isinstance(e, h2.events.StreamReset):
            raise SystemExit("stream reset")
c.reset_stream(1)
c.send_headers(3, [(":method", "GET"), (":scheme", "http"), (":path", "/plain"), (":authority", "x")], end_stream=True)
s.sendall(c.data_to_send())
while out["status3"] is None:
    for e in events():
        if isinstance(e, h2.events.ResponseReceived) and e.stream_id == 3:
            out["status3"] = dict(e.headers)[b":status"].decode()
print(json.dumps(out))
`;

/** Runs the python-h2 extended CONNECT client against `proxy` and checks what it saw. */
async function h2WebSocket(proxy: Proxy) {
  const r = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", H2_WEBSOCKET, String(proxy.port())],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assertEquals(r.code, 0, dec.decode(r.stderr));
  assertEquals(JSON.parse(dec.decode(r.stdout)), {
    enable_connect: 1,
    status: "200",
    text: "echo hello",
    status3: "400",
  });
  const stats = await adminStatsWhen(
    proxy.adminPort,
    (s) => s["http.test.downstream_cx_upgrades_active"] === 0,
  );
  assertEquals(stats["http.test.downstream_cx_upgrades_total"], 1);
  assertEquals(stats["http.test.downstream_cx_http2_total"], 1);
}

const CORPUS_WS =
  new URL("../../shared/corpus/envoy-examples/websocket/envoy-ws.yaml", import.meta.url)
    .pathname;
const corpusPresent = (() => {
  try {
    return Deno.statSync(CORPUS_WS).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: corpusPresent
    ? "corpus serve: websocket/envoy-ws.yaml carries a ws client's messages to its upstream"
    : "corpus serve: websocket/envoy-ws.yaml SKIPPED because ../shared/corpus is absent",
  ignore: !corpusPresent,
  async fn() {
    const up = echoUpstream();
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const yaml = Deno.readTextFileSync(CORPUS_WS)
      .replace("address: 0.0.0.0", "address: 127.0.0.1")
      .replace("port_value: 10000", `port_value: ${port}`)
      .replace("address: service-ws", "address: 127.0.0.1")
      .replace("port_value: 80", `port_value: ${up.port}`);
    const proxy = await Proxy.start(yaml);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      const got = await new Promise<string>((resolve, reject) => {
        ws.on("open", () => ws.send("corpus"));
        ws.on("message", (m: unknown) => {
          resolve(String(m));
          ws.close();
        });
        ws.on("error", reject);
      });
      assertEquals(got, "echo corpus");
    } finally {
      await proxy.stop();
      await up.close();
    }
  },
});
