import { assert, assertEquals } from "../../testing/assert.ts";
import { create } from "@bufbuild/protobuf";
import { KeepaliveSettingsSchema } from "../../../proto/gen/envoy/config/core/v3/protocol_pb.ts";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { frames, pump, side } from "./test_util.ts";
import { PING } from "./frame.ts";
import { Http2Keepalive, resolveKeepalive } from "./keepalive.ts";

const scope = { onBug: () => {} };

/** Resolves once `cond` holds (checked every few ms), failing after a generous bound. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("keepalive: resolves KeepaliveSettings; connection_idle_interval is refused", () => {
  const ms = (n: number) => create(DurationSchema, { seconds: 0n, nanos: n * 1e6 });
  const r = resolveKeepalive(
    create(KeepaliveSettingsSchema, { interval: ms(200), timeout: ms(50) }),
  );
  assertEquals(r, { config: { intervalMs: 200, timeoutMs: 50, jitterPercent: 15 }, problems: [] });
  const bad = resolveKeepalive(
    create(KeepaliveSettingsSchema, { timeout: ms(50), connectionIdleInterval: ms(10) }),
  );
  assertEquals(bad.problems, ["connection_idle_interval: not supported yet"]);
});

Deno.test("keepalive: a peer that answers PINGs stays; a silent one times out", async () => {
  const server = side("server");
  const client = side("client");
  pump(client, server);
  const config = { intervalMs: 30, timeoutMs: 60, jitterPercent: 0 };
  const ka = new Http2Keepalive(client.conn, config, scope);
  let acks = 0;
  try {
    // Answering peer: pump and forward ACKs.
    const origDispatch = client.conn.dispatch.bind(client.conn);
    await until(() => {
      const out = client.transport.take();
      if (out.length > 0) {
        assert(frames(out).every((f) => f.type === PING));
        server.conn.dispatch(out);
        const back = server.transport.take();
        origDispatch(back);
        ka.onPingAck();
        acks++;
      }
      return acks >= 3;
    }, "three PING round trips");
    assertEquals(client.errors, []);
    // Silent peer: PINGs go unanswered.
    await until(() => client.errors.length > 0, "keepalive timeout");
    assertEquals(client.stats.keepalive_timeout.value, 1);
  } finally {
    ka.stop();
  }
});

Deno.test("keepalive: a timeout equal to the interval still fires (a PING in the same tick does not push it back)", async () => {
  const client = side("client");
  const ka = new Http2Keepalive(
    client.conn,
    { intervalMs: 30, timeoutMs: 30, jitterPercent: 0 },
    scope,
  );
  try {
    await until(() => client.errors.length > 0, "keepalive timeout");
    assertEquals(client.stats.keepalive_timeout.value, 1);
  } finally {
    ka.stop();
  }
});
