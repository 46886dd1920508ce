import { assert, assertEquals } from "../testing/assert.ts";
import type { StatsSink } from "../stats/sink.ts";
import type { StoreSnapshot } from "../stats/snapshot.ts";
import { StatsFlusher } from "./stats_flusher.ts";

function snap(delta: number): StoreSnapshot {
  return {
    counters: [{ name: "c", value: delta, delta, used: true }],
    gauges: [],
    histograms: [],
    textReadouts: [],
  };
}

function recordingSink(): StatsSink & { flushed: StoreSnapshot[]; closed: boolean } {
  const s = {
    flushed: [] as StoreSnapshot[],
    closed: false,
    flush: (x: StoreSnapshot) => void s.flushed.push(x),
    onHistogramComplete: () => {},
    close: () => {
      s.closed = true;
      return Promise.resolve();
    },
  };
  return s;
}

Deno.test("the flusher flushes every interval to every sink, and once more on stop", async () => {
  const a = recordingSink();
  const b = recordingSink();
  let n = 0;
  let twoFlushes!: () => void;
  const reached = new Promise<void>((r) => twoFlushes = r);
  const f = new StatsFlusher([a, b], () => {
    if (++n === 2) twoFlushes();
    return Promise.resolve(snap(n));
  }, 1);
  f.start();
  // The flush timer does not keep a process alive (the server's sockets do); this test has none.
  const keepAlive = setTimeout(() => {}, 10_000);
  await reached;
  clearTimeout(keepAlive);
  await f.stop();
  // The last flush ran at stop, after the timer's.
  assert(a.flushed.length >= 3, `${a.flushed.length} flushes`);
  assertEquals(
    a.flushed.map((s) => s.counters[0].delta),
    b.flushed.map((s) => s.counters[0].delta),
  );
  assertEquals(a.flushed.at(-1)!.counters[0].delta, n);
  assert(a.closed && b.closed);
});

Deno.test("a flush asked for during a flush joins it: one latch, one snapshot", async () => {
  const sink = recordingSink();
  let release!: () => void;
  let collects = 0;
  const f = new StatsFlusher([sink], () => {
    collects++;
    return new Promise<StoreSnapshot>((r) => release = () => r(snap(collects)));
  }, 60_000);
  const first = f.flush();
  const second = f.flush();
  release();
  assert((await first) === (await second));
  assertEquals([collects, sink.flushed.length], [1, 1]);
  const third = f.flush();
  release();
  await third;
  assertEquals(collects, 2);
  await f.stop();
});

Deno.test("without sinks nothing is started, and stop does not flush", async () => {
  let collects = 0;
  const f = new StatsFlusher([], () => {
    collects++;
    return Promise.resolve(snap(0));
  }, 1);
  f.start();
  assertEquals(f.hasSinks, false);
  await f.stop();
  assertEquals(collects, 0);
});

Deno.test("a sink that throws does not keep the others from their flush", async () => {
  const good = recordingSink();
  const bad: StatsSink = {
    flush: () => {
      throw new Error("boom");
    },
    onHistogramComplete: () => {},
    close: () => Promise.reject(new Error("close failed")),
  };
  const f = new StatsFlusher([bad, good], () => Promise.resolve(snap(1)), 60_000);
  await f.flush();
  assertEquals(good.flushed.length, 1);
  await f.stop(); // never started: no final flush; a failing close is ignored
  assertEquals(good.flushed.length, 1);
});
