import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { TlsInspector } from "../../../../../proto/gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.ts";
import { apiRegistry, messageSchema } from "../../../../config/api.ts";
import { assertEquals, assertMatch } from "../../../../testing/assert.ts";
import { Store } from "../../../../stats/store.ts";
import type { ServerContext } from "../../../../config/extensions.ts";
import {
  type AcceptedSocket,
  CLOSE,
  CONTINUE,
  STOP_ITERATION,
} from "../../../../listener/listener_filter.ts";
import { tlsInspectorFactory } from "./config.ts";
import { clientHelloMessage, records } from "./client_hello_test.ts";

function inspector(store: Store, json?: JsonObject) {
  const schema = messageSchema<TlsInspector>(
    "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
  );
  const config = json && anyPack(schema, fromJson(schema, json, { registry: apiRegistry() }));
  return tlsInspectorFactory.createListenerFilter!(config, {
    server: { stats: store } as unknown as ServerContext,
    listenerScope: () => store.scope("listener.test"),
  });
}

const socket = (data: Uint8Array) =>
  ({
    data,
    transportProtocol: "",
    applicationProtocols: [],
    scratch: undefined,
  }) as unknown as AcceptedSocket;

const u16 = (v: number) => [v >> 8, v & 0xff];

Deno.test("tls_inspector: a ClientHello sets tls, SNI and ALPN; stats as Envoy names them", () => {
  const store = new Store();
  const f = inspector(store);
  const name = [...new TextEncoder().encode("a.example")];
  const hello = records(clientHelloMessage({
    ciphers: [0x1301],
    extensions: [
      [0, [...u16(name.length + 3), 0, ...u16(name.length), ...name]],
      [16, [0, 3, 2, 0x68, 0x32]],
    ],
  }));
  const s = socket(hello);
  assertEquals(f.onData(s), CONTINUE);
  assertEquals([s.transportProtocol, s.serverName, s.applicationProtocols], ["tls", "a.example", [
    "h2",
  ]]);
  assertEquals(f.onData(socket(hello.subarray(0, 10))), STOP_ITERATION);
  const plain = socket(new TextEncoder().encode("GET /"));
  assertEquals(f.onData(plain), CONTINUE);
  assertEquals(plain.transportProtocol, "");
  // A hello that never completes within 64 KiB (records of one byte each).
  const tiny = records(
    clientHelloMessage({ ciphers: [0x1301], extensions: [[0xffce, new Array(14000)]] }),
    1,
  );
  // Fed as it would arrive, a piece at a time: the scan resumes where the last piece ended
  // instead of parsing every record again.
  const drip = socket(tiny.subarray(0, 0));
  let status = STOP_ITERATION as number;
  let resumedAt = 0;
  for (let n = 1024; status === STOP_ITERATION; n = Math.min(n + 1024, 64 * 1024)) {
    (drip as unknown as { data: Uint8Array }).data = tiny.subarray(0, n);
    status = f.onData(drip);
    const off = (drip.scratch as { off: number } | undefined)?.off ?? 0;
    assertEquals(off >= resumedAt, true);
    resumedAt = off;
  }
  assertEquals([status, resumedAt > 60_000], [CLOSE, true]);
  const c = (n: string) => store.counter(`tls_inspector.${n}`).value;
  assertEquals(
    [
      c("tls_found"),
      c("tls_not_found"),
      c("sni_found"),
      c("alpn_found"),
      c("client_hello_too_large"),
    ],
    [1, 1, 1, 1, 1],
  );
});

Deno.test("tls_inspector: enable_ja3_fingerprinting and enable_ja4_fingerprinting each set their fingerprint", () => {
  const name = [...new TextEncoder().encode("a.example")];
  const hello = records(clientHelloMessage({
    ciphers: [0x1301, 0x1302],
    extensions: [
      [0, [...u16(name.length + 3), 0, ...u16(name.length), ...name]],
      [16, [0, 3, 2, 0x68, 0x32]],
    ],
  }));
  const fingerprints = (json?: JsonObject) => {
    const s = socket(hello);
    assertEquals(inspector(new Store(), json).onData(s), CONTINUE);
    return [s.ja3, s.ja4];
  };
  assertEquals(fingerprints(), [undefined, undefined]);
  assertEquals(fingerprints({ enableJa4Fingerprinting: false }), [undefined, undefined]);
  const [ja3, ja4] = fingerprints({ enableJa4Fingerprinting: true });
  assertEquals(ja3, undefined);
  // TLS 1.2 record (no supported_versions), SNI, 2 ciphers, 2 extensions, ALPN h2.
  assertMatch(ja4!, /^t12d0202h2_[0-9a-f]{12}_[0-9a-f]{12}$/);
  const both = fingerprints({ enableJa3Fingerprinting: true, enableJa4Fingerprinting: true });
  assertMatch(both[0]!, /^[0-9a-f]{32}$/);
  assertEquals(both[1], ja4);
});
