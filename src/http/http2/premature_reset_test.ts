import { assertEquals } from "../../testing/assert.ts";
import { runtimeSnapshot, setRuntimeSnapshot } from "../../runtime/runtime.ts";
import { Snapshot } from "../../runtime/snapshot.ts";
import {
  PREMATURE_RESET_TOTAL_STREAM_COUNT_KEY,
  PrematureResetTracker,
} from "./premature_reset.ts";
import { side } from "./test_util.ts";
import type { Http2Stream } from "./connection.ts";
import { HpackEncoder } from "./hpack.ts";
import {
  FLAG_END_HEADERS,
  frame,
  HEADERS,
  PREFACE,
  rstStreamFrame,
  settingsFrame,
} from "./frame.ts";

Deno.test("premature resets: 250 quick resets close the connection before 500 streams", () => {
  const t = new PrematureResetTracker();
  let closeAt = -1;
  for (let i = 0; i < 300 && closeAt < 0; i++) if (t.onStreamClosed(5, false)) closeAt = i + 1;
  assertEquals(closeAt, 250);
});

Deno.test("premature resets: answered or long-lived streams do not count", () => {
  const t = new PrematureResetTracker();
  for (let i = 0; i < 1000; i++) {
    assertEquals(t.onStreamClosed(5, true), false);
    assertEquals(t.onStreamClosed(2500, false), false);
  }
  assertEquals(t.prematureResets, 0);
  // A stream of 1.9 s is still "1 second" once truncated: premature.
  t.onStreamClosed(1900, false);
  assertEquals(t.prematureResets, 1);
});

Deno.test("premature resets: past the total count, half premature closes", () => {
  const t = new PrematureResetTracker();
  for (let i = 0; i < 600; i++) t.onStreamClosed(5, true);
  let closed = false;
  let n = 0;
  while (!closed) {
    closed = t.onStreamClosed(5, false);
    n++;
  }
  assertEquals(n, 600);
});

Deno.test("premature resets: the total count comes from the runtime", () => {
  const saved = runtimeSnapshot();
  setRuntimeSnapshot(
    new Snapshot({
      layers: [{
        name: "static",
        entries: { [PREMATURE_RESET_TOTAL_STREAM_COUNT_KEY]: { raw: "40", uint: 40 } },
      }],
    }),
  );
  try {
    const t = new PrematureResetTracker();
    let n = 0;
    while (!t.onStreamClosed(1, false)) n++;
    assertEquals(n + 1, 20);
  } finally {
    setRuntimeSnapshot(saved);
  }
});

Deno.test("premature resets: a rapid reset attack through the codec trips the tracker", () => {
  const tracker = new PrematureResetTracker();
  let tripped = -1;
  const s = side("server", {}, (h) => {
    const stream = h.stream as Http2Stream;
    // The owner times its streams (the connection manager does, from its ActiveStream).
    const createdMs = performance.now();
    const reset = h.onResetStream.bind(h);
    h.onResetStream = (reason, details) => {
      reset(reason, details);
      const lifetime = performance.now() - createdMs;
      if (tracker.onStreamClosed(lifetime, false) && tripped < 0) tripped = stream.id;
    };
  });
  const enc = new HpackEncoder();
  const block = (kv: string[]) => {
    const out = new Uint8Array(enc.bound(kv));
    return out.slice(0, enc.encode(kv, out, 0));
  };
  const get = [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"];
  s.conn.dispatch(concat(PREFACE, settingsFrame([])));
  for (let id = 1; id < 1200; id += 2) {
    s.conn.dispatch(
      concat(frame(HEADERS, FLAG_END_HEADERS, id, block(get)), rstStreamFrame(id, 8)),
    );
  }
  assertEquals(s.stats.rx_reset.value, 600);
  assertEquals(tripped, 499);
});

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
