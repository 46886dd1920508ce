import { assert, assertEquals } from "../../testing/assert.ts";
import { HeaderMap } from "../header_map.ts";
import {
  COMPRESSION_ERROR,
  CONTINUATION,
  DATA,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PRIORITY,
  FLOW_CONTROL_ERROR,
  frame,
  FRAME_SIZE_ERROR,
  GOAWAY,
  HEADERS,
  INTERNAL_ERROR,
  NO_ERROR,
  PING,
  PREFACE,
  priorityFrame,
  PROTOCOL_ERROR,
  REFUSED_STREAM,
  RST_STREAM,
  rstStreamFrame,
  SETTINGS,
  SETTINGS_ENABLE_CONNECT_PROTOCOL,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  settingsFrame,
  STREAM_CLOSED,
  u32,
  WINDOW_UPDATE,
  windowUpdateFrame,
} from "./frame.ts";
import { HpackEncoder } from "./hpack.ts";
import { CODEC_BUFFER_FLOOD, CODEC_OK, CODEC_PROTOCOL_ERROR } from "./codec_types.ts";
import {
  errorCode,
  frames,
  type LoggedFrame,
  pump,
  RecordingHandler,
  request,
  response,
  type Side,
  side,
} from "./test_util.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A raw client: preface + SETTINGS, and header blocks from its own encoder. */
class RawClient {
  encoder = new HpackEncoder();
  start(): Uint8Array {
    return concat(PREFACE, settingsFrame([]));
  }
  block(kv: string[]): Uint8Array {
    const out = new Uint8Array(this.encoder.bound(kv));
    return out.slice(0, this.encoder.encode(kv, out, 0));
  }
  headers(id: number, kv: string[], flags = FLAG_END_HEADERS | FLAG_END_STREAM): Uint8Array {
    return frame(HEADERS, flags, id, this.block(kv));
  }
}

