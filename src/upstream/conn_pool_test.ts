import { create } from "@bufbuild/protobuf";
import { TcpKeepaliveSchema } from "../../proto/gen/envoy/config/core/v3/address_pb.ts";
import { tcpKeepaliveOptions } from "../network/socket_options.ts";
import {
  IPPROTO_TCP,
  SO_KEEPALIVE,
  SocketFds,
  SOL_SOCKET,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
} from "../network/socket_fd.ts";
import { assert, assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import { Store } from "../stats/store.ts";
import { ClusterStatsCache } from "../stats/data_path_stats.ts";
import {
  applySocketOptions,
  connectFailureReason,
  ConnPoolManager,
  Http1ConnPool,
} from "./conn_pool.ts";
import {
  allocateCircuitBreakerMemory,
  ClusterResources,
  DEFAULT_THRESHOLDS,
} from "./resource_manager.ts";
import type {
  ConnectionPoolCallbacks,
  UpstreamStream,
  UpstreamStreamDecoder,
} from "../http/conn_pool.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

/** An upstream that answers each request head with the next scripted bytes. */
function upstream(script: string[]) {
  const conns: Deno.TcpConn[] = [];
  const closed: Promise<void>[] = [];
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const c of l) {
      conns.push(c);
      closed.push((async () => {
        const b = new Uint8Array(4096);
        let buf = "";
        try {
          for (;;) {
            const n = await c.read(b);
            if (n === null) break;
            buf += dec.decode(b.subarray(0, n));
            while (buf.includes("\r\n\r\n")) {
              buf = buf.slice(buf.indexOf("\r\n\r\n") + 4);
              await c.write(enc.encode(script.shift() ?? ""));
            }
          }
        } catch { /* closed */ }
        c.close();
      })());
    }
  })().catch(() => {});
  return { port: (l.addr as Deno.NetAddr).port, conns, closed, close: () => l.close() };
}

/** Runs one GET through `pool`; resolves with the status and body the router would see. */
function get(pool: Http1ConnPool): Promise<{ status: string; body: string }> {
  return new Promise((resolve, reject) => {
    let status = "";
    let body = "";
    const cb: ConnectionPoolCallbacks & UpstreamStreamDecoder = {
      onPoolReady: (s: UpstreamStream) =>
        s.encodeHeaders(new HeaderMap([":method", "GET", ":path", "/", ":authority", "x"]), true),
      onPoolFailure: (reason, detail) => reject(new Error(`${reason}: ${detail}`)),
      onResetStream: (reason, detail) => reject(new Error(`${reason}: ${detail}`)),
      decodeHeaders: (h, end) => {
        status = h.get(":status")!;
        if (end) resolve({ status, body });
      },
      decodeData: (d, end) => {
        body += dec.decode(d);
        if (end) resolve({ status, body });
      },
      decodeTrailers: () => resolve({ status, body }),
      onBelowWriteBufferLowWatermark: () => {},
      onBug: reject,
    };
    pool.newStream(cb, cb);
  });
}

function newPool(port: number) {
  const stats = new ClusterStatsCache(new Store()).get("c");
  const info = {
    name: "c",
    statName: "c",
    connectTimeoutMs: 1000,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
    perConnectionBufferLimitBytes: 1 << 20,
  };
  return { pool: new Http1ConnPool(info, "127.0.0.1", port, stats), stats };
}

Deno.test("pool: a connection is reused only after a response that ended with nothing after it", async () => {
  const up = upstream([
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 302 Found\r\nx-junk: ",
    "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nown",
  ]);
  const { pool, stats } = newPool(up.port);
  try {
    assertEquals(await get(pool), { status: "200", body: "ok" });
    assertEquals(await get(pool), { status: "200", body: "ok" }); // same connection
    assertEquals(up.conns.length, 1);
    await up.closed[0]; // the extra bytes closed it
    assertEquals(stats.cxProtocolError.value, 1);
    assertEquals(await get(pool), { status: "200", body: "own" });
    assertEquals(up.conns.length, 2);
  } finally {
    pool.close();
    up.close();
  }
});

