import { assertEquals } from "../../../../testing/assert.ts";
import { FakeTimers } from "../../../../testing/fake_timers.ts";
import { StreamRateLimiter } from "./stream_rate_limiter.ts";

function limiter(kbps: number, bufferLimit = 1 << 20) {
  const timers = new FakeTimers();
  const writes: { at: number; bytes: number; end: boolean }[] = [];
  const watermarks: string[] = [];
  let trailersAt = -1;
  const l = new StreamRateLimiter(kbps, bufferLimit, {
    write: (d, end) => writes.push({ at: timers.time, bytes: d.length, end }),
    continueTrailers: () => trailersAt = timers.time,
    onBug: (e) => {
      throw e;
    },
    aboveHighWatermark: () => watermarks.push(`above ${l.buffered}`),
    belowLowWatermark: () => watermarks.push(`below ${l.buffered}`),
  }, timers);
  return { l, timers, writes, watermarks, trailersAt: () => trailersAt };
}

Deno.test("stream rate limiter: 1 KiB/s sends 64-byte slices, 16 a second, end with the last", () => {
  const { l, timers, writes } = limiter(1);
  l.writeData(new Uint8Array(256), true);
  assertEquals(writes.length, 0, "nothing is written from inside writeData");
  timers.advance(0);
  // One token to start: one slice of 1024/16 bytes at once, then one per 62.5 ms.
  assertEquals(writes[0], { at: 0, bytes: 64, end: false });
  timers.advance(1000);
  assertEquals(writes.map((w) => w.bytes), [64, 64, 64, 64]);
  assertEquals(writes.map((w) => w.end), [false, false, false, true]);
  assertEquals(writes[3].at, 188, "three more tokens take ~3/16 s (each wait rounded up to a ms)");
  assertEquals(timers.pending, 0);
});

Deno.test("stream rate limiter: trailers wait for the buffered data", () => {
  const { l, timers, writes, trailersAt } = limiter(1);
  l.writeData(new Uint8Array(100), false);
  assertEquals(l.onTrailers(), true);
  timers.advance(1000);
  assertEquals(writes.map((w) => [w.bytes, w.end]), [[64, false], [36, false]]);
  assertEquals(trailersAt(), writes[1].at);
});

Deno.test("stream rate limiter: an empty end of stream goes on; destroy stops the timer", () => {
  const { l, timers, writes } = limiter(8);
  l.writeData(new Uint8Array(0), true);
  timers.advance(0);
  assertEquals(writes, [{ at: 0, bytes: 0, end: true }]);
  const b = limiter(1);
  b.l.writeData(new Uint8Array(1000), false);
  b.timers.advance(0);
  b.l.destroy();
  assertEquals(b.timers.pending, 0);
  b.timers.advance(5000);
  assertEquals(b.writes.length, 1);
});

Deno.test("stream rate limiter: after idle time the bucket allows a burst of up to a second", () => {
  const { l, timers, writes } = limiter(1);
  l.writeData(new Uint8Array(64), false);
  timers.advance(5000);
  l.writeData(new Uint8Array(2048), false);
  timers.advance(5000);
  // 16 tokens refilled: 1024 bytes at once, then a slice per token.
  assertEquals(writes[1].bytes, 1024);
  assertEquals(writes.slice(2).every((w) => w.bytes === 64), true);
});

Deno.test("stream rate limiter: above its buffer limit it asks the producer to pause", () => {
  const { l, timers, watermarks } = limiter(1, 200);
  l.writeData(new Uint8Array(200), false);
  assertEquals(watermarks, []);
  l.writeData(new Uint8Array(56), false);
  assertEquals(watermarks, ["above 256"]);
  // 64 bytes a slice: 192, 128, then 64 < 100 is below half the limit.
  timers.advance(200);
  assertEquals(watermarks, ["above 256", "below 64"]);
});
