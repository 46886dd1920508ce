/**
 * The ceiling peer of `http_bench.ts`: a raw Deno TCP relay with no HTTP at all. Each
 * downstream connection gets its own upstream connection and two read/write loops copy bytes
 * both ways. Whatever denvoy spends above this per request is JavaScript work of its own.
 *
 * Usage: `deno run -A bench/raw_relay.ts <upstream-port>`; prints `listening on port N`.
 */

const upstreamPort = Number(Deno.args[0]);
if (!(upstreamPort > 0)) throw new Error("usage: raw_relay.ts <upstream-port>");

async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await to.write(buf.subarray(off, n));
    }
  } catch { /* the other side went away */ }
  try {
    to.close();
  } catch { /* already closed */ }
}

async function relay(down: Deno.TcpConn): Promise<void> {
  let up: Deno.TcpConn;
  try {
    up = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
  } catch {
    down.close();
    return;
  }
  down.setNoDelay(true);
  up.setNoDelay(true);
  await Promise.all([pipe(down, up), pipe(up, down)]);
}

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(`listening on port ${(listener.addr as Deno.NetAddr).port}`);
for await (const c of listener) relay(c);
