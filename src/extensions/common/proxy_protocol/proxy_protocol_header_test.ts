import { assertEquals } from "../../../testing/assert.ts";
import { readProxyHeader } from "../../filters/listener/proxy_protocol/proxy_protocol_parser.ts";
import { v1Header, v2Header } from "./proxy_protocol_header.ts";

const all = { allowV1: true, allowV2: true, allowWithoutProxyProtocol: false };
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("v1 lines: TCP4, TCP6, IPv4-mapped addresses as IPv4, mixed families UNKNOWN", () => {
  const d = (s: string, t: string) => ({
    sourceIp: s,
    sourcePort: 1,
    destinationIp: t,
    destinationPort: 2,
    tlvs: [],
  });
  assertEquals(dec(v1Header(d("10.0.0.1", "10.0.0.2"))), "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n");
  assertEquals(dec(v1Header(d("2001:db8::1", "::1"))), "PROXY TCP6 2001:db8::1 ::1 1 2\r\n");
  assertEquals(
    dec(v1Header(d("::ffff:10.0.0.1", "10.0.0.2"))),
    "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n",
  );
  assertEquals(dec(v1Header(d("2001:db8::1", "10.0.0.2"))), "PROXY UNKNOWN\r\n");
});

Deno.test("v2 headers read back: IPv4 with TLVs, IPv6, mixed as IPv6, LOCAL", () => {
  const tlv = { type: 0xea, value: new Uint8Array([1, 2, 3]) };
  const h = v2Header(
    {
      sourceIp: "192.0.2.1",
      sourcePort: 1234,
      destinationIp: "198.51.100.2",
      destinationPort: 443,
      tlvs: [],
    },
    [tlv],
  );
  const r = readProxyHeader(h, all);
  if (r.state !== "done") throw new Error(r.state);
  assertEquals([r.source, r.destination, r.length], [
    { ip: "192.0.2.1", port: 1234 },
    { ip: "198.51.100.2", port: 443 },
    h.length,
  ]);
  assertEquals(r.tlvs.map((t) => [t.type, [...t.value]]), [[0xea, [1, 2, 3]]]);
  const six = readProxyHeader(
    v2Header({
      sourceIp: "2001:db8::7",
      sourcePort: 1,
      destinationIp: "10.0.0.1",
      destinationPort: 2,
      tlvs: [],
    }),
    all,
  );
  assertEquals(six.state === "done" && [six.source?.ip, six.destination?.ip], [
    "2001:db8::7",
    "::ffff:a00:1",
  ]);
  const local = readProxyHeader(v2Header(undefined), all);
  assertEquals(local.state === "done" && local.local, true);
});
