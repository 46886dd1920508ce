import { assertEquals } from "../testing/assert.ts";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { HeaderMap } from "../http/header_map.ts";
import { Store } from "../stats/store.ts";
import { ClusterStatsCache } from "../stats/data_path_stats.ts";
import { DEFAULT_HTTP2_OPTIONS } from "../http/http2/connection.ts";
import type { PoolClusterInfo } from "./conn_pool.ts";
import { AlpnConnPool } from "./alpn_conn_pool.ts";
import type {
  SslConnectionInfo,
  UpstreamHandshake,
  UpstreamTransportSocketFactory,
} from "../network/transport_socket.ts";
import type {
  ConnectionPoolCallbacks,
  UpstreamStream,
  UpstreamStreamDecoder,
} from "../http/conn_pool.ts";

const OPTS = { sanitizeOps: false, sanitizeResources: false };

/**
 * A transport socket that negotiates `alpn` without TLS (the raw socket carries the bytes), or
 * fails the handshake: what the pool does with each ALPN answer, without certificates.
 */
function fakeTls(alpn: string | Error) {
  const offered: (readonly string[] | undefined)[] = [];
  const factory: UpstreamTransportSocketFactory = {
    connect(raw, host, _scope, done) {
      offered.push(host.alpn);
      if (alpn instanceof Error) {
        raw.close();
        done(alpn);
        return;
      }
      const ssl = { alpn, serverName: "", sessionReused: false } as unknown as SslConnectionInfo;
      const hs: UpstreamHandshake = { io: raw, ssl };
      queueMicrotask(() => done(undefined, hs));
    },
  };
  return { factory, offered };
}

function newPool(port: number, alpn: string | Error) {
  const store = new Store();
  const stats = new ClusterStatsCache(store).get("c");
  const info: PoolClusterInfo = {
    name: "c",
    statName: "c",
    connectTimeoutMs: 1000,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
    perConnectionBufferLimitBytes: 1024 * 1024,
    upstreamProtocol: "auto",
  };
  const tls = fakeTls(alpn);
  const pool = new AlpnConnPool(
    info,
    "127.0.0.1",
    port,
    stats,
    tls.factory,
    DEFAULT_HTTP2_OPTIONS,
  );
  return { pool, stats, offered: tls.offered };
}

/** A GET through `pool`: the protocol of its stream and the response body. */
function get(pool: AlpnConnPool): Promise<{ protocol: string; body: string }> {
  return new Promise((resolve, reject) => {
    let protocol = "";
    let body = "";
    const cb: ConnectionPoolCallbacks & UpstreamStreamDecoder = {
      onPoolReady: (s: UpstreamStream) => {
        protocol = s.protocol;
        s.encodeHeaders(
          new HeaderMap([":method", "GET", ":scheme", "https", ":path", "/", ":authority", "up"]),
          true,
        );
      },
      onPoolFailure: (reason, detail) => reject(new Error(`${reason}: ${detail}`)),
      onResetStream: (reason) => reject(new Error(reason)),
      decodeHeaders: (_h, end) => end && resolve({ protocol, body }),
      decodeData: (d, end) => {
        body += new TextDecoder().decode(d);
        if (end) resolve({ protocol, body });
      },
      decodeTrailers: () => resolve({ protocol, body }),
      onBelowWriteBufferLowWatermark: () => {},
      onBug: reject,
    };
    pool.newStream(cb, cb);
  });
}

Deno.test(
  "alpn pool: h2 negotiated: HTTP/2, concurrent requests multiplexed on one connection; h2,http/1.1 offered",
  OPTS,
  async () => {
    const server = http2.createServer((_req, res) => res.end("h2 body"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const { pool, stats, offered } = newPool((server.address() as AddressInfo).port, "h2");
    try {
      const rs = await Promise.all([get(pool), get(pool), get(pool)]);
      assertEquals(rs.map((r) => r.protocol), ["HTTP/2", "HTTP/2", "HTTP/2"]);
      assertEquals(rs[0].body, "h2 body");
      assertEquals(offered, [["h2", "http/1.1"]]);
      assertEquals(stats.cxTotal.value, 1);
      assertEquals(stats.cxHttp2Total.value, 1);
      assertEquals(stats.cxHttp1Total.value, 0);
      assertEquals(pool.protocol, "HTTP/2");
      // The next request takes a stream on the open connection.
      assertEquals((await get(pool)).protocol, "HTTP/2");
      assertEquals(stats.cxTotal.value, 1);
    } finally {
      pool.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  },
);

for (const alpn of ["http/1.1", ""]) {
  Deno.test(
    `alpn pool: '${alpn}' negotiated: HTTP/1.1, each waiting request served, connections reused`,
    OPTS,
    async () => {
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        () => new Response("h1 body"),
      );
      const { pool, stats } = newPool(server.addr.port, alpn);
      try {
        const rs = await Promise.all([get(pool), get(pool), get(pool)]);
        assertEquals(rs.map((r) => r.protocol), ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1"]);
        assertEquals(rs[2].body, "h1 body");
        const made = stats.cxHttp1Total.value;
        assertEquals(stats.cxHttp2Total.value, 0);
        assertEquals(stats.cxTotal.value, made);
        // An idle HTTP/1.1 connection takes the next request: no new connection.
        assertEquals((await get(pool)).protocol, "HTTP/1.1");
        assertEquals(stats.cxTotal.value, made);
      } finally {
        pool.close();
        await server.shutdown();
      }
    },
  );
}

Deno.test(
  "alpn pool: a failed handshake fails the waiting requests (connection_failure)",
  OPTS,
  async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { pool, stats } = newPool((l.addr as Deno.NetAddr).port, new Error("TLS_error:|x"));
    try {
      const errs = await Promise.all([get(pool), get(pool)].map((p) => p.catch((e) => e.message)));
      assertEquals(errs, ["connection_failure: TLS_error:|x", "connection_failure: TLS_error:|x"]);
      assertEquals(stats.cxConnectFail.value, 1);
      assertEquals(pool.size, 0);
    } finally {
      l.close();
    }
  },
);
