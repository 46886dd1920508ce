import { assertEquals } from "../../../../testing/assert.ts";
import { StreamInfo } from "../../../../stream_info/stream_info.ts";
import { FilterManager, type StreamSink } from "../../../../http/filter_manager.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import type { MatchedRoute } from "../../../../router/route_table.ts";
import { Store } from "../../../../stats/store.ts";
import { frameHeader } from "../common/grpc_frames.ts";
import {
  type GrpcStatsConfig,
  grpcStatsFilterFactory,
  GrpcStatsObject,
} from "./grpc_stats_filter.ts";

const DEFAULTS: GrpcStatsConfig = {
  emitFilterState: false,
  allowlist: undefined,
  statsForAllMethods: false,
  replaceDotsInGrpcServiceName: false,
};

/** Runs one call (`path`, request and response messages, grpc-status) through the filter. */
function call(
  store: Store,
  cfg: Partial<GrpcStatsConfig>,
  path: string,
  status: string,
  messages = 1,
): StreamInfo {
  const si = new StreamInfo();
  const sink = {
    streamInfo: si,
    route: () => ({ clusterName: "backend" }) as unknown as MatchedRoute,
    writeHeaders: () => {},
    writeData: () => {},
    writeTrailers: () => {},
  } as unknown as StreamSink;
  const fm = new FilterManager(sink, [grpcStatsFilterFactory({ ...DEFAULTS, ...cfg }, store)]);
  const msg = new Uint8Array([...frameHeader(0, 2), 1, 2]);
  fm.decodeHeaders(
    new HeaderMap([":method", "POST", ":path", path, "content-type", "application/grpc"]),
    false,
  );
  for (let i = 0; i < messages; i++) fm.decodeData(msg, i === messages - 1);
  fm.encodeHeaders(new HeaderMap([":status", "200", "content-type", "application/grpc"]), false);
  fm.encodeData(new Uint8Array([...msg, ...msg]), false);
  fm.encodeTrailers(new HeaderMap(["grpc-status", status]));
  return si;
}

const value = (store: Store, name: string) => store.counter(name).value;

Deno.test("grpc_stats: without allowlist or stats_for_all_methods, calls count under cluster.<c>.grpc.", () => {
  const store = new Store();
  call(store, {}, "/pkg.Svc/Ok", "0", 3);
  call(store, {}, "/pkg.Svc/Bad", "14");
  assertEquals(value(store, "cluster.backend.grpc.success"), 1);
  assertEquals(value(store, "cluster.backend.grpc.failure"), 1);
  assertEquals(value(store, "cluster.backend.grpc.total"), 2);
  assertEquals(value(store, "cluster.backend.grpc.request_message_count"), 4);
  assertEquals(value(store, "cluster.backend.grpc.response_message_count"), 4);
});

Deno.test("grpc_stats: stats_for_all_methods and the allowlist name service and method", () => {
  const store = new Store();
  call(store, { statsForAllMethods: true, replaceDotsInGrpcServiceName: true }, "/pkg.Svc/M", "0");
  assertEquals(value(store, "cluster.backend.grpc.pkg_Svc.M.success"), 1);
  const list = new Map([["pkg.Svc", new Set(["Listed"])]]);
  call(store, { allowlist: list }, "/pkg.Svc/Listed", "2");
  call(store, { allowlist: list }, "/pkg.Svc/Other", "0");
  assertEquals(value(store, "cluster.backend.grpc.pkg.Svc.Listed.failure"), 1);
  assertEquals(value(store, "cluster.backend.grpc.pkg.Svc.Listed.total"), 1);
  assertEquals(value(store, "cluster.backend.grpc.success"), 1);
});

Deno.test("grpc_stats: emit_filter_state keeps the message counts", () => {
  const si = call(new Store(), { emitFilterState: true }, "/s/m", "0", 2);
  const o = si.filterState.get("envoy.filters.http.grpc_stats") as GrpcStatsObject;
  assertEquals(o.serializeAsString(), "2,2");
  assertEquals(JSON.stringify(o), '{"requestMessageCount":"2","responseMessageCount":"2"}');
});
