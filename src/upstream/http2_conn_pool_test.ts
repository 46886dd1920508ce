import { assertEquals } from "../testing/assert.ts";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { HeaderMap } from "../http/header_map.ts";
import { Store } from "../stats/store.ts";
import { ClusterStatsCache } from "../stats/data_path_stats.ts";
import { DEFAULT_HTTP2_OPTIONS, type Http2Options } from "../http/http2/connection.ts";
import { Http2ConnPool } from "./http2_conn_pool.ts";
import type { KeepaliveConfig } from "../http/http2/keepalive.ts";
import type { PoolClusterInfo } from "./conn_pool.ts";
import { DEFAULT_THRESHOLDS, ResourceManager } from "./resource_manager.ts";
import type {
  ConnectionPoolCallbacks,
  UpstreamStream,
  UpstreamStreamDecoder,
} from "../http/conn_pool.ts";

const dec = new TextDecoder();

/** An h2c server (node:http2) answering `handler`; counts its sessions. */
async function h2Server(
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  settings: http2.Settings = {},
) {
  const sessions: http2.ServerHttp2Session[] = [];
  const server = http2.createServer({ settings }, handler);
  server.on("session", (s) => sessions.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

interface Result {
  status: string;
  body: string;
  trailers?: HeaderMap;
  reset?: string;
}

/** One request through `pool`: what the router would see. */
/** A GET through `pool` counted against `rm`. */
function requestWith(pool: Http2ConnPool, rm: ResourceManager): Promise<Result> {
  return request(pool, [], undefined, undefined, rm);
}

function request(
  pool: Http2ConnPool,
  headers: [string, string][] = [],
  body?: string,
  trailers?: [string, string][],
  rm?: ResourceManager,
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const r: Result = { status: "", body: "" };
    const cb: ConnectionPoolCallbacks & UpstreamStreamDecoder = {
      onPoolReady: (s: UpstreamStream) => {
        const h = new HeaderMap([
          ":method",
          body === undefined ? "GET" : "POST",
          ":scheme",
          "http",
          ":path",
          "/p",
          ":authority",
          "up",
          ...headers.flat(),
        ]);
        s.encodeHeaders(h, body === undefined);
        if (body !== undefined) {
          s.encodeData(new TextEncoder().encode(body), trailers === undefined);
          if (trailers) s.encodeTrailers(new HeaderMap(trailers.flat()));
        }
      },
      onPoolFailure: (reason, detail) => reject(new Error(`${reason}: ${detail}`)),
      onResetStream: (reason) => {
        r.reset = reason;
        resolve(r);
      },
      decodeHeaders: (h, end) => {
        if (h.get(":status")!.startsWith("1")) return;
        r.status = h.get(":status")!;
        if (end) resolve(r);
      },
      decodeData: (d, end) => {
        r.body += dec.decode(d);
        if (end) resolve(r);
      },
      decodeTrailers: (t) => {
        r.trailers = t;
        resolve(r);
      },
      onBelowWriteBufferLowWatermark: () => {},
      onBug: reject,
    };
    pool.newStream(cb, cb, rm);
  });
}

function newPool(
  port: number,
  extra: Partial<PoolClusterInfo> = {},
  options: Partial<Http2Options> = {},
  keepalive?: KeepaliveConfig,
) {
  const store = new Store();
  const stats = new ClusterStatsCache(store).get("c");
  const info: PoolClusterInfo = {
    name: "c",
    statName: "c",
    connectTimeoutMs: 1000,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
    perConnectionBufferLimitBytes: 1024 * 1024,
    ...extra,
  };
  const pool = new Http2ConnPool(
    info,
    "127.0.0.1",
    port,
    stats,
    { ...DEFAULT_HTTP2_OPTIONS, ...options },
    keepalive,
  );
  return { pool, stats, store };
}

const OPTS = { sanitizeOps: false, sanitizeResources: false };

