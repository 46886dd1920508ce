import { assert, assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
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
  // A read was in flight: the connection's socket returns what it brings, then reads on.
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
