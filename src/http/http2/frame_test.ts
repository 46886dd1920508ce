import { assert, assertEquals } from "../../testing/assert.ts";
import {
  CONTINUATION,
  DATA,
  dataFrame,
  FLAG_END_HEADERS,
  FLAG_PADDED,
  FLAG_PRIORITY,
  frame,
  FRAME_SIZE_ERROR,
  FrameReader,
  GOAWAY,
  goawayFrame,
  HEADERS,
  NO_ERROR,
  paddedEnd,
  paddedStart,
  PING,
  pingFrame,
  PRIORITY,
  priorityFrame,
  RST_STREAM,
  rstStreamFrame,
  SETTINGS,
  settingsAckFrame,
  settingsFrame,
  startsWithHttp2Preface,
  u32,
  WINDOW_UPDATE,
  windowUpdateFrame,
} from "./frame.ts";

type Seen = [number, number, number, number[]];

function reader(stopAfter = Infinity) {
  const seen: Seen[] = [];
  const r = new FrameReader({
    onFrame(type, flags, id, buf, start, end) {
      seen.push([type, flags, id, Array.from(buf.subarray(start, end))]);
      return seen.length < stopAfter;
    },
  });
  return { r, seen };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const ALL = concat([
  settingsFrame([3, 100, 4, 65535]),
  settingsAckFrame(),
  pingFrame(false, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 0),
  goawayFrame(7, 2, "bye"),
  rstStreamFrame(3, 8),
  windowUpdateFrame(0, 1000),
  priorityFrame(5, 3, 200, true),
  dataFrame(1, new Uint8Array(300).fill(7), true),
  frame(HEADERS, FLAG_END_HEADERS, 1, Uint8Array.of(0x82)),
  frame(CONTINUATION, FLAG_END_HEADERS, 1, Uint8Array.of(0x84)),
  frame(0xfa, 0, 0, Uint8Array.of(1, 2)),
]);

Deno.test("frame: every type round-trips through the reader", () => {
  const { r, seen } = reader();
  assertEquals(r.feed(ALL), NO_ERROR);
  assertEquals(seen.map((s) => s[0]), [
    SETTINGS,
    SETTINGS,
    PING,
    GOAWAY,
    RST_STREAM,
    WINDOW_UPDATE,
    PRIORITY,
    DATA,
    HEADERS,
    CONTINUATION,
    0xfa,
  ]);
  assertEquals(seen[0][3], [0, 3, 0, 0, 0, 100, 0, 4, 0, 0, 0xff, 0xff]);
  assertEquals(seen[1][1], 1);
  const g = Uint8Array.from(seen[3][3]);
  assertEquals([u32(g, 0), u32(g, 4), String.fromCharCode(...g.subarray(8))], [7, 2, "bye"]);
  assertEquals(seen[4][2], 3);
  assertEquals(u32(Uint8Array.from(seen[6][3]), 0), 0x80000003);
  assertEquals(seen[7][3].length, 300);
});

Deno.test("frame: any split of the input yields the same frames", () => {
  const whole = reader();
  whole.r.feed(ALL);
  for (let cut = 1; cut < ALL.length; cut++) {
    const { r, seen } = reader();
    r.feed(ALL.subarray(0, cut));
    r.feed(ALL.subarray(cut));
    assertEquals(seen, whole.seen, `cut ${cut}`);
  }
  const { r, seen } = reader();
  for (let i = 0; i < ALL.length; i++) r.feed(ALL.subarray(i, i + 1));
  assertEquals(seen, whole.seen);
});

Deno.test("frame: a frame above the max frame size is FRAME_SIZE_ERROR, even split", () => {
  const big = frame(DATA, 0, 1, new Uint8Array(16385));
  assertEquals(reader().r.feed(big), FRAME_SIZE_ERROR);
  const { r } = reader();
  assertEquals(r.feed(big.subarray(0, 4)), NO_ERROR);
  assertEquals(r.feed(big.subarray(4, 20)), FRAME_SIZE_ERROR);
  const ok = reader();
  ok.r.maxFrameSize = 16385;
  assertEquals(ok.r.feed(big), NO_ERROR);
  assertEquals(ok.seen.length, 1);
});

Deno.test("frame: a handler returning false stops the reader", () => {
  const { r, seen } = reader(2);
  r.feed(ALL);
  assertEquals(seen.length, 2);
  assert(r.stopped);
  r.feed(ALL);
  assertEquals(seen.length, 2);
});

Deno.test("frame: padding is stripped and over-long padding refused", () => {
  const p = Uint8Array.of(2, 0xaa, 0xbb, 0, 0);
  const s = paddedStart(p, 0, p.length, FLAG_PADDED, 0);
  assertEquals([s, paddedEnd(p, 0, p.length, FLAG_PADDED)], [1, 3]);
  assertEquals(paddedStart(Uint8Array.of(4, 1, 2, 3), 0, 4, FLAG_PADDED, 0), -1);
  assertEquals(paddedStart(Uint8Array.of(), 0, 0, FLAG_PADDED, 0), -1);
  // HEADERS with PRIORITY: 5 bytes of priority before the block.
  const h = Uint8Array.of(1, 0, 0, 0, 3, 16, 0x82, 0);
  assertEquals(paddedStart(h, 0, h.length, FLAG_PADDED | FLAG_PRIORITY, 5), 6);
  assertEquals(paddedEnd(h, 0, h.length, FLAG_PADDED | FLAG_PRIORITY), 7);
  assertEquals(paddedStart(Uint8Array.of(0, 0, 0), 0, 3, FLAG_PRIORITY, 5), -1);
});

Deno.test("frame: codec_type AUTO looks at the first 12 bytes of the preface", () => {
  const b = (t: string) => Uint8Array.from(t, (c) => c.charCodeAt(0));
  assert(startsWithHttp2Preface(b("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")));
  assert(startsWithHttp2Preface(b("PRI * HTTP/2")));
  assert(!startsWithHttp2Preface(b("PRI * HTTP/")));
  assert(!startsWithHttp2Preface(b("GET / HTTP/1.1\r\n")));
});
