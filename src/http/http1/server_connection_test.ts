import { assertEquals } from "../../testing/assert.ts";
import type { Connection } from "../../network/connection.ts";
import { Store } from "../../stats/store.ts";
import { Http1CodecStats } from "../../stats/data_path_stats.ts";
import { HeaderMap } from "../header_map.ts";
import type { RequestHead, ResponseEncoder, ServerStream } from "../codec.ts";
import { CONTINUE_HEADERS } from "../codec.ts";
import { Http1ServerConnection } from "./server_connection.ts";
import { bytes, text } from "./test_util.ts";

/** A downstream connection that records what the codec writes and does. */
class FakeConnection {
  out = "";
  events: string[] = [];
  aboveHighWatermark = false;
  highWatermark = 1024;
  write(b: Uint8Array): void {
    this.out += text(b);
  }
  readDisable(d: boolean): void {
    this.events.push(`readDisable ${d}`);
  }
  close(): void {
    this.events.push("close");
  }
  closeAfterFlush(): void {
    this.events.push("closeAfterFlush");
  }
}

/** A codec over a fake connection, with an HCM stand-in that records each stream's events. */
function codec() {
  const conn = new FakeConnection();
  const events: string[] = [];
  const encoders: ResponseEncoder[] = [];
  let n = 0;
  const c = new Http1ServerConnection(conn as unknown as Connection, {
    newStream(encoder): ServerStream {
      encoders.push(encoder);
      const id = ++n;
      return {
        decodeHeaders: (h: HeaderMap, end: boolean, head: RequestHead) =>
          events.push(`${id} headers ${h.get(":path")} ${end} ${head.version}`),
        decodeData: (d: Uint8Array, end: boolean) => events.push(`${id} data ${text(d)} ${end}`),
        decodeTrailers: (t: HeaderMap) => events.push(`${id} trailers ${t.get("x-t")}`),
        onCodecError: (status: number, details: string) =>
          events.push(`${id} error ${status} ${details}`),
        onResetStream: (reason: string) => events.push(`${id} reset ${reason}`),
        onBelowWriteBufferLowWatermark: () => events.push(`${id} writable`),
      };
    },
    onMessageBegin: () => events.push("begin"),
    onCodecProtocolError: () => events.push("protocol error"),
  }, {
    parserOptions: { enableTrailers: true },
    properCaseHeaders: false,
    enableTrailers: true,
    http1Stats: new Http1CodecStats(new Store()),
  });
  return { c, conn, events, encoders };
}

const response = (status: string) => new HeaderMap([":status", status]);

Deno.test("http1 server codec: pipelined requests wait for the response before them", () => {
  const { c, conn, events, encoders } = codec();
  c.dispatch(bytes("GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\n"));
  assertEquals(events, ["begin", "1 headers /a true HTTP/1.1"]);
  assertEquals(conn.events, ["readDisable true"]);
  encoders[0].encodeHeaders(response("200"), true);
  assertEquals(conn.out, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
  c.resumeDispatch();
  assertEquals(events.slice(2), ["begin", "2 headers /b true HTTP/1.1"]);
  assertEquals(encoders[1], c, "the connection is its streams' encoder");
});

Deno.test("http1 server codec: a body of unknown length is chunked, trailers end it", () => {
  const { c, conn, events } = codec();
  c.dispatch(bytes("POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"));
  c.dispatch(bytes("2\r\nhi\r\n0\r\nx-t: 1\r\n\r\n"));
  assertEquals(events.slice(1), ["1 headers / false HTTP/1.1", "1 data hi false", "1 trailers 1"]);
  c.encodeHeaders(response("200"), false);
  c.encodeData(bytes("ok"), false);
  c.encodeTrailers(new HeaderMap(["x-t", "2"]));
  assertEquals(
    conn.out,
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-t: 2\r\n\r\n",
  );
});

Deno.test("http1 server codec: no body for HEAD; 100 Continue from its precomputed bytes", () => {
  const { c, conn } = codec();
  c.dispatch(bytes("HEAD / HTTP/1.1\r\nhost: x\r\n\r\n"));
  c.encode1xxHeaders(CONTINUE_HEADERS);
  c.encodeHeaders(new HeaderMap([":status", "200", "content-length", "5"]), false);
  c.encodeData(bytes("hello"), true);
  assertEquals(
    conn.out,
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
  );
});

Deno.test("http1 server codec: a malformed request opens a stream for its error reply", () => {
  const { c, conn, events } = codec();
  c.dispatch(bytes("GET / HTTP/1.1\r\nbad header\r\n\r\n"));
  assertEquals(events.length, 2);
  assertEquals(events[1].startsWith("1 error 400 "), true);
  assertEquals(conn.events, ["readDisable true"]);
  c.dispatch(bytes("GET / HTTP/1.1\r\n\r\n"));
  assertEquals(events.length, 2, "nothing is parsed after an error");
});

Deno.test("http1 server codec: an upgraded stream's bytes are its body; a reset closes", () => {
  const { c, conn, events } = codec();
  c.dispatch(
    bytes("GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nraw"),
  );
  c.dispatch(bytes("more"));
  assertEquals(events.slice(1), [
    "1 headers / false HTTP/1.1",
    "1 data raw false",
    "1 data more false",
  ]);
  c.resetStream("local_reset");
  assertEquals(events.at(-1), "1 reset local_reset");
  assertEquals(conn.events.at(-1), "closeAfterFlush");
});