const GET = [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"];

/** Server frames after the raw input, minus its initial SETTINGS / WINDOW_UPDATE / ACK. */
function serverReply(s: Side, input: Uint8Array): LoggedFrame[] {
  s.conn.dispatch(input);
  return frames(s.transport.take()).filter((f) =>
    !(f.type === SETTINGS) && !(f.type === WINDOW_UPDATE && f.id === 0)
  );
}

function echoServer(): Side {
  return side("server", {}, (h) => {
    h.onEvent = (r) => {
      if (!r.ended || r.reset) return;
      const s = r.stream!;
      const body = r.body.length ? concat(...r.body) : new Uint8Array(0);
      s.encodeHeaders(response("200", ["x-path", r.headers!.get(":path")!]), false);
      s.encodeData(body, false);
      s.encodeTrailers(new HeaderMap(["x-trailer", "t"]));
    };
  });
}

Deno.test("h2 connection: request and response with body and trailers, client to server", () => {
  const server = echoServer();
  const client = side("client");
  const h = new RecordingHandler();
  const st = client.conn.newStream(h)!;
  st.encodeHeaders(request("/echo", "POST", ["cookie", "a=1", "cookie", "b=2"]), false);
  st.encodeData(enc("hello"), false);
  st.encodeTrailers(new HeaderMap(["x-req-trailer", "1"]));
  pump(client, server);
  const got = server.handlers[0];
  assertEquals(got.headers!.get(":path"), "/echo");
  assertEquals(got.headers!.get("cookie"), "a=1; b=2");
  assertEquals(got.trailers!.get("x-req-trailer"), "1");
  assertEquals(h.events, ["headers", "data 5", "trailers"]);
  assertEquals(h.headers!.get("x-path"), "/echo");
  assertEquals(h.trailers!.get("x-trailer"), "t");
  assertEquals(server.stats.trailers.value, 1);
  assertEquals(client.stats.trailers.value, 1);
  assertEquals(server.stats.streams_active.value, 0);
  assertEquals(client.stats.streams_active.value, 0);
  assertEquals(server.errors, []);
});

Deno.test("h2 connection: many concurrent streams", () => {
  const server = echoServer();
  const client = side("client");
  const hs: RecordingHandler[] = [];
  for (let i = 0; i < 200; i++) {
    const h = new RecordingHandler();
    hs.push(h);
    client.conn.newStream(h)!.encodeHeaders(request(`/${i}`), true);
  }
  pump(client, server);
  hs.forEach((h, i) => assertEquals(h.headers!.get("x-path"), `/${i}`));
  assertEquals(server.conn.activeStreams, 0);
});

Deno.test("h2 connection: a large body crosses small windows with WINDOW_UPDATEs", () => {
  const small = { initialStreamWindowSize: 65535, initialConnectionWindowSize: 65535 };
  const server = side("server", small, (h) => {
    h.onEvent = (r) => {
      if (r.events.length === 1) {
        r.stream!.encodeHeaders(response(), false);
        r.stream!.encodeData(new Uint8Array(1 << 20).fill(1), true);
      }
    };
  });
  const client = side("client", small);
  const h = new RecordingHandler();
  const st = client.conn.newStream(h)!;
  st.encodeHeaders(request("/up", "POST"), false);
  st.encodeData(new Uint8Array(3 << 20).fill(2), true);
  pump(client, server);
  assertEquals(server.handlers[0].bodyLength(), 3 << 20);
  assertEquals(h.bodyLength(), 1 << 20);
  assert(h.ended);
  assertEquals(client.stats.pending_send_bytes.value, 0);
  assertEquals(server.stats.pending_send_bytes.value, 0);
});

Deno.test("h2 connection: read-disabled streams hold the window; watermarks fire", () => {
  const small = { initialStreamWindowSize: 65535, initialConnectionWindowSize: 65535 };
  const server = side("server", small, (h) => h.stream!.readDisable(true));
  const client = side("client", { ...small, streamBufferLimit: 100000 });
  const h = new RecordingHandler();
  const st = client.conn.newStream(h)!;
  st.encodeHeaders(request("/up", "POST"), false);
  st.encodeData(new Uint8Array(300000), true);
  assertEquals(h.above, 1);
  pump(client, server);
  assertEquals(server.handlers[0].bodyLength(), 65535);
  assert(st.bufferedBytes > 0);
  server.handlers[0].stream!.readDisable(false);
  pump(client, server);
  assertEquals(server.handlers[0].bodyLength(), 300000);
  assertEquals(h.below, 1);
});

Deno.test("h2 connection: SETTINGS, PING and ACKs", () => {
  const s = side("server");
  const first = frames(s.transport.take());
  assertEquals(first[0].type, SETTINGS);
  const settings = first[0].payload;
  const values = new Map<number, number>();
  for (let i = 0; i < settings.length; i += 6) {
    values.set((settings[i] << 8) | settings[i + 1], u32(settings, i + 2));
  }
  assertEquals(values.get(SETTINGS_MAX_CONCURRENT_STREAMS), 2147483647);
  assertEquals(values.get(SETTINGS_INITIAL_WINDOW_SIZE), 268435456);
  assertEquals(first[1].type, WINDOW_UPDATE);
  assertEquals(u32(first[1].payload, 0), 268435456 - 65535);
  const raw = new RawClient();
  s.conn.dispatch(raw.start());
  const ping = frame(PING, 0, 0, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  const out = frames(concat(s.transport.take(), (s.conn.dispatch(ping), s.transport.take())));
  assertEquals(out.map((f) => [f.type, f.flags]), [[SETTINGS, FLAG_ACK], [PING, FLAG_ACK]]);
  assertEquals(Array.from(out[1].payload), [1, 2, 3, 4, 5, 6, 7, 8]);
});

Deno.test("h2 connection: a bad preface is a PROTOCOL_ERROR GOAWAY", () => {
  const s = side("server");
  s.transport.take();
  assertEquals(s.conn.dispatch(enc("GET / HTTP/1.1\r\n\r\n")), CODEC_PROTOCOL_ERROR);
  const out = frames(s.transport.take());
  assertEquals([out[0].type, errorCode(out[0])], [GOAWAY, PROTOCOL_ERROR]);
});

Deno.test("h2 connection: malformed frames get the right GOAWAY or RST_STREAM code", () => {
  const raw = () => new RawClient();
  const cases: [string, (r: RawClient) => Uint8Array, number, number][] = [
    [
      "oversized frame",
      (r) => concat(r.start(), frame(DATA, 0, 1, new Uint8Array(16385))),
      GOAWAY,
      FRAME_SIZE_ERROR,
    ],
    [
      "bad HPACK",
      (r) => concat(r.start(), frame(HEADERS, 5, 1, Uint8Array.of(0xbe))),
      GOAWAY,
      COMPRESSION_ERROR,
    ],
    [
      "DATA on an idle stream",
      (r) => concat(r.start(), frame(DATA, 1, 1, enc("x"))),
      GOAWAY,
      PROTOCOL_ERROR,
    ],
    ["even stream id", (r) => concat(r.start(), r.headers(2, GET)), GOAWAY, PROTOCOL_ERROR],
    [
      "connection window overflow",
      (r) => concat(r.start(), windowUpdateFrame(0, 0x7fffffff)),
      GOAWAY,
      FLOW_CONTROL_ERROR,
    ],
    [
      "zero connection WINDOW_UPDATE",
      (r) => concat(r.start(), windowUpdateFrame(0, 0)),
      GOAWAY,
      PROTOCOL_ERROR,
    ],
    [
      "first frame not SETTINGS",
      (_r) => concat(PREFACE, frame(PING, 0, 0, new Uint8Array(8))),
      GOAWAY,
      PROTOCOL_ERROR,
    ],
    [
      "PING of 7 bytes",
      (r) => concat(r.start(), frame(PING, 0, 0, new Uint8Array(7))),
      GOAWAY,
      FRAME_SIZE_ERROR,
    ],
    [
      "CONTINUATION without HEADERS",
      (r) => concat(r.start(), frame(CONTINUATION, 4, 1, Uint8Array.of(0x82))),
      GOAWAY,
      PROTOCOL_ERROR,
    ],
    [
      "interleaved frame in a header block",
      (r) =>
        concat(r.start(), r.headers(1, GET, FLAG_END_STREAM), frame(PING, 0, 0, new Uint8Array(8))),
      GOAWAY,
      PROTOCOL_ERROR,
    ],
    [
      "SETTINGS_INITIAL_WINDOW_SIZE too large",
      (r) => concat(r.start(), settingsFrame([4, 0x80000000])),
      GOAWAY,
      FLOW_CONTROL_ERROR,
    ],
    [
      "missing :path (connection closed by default)",
      (r) => concat(r.start(), r.headers(1, [":method", "GET", ":scheme", "http"])),
      GOAWAY,
      PROTOCOL_ERROR,
    ],
    [
      "connection header",
      (r) => concat(r.start(), r.headers(1, [...GET, "connection", "close"])),
      GOAWAY,
      PROTOCOL_ERROR,
    ],
  ];
  for (const [name, input, type, code] of cases) {
    const s = side("server");
    s.transport.take();
    const out = serverReply(s, input(raw()));
    const last = out[out.length - 1];
    assertEquals([last?.type, last && errorCode(last)], [type, code], name);
    assertEquals(s.errors.length, 1, name);
  }
});

Deno.test("h2 connection: stream errors reset the stream and keep the connection", () => {
  const cases: [string, (r: RawClient) => Uint8Array, number][] = [
    [
      "stream window overflow",
      (r) =>
        concat(r.start(), r.headers(1, GET, FLAG_END_HEADERS), windowUpdateFrame(1, 0x7fffffff)),
      FLOW_CONTROL_ERROR,
    ],
    ["self-dependent PRIORITY", (r) => concat(r.start(), priorityFrame(1, 1, 16)), PROTOCOL_ERROR],
    [
      "self-dependent HEADERS",
      (r) =>
        concat(
          r.start(),
          frame(
            HEADERS,
            FLAG_END_HEADERS | FLAG_PRIORITY | FLAG_END_STREAM,
            1,
            concat(Uint8Array.of(0, 0, 0, 1, 16), r.block(GET)),
          ),
        ),
      PROTOCOL_ERROR,
    ],
    [
      "HEADERS after END_STREAM",
      (r) => concat(r.start(), r.headers(1, GET), r.headers(1, GET)),
      STREAM_CLOSED,
    ],
    [
      "DATA after END_STREAM",
      (r) => concat(r.start(), r.headers(1, GET), frame(DATA, 1, 1, enc("x"))),
      STREAM_CLOSED,
    ],
    [
      "DATA above content-length (stream_error_on_invalid_http_messaging)",
      (r) =>
        concat(
          r.start(),
          r.headers(1, [...GET, "content-length", "1"], FLAG_END_HEADERS),
          frame(DATA, 1, 1, enc("xx")),
        ),
      PROTOCOL_ERROR,
    ],
  ];
  for (const [name, input, code] of cases) {
    const s = side("server", { streamErrorOnInvalidHttpMessaging: true });
    s.transport.take();
    const out = serverReply(s, input(new RawClient()));
    const rst = out.find((f) => f.type === RST_STREAM);
    assertEquals(rst && errorCode(rst), code, name);
    assertEquals(s.errors, [], name);
    assertEquals(out.some((f) => f.type === GOAWAY), false, name);
  }
});

Deno.test("h2 connection: invalid message without stream_error_on_invalid_http_messaging", () => {
  const s = side("server");
  const r = new RawClient();
  const out = serverReply(s, concat(r.start(), r.headers(1, [":method", "GET"])));
  assertEquals(out.map((f) => [f.type, errorCode(f)]), [[RST_STREAM, PROTOCOL_ERROR], [
    GOAWAY,
    PROTOCOL_ERROR,
  ]]);
  assertEquals(s.stats.rx_messaging_error.value, 1);
  assertEquals(s.errors[0][0], CODEC_PROTOCOL_ERROR);
});

Deno.test("h2 connection: header limits reset the stream with INTERNAL_ERROR (header_overflow)", () => {
  const s = side("server", { maxHeadersCount: 10, maxHeadersKb: 1 });
  const r = new RawClient();
  const many: string[] = [...GET];
  for (let i = 0; i < 10; i++) many.push(`x-${i}`, "v");
  const big = [...GET, "cookie", "a=" + "c".repeat(600), "cookie", "b=" + "d".repeat(600)];
  const out = serverReply(
    s,
    concat(r.start(), r.headers(1, many), r.headers(3, big), r.headers(5, GET)),
  );
  assertEquals(out.filter((f) => f.type === RST_STREAM).map((f) => [f.id, errorCode(f)]), [[
    1,
    INTERNAL_ERROR,
  ], [3, INTERNAL_ERROR]]);
  assertEquals(s.stats.header_overflow.value, 2);
  assertEquals(s.handlers.map((h) => h.resetDetails), [
    "http2.too_many_headers",
    "http2.too_many_headers",
    "",
  ]);
  assertEquals(s.handlers[2].headers!.get(":path"), "/");
});

Deno.test("h2 connection: CONTINUATION flood closes the connection", () => {
  const s = side("server");
  const r = new RawClient();
  const parts = [r.start(), r.headers(1, GET, FLAG_END_STREAM)];
  for (let i = 0; i < 20; i++) {
    parts.push(frame(CONTINUATION, 0, 1, new Uint8Array(16384).fill(0x82)));
  }
  const out = serverReply(s, concat(...parts));
  assertEquals(out.map((f) => [f.type, errorCode(f)]), [[GOAWAY, PROTOCOL_ERROR]]);
  assertEquals(s.stats.header_overflow.value, 1);
});

Deno.test("h2 connection: content-length must match the DATA", () => {
  const s = side("server", { streamErrorOnInvalidHttpMessaging: true });
  const r = new RawClient();
  const out = serverReply(
    s,
    concat(
      r.start(),
      r.headers(1, [...GET, "content-length", "3"], FLAG_END_HEADERS),
      frame(DATA, 1, 1, enc("xy")),
      r.headers(3, [...GET, "content-length", "2"], FLAG_END_HEADERS),
      frame(DATA, 1, 3, enc("xy")),
    ),
  );
  assertEquals(out.filter((f) => f.type === RST_STREAM).map((f) => f.id), [1]);
  assertEquals(s.handlers[1].bodyLength(), 2);
});

Deno.test("h2 connection: extended CONNECT needs allow_connect", () => {
  const ws = [
    ":method",
    "CONNECT",
    ":protocol",
    "websocket",
    ":scheme",
    "http",
    ":path",
    "/ws",
    ":authority",
    "a",
  ];
  const off = side("server", { streamErrorOnInvalidHttpMessaging: true });
  let r = new RawClient();
  let out = serverReply(off, concat(r.start(), r.headers(1, ws, FLAG_END_HEADERS)));
  assertEquals(out.map((f) => f.type), [RST_STREAM]);
  const on = side("server", { allowConnect: true });
  const settings = frames(on.transport.take())[0].payload;
  assertEquals(
    (settings[settings.length - 6] << 8) | settings[settings.length - 5],
    SETTINGS_ENABLE_CONNECT_PROTOCOL,
  );
  r = new RawClient();
  out = serverReply(
    on,
    concat(
      r.start(),
      r.headers(1, ws, FLAG_END_HEADERS),
      r.headers(3, [":method", "CONNECT", ":authority", "a:443"], FLAG_END_HEADERS),
    ),
  );
  assertEquals(out, []);
  // The extended CONNECT reaches the connection manager in its HTTP/1 upgrade form.
  assertEquals(on.handlers.map((h) => h.headers!.get(":method")), ["GET", "CONNECT"]);
  assertEquals(on.handlers[0].headers!.get("upgrade"), "websocket");
});

Deno.test("h2 connection: graceful drain sends two GOAWAYs; later streams are ignored", () => {
  const s = side("server");
  const r = new RawClient();
  serverReply(s, concat(r.start(), r.headers(1, GET)));
  s.conn.shutdownNotice();
  serverReply(s, r.headers(3, GET));
  s.conn.goAway();
  serverReply(s, r.headers(5, GET));
  assertEquals(s.handlers.length, 2);
  assertEquals(s.stats.goaway_graceful_sent.value, 1);
  assertEquals(s.stats.goaway_sent.value, 1);
});

Deno.test("h2 connection: GOAWAY frames carry 2^31-1 then the last stream", () => {
  const s = side("server");
  const r = new RawClient();
  s.conn.dispatch(concat(r.start(), r.headers(1, GET)));
  s.transport.take();
  s.conn.shutdownNotice();
  s.conn.dispatch(r.headers(3, GET));
  s.conn.goAway();
  const g = frames(s.transport.take()).filter((f) => f.type === GOAWAY);
  assertEquals(g.map((f) => [u32(f.payload, 0), errorCode(f)]), [[0x7fffffff, NO_ERROR], [
    3,
    NO_ERROR,
  ]]);
});

Deno.test("h2 connection: HEADERS on a closed stream is a STREAM_CLOSED connection error", () => {
  const s = echoServer();
  const r = new RawClient();
  serverReply(s, concat(r.start(), r.headers(1, GET)));
  const out = serverReply(s, r.headers(1, GET));
  assertEquals(out.map((f) => [f.type, errorCode(f)]), [[GOAWAY, STREAM_CLOSED]]);
});

Deno.test("h2 connection: client sees GOAWAY; streams above last are refused", () => {
  const server = side("server");
  const client = side("client");
  const a = new RecordingHandler();
  const b = new RecordingHandler();
  client.conn.newStream(a)!.encodeHeaders(request(), false);
  pump(client, server);
  server.conn.goAway();
  client.conn.newStream(b)!.encodeHeaders(request(), false);
  client.conn.dispatch(server.transport.take());
  assertEquals(client.goaways, [[NO_ERROR, 1]]);
  assertEquals(b.reset, "remote refused stream reset");
  assertEquals(a.reset, "");
  assertEquals(client.conn.newStream(new RecordingHandler()), undefined);
});

Deno.test("h2 connection: RST_STREAM both ways", () => {
  const server = side("server");
  const client = side("client");
  const a = new RecordingHandler();
  const st = client.conn.newStream(a)!;
  st.encodeHeaders(request(), false);
  pump(client, server);
  st.resetStream("local reset");
  pump(client, server);
  assertEquals(server.handlers[0].reset, "remote reset");
  assertEquals(server.handlers[0].resetDetails, "http2.remote_reset");
  assertEquals(server.stats.rx_reset.value, 1);
  assertEquals(client.stats.tx_reset.value, 1);
  assertEquals(a.reset, "local reset");
  const c = new RecordingHandler();
  client.conn.newStream(c)!.encodeHeaders(request(), false);
  pump(client, server);
  server.handlers[1].stream!.resetStream("local refused stream reset");
  pump(client, server);
  assertEquals(c.reset, "remote refused stream reset");
});

Deno.test("h2 connection: max_concurrent_streams refuses extra streams", () => {
  const s = side("server", { maxConcurrentStreams: 1 });
  const r = new RawClient();
  const out = serverReply(
    s,
    concat(r.start(), r.headers(1, GET, FLAG_END_HEADERS), r.headers(3, GET, FLAG_END_HEADERS)),
  );
  assertEquals(out.map((f) => [f.type, f.id, errorCode(f)]), [[RST_STREAM, 3, REFUSED_STREAM]]);
  assertEquals(s.stats.stream_refused_errors.value, 1);
});

Deno.test("h2 connection: 1xx, HEAD and unknown frame types (client role)", () => {
  const server = side("server", {}, (h) => {
    h.onEvent = (r) => {
      r.stream!.encodeHeaders(response("100"), false);
      r.stream!.encodeHeaders(response("200", ["content-length", "10"]), true);
    };
  });
  const client = side("client");
  const h = new RecordingHandler();
  client.conn.newStream(h)!.encodeHeaders(request("/", "HEAD"), true);
  pump(client, server);
  assertEquals(client.conn.dispatch(frame(0xee, 0, 0, enc("ignored"))), CODEC_OK);
  assertEquals(h.events, ["1xx 100", "headers end"]);
  assertEquals(client.errors, []);
});

Deno.test("h2 flood: PING flood against a peer that never reads (outbound_control_flood)", () => {
  const s = side("server");
  s.transport.drains = false;
  const r = new RawClient();
  const pings: Uint8Array[] = [r.start()];
  for (let i = 0; i < 1100; i++) pings.push(frame(PING, 0, 0, new Uint8Array(8)));
  assertEquals(s.conn.dispatch(concat(...pings)), CODEC_BUFFER_FLOOD);
  assertEquals(s.stats.outbound_control_flood.value, 1);
});

Deno.test("h2 flood: SETTINGS flood trips the control frame limit too", () => {
  const s = side("server");
  s.transport.drains = false;
  const parts = [PREFACE];
  for (let i = 0; i < 1100; i++) parts.push(settingsFrame([]));
  assertEquals(s.conn.dispatch(concat(...parts)), CODEC_BUFFER_FLOOD);
  assertEquals(s.stats.outbound_control_flood.value, 1);
});

Deno.test("h2 flood: a peer that reads keeps PINGing freely", () => {
  const s = side("server");
  const r = new RawClient();
  s.conn.dispatch(r.start());
  for (let round = 0; round < 30; round++) {
    const pings: Uint8Array[] = [];
    for (let i = 0; i < 100; i++) pings.push(frame(PING, 0, 0, new Uint8Array(8)));
    assertEquals(s.conn.dispatch(concat(...pings)), CODEC_OK);
    s.transport.take();
  }
});

Deno.test("h2 flood: outbound frames limit (max_outbound_frames)", () => {
  const s = side("server", { maxOutboundFrames: 50 });
  s.transport.drains = false;
  const r = new RawClient();
  s.conn.dispatch(concat(r.start(), r.headers(1, GET)));
  const st = s.handlers[0].stream!;
  st.encodeHeaders(response(), false);
  for (let i = 0; i < 60 && s.errors.length === 0; i++) st.encodeData(new Uint8Array(10), false);
  assertEquals(s.errors.map((e) => e[0]), [CODEC_BUFFER_FLOOD]);
  assertEquals(s.stats.outbound_flood.value, 1);
});

Deno.test("h2 flood: empty DATA frames (inbound_empty_frames_flood)", () => {
  const s = side("server");
  const r = new RawClient();
  const out = s.conn.dispatch(
    concat(r.start(), r.headers(1, GET, FLAG_END_HEADERS), frame(DATA, 0, 1), frame(DATA, 0, 1)),
  );
  assertEquals(out, CODEC_BUFFER_FLOOD);
  assertEquals(s.stats.inbound_empty_frames_flood.value, 1);
  assertEquals(s.errors[0][1], "http2.inbound_empty_frames_flood");
});

Deno.test("h2 flood: PRIORITY frames (inbound_priority_frames_flood)", () => {
  const s = side("server");
  const r = new RawClient();
  const parts = [r.start()];
  for (let i = 0; i < 101; i++) parts.push(priorityFrame(3, 0, 16));
  assertEquals(s.conn.dispatch(concat(...parts.slice(0, 101))), CODEC_OK);
  assertEquals(s.conn.dispatch(parts[101]), CODEC_BUFFER_FLOOD);
  assertEquals(s.stats.inbound_priority_frames_flood.value, 1);
});

Deno.test("h2 flood: WINDOW_UPDATE frames (inbound_window_update_frames_flood)", () => {
  const s = side("server");
  const r = new RawClient();
  const parts = [r.start(), r.headers(1, GET, FLAG_END_HEADERS)];
  // 1 + 2 * (1 stream + 10 * 0 DATA frames sent) = 3 allowed.
  for (let i = 0; i < 4; i++) parts.push(windowUpdateFrame(0, 1));
  assertEquals(s.conn.dispatch(concat(...parts)), CODEC_BUFFER_FLOOD);
  assertEquals(s.stats.inbound_window_update_frames_flood.value, 1);
});

Deno.test("h2 connection: frames for a recently reset stream are ignored", () => {
  const s = side("server");
  const r = new RawClient();
  serverReply(s, concat(r.start(), r.headers(1, GET, FLAG_END_HEADERS)));
  s.handlers[0].stream!.resetStream("local reset");
  const out = serverReply(
    s,
    concat(frame(DATA, 0, 1, enc("late")), r.headers(1, ["x-t", "1"]), rstStreamFrame(1, 8)),
  );
  assertEquals(out.map((f) => f.type), [RST_STREAM]);
  assertEquals(s.errors, []);
});

Deno.test("h2 connection: any split of a request yields the same events", () => {
  const r = new RawClient();
  const input = concat(
    r.start(),
    r.headers(1, [...GET, "content-length", "5"], FLAG_END_HEADERS),
    frame(DATA, 0, 1, enc("he")),
    frame(DATA, 1, 1, enc("llo")),
  );
  for (let cut = 1; cut < input.length; cut += 3) {
    const s = side("server");
    s.conn.dispatch(input.subarray(0, cut));
    s.conn.dispatch(input.subarray(cut));
    assertEquals(s.errors, [], `cut ${cut}`);
    assertEquals(new TextDecoder().decode(concat(...s.handlers[0].body)), "hello", `cut ${cut}`);
  }
});

Deno.test("h2 connection: random bytes after the preface never throw (fuzz)", () => {
  let seed = 99;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let round = 0; round < 500; round++) {
    const s = side("server");
    const n = Math.floor(rand() * 200);
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
    // Mostly plausible frame headers: small lengths and known types.
    if (n > 9) {
      b[0] = 0;
      b[1] = 0;
      b[2] = Math.min(n - 9, b[2]);
      b[3] = b[3] % 11;
    }
    s.conn.dispatch(concat(new RawClient().start(), b));
  }
});

Deno.test("h2 connection: hpack_table_size 0 is advertised and honoured by our client", () => {
  const server = side("server", { hpackTableSize: 0 }, (h) => {
    h.onEvent = (r) => r.stream!.encodeHeaders(response(), true);
  });
  const client = side("client");
  for (let i = 0; i < 3; i++) {
    const h = new RecordingHandler();
    client.conn.newStream(h)!.encodeHeaders(request("/", "GET", ["x-custom", "value"]), true);
    pump(client, server);
    assertEquals(h.headers!.get(":status"), "200");
  }
  assertEquals(server.errors, []);
  assertEquals(server.handlers.map((h) => h.headers!.get("x-custom")), ["value", "value", "value"]);
});

Deno.test("h2 connection: headers_with_underscores_action drop_header and reject_request", () => {
  const drop = side("server", { headersWithUnderscoresAction: "drop_header" });
  let r = new RawClient();
  serverReply(drop, concat(r.start(), r.headers(1, [...GET, "x_a", "1", "x-b", "2"])));
  assertEquals(drop.handlers[0].headers!.raw().slice(8), ["x-b", "2"]);
  assertEquals(drop.stats.dropped_headers_with_underscores.value, 1);
  const reject = side("server", { headersWithUnderscoresAction: "reject_request" });
  r = new RawClient();
  const out = serverReply(reject, concat(r.start(), r.headers(1, [...GET, "x_a", "1"])));
  assertEquals(out.map((f) => [f.type, errorCode(f)]), [[RST_STREAM, INTERNAL_ERROR]]);
  assertEquals(reject.stats.requests_rejected_with_underscores_in_headers.value, 1);
  assertEquals(reject.handlers[0].resetDetails, "http2.unexpected_underscore");
});

Deno.test("h2 connection: client requests from HTTP/1 get a :scheme and :authority from host", () => {
  const server = side("server");
  const client = side("client");
  client.conn.scheme = "https";
  const h = new RecordingHandler();
  client.conn.newStream(h)!.encodeHeaders(
    new HeaderMap([
      ":method",
      "GET",
      ":path",
      "/x",
      "host",
      "example.com",
      "connection",
      "keep-alive",
      "te",
      "trailers",
    ]),
    true,
  );
  pump(client, server);
  assertEquals(server.errors, []);
  assertEquals(server.handlers[0].headers!.raw(), [
    ":method",
    "GET",
    ":path",
    "/x",
    ":scheme",
    "https",
    ":authority",
    "example.com",
    "te",
    "trailers",
  ]);
});

Deno.test("h2 flood: frames leave the outbound count as the socket takes their bytes", () => {
  // A long download to a reading peer: the transport is never empty when a frame is queued,
  // yet frames it already wrote are released, so 20,000 DATA frames trip nothing.
  const s = side("server", {}, (h) => {
    h.onEvent = (r) => {
      if (r.events.length !== 1) return;
      r.stream!.encodeHeaders(response(), false);
      for (let i = 0; i < 20000; i++) {
        r.stream!.encodeData(new Uint8Array(100), false);
        // The socket takes all but the last frame before the next one is queued.
        const out = s.transport.take();
        s.transport.unsent = Math.min(out.length, 109);
      }
      r.stream!.encodeData(new Uint8Array(0), true);
    };
  });
  const r = new RawClient();
  s.conn.dispatch(concat(r.start(), r.headers(1, GET)));
  assertEquals(s.errors, []);
  assertEquals(s.stats.outbound_flood.value, 0);
  assert(s.stats.outbound_frames_active.value <= 3);
});

Deno.test("h2 connection: custom SETTINGS are sent; a larger SETTINGS_MAX_FRAME_SIZE is honoured", () => {
  const s = side("server", { maxFrameSize: 32768, customSettings: [0x42, 7] });
  const settings = frames(s.transport.take())[0].payload;
  const sent: number[] = [];
  for (let i = 0; i < settings.length; i += 6) {
    sent.push((settings[i] << 8) | settings[i + 1], u32(settings, i + 2));
  }
  assertEquals(sent.slice(-4), [0x5, 32768, 0x42, 7]);
  const r = new RawClient();
  s.conn.dispatch(
    concat(
      r.start(),
      r.headers(1, GET, FLAG_END_HEADERS),
      frame(DATA, 1, 1, new Uint8Array(20000)),
    ),
  );
  assertEquals(s.errors, []);
  assertEquals(s.handlers[0].bodyLength(), 20000);
});

Deno.test("h2 connection: METADATA both ways with allow_metadata; ignored without; over 1 MiB is a PROTOCOL_ERROR", () => {
  const meta = new Map([["k", "v"]]);
  for (const allow of [true, false]) {
    const server = side("server", { allowMetadata: allow }, (h) => {
      h.onEvent = (r) => {
        if (!r.ended) return;
        r.stream!.encodeMetadata(meta);
        r.stream!.encodeHeaders(response(), true);
      };
    });
    const client = side("client", { allowMetadata: allow });
    const h = new RecordingHandler();
    const st = client.conn.newStream(h)!;
    st.encodeHeaders(request("/", "POST"), false);
    st.encodeMetadata(meta);
    st.encodeData(enc("x"), true);
    pump(client, server);
    const seen = allow ? ['metadata [["k","v"]]'] : [];
    assertEquals(server.handlers[0].events, ["headers", ...seen, "data 1 end"]);
    assertEquals(h.events, [...seen, "headers end"]);
    assertEquals(server.errors, []);
  }
  // An empty map is counted (metadata_empty_frames), not delivered.
  {
    const server = side("server", { allowMetadata: true });
    const client = side("client", { allowMetadata: true });
    const st = client.conn.newStream(new RecordingHandler())!;
    st.encodeHeaders(request("/", "POST"), false);
    st.encodeMetadata(new Map());
    pump(client, server);
    assertEquals(server.handlers[0].events, ["headers"]);
    assertEquals(server.stats.metadata_empty_frames.value, 1);
  }
  // A peer that allows metadata but never ends a map: the 1 MiB bound closes the connection.
  const server = side("server", { allowMetadata: true });
  const client = side("client");
  client.conn.newStream(new RecordingHandler())!.encodeHeaders(request("/", "POST"), false);
  pump(client, server);
  const chunk = frame(0x4d, 0, 1, new Uint8Array(16384));
  for (let i = 0; i < 65; i++) server.conn.dispatch(chunk);
  assertEquals(server.errors.map((e) => e[1]), ["http2.metadata_too_large"]);
  assertEquals(
    errorCode(frames(server.transport.take()).find((f) => f.type === GOAWAY)!),
    PROTOCOL_ERROR,
  );
});