Deno.test("pool: bytes arriving on an idle pooled connection close it (protocol error)", async () => {
  const up = upstream(["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]);
  const { pool, stats } = newPool(up.port);
  try {
    assertEquals(await get(pool), { status: "200", body: "ok" });
    assertEquals(pool.size, 1);
    await up.conns[0].write(enc.encode("HTTP/1.1 302 Found\r\nlocation: http://evil.example/\r\n"));
    await up.closed[0];
    assertEquals(stats.cxProtocolError.value, 1);
    for (let i = 0; i < 100 && pool.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assertEquals(pool.size, 0);
    assert(up.conns.length === 1);
  } finally {
    pool.close();
    up.close();
  }
});

Deno.test("connectFailureReason: Envoy's `delayed connect error: <errno>`", () => {
  assertEquals(
    connectFailureReason(new Error("Connection refused (os error 111)")),
    "delayed connect error: 111",
  );
  assertEquals(
    connectFailureReason(new Error("No route to host (os error 113)")),
    "delayed connect error: 113",
  );
  assertEquals(connectFailureReason(new Error("dns error")), "dns error");
});

Deno.test("applySocketOptions: no delay always, SO_KEEPALIVE with tcp_keepalive", () => {
  const calls: string[] = [];
  const conn = {
    setNoDelay: (on?: boolean) => void calls.push(`nodelay ${on}`),
    setKeepAlive: (on?: boolean) => void calls.push(`keepalive ${on}`),
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } as const,
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 2 } as const,
  };
  const cluster = {
    name: "c",
    statName: "c",
    connectTimeoutMs: 1000,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
    perConnectionBufferLimitBytes: 1024,
  };
  applySocketOptions(conn, cluster);
  assertEquals(calls, ["nodelay true"]);
  calls.length = 0;
  applySocketOptions(conn, { ...cluster, tcpKeepalive: true });
  assertEquals(calls, ["nodelay true", "keepalive true"]);
});

Deno.test("applySocketOptions: tcp_keepalive timers are set on the upstream socket", async () => {
  const problems: string[] = [];
  const opts = tcpKeepaliveOptions(
    create(TcpKeepaliveSchema, { keepaliveProbes: 3, keepaliveTime: 17, keepaliveInterval: 4 }),
    "tcp_keepalive",
    problems,
  );
  assertEquals(problems, []);
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port });
  const peer = await l.accept();
  try {
    applySocketOptions(conn, {
      name: "c",
      statName: "c",
      connectTimeoutMs: 1000,
      maxRequestsPerConnection: 0,
      idleTimeoutMs: 0,
      perConnectionBufferLimitBytes: 1024,
      tcpKeepalive: true,
      upstreamSocketOptions: opts,
    });
    const fds = SocketFds.get()!;
    const fd = fds.fdOf(conn);
    assertEquals(fds.getInt(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    assertEquals(fds.getInt(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
    assertEquals(fds.getInt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 17);
    assertEquals(fds.getInt(fd, IPPROTO_TCP, TCP_KEEPINTVL), 4);
  } finally {
    conn.close();
    peer.close();
    l.close();
  }
});

Deno.test("ConnPoolManager: a host's health failure closes its tracked connections", () => {
  const pools = new ConnPoolManager(new ClusterStatsCache(new Store()));
  const closed: string[] = [];
  const conn = (name: string) => ({ close: () => void closed.push(name) });
  pools.trackConnection("c", "10.0.0.1", 80, conn("a"));
  const untrack = pools.trackConnection("c", "10.0.0.1", 80, conn("b"));
  pools.trackConnection("c", "10.0.0.2", 80, conn("other host"));
  untrack();
  assertEquals(pools.hasConnections("c", "10.0.0.1", 80), false);
  pools.drainConnectionsTo("c", "10.0.0.1", 80);
  assertEquals(closed, []);
  pools.closeConnectionsTo("c", "10.0.0.1", 80);
  assertEquals(closed, ["a"]);
  pools.closeConnectionsTo("c", "10.0.0.1", 80);
  assertEquals(closed, ["a"]);
});

Deno.test("pool: drain closes idle connections; the next request connects anew", async () => {
  const up = upstream([
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
  ]);
  const { pool } = newPool(up.port);
  try {
    assertEquals(await get(pool), { status: "200", body: "ok" });
    assertEquals(pool.size, 1);
    pool.drain();
    await up.closed[0];
    assertEquals(pool.size, 0);
    assertEquals(await get(pool), { status: "200", body: "ok" });
    assertEquals(up.conns.length, 2);
  } finally {
    pool.close();
    up.close();
  }
});

Deno.test("ConnPoolManager: max_connection_pools counts pools per host and priority; a drained pool is deleted", async () => {
  const up = upstream(["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]);
  const cache = new ClusterStatsCache(new Store());
  const pools = new ConnPoolManager(cache);
  const info = {
    name: "c",
    statName: "c",
    connectTimeoutMs: 1000,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
    perConnectionBufferLimitBytes: 1 << 20,
    connectionPoolsLimited: true,
  };
  const t = { ...DEFAULT_THRESHOLDS, maxConnectionPools: 1 };
  const res = new ClusterResources([t, t], allocateCircuitBreakerMemory());
  const low = res.forPriority(0), high = res.forPriority(1);
  const pool = (port: number, rm = low) =>
    pools.pool(info, "127.0.0.1", port, undefined, undefined, undefined, rm);
  try {
    const a = pool(up.port) as Http1ConnPool;
    assert(a !== undefined);
    assertEquals(pool(up.port), a);
    assertEquals(pool(up.port + 1), undefined, "a second host needs a second pool");
    assertEquals(cache.get("c").cxPoolOverflow.value, 1);
    const h = pool(up.port, high);
    assert(h !== undefined && h !== a, "HIGH has pools of its own");
    // A cluster without the limit is not counted.
    const plain = pools.pool({ ...info, name: "d", connectionPoolsLimited: false }, "127.0.0.1", 1);
    assert(plain !== undefined);
    assertEquals(low.connectionPools.count(), 1);
    assertEquals(await get(a), { status: "200", body: "ok" });
    assert(pools.hasConnections("c", "127.0.0.1", up.port));
    // The host's connections close: the pool is idle, deleted, and its place free.
    pools.drainConnectionsTo("c", "127.0.0.1", up.port);
    await up.closed[0];
    const deadline = Date.now() + 5000;
    while (low.connectionPools.count() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(low.connectionPools.count(), 0);
    const b = pool(up.port + 1);
    assert(b !== undefined && b !== a);
    assertEquals(
      pools.hostStats()["c"][`127.0.0.1:${up.port}`].rq_total,
      1,
      "counts outlive the pool",
    );
  } finally {
    pools.close();
    up.close();
  }
});
