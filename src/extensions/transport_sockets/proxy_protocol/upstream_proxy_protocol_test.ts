import { assertEquals } from "../../../testing/assert.ts";
import { upstreamProxyProtocolHeader } from "./upstream_proxy_protocol.ts";

const own = { localIp: "10.0.0.9", localPort: 5000, remoteIp: "10.0.0.1", remotePort: 80 };
const data = {
  sourceIp: "192.0.2.1",
  sourcePort: 1,
  destinationIp: "192.0.2.2",
  destinationPort: 2,
  tlvs: [{ type: 1, value: new Uint8Array([7]) }, { type: 2, value: new Uint8Array([8]) }],
};
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("v1: the downstream facts, or the upstream connection's own addresses", () => {
  const v1 = { version: 1 as const, passAll: false, passTypes: [] };
  assertEquals(
    text(upstreamProxyProtocolHeader(v1, data, own)),
    "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n",
  );
  assertEquals(
    text(upstreamProxyProtocolHeader(v1, undefined, own)),
    "PROXY TCP4 10.0.0.9 10.0.0.1 5000 80\r\n",
  );
});

Deno.test("v2: LOCAL without downstream facts; only the TLVs pass_through_tlvs names", () => {
  const local = upstreamProxyProtocolHeader(
    { version: 2, passAll: false, passTypes: [] },
    undefined,
    own,
  );
  assertEquals([...local.subarray(12)], [0x20, 0x00, 0, 0]);
  const some = upstreamProxyProtocolHeader(
    { version: 2, passAll: false, passTypes: [2] },
    data,
    own,
  );
  assertEquals([...some.subarray(14, 16)], [0, 12 + 4]);
  assertEquals([...some.subarray(28)], [2, 0, 1, 8]);
  const all = upstreamProxyProtocolHeader({ version: 2, passAll: true, passTypes: [] }, data, own);
  assertEquals([...all.subarray(28)], [1, 0, 1, 7, 2, 0, 1, 8]);
  const none = upstreamProxyProtocolHeader(
    { version: 2, passAll: false, passTypes: [] },
    data,
    own,
  );
  assertEquals(none.length, 28);
});
