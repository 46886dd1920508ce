import { assertEquals } from "../../../../testing/assert.ts";
import { readProxyHeader, V2_SIGNATURE } from "./proxy_protocol_parser.ts";

const all = { allowV1: true, allowV2: true, allowWithoutProxyProtocol: false };
const enc = (s: string) => new TextEncoder().encode(s);

function v2(cmd: number, fam: number, addr: number[], tlvs: number[] = []): Uint8Array {
  const body = [...addr, ...tlvs];
  return new Uint8Array([
    ...V2_SIGNATURE,
    0x20 | cmd,
    fam,
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ]);
}

const v4addr = [192, 0, 2, 1, 198, 51, 100, 7, 0x30, 0x39, 0x01, 0xbb];

Deno.test("v1: TCP4, TCP6 and UNKNOWN", () => {
  const r = readProxyHeader(enc("PROXY TCP4 192.0.2.1 198.51.100.7 12345 443\r\nGET /"), all);
  assertEquals(r, {
    state: "done",
    version: 1,
    length: 45,
    local: false,
    source: { ip: "192.0.2.1", port: 12345 },
    destination: { ip: "198.51.100.7", port: 443 },
    tlvs: [],
  });
  const r6 = readProxyHeader(enc("PROXY TCP6 2001:db8:0:0::1 ::ffff:10.0.0.1 1 2\r\n"), all);
  assertEquals(r6.state === "done" && r6.source, { ip: "2001:db8::1", port: 1 });
  assertEquals(r6.state === "done" && r6.destination, { ip: "::ffff:a00:1", port: 2 });
  const u = readProxyHeader(enc("PROXY UNKNOWN\r\n"), all);
  assertEquals(u.state === "done" && u.local, true);
});

Deno.test("v1 errors: bad family, address of the other family, multicast, ports, no CRLF", () => {
  for (
    const s of [
      "PROXY TCP5 1.1.1.1 2.2.2.2 1 2\r\n",
      "PROXY TCP4 ::1 2.2.2.2 1 2\r\n",
      "PROXY TCP4 224.0.0.1 2.2.2.2 1 2\r\n",
      "PROXY TCP4 1.1.1.1 2.2.2.2 1 65536\r\n",
      "PROXY TCP4 1.1.1.1 2.2.2.2 1\r\n",
      "PROXY TCP4 1.1.1.256 2.2.2.2 1 2\r\n",
    ]
  ) assertEquals(readProxyHeader(enc(s), all).state, "error", s);
  assertEquals(readProxyHeader(enc("PROXY " + "1".repeat(120)), all).state, "error");
  // Not PROXY at all, 16 bytes in: an error without allow_requests_without_proxy_protocol.
  assertEquals(readProxyHeader(enc("GET / HTTP/1.1\r\nhost: x\r\n"), all), {
    state: "error",
    version: 0,
  });
  assertEquals(readProxyHeader(enc("PROXY TCP4 1.1"), all).state, "again");
});

Deno.test("v2: IPv4 with TLVs, IPv6, LOCAL, and errors", () => {
  const tlvs = [0x02, 0, 3, 0x61, 0x62, 0x63, 0xea, 0, 1, 0x01];
  const data = v2(1, 0x11, v4addr, tlvs);
  const r = readProxyHeader(data, all);
  if (r.state !== "done") throw new Error(r.state);
  assertEquals([r.source, r.destination, r.length], [
    { ip: "192.0.2.1", port: 12345 },
    { ip: "198.51.100.7", port: 443 },
    data.length,
  ]);
  assertEquals(r.tlvs.map((t) => [t.type, [...t.value]]), [[2, [0x61, 0x62, 0x63]], [0xea, [1]]]);
  // Every prefix waits.
  for (let i = 0; i < data.length; i++) {
    assertEquals(readProxyHeader(data.subarray(0, i), all).state, "again", `prefix ${i}`);
  }
  const a6 = [
    ...new Array(15).fill(0),
    1,
    0x20,
    1,
    0x0d,
    0xb8,
    ...new Array(11).fill(0),
    5,
    0,
    80,
    1,
    187,
  ];
  const r6 = readProxyHeader(v2(1, 0x21, a6), all);
  assertEquals(r6.state === "done" && r6.source, { ip: "::1", port: 80 });
  assertEquals(r6.state === "done" && r6.destination, { ip: "2001:db8::5", port: 443 });
  const local = readProxyHeader(v2(0, 0x00, []), all);
  assertEquals(local.state === "done" && local.local, true);
  // Unix sockets, a bad version, a short address block, a truncated TLV.
  assertEquals(readProxyHeader(v2(1, 0x31, new Array(216).fill(0)), all).state, "error");
  const badVersion = v2(1, 0x11, v4addr);
  badVersion[12] = 0x31;
  assertEquals(readProxyHeader(badVersion, all).state, "error");
  assertEquals(readProxyHeader(v2(1, 0x11, v4addr.slice(0, 8)), all).state, "error");
  assertEquals(readProxyHeader(v2(1, 0x11, v4addr, [0x02, 0, 9, 1]), all).state, "error");
});

Deno.test("disallowed versions and requests without PROXY protocol", () => {
  const noV1 = { allowV1: false, allowV2: true, allowWithoutProxyProtocol: false };
  assertEquals(readProxyHeader(enc("PROXY UNKNOWN\r\n"), noV1), { state: "denied", version: 1 });
  const noV2 = { allowV1: true, allowV2: false, allowWithoutProxyProtocol: false };
  assertEquals(readProxyHeader(v2(1, 0x11, v4addr), noV2), { state: "denied", version: 2 });
  const lax = { ...all, allowWithoutProxyProtocol: true };
  assertEquals(readProxyHeader(enc("GET / HTTP/1.1\r\n"), lax), { state: "not_found" });
  assertEquals(readProxyHeader(enc("G"), lax), { state: "not_found" });
  assertEquals(readProxyHeader(enc("PRO"), lax).state, "again");
  // A disallowed version's signature is just data when requests without a header are allowed.
  const laxNoV2 = { ...noV2, allowWithoutProxyProtocol: true };
  assertEquals(readProxyHeader(v2(1, 0x11, v4addr), laxNoV2), { state: "not_found" });
});
