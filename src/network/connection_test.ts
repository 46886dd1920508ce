import { assertEquals } from "../testing/assert.ts";
import { setLogSink } from "../common/logger.ts";
import { bugCount } from "../common/error_boundary.ts";
import { type CloseReason, Connection, type ConnectionCallbacks } from "./connection.ts";

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
