import { setLogSink } from "../../common/logger.ts";
import { assert, assertEquals, assertMatch } from "../../testing/assert.ts";
import { BufferedWriter, type LogSink } from "./buffered_writer.ts";

/** A sink that keeps what it is given, optionally a few bytes per call. */
class MemorySink implements LogSink {
  readonly chunks: string[] = [];
  closed = false;
  constructor(readonly maxPerWrite = Infinity) {}
  write(p: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Error("closed"));
    const n = Math.min(p.length, this.maxPerWrite);
    this.chunks.push(new TextDecoder().decode(p.subarray(0, n)));
    return Promise.resolve(n);
  }
  close(): void {
    this.closed = true;
  }
  get text(): string {
    return this.chunks.join("");
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("writes wait in the buffer until flush()", async () => {
  const sink = new MemorySink();
  const w = new BufferedWriter("mem", () => sink, {
    flushIntervalMs: 60_000,
    minFlushSize: 1 << 20,
  });
  w.write("a\n");
  w.write("b\n");
  assertEquals(sink.text, "");
  await w.flush();
  assertEquals(sink.chunks, ["a\nb\n"]);
  await w.close();
});

Deno.test("the flush timer writes the buffer", async () => {
  const sink = new MemorySink();
  const w = new BufferedWriter("mem", () => sink, { flushIntervalMs: 10, minFlushSize: 1 << 20 });
  w.write("tick\n");
  await sleep(60);
  assertEquals(sink.text, "tick\n");
  await w.close();
});

Deno.test("a full buffer is written without waiting for the timer", async () => {
  const sink = new MemorySink();
  const w = new BufferedWriter("mem", () => sink, { flushIntervalMs: 60_000, minFlushSize: 10 });
  w.write("12345");
  assertEquals(sink.text, "");
  w.write("67890\n");
  await sleep(0);
  assertEquals(sink.text, "1234567890\n");
  await w.close();
});

Deno.test("partial writes are continued and lines keep their order", async () => {
  const sink = new MemorySink(3);
  const w = new BufferedWriter("mem", () => sink, { flushIntervalMs: 60_000, minFlushSize: 4 });
  for (let i = 0; i < 20; i++) w.write(`line ${i}\n`);
  await w.flush();
  assertEquals(sink.text, Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join(""));
  await w.close();
});

Deno.test("reopen() flushes to the old sink and continues on a new one", async () => {
  const sinks = [new MemorySink(), new MemorySink()];
  let opened = 0;
  const w = new BufferedWriter("mem", () => sinks[opened++], {
    flushIntervalMs: 60_000,
    minFlushSize: 1 << 20,
  });
  w.write("before\n");
  await w.reopen();
  w.write("after\n");
  await w.flush();
  assertEquals([sinks[0].text, sinks[0].closed, sinks[1].text], ["before\n", true, "after\n"]);
  await w.close();
  assert(sinks[1].closed);
});

Deno.test("close() flushes, and later writes are dropped", async () => {
  const sink = new MemorySink();
  const w = new BufferedWriter("mem", () => sink, {
    flushIntervalMs: 60_000,
    minFlushSize: 1 << 20,
  });
  w.write("last\n");
  await w.close();
  w.write("dropped\n");
  await w.flush();
  assertEquals(sink.text, "last\n");
});

Deno.test("a failing sink is logged, not thrown into the caller, and later writes go on", async () => {
  let fail = true;
  const sink = new MemorySink();
  const flaky: LogSink = {
    write: (p) => (fail ? Promise.reject(new Error("disk full")) : sink.write(p)),
    close: () => sink.close(),
  };
  const w = new BufferedWriter("flaky", () => flaky, {
    flushIntervalMs: 60_000,
    minFlushSize: 1 << 20,
  });
  const logged: string[] = [];
  const previous = setLogSink((line) => logged.push(line));
  try {
    w.write("lost\n");
    await w.flush();
  } finally {
    setLogSink(previous);
  }
  assertEquals(logged.length, 1);
  assertMatch(logged[0], /\[error\]\[file\] access log flaky: disk full\n$/);
  fail = false;
  w.write("kept\n");
  await w.flush();
  assertEquals(sink.text, "kept\n");
  await w.close();
});
