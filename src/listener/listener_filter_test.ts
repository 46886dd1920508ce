import { assert, assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { Connection } from "../network/connection.ts";
import {
  type AcceptedSocket,
  CLOSE,
  type ConfiguredListenerFilter,
  CONTINUE,
  type ListenerFilter,
  ListenerFilterManager,
  ListenerFilterStats,
  STOP_ITERATION,
} from "./listener_filter.ts";

/** A listener filter that wants `n` bytes, then drains `drain` of them. */
function needs(n: number, drain = 0): ListenerFilter {
  return {
    maxReadBytes: 64,
    onData(s: AcceptedSocket) {
      if (s.data.length < n) return STOP_ITERATION;
      s.drain(drain);
      return CONTINUE;
    },
  };
}

/** Runs `filters` on one accepted loopback connection; the client sends `send`. */
async function run(
  filters: ConfiguredListenerFilter[],
  send: string,
  opts: { timeoutMs?: number; continueOnTimeout?: boolean; end?: boolean } = {},
) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port });
  const raw = await l.accept();
  l.close();
  const store = new Store();
  const stats = new ListenerFilterStats(store.scope("listener.test"));
  const result = Promise.withResolvers<{ done: boolean; s: AcceptedSocket }>();
  const m = new ListenerFilterManager(
    filters,
    opts.timeoutMs ?? 0,
    opts.continueOnTimeout ?? false,
    stats,
    {
      onListenerFiltersDone: (s) => result.resolve({ done: true, s }),
      onListenerFiltersClosed: (s) => result.resolve({ done: false, s }),
    },
  );
  m.accept(raw);
  if (send) await client.write(new TextEncoder().encode(send));
  if (opts.end) await client.closeWrite();
  const r = await result.promise;
  return { ...r, client, stats, store };
}

Deno.test("filters run in order on the buffered bytes; drained bytes never reach the chain", async () => {
  const { done, s, client, stats } = await run(
    [{ filter: needs(4, 4) }, { filter: needs(2) }],
    "HEADpayload",
  );
  assert(done);
  assertEquals(new TextDecoder().decode(s.data), "payload");
  assertEquals(stats.preCxActive.value, 0);
  s.raw.close();
  client.close();
});

Deno.test("filter_disabled skips a filter; a filter that closes ends the socket", async () => {
  const refuse: ListenerFilter = { maxReadBytes: 0, onData: () => CLOSE };
  const skipped = await run([{ filter: refuse, disabled: () => true }], "x");
  assert(skipped.done);
  skipped.s.raw.close();
  skipped.client.close();
  const closed = await run([{ filter: refuse }], "x");
  assert(!closed.done);
  closed.client.close();
});

Deno.test("the peer closing while a filter waits: downstream_listener_filter_remote_close", async () => {
  const { done, stats, client } = await run([{ filter: needs(10) }], "abc", { end: true });
  assert(!done);
  assertEquals(stats.remoteClose.value, 1);
  client.close();
});

Deno.test("listener_filters_timeout closes; with continue the connection gets the later bytes", async () => {
  const t = await run([{ filter: needs(10) }], "abc", { timeoutMs: 50 });
  assert(!t.done);
  assertEquals(t.stats.preCxTimeout.value, 1);
  t.client.close();

  const c = await run([{ filter: needs(10) }], "abc", { timeoutMs: 50, continueOnTimeout: true });
  assert(c.done);
  assertEquals(new TextDecoder().decode(c.s.data), "abc");
  // A read was in flight into the filters' buffer: the connection does not read into it.
  assertEquals(c.s.idleReadBuffer, undefined);
  // The connection's socket returns what that read brings, then reads on.
  const conn = c.s.takeConn();
  await c.client.write(new TextEncoder().encode("def"));
  const buf = new Uint8Array(16);
  const n = await conn.read(buf);
  assertEquals(new TextDecoder().decode(buf.subarray(0, n!)), "def");
  await c.client.write(new TextEncoder().encode("ghi"));
  const m = await conn.read(buf);
  assertEquals(new TextDecoder().decode(buf.subarray(0, m!)), "ghi");
  conn.close();
  c.client.close();
});

Deno.test("a filter waiting over several reads; the connection takes the bytes as its first read, then reads on into the same buffer", async () => {
  const partial = Promise.withResolvers<void>();
  const filter: ListenerFilter = {
    maxReadBytes: 64,
    onData(s: AcceptedSocket) {
      if (s.data.length < 6) {
        partial.resolve();
        return STOP_ITERATION;
      }
      s.drain(1);
      return CONTINUE;
    },
  };
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port });
  const raw = await l.accept();
  l.close();
  const done = Promise.withResolvers<AcceptedSocket>();
  const m = new ListenerFilterManager(
    [{ filter }],
    0,
    false,
    new ListenerFilterStats(new Store().scope("listener.test")),
    { onListenerFiltersDone: (s) => done.resolve(s), onListenerFiltersClosed: () => {} },
  );
  m.accept(raw);
  const enc = new TextEncoder();
  await client.write(enc.encode("xab"));
  await partial.promise;
  await client.write(enc.encode("cde"));
  const s = await done.promise;
  assertEquals(new TextDecoder().decode(s.data), "abcde");
  const buffer = s.idleReadBuffer!;
  assert(buffer !== undefined && s.data.buffer === buffer.buffer);

  const conn = new Connection(s.takeConn());
  conn.setFirstRead(s.data, buffer);
  const chunks: Uint8Array[] = [];
  const got = Promise.withResolvers<void>();
  conn.start({
    onData: (c) => {
      chunks.push(c);
      if (chunks.length === 2) got.resolve();
    },
    onEnd: () => {},
    onClose: () => {},
  });
  await client.write(enc.encode("fgh"));
  await got.promise;
  // The first chunk is a copy: the second read went into the buffer it was read into.
  assertEquals(chunks.map((c) => new TextDecoder().decode(c)), ["abcde", "fgh"]);
  assertEquals(new TextDecoder().decode(buffer.subarray(0, 3)), "fgh");
  assertEquals(conn.bytesRead, 8);
  conn.close();
  client.close();
});
