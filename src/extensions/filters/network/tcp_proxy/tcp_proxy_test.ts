import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assertEquals } from "../../../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../../../config/api.ts";
import type { TcpProxy } from "../../../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.ts";
import { compileTcpProxy } from "./tcp_proxy.ts";

function tcpProxy(json: JsonValue): TcpProxy {
  return fromJson(
    messageSchema<TcpProxy>("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"),
    json,
    { registry: apiRegistry() },
  );
}

Deno.test("access logs only at the end by default", () => {
  const c = compileTcpProxy(tcpProxy({ stat_prefix: "t", cluster: "c" }));
  assertEquals(c.accessLogFlushIntervalMs, 0);
  assertEquals(c.flushAccessLogOnConnected, false);
  assertEquals(c.accessLogs, []);
});

Deno.test("access_log_options: flush interval and flush on connected", () => {
  const c = compileTcpProxy(tcpProxy({
    stat_prefix: "t",
    cluster: "c",
    access_log_options: { access_log_flush_interval: "1.5s", flush_access_log_on_connected: true },
  }));
  assertEquals(c.accessLogFlushIntervalMs, 1500);
  assertEquals(c.flushAccessLogOnConnected, true);
});

Deno.test("the deprecated top-level fields still work", () => {
  const c = compileTcpProxy(tcpProxy({
    stat_prefix: "t",
    cluster: "c",
    access_log_flush_interval: "0.2s",
    flush_access_log_on_connected: true,
  }));
  assertEquals(c.accessLogFlushIntervalMs, 200);
  assertEquals(c.flushAccessLogOnConnected, true);
});

Deno.test("a flush interval under 1 ms is rejected", () => {
  let message = "";
  try {
    compileTcpProxy(tcpProxy({
      stat_prefix: "t",
      cluster: "c",
      access_log_options: { access_log_flush_interval: "0.0001s" },
    }));
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "tcp_proxy access_log_flush_interval must be at least 1ms");
});
