import { assertEquals } from "../testing/assert.ts";
import { setLogSink } from "../common/logger.ts";
import { bugCount } from "../common/error_boundary.ts";
import { type CloseReason, Connection, type ConnectionCallbacks } from "./connection.ts";
import { Counter } from "../stats/metrics.ts";

/** A connected pair: our Connection on one side, a raw client on the other. */
async function pair(): Promise<{ server: Deno.TcpConn; client: Deno.TcpConn }> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [server, client] = await Promise.all([
    l.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port }),
  ]);
  l.close();
  return { server, client };
}

Deno.test("a callback that throws is a counted bug: the owner's onBug ends its work, or the connection closes", async () => {
  const old = setLogSink(() => {});
  try {
    for (const withOnBug of [true, false]) {
      const { server, client } = await pair();
      const events: string[] = [];
      let closed!: () => void;
      const done = new Promise<void>((r) => (closed = r));
      const conn = new Connection(server);
      const cb: ConnectionCallbacks = {
        onData: () => {
          throw new Error("bug in onData");
        },
        onEnd: () => {},
        onClose: (reason: CloseReason) => {
          events.push(`close ${reason}`);
          closed();
        },
      };
      if (withOnBug) {
        cb.onBug = (e) => {
          events.push(`bug ${(e as Error).message}`);
          conn.close();
        };
      }
      const before = bugCount();
      conn.start(cb);
      await client.write(new TextEncoder().encode("x"));
      await done;
      assertEquals(bugCount(), before + 1);
      assertEquals(events, withOnBug ? ["bug bug in onData", "close local"] : ["close local"]);
      client.close();
    }
  } finally {
    setLogSink(old);
  }
});

Deno.test("reads: paused from onData and resumed later, bigger reads after a full buffer, end of stream, owner told once", async () => {
  const { server, client } = await pair();
  const received: number[] = [];
  let waiter: (() => void) | undefined;
  const changed = () => waiter?.();
  const until = async (p: () => boolean) => {
    while (!p()) await new Promise<void>((r) => (waiter = r));
  };
  const events: string[] = [];
  const conn = new Connection(server, 1024 * 1024, 16);
  conn.owner = { onConnectionFinished: () => events.push("finished") };
  conn.start({
    onData: (chunk) => {
      received.push(chunk.length);
      // The first chunk pauses reading, as an HTTP/1 codec does for a pipelined request.
      if (received.length === 1) conn.readDisable(true);
      changed();
    },
    onEnd: () => {
      events.push("end");
      conn.close();
      changed();
    },
    onClose: (reason) => {
      events.push(`close ${reason}`);
      changed();
    },
  });
  await client.write(new Uint8Array(16));
  await until(() => received.length === 1);
  // Bytes sent while paused wait in the socket until reading resumes.
  await client.write(new Uint8Array(100));
  assertEquals(received, [16]);
  conn.readDisable(false);
  await until(() => received.reduce((a, b) => a + b, 0) === 116);
  // Every read that fills the buffer doubles it: 16, then 32, then 64 bytes at a time.
  assertEquals(received, [16, 32, 64, 4]);
  client.closeWrite();
  await until(() => events.includes("close local"));
  assertEquals(events, ["end", "finished", "close local"]);
  assertEquals(conn.bytesRead, 116);
  client.close();
});

Deno.test("a first read handed over: delivered first; its buffer is read into next unless bigger than the read size", async () => {
  for (const [bufferSize, expected] of [[16, [16, 20]], [64, [16, 16, 4]]] as const) {
    const { server, client } = await pair();
    const received: number[] = [];
    const got = Promise.withResolvers<void>();
    const conn = new Connection(server, 1024 * 1024, 16);
    // Listener filters read 16 bytes into their buffer (filling it when it is 16 bytes).
    const buffer = new Uint8Array(bufferSize).fill(7);
    conn.setFirstRead(buffer.subarray(bufferSize - 16), buffer);
    conn.start({
      onData: (chunk) => {
        received.push(chunk.length);
        if (received.reduce((a, b) => a + b, 0) === 36) got.resolve();
      },
      onEnd: () => {},
      onClose: () => {},
    });
    await client.write(new Uint8Array(20));
    await got.promise;
    // The adopted buffer was full: the next read is bigger (32 bytes), as after a full read.
    // A buffer bigger than the read size is not kept: reads go on 16 bytes at a time.
    assertEquals(received, [...expected]);
    conn.close();
    client.close();
  }
});

Deno.test("closeAfterFlushAndDelay: the data goes out, later bytes are read and dropped, the peer's FIN or the timer (counted) closes", async () => {
  const enc = new TextEncoder();
  for (const peerCloses of [true, false]) {
    const { server, client } = await pair();
    const timeouts = new Counter("downstream_cx_delayed_close_timeout");
    const conn = new Connection(server);
    conn.delayedClose = { timeoutMs: 50, timeouts };
    const events: string[] = [];
    const closed = Promise.withResolvers<void>();
    conn.start({
      onData: (chunk) => {
        events.push(`data ${chunk.length}`);
        // As an HCM that answers a request it will not read: reading stops, the close begins.
        conn.readDisable(true);
        conn.write(enc.encode("response"));
        conn.closeAfterFlushAndDelay();
      },
      onEnd: () => {
        events.push("end");
        conn.close();
      },
      onClose: (reason) => {
        events.push(`close ${reason}`);
        closed.resolve();
      },
    });
    await client.write(new Uint8Array(10));
    const buf = new Uint8Array(64);
    const n = await client.read(buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n!)), "response");
    // Read although the owner paused reading, and dropped.
    await client.write(new Uint8Array(100_000));
    if (peerCloses) await client.closeWrite();
    await closed.promise;
    // The proxy's side ends with a FIN: nothing it was sent was left unread.
    assertEquals(await client.read(buf), null);
    assertEquals(events, ["data 10", ...(peerCloses ? ["end"] : []), "close local"]);
    assertEquals(timeouts.value, peerCloses ? 0 : 1);
    client.close();
  }
});