Deno.test("http2 pool: concurrent streams share one connection", OPTS, async () => {
  const up = await h2Server((req, res) => {
    res.setHeader("x-path", req.url);
    res.end(`hi ${req.headers[":authority"]} ${req.headers[":scheme"]}`);
  });
  const { pool, stats } = newPool(up.port);
  try {
    const all = await Promise.all(Array.from({ length: 20 }, () => request(pool)));
    for (const r of all) assertEquals([r.status, r.body], ["200", "hi up http"]);
    assertEquals(up.sessions.length, 1);
    assertEquals(stats.cxHttp2Total.value, 1);
    assertEquals(stats.rqTotal.value, 20);
    assertEquals(stats.rqActive.value, 0);
    assertEquals(pool.size, 1);
  } finally {
    pool.close();
    await up.close();
  }
});

Deno.test("http2 pool: request body and trailers both ways", OPTS, async () => {
  const up = await h2Server((req, res) => {
    let body = "";
    req.on("data", (d) => body += d);
    req.on("end", () => {
      res.addTrailers({ "x-got": String(req.trailers["x-req"]) });
      res.end(`got ${body}`);
    });
  });
  const { pool, stats } = newPool(up.port);
  try {
    const r = await request(pool, [["te", "trailers"]], "abc", [["x-req", "t1"]]);
    assertEquals(r.status, "200");
    assertEquals(r.body, "got abc");
    assertEquals(r.trailers?.get("x-got"), "t1");
    assertEquals(stats.http2().trailers.value, 1);
  } finally {
    pool.close();
    await up.close();
  }
});

Deno.test(
  "http2 pool: the peer's SETTINGS_MAX_CONCURRENT_STREAMS opens more connections",
  OPTS,
  async () => {
    const up = await h2Server((_req, res) => {
      setTimeout(() => res.end("ok"), 30);
    }, { maxConcurrentStreams: 1 });
    const { pool, stats } = newPool(up.port);
    try {
      // The first stream learns the limit; a second one at the same time needs a connection.
      await request(pool);
      const all = await Promise.all([request(pool), request(pool)]);
      for (const r of all) assertEquals(r.body, "ok");
      assertEquals(up.sessions.length, 2);
      assertEquals(stats.cxHttp2Total.value, 2);
    } finally {
      pool.close();
      await up.close();
    }
  },
);

Deno.test("http2 pool: max_concurrent_streams and max_requests_per_connection", OPTS, async () => {
  const up = await h2Server((_req, res) => res.end("ok"));
  const { pool, stats } = newPool(up.port, { maxRequestsPerConnection: 2 });
  try {
    for (let i = 0; i < 4; i++) assertEquals((await request(pool)).body, "ok");
    assertEquals(stats.cxHttp2Total.value, 2);
    assertEquals(stats.cxMaxRequests.value, 2);
  } finally {
    pool.close();
    await up.close();
  }
  const up2 = await h2Server((_req, res) => setTimeout(() => res.end("ok"), 20));
  const p2 = newPool(up2.port, {}, { maxConcurrentStreams: 2 });
  try {
    const all = await Promise.all(Array.from({ length: 4 }, () => request(p2.pool)));
    for (const r of all) assertEquals(r.body, "ok");
    assertEquals(p2.stats.cxHttp2Total.value, 2);
  } finally {
    p2.pool.close();
    await up2.close();
  }
});

Deno.test(
  "http2 pool: GOAWAY drains the connection; the next stream opens a new one",
  OPTS,
  async () => {
    const up = await h2Server((_req, res) => res.end("ok"));
    const { pool, stats } = newPool(up.port);
    try {
      assertEquals((await request(pool)).body, "ok");
      up.sessions[0].goaway(0);
      while (stats.cxCloseNotify.value === 0) await new Promise((r) => setTimeout(r, 10));
      assertEquals((await request(pool)).body, "ok");
      assertEquals(up.sessions.length, 2);
      assertEquals(stats.cxHttp2Total.value, 2);
    } finally {
      pool.close();
      await up.close();
    }
  },
);

Deno.test("http2 pool: an upstream reset reaches the stream as remote_reset", OPTS, async () => {
  const up = await h2Server((req) => req.stream.close(http2.constants.NGHTTP2_CANCEL));
  const { pool, stats } = newPool(up.port);
  try {
    const r = await request(pool);
    assertEquals(r.reset, "remote_reset");
    assertEquals(stats.rqRxReset.value, 1);
    assertEquals(stats.http2().rx_reset.value, 1);
    // The connection lives on for the next stream.
    assertEquals(pool.size, 1);
  } finally {
    pool.close();
    await up.close();
  }
});

