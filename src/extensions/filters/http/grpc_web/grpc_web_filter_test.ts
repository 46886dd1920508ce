import { assertEquals } from "../../../../testing/assert.ts";
import { StreamInfo } from "../../../../stream_info/stream_info.ts";
import { FilterManager, type StreamSink } from "../../../../http/filter_manager.ts";
import type { HttpFilterFactoryCb } from "../../../../http/filter.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { frameHeader } from "../common/grpc_frames.ts";
import { grpcWebFilterFactory } from "./grpc_web_filter.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A filter chain of gRPC-Web and a terminal filter recording the request it gets. */
function chain() {
  const out = {
    headers: undefined as HeaderMap | undefined,
    data: [] as Uint8Array[],
    trailers: 0,
  };
  const upstream = { body: [] as Uint8Array[], headers: undefined as HeaderMap | undefined };
  const local: string[] = [];
  const sink: StreamSink = {
    streamInfo: new StreamInfo(),
    connection: { id: 1, remoteAddress: "127.0.0.1:1", localAddress: "127.0.0.1:2" },
    route: () => undefined,
    clearRouteCache: () => {},
    perFilterConfig: () => undefined,
    localReply: (status, body) => local.push(`${status} ${body}`),
    writeHeaders: (h) => out.headers = h,
    writeData: (d) => out.data.push(d),
    writeTrailers: (t) => out.trailers = t.size,
    reset: () => {},
    onBug: () => {},
    readDisable: () => {},
    writable: () => true,
    onWritable: () => {},
    bufferLimit: 1 << 20,
    recreateStream: () => {},
  };
  const terminal: HttpFilterFactoryCb = () => ({
    decoder: {
      decodeHeaders: (h) => {
        upstream.headers = h;
        return "continue";
      },
      decodeData: (d) => {
        upstream.body.push(d);
        return "continue";
      },
    },
  });
  const fm = new FilterManager(sink, [grpcWebFilterFactory, terminal]);
  const body = () => {
    const all = out.data.flatMap((d) => [...d]);
    return new Uint8Array(all);
  };
  return { fm, out, upstream, local, body };
}

const message = (text: string) => {
  const p = enc.encode(text);
  return new Uint8Array([...frameHeader(0, p.length), ...p]);
};

Deno.test("grpc_web: binary request goes upstream as gRPC; trailers come back as a body frame", () => {
  const c = chain();
  c.fm.decodeHeaders(
    new HeaderMap([
      ":method",
      "POST",
      ":path",
      "/pkg.Svc/Call",
      "content-type",
      "application/grpc-web+proto",
      "content-length",
      "10",
    ]),
    false,
  );
  c.fm.decodeData(message("hello"), true);
  const h = c.upstream.headers!;
  assertEquals(
    [h.get("content-type"), h.get("te"), h.get("content-length"), h.get("grpc-accept-encoding")],
    ["application/grpc+proto", "trailers", undefined, "identity,deflate,gzip"],
  );
  assertEquals(c.upstream.body, [message("hello")]);
  c.fm.encodeHeaders(new HeaderMap([":status", "200", "content-type", "application/grpc"]), false);
  c.fm.encodeData(message("world"), false);
  c.fm.encodeTrailers(new HeaderMap(["grpc-status", "0", "grpc-message", "ok"]));
  assertEquals(c.out.headers!.get("content-type"), "application/grpc-web+proto");
  const trailer = enc.encode("grpc-status:0\r\ngrpc-message:ok\r\n");
  assertEquals(
    c.body(),
    new Uint8Array([...message("world"), ...frameHeader(0x80, trailer.length), ...trailer]),
  );
  assertEquals(c.out.trailers, 0);
});

Deno.test("grpc_web: text request decoded from base64 in pieces; text response encoded", () => {
  const c = chain();
  c.fm.decodeHeaders(
    new HeaderMap([
      ":method",
      "POST",
      ":path",
      "/pkg.Svc/Call",
      "content-type",
      "application/grpc-web-text",
      "accept",
      "application/grpc-web-text",
    ]),
    false,
  );
  const text = btoa(String.fromCharCode(...message("hi")));
  c.fm.decodeData(enc.encode(text.slice(0, 5)), false);
  c.fm.decodeData(enc.encode(text.slice(5)), true);
  assertEquals(c.upstream.headers!.get("content-type"), "application/grpc");
  assertEquals(new Uint8Array(c.upstream.body.flatMap((b) => [...b])), message("hi"));
  c.fm.encodeHeaders(new HeaderMap([":status", "200", "content-type", "application/grpc"]), false);
  c.fm.encodeData(message("x"), false);
  c.fm.encodeTrailers(new HeaderMap(["grpc-status", "0"]));
  assertEquals(c.out.headers!.get("content-type"), "application/grpc-web-text+proto");
  const trailer = enc.encode("grpc-status:0\r\n");
  const expected = new Uint8Array([
    ...message("x"),
    ...frameHeader(0x80, trailer.length),
    ...trailer,
  ]);
  assertEquals(atob(dec.decode(c.body())), String.fromCharCode(...expected));
});

Deno.test("grpc_web: bad base64 is a 400; other requests pass untouched", () => {
  const c = chain();
  c.fm.decodeHeaders(
    new HeaderMap([
      ":method",
      "POST",
      ":path",
      "/s/m",
      "content-type",
      "application/grpc-web-text",
    ]),
    false,
  );
  c.fm.decodeData(enc.encode("!!!!"), true);
  assertEquals(c.local, ["400 Bad gRPC-web request, invalid base64 data."]);
  const p = chain();
  p.fm.decodeHeaders(
    new HeaderMap([":method", "GET", ":path", "/", "content-type", "text/plain"]),
    true,
  );
  assertEquals(p.upstream.headers!.get("te"), undefined);
  p.fm.encodeHeaders(new HeaderMap([":status", "200", "content-type", "text/plain"]), false);
  p.fm.encodeTrailers(new HeaderMap(["x", "y"]));
  assertEquals([p.out.headers!.get("content-type"), p.out.trailers], ["text/plain", 1]);
});
