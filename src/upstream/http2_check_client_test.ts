import { assert, assertEquals } from "../testing/assert.ts";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { HeaderMap } from "../http/header_map.ts";
import { Http2CheckClient } from "./http2_check_client.ts";

const OPTS = { sanitizeOps: false, sanitizeResources: false };

/** A node:http2 server (another HTTP/2 stack) whose answers the test queues. */
async function server() {
  const seen: { headers: http2.IncomingHttpHeaders; body: string }[] = [];
  const answers: ((s: http2.ServerHttp2Stream) => void)[] = [];
  let sessions = 0;
  const srv = http2.createServer();
  srv.on("session", () => sessions++);
  srv.on("stream", (stream, headers) => {
    let body = "";
    stream.on("data", (d: Uint8Array) => body += new TextDecoder().decode(d));
    stream.on("end", () => {
      seen.push({ headers, body });
      answers.shift()!(stream);
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as AddressInfo).port;
  return {
    seen,
    answers,
    port,
    get sessions() {
      return sessions;
    },
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

function get(path: string): HeaderMap {
  return new HeaderMap([":method", "GET", ":scheme", "http", ":path", path, ":authority", "a"]);
}

const ok = (body: string) => (s: http2.ServerHttp2Stream) => {
  s.respond({ ":status": 200 });
  s.end(body);
};

Deno.test(
  "Http2CheckClient: requests are streams of one connection; bodies cut at maxBody",
  OPTS,
  async () => {
    const srv = await server();
    srv.answers.push(ok("hello world"), (s) => s.respond({ ":status": 503 }, { endStream: true }));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
    const client = new Http2CheckClient(conn);
    try {
      const a = await client.request(get("/a"), new TextEncoder().encode("ping"), 5);
      assert(a !== "reset");
      assertEquals(a.headers.get(":status"), "200");
      assertEquals(new TextDecoder().decode(a.body), "hello");
      assertEquals(srv.seen[0].body, "ping");
      const b = await client.request(get("/b"), undefined, 1024);
      assert(b !== "reset");
      assertEquals(b.headers.get(":status"), "503");
      assertEquals(srv.seen[1].headers[":path"], "/b");
      assertEquals(srv.sessions, 1);
      assertEquals(client.failed, false);
    } finally {
      conn.close();
      await srv.close();
    }
  },
);

Deno.test(
  "Http2CheckClient: a graceful GOAWAY lets the request in flight finish and retires the connection",
  OPTS,
  async () => {
    const srv = await server();
    srv.answers.push((s) => {
      s.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, s.id);
      // The answer follows the GOAWAY.
      setTimeout(() => ok("late")(s), 20);
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
    const client = new Http2CheckClient(conn);
    try {
      const a = await client.request(get("/a"), undefined, 1024);
      assert(a !== "reset");
      assertEquals(new TextDecoder().decode(a.body), "late");
      assert(client.failed);
      assertEquals(await client.request(get("/b"), undefined, 1024), "reset");
    } finally {
      conn.close();
      await srv.close();
    }
  },
);

Deno.test("Http2CheckClient: a GOAWAY with an error ends the request in flight", OPTS, async () => {
  const srv = await server();
  srv.answers.push((s) => s.session!.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR, s.id));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
  const client = new Http2CheckClient(conn);
  try {
    assertEquals(await client.request(get("/a"), undefined, 1024), "reset");
    assert(client.failed);
  } finally {
    conn.close();
    await srv.close();
  }
});

Deno.test(
  "Http2CheckClient: a GOAWAY or a close between requests is seen before the next one",
  OPTS,
  async () => {
    const srv = await server();
    let session: http2.Http2Session | undefined;
    srv.answers.push((s) => {
      session = s.session;
      ok("x")(s);
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
    const client = new Http2CheckClient(conn);
    try {
      assert((await client.request(get("/a"), undefined, 1024)) !== "reset");
      session!.goaway(http2.constants.NGHTTP2_NO_ERROR);
      const deadline = Date.now() + 5000;
      while (!client.failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert(client.failed, "the idle GOAWAY was not seen");
    } finally {
      conn.close();
      await srv.close();
    }
  },
);

Deno.test(
  "Http2CheckClient: a reset stream or a broken connection ends the request",
  OPTS,
  async () => {
    const srv = await server();
    srv.answers.push((s) => s.close(http2.constants.NGHTTP2_CANCEL), ok("still here"));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
    const client = new Http2CheckClient(conn);
    try {
      assertEquals(await client.request(get("/a"), undefined, 1024), "reset");
      assertEquals(client.failed, false);
      assert((await client.request(get("/b"), undefined, 1024)) !== "reset");
      srv.answers.push(() => conn.close());
      assertEquals(await client.request(get("/c"), undefined, 1024), "reset");
      assert(client.failed);
    } finally {
      await srv.close();
    }
  },
);