Deno.test("http2 pool: connect failure fails pending streams", OPTS, async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const { pool, stats } = newPool(port);
  const err = await request(pool).then(() => "", (e: Error) => e.message);
  assertEquals(err.startsWith("connection_failure"), true, err);
  assertEquals(stats.cxConnectFail.value, 1);
});

Deno.test("http2 pool: a PING not acknowledged in time closes the connection", OPTS, async () => {
  // A peer that sends its SETTINGS and then never answers anything.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = (async () => {
    const c = await l.accept();
    await c.write(new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    const b = new Uint8Array(65536);
    try {
      while (await c.read(b) !== null) { /* never answers */ }
    } catch { /* reset */ }
    c.close();
  })();
  const { pool, stats } = newPool(
    (l.addr as Deno.NetAddr).port,
    {},
    {},
    { intervalMs: 20, timeoutMs: 50, jitterPercent: 0 },
  );
  try {
    const r = await request(pool);
    assertEquals(r.reset, "connection_termination");
    assertEquals(stats.http2().keepalive_timeout.value, 1);
    assertEquals(stats.rqPendingFailureEject.value, 1);
  } finally {
    pool.close();
    l.close();
    await accepted;
  }
});

Deno.test(
  "http2 pool: max_requests counts streams; over it a stream fails with overflow",
  OPTS,
  async () => {
    const held: http2.Http2ServerResponse[] = [];
    const up = await h2Server((_req, res) => {
      held.push(res);
      if (held.length === 2) { for (const h of held) h.end("ok"); }
    });
    const { pool, stats } = newPool(up.port);
    const rm = new ResourceManager(new Int32Array(new SharedArrayBuffer(16)), 0, {
      ...DEFAULT_THRESHOLDS,
      maxRequests: 2,
    });
    try {
      const third = new Promise<string>((resolve) => {
        const cb = {
          onPoolReady: () => resolve("ready"),
          onPoolFailure: (reason: string) => resolve(reason),
          onResetStream: () => {},
          decodeHeaders: () => {},
          decodeData: () => {},
          decodeTrailers: () => {},
          onBelowWriteBufferLowWatermark: () => {},
          onBug: () => {},
        };
        // The first two take the connection's streams; the third is over max_requests.
        queueMicrotask(() => pool.newStream(cb, cb, rm));
      });
      const two = Promise.all([requestWith(pool, rm), requestWith(pool, rm)]);
      assertEquals(await third, "overflow");
      for (const r of await two) assertEquals(r.body, "ok");
      assertEquals(stats.rqPendingOverflow.value, 1);
      assertEquals(rm.requests.count(), 0);
    } finally {
      pool.close();
      await up.close();
    }
  },
);

Deno.test(
  "http2 pool: streams above a GOAWAY's last stream id are reset as refused",
  OPTS,
  async () => {
    // A peer that answers the first HEADERS frame with GOAWAY (last stream id 0).
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const served = (async () => {
      const c = await l.accept();
      await c.write(new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      const b = new Uint8Array(65536);
      let got = new Uint8Array(0);
      for (;;) {
        const n = await c.read(b);
        if (n === null) break;
        const all = new Uint8Array(got.length + n);
        all.set(got);
        all.set(b.subarray(0, n), got.length);
        got = all;
        // Frames after the 24-byte preface: answer once a HEADERS frame (type 1) arrived.
        let p = 24;
        let headers = false;
        while (p + 9 <= got.length) {
          if (got[p + 3] === 1) headers = true;
          p += 9 + ((got[p] << 16) | (got[p + 1] << 8) | got[p + 2]);
        }
        if (headers) {
          await c.write(new Uint8Array([0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
          break;
        }
      }
      try {
        while (await c.read(b) !== null) { /* until the pool closes */ }
      } catch { /* reset */ }
      c.close();
    })();
    const { pool, stats } = newPool((l.addr as Deno.NetAddr).port);
    try {
      const r = await request(pool);
      assertEquals(r.reset, "remote_refused_stream_reset");
      assertEquals(stats.cxCloseNotify.value, 1);
      // The draining connection closed with its last stream.
      await served;
      assertEquals(pool.size, 0);
    } finally {
      pool.close();
      l.close();
    }
  },
);
