import { assertEquals } from "../../../../testing/assert.ts";
import { StreamInfo } from "../../../../stream_info/stream_info.ts";
import { FilterManager, type StreamSink } from "../../../../http/filter_manager.ts";
import type { HttpFilterFactoryCb } from "../../../../http/filter.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import type { MatchedRoute } from "../../../../router/route_table.ts";
import { Store } from "../../../../stats/store.ts";
import { frameHeader } from "../common/grpc_frames.ts";
import {
  type GrpcHttp1BridgeConfig,
  grpcHttp1BridgeFilterFactory,
} from "./grpc_http1_bridge_filter.ts";

const enc = new TextEncoder();

/** The bridge before a terminal filter that records the request; what reaches the codec. */
function chain(cfg: Partial<GrpcHttp1BridgeConfig>, protocol = "HTTP/1.1") {
  const events: string[] = [];
  const upstream = { headers: undefined as HeaderMap | undefined, body: [] as number[] };
  const si = new StreamInfo();
  si.protocol = protocol;
  const store = new Store();
  const sink = {
    streamInfo: si,
    route: () => ({ clusterName: "grpc" }) as unknown as MatchedRoute,
    clearRouteCache: () => {},
    writeHeaders: (h: HeaderMap, end: boolean) =>
      events.push(
        `headers ${h.get(":status")} ${h.get("grpc-status")} ${h.get("grpc-message")} ${
          h.get("content-length")
        } ${end}`,
      ),
    writeData: (d: Uint8Array, end: boolean) => events.push(`data ${d.length} ${end}`),
    writeTrailers: () => events.push("trailers"),
  } as unknown as StreamSink;
  const terminal: HttpFilterFactoryCb = () => ({
    decoder: {
      decodeHeaders: (h) => {
        upstream.headers = h;
        return "continue";
      },
      decodeData: (d) => {
        upstream.body.push(...d);
        return "continue";
      },
    },
  });
  const fm = new FilterManager(sink, [
    grpcHttp1BridgeFilterFactory(
      { upgradeProtobufToGrpc: false, ignoreQueryParameters: false, ...cfg },
      store,
    ),
    terminal,
  ]);
  return { fm, events, upstream, store };
}

const msg = (n: number) => new Uint8Array([...frameHeader(0, n), ...new Uint8Array(n)]);

Deno.test("grpc_http1_bridge: HTTP/1.1 gRPC response held until its trailers, which go in the headers", () => {
  const c = chain({ ignoreQueryParameters: true });
  c.fm.decodeHeaders(
    new HeaderMap([
      ":method",
      "POST",
      ":path",
      "/pkg.Svc/M?x=1",
      "content-type",
      "application/grpc",
    ]),
    false,
  );
  assertEquals(c.upstream.headers!.get(":path"), "/pkg.Svc/M");
  c.fm.encodeHeaders(new HeaderMap([":status", "200", "content-type", "application/grpc"]), false);
  c.fm.encodeData(msg(3), false);
  c.fm.encodeData(msg(4), false);
  assertEquals(c.events, []);
  c.fm.encodeTrailers(new HeaderMap(["grpc-status", "0", "grpc-message", "fine"]));
  assertEquals(c.events, ["headers 200 0 fine 17 false", "data 17 false", "trailers"]);
  assertEquals(c.store.counter("cluster.grpc.grpc.pkg.Svc.M.success").value, 1);
  assertEquals(c.store.counter("cluster.grpc.grpc.pkg.Svc.M.total").value, 1);
});

Deno.test("grpc_http1_bridge: a failed call is a 503 with its grpc-status; trailers-only too", () => {
  const c = chain({});
  c.fm.decodeHeaders(
    new HeaderMap([":method", "POST", ":path", "/s/m", "content-type", "application/grpc"]),
    true,
  );
  c.fm.encodeHeaders(new HeaderMap([":status", "200"]), false);
  c.fm.encodeTrailers(new HeaderMap(["grpc-status", "14", "grpc-message", "unavailable"]));
  assertEquals(c.events[0], "headers 503 14 unavailable 0 false");
  const t = chain({});
  t.fm.decodeHeaders(
    new HeaderMap([":method", "POST", ":path", "/s/m", "content-type", "application/grpc"]),
    true,
  );
  t.fm.encodeHeaders(new HeaderMap([":status", "200", "grpc-status", "5"]), true);
  assertEquals(t.events, ["headers 503 5 undefined undefined true"]);
  assertEquals(t.store.counter("cluster.grpc.grpc.s.m.failure").value, 1);
});

Deno.test("grpc_http1_bridge: HTTP/2 gRPC is counted, not bridged", () => {
  const c = chain({}, "HTTP/2");
  c.fm.decodeHeaders(
    new HeaderMap([":method", "POST", ":path", "/s/m", "content-type", "application/grpc"]),
    false,
  );
  c.fm.encodeHeaders(new HeaderMap([":status", "200"]), false);
  c.fm.encodeData(msg(1), false);
  c.fm.encodeTrailers(new HeaderMap(["grpc-status", "0"]));
  assertEquals(c.events, [
    "headers 200 undefined undefined undefined false",
    "data 6 false",
    "trailers",
  ]);
  assertEquals(c.store.counter("cluster.grpc.grpc.s.m.success").value, 1);
});

Deno.test("grpc_http1_bridge: upgrade_protobuf_to_grpc frames the request and unframes the response", () => {
  const c = chain({ upgradeProtobufToGrpc: true });
  c.fm.decodeHeaders(
    new HeaderMap([
      ":method",
      "POST",
      ":path",
      "/s/m",
      "content-type",
      "application/x-protobuf",
      "content-length",
      "3",
    ]),
    false,
  );
  c.fm.decodeData(enc.encode("a"), false);
  c.fm.decodeData(enc.encode("bc"), true);
  assertEquals(c.upstream.headers!.get("content-type"), "application/grpc");
  assertEquals(c.upstream.headers!.get("content-length"), undefined);
  assertEquals(c.upstream.body, [0, 0, 0, 0, 3, 97, 98, 99]);
  c.fm.encodeHeaders(new HeaderMap([":status", "200"]), false);
  c.fm.encodeData(msg(2), false);
  c.fm.encodeTrailers(new HeaderMap(["grpc-status", "0"]));
  assertEquals(c.events, ["headers 200 0 undefined 2 false", "data 2 false", "trailers"]);
});
