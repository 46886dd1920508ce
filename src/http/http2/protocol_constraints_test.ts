import { assertEquals } from "../../testing/assert.ts";
import { Store } from "../../stats/store.ts";
import { http2CodecStats } from "./codec_stats.ts";
import { DEFAULT_HTTP2_OPTIONS } from "./connection.ts";
import { CONTINUATION, DATA, HEADERS, PRIORITY, WINDOW_UPDATE } from "./frame.ts";
import { ProtocolConstraints } from "./protocol_constraints.ts";

function constraints() {
  const stats = http2CodecStats(new Store());
  return { c: new ProtocolConstraints(DEFAULT_HTTP2_OPTIONS, stats), stats };
}

Deno.test("protocol constraints: empty frames without END_STREAM, consecutive", () => {
  const { c, stats } = constraints();
  assertEquals(c.trackInbound(DATA, false, true, false), "");
  assertEquals(c.trackInbound(DATA, false, false, false), ""); // a payload resets the run
  assertEquals(c.trackInbound(HEADERS, true, true, true), ""); // END_STREAM is not empty-flood
  assertEquals(c.trackInbound(CONTINUATION, false, true, false), "");
  assertEquals(c.trackInbound(DATA, false, true, false), "http2.inbound_empty_frames_flood");
  assertEquals(stats.inbound_empty_frames_flood.value, 1);
});

Deno.test("protocol constraints: PRIORITY frames, 100 per opened stream plus 100", () => {
  const { c, stats } = constraints();
  c.trackInbound(HEADERS, false, false, true);
  for (let i = 0; i < 200; i++) assertEquals(c.trackInbound(PRIORITY, false, false, false), "");
  assertEquals(c.trackInbound(PRIORITY, false, false, false), "Too many PRIORITY frames");
  assertEquals(stats.inbound_priority_frames_flood.value, 1);
});

Deno.test("protocol constraints: WINDOW_UPDATE frames, 1 + 2 * (streams + 10 * DATA sent)", () => {
  const { c, stats } = constraints();
  c.trackInbound(HEADERS, false, false, true);
  c.trackOutbound(0, 100, false, true);
  // 1 + 2 * (1 + 10 * 1) = 23.
  for (let i = 0; i < 23; i++) assertEquals(c.trackInbound(WINDOW_UPDATE, false, false, false), "");
  assertEquals(c.trackInbound(WINDOW_UPDATE, false, false, false), "Too many WINDOW_UPDATE frames");
  assertEquals(stats.inbound_window_update_frames_flood.value, 1);
});

Deno.test("protocol constraints: outbound frames count until the socket takes them", () => {
  const { c, stats } = constraints();
  let end = 0;
  for (let i = 0; i < 1000; i++) assertEquals(c.trackOutbound(0, end += 17, true, false), "");
  assertEquals(stats.outbound_control_frames_active.value, 1000);
  assertEquals(
    c.trackOutbound(0, end += 17, true, false),
    "Too many control frames in the outbound queue.",
  );
  assertEquals(stats.outbound_control_flood.value, 1);
  // The socket took the first 500 frames: they are released.
  const { c: c2, stats: s2 } = constraints();
  end = 0;
  for (let i = 0; i < 1000; i++) c2.trackOutbound(0, end += 17, true, false);
  assertEquals(c2.trackOutbound(500 * 17, end += 17, true, false), "");
  assertEquals(s2.outbound_control_frames_active.value, 501);
  c2.release();
  assertEquals([s2.outbound_frames_active.value, s2.outbound_control_frames_active.value], [0, 0]);
});
