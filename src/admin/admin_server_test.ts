import { assert, assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { serveAdmin } from "./admin_server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Reads from `conn` until `done` says the text so far is complete. */
async function readUntil(conn: Deno.Conn, done: (text: string) => boolean): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!done(text)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n));
  }
  return text;
}

function value(store: Store, name: string): number {
  const s = store.snapshot({ latch: false });
  return [...s.counters, ...s.gauges].find((m) => m.name === name)?.value ?? NaN;
}

/** Resolves once `cond` holds, polling the event loop (the server runs in this isolate). */
async function until(cond: () => boolean): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("admin server: serves the app, with listener.admin.* and http.admin.* stats", async () => {
  const store = new Store();
  const seen: string[] = [];
  const admin = await serveAdmin(
    async (req, peer) => {
      seen.push(`${req.method} ${new URL(req.url).pathname} ${await req.text()}`);
      assertEquals(peer.remoteAddr?.transport, "tcp");
      return new Response(req.method === "POST" ? "posted\n" : "ok\n", {
        status: req.url.endsWith("/missing") ? 404 : 200,
        headers: { "content-type": "text/plain" },
      });
    },
    "127.0.0.1",
    0,
    store,
  );
  try {
    // Two requests on one keep-alive connection, which the client then closes.
    const a = await Deno.connect({ hostname: "127.0.0.1", port: admin.port });
    await a.write(enc.encode("GET /ready HTTP/1.1\r\nhost: x\r\n\r\n"));
    const r1 = await readUntil(a, (t) => t.endsWith("ok\n"));
    assert(r1.startsWith("HTTP/1.1 200"), r1);
    assert(/content-length: 3\r\n/i.test(r1), r1);
    await a.write(enc.encode("POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nbody"));
    await readUntil(a, (t) => t.endsWith("posted\n"));
    a.close();
    // One request that asks the server to close.
    const b = await Deno.connect({ hostname: "127.0.0.1", port: admin.port });
    await b.write(enc.encode("GET /missing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"));
    const r3 = await readUntil(b, () => false);
    assert(r3.startsWith("HTTP/1.1 404"), r3);
    b.close();
    await until(() => value(store, "listener.admin.downstream_cx_destroy") === 2);
    assertEquals(seen, ["GET /ready ", "POST /x body", "GET /missing "]);
    const expect: Record<string, number> = {
      "listener.admin.downstream_cx_total": 2,
      "listener.admin.downstream_cx_active": 0,
      "listener.admin.main_thread.downstream_cx_total": 2,
      "listener.admin.main_thread.downstream_cx_active": 0,
      "http.admin.downstream_cx_total": 2,
      "http.admin.downstream_cx_http1_total": 2,
      "http.admin.downstream_cx_active": 0,
      "http.admin.downstream_cx_destroy": 2,
      "http.admin.downstream_cx_destroy_remote": 1,
      "http.admin.downstream_cx_destroy_local": 1,
      "http.admin.downstream_rq_total": 3,
      "http.admin.downstream_rq_http1_total": 3,
      "http.admin.downstream_rq_active": 0,
      "http.admin.downstream_rq_2xx": 2,
      "http.admin.downstream_rq_4xx": 1,
      "http.admin.downstream_rq_completed": 3,
    };
    for (const [name, v] of Object.entries(expect)) assertEquals(value(store, name), v, name);
    assert(value(store, "http.admin.downstream_cx_rx_bytes_total") > 100);
    assert(value(store, "http.admin.downstream_cx_tx_bytes_total") > 100);
  } finally {
    await admin.close();
  }
});

Deno.test("admin server: a port in use is a clear error", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    let message = "";
    await serveAdmin(() => new Response(""), "127.0.0.1", port, new Store()).catch((e) =>
      message = e.message
    );
    assertEquals(message, `admin: cannot bind 127.0.0.1:${port}: address already in use`);
  } finally {
    taken.close();
  }
});
