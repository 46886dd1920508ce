import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import type { ProxyProtocol } from "../../../../../proto/gen/envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol_pb.ts";
import { apiRegistry, messageSchema } from "../../../../config/api.ts";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { assertEquals } from "../../../../testing/assert.ts";
import { Store } from "../../../../stats/store.ts";
import type { AcceptedSocket } from "../../../../listener/listener_filter.ts";
import { CLOSE, CONTINUE, STOP_ITERATION } from "../../../../listener/listener_filter.ts";
import type { ServerContext } from "../../../../config/extensions.ts";
import { proxyProtocolFactory } from "./config.ts";
import {
  PROXY_PROTOCOL_FILTER_STATE_KEY,
  type ProxyProtocolData,
} from "../../../common/proxy_protocol/proxy_protocol_header.ts";

const TYPE = "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol";

function filter(json: JsonObject, store = new Store()) {
  const schema = messageSchema<ProxyProtocol>(TYPE);
  const msg = fromJson(schema, json, { registry: apiRegistry() });
  const f = proxyProtocolFactory.createListenerFilter!(anyPack(schema, msg), {
    server: { stats: store } as unknown as ServerContext,
    listenerScope: () => store.scope("listener.test"),
  });
  return { f, store };
}

/** A socket stand-in holding `bytes` (what the filter reads and changes). */
function socket(bytes: Uint8Array | string) {
  let data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const s = {
    remoteIp: "127.0.0.1",
    remotePort: 1000,
    localIp: "127.0.0.1",
    localPort: 2000,
    dynamicMetadata: undefined as Record<string, Record<string, unknown>> | undefined,
    filterState: undefined as Map<string, unknown> | undefined,
    get data() {
      return data;
    },
    drain(n: number) {
      data = data.subarray(n);
    },
    restoreAddresses(ri: string, rp: number, li: string, lp: number) {
      Object.assign(s, { remoteIp: ri, remotePort: rp, localIp: li, localPort: lp });
    },
    setDynamicMetadata(ns: string, k: string, v: unknown) {
      ((s.dynamicMetadata ??= {})[ns] ??= {})[k] = v;
    },
  };
  return s;
}

const sig = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

Deno.test("proxy_protocol: restores addresses, drains the header, TLVs to metadata and filter state", () => {
  const { f, store } = filter({
    rules: [{ tlv_type: 0xea, on_tlv_present: { key: "vpce" } }],
    pass_through_tlvs: { match_type: "INCLUDE", tlv_type: [0x02] },
    stat_prefix: "edge",
  });
  const tlvs = [0xea, 0, 2, 0x68, 0xff, 0x02, 0, 1, 0x61, 0x05, 0, 1, 0x62];
  const addr = [10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 1, 0];
  const len = addr.length + tlvs.length;
  const s = socket(new Uint8Array([...sig, 0x21, 0x11, 0, len, ...addr, ...tlvs, 0x41]));
  assertEquals(f.onData(s as unknown as AcceptedSocket), CONTINUE);
  assertEquals([s.remoteIp, s.remotePort, s.localIp, s.localPort], [
    "10.0.0.1",
    80,
    "10.0.0.2",
    256,
  ]);
  assertEquals([...s.data], [0x41]);
  // Invalid UTF-8 is sanitized to '!'.
  assertEquals(s.dynamicMetadata, { "envoy.filters.listener.proxy_protocol": { vpce: "h!" } });
  const pp = s.filterState?.get(PROXY_PROTOCOL_FILTER_STATE_KEY) as ProxyProtocolData;
  assertEquals(pp.tlvs.map((t) => [t.type, [...t.value]]), [[0x02, [0x61]]]);
  assertEquals(store.counter("proxy_proto.edge.versions.v2.found").value, 1);
});

Deno.test("proxy_protocol: waits, refuses, and counts as Envoy names it", () => {
  const { f, store } = filter({ disallowed_versions: ["V2"] });
  const at = (b: string | Uint8Array) => f.onData(socket(b) as unknown as AcceptedSocket);
  assertEquals(at("PROXY TCP4 1.2.3.4"), STOP_ITERATION);
  assertEquals(at("GET / HTTP/1.1\r\nhost: x\r\n\r\n"), CLOSE);
  assertEquals(at("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"), CLOSE);
  assertEquals(at(new Uint8Array([...sig, 0x21, 0x11, 0, 12, ...new Array(12).fill(1)])), CLOSE);
  assertEquals(
    [
      store.counter("proxy_proto.not_found_disallowed").value,
      store.counter("proxy_proto.versions.v1.error").value,
      store.counter("proxy_proto.versions.v2.disallowed").value,
      store.counter("listener.test.downstream_cx_proxy_proto_error").value,
    ],
    [1, 1, 1, 2],
  );
  const lax = filter({ allow_requests_without_proxy_protocol: true });
  const s = socket("GET / HTTP/1.1\r\n\r\n");
  assertEquals(lax.f.onData(s as unknown as AcceptedSocket), CONTINUE);
  assertEquals(s.data.length, 18);
  assertEquals(lax.store.counter("proxy_proto.not_found_allowed").value, 1);
});

Deno.test("proxy_protocol config: all versions disallowed is refused", () => {
  let msg = "";
  try {
    filter({ disallowed_versions: ["V1", "V2"] });
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(
    msg,
    "Proxy Protocol filter is misconfigured: all proxy protocol versions are disallowed.",
  );
});
