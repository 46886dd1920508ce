import { assert, assertEquals } from "../../../../testing/assert.ts";
import {
  CLIENT_HELLO,
  type ClientHello,
  NEED_MORE,
  NOT_TLS,
  readClientHello,
} from "./client_hello.ts";
import { ja3String, ja4 } from "./fingerprint.ts";

const u16 = (v: number) => [v >> 8, v & 0xff];

/** Builds a ClientHello handshake message (type, length, body). */
export function clientHelloMessage(o: {
  ciphers: number[];
  extensions: [number, number[]][];
  version?: number;
}): number[] {
  const exts = o.extensions.flatMap(([t, d]) => [...u16(t), ...u16(d.length), ...d]);
  const body = [
    ...u16(o.version ?? 0x0303),
    ...new Array(32).fill(7),
    0,
    ...u16(o.ciphers.length * 2),
    ...o.ciphers.flatMap(u16),
    1,
    0,
    ...u16(exts.length),
    ...exts,
  ];
  return [1, 0, body.length >> 8, body.length & 0xff, ...body];
}

/** Wraps a handshake message in TLS records of at most `size` bytes each. */
export function records(msg: number[], size = 16384): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < msg.length; i += size) {
    const frag = msg.slice(i, i + size);
    out.push(22, 3, 1, ...u16(frag.length), ...frag);
  }
  return new Uint8Array(out);
}

const sni = (name: string) => {
  const n = [...new TextEncoder().encode(name)];
  return [...u16(n.length + 3), 0, ...u16(n.length), ...n];
};
const alpn = (...ps: string[]) => {
  const l = ps.flatMap((p) => [p.length, ...new TextEncoder().encode(p)]);
  return [...u16(l.length), ...l];
};
const list16 = (vs: number[]) => [...u16(vs.length * 2), ...vs.flatMap(u16)];

function hello(data: Uint8Array): ClientHello {
  const r = readClientHello(data);
  assertEquals(r.state, CLIENT_HELLO);
  return (r as { hello: ClientHello }).hello;
}

Deno.test("SNI and ALPN from a ClientHello, whole or split over records and reads", () => {
  const msg = clientHelloMessage({
    ciphers: [0x1301, 0x1302],
    extensions: [[0, sni("api.example.com")], [16, alpn("h2", "http/1.1")]],
  });
  const one = records(msg);
  const h = hello(one);
  assertEquals(h.serverName, "api.example.com");
  assertEquals(h.alpn, ["h2", "http/1.1"]);
  // Every prefix asks for more; never a wrong answer on partial data.
  for (let i = 0; i < one.length; i++) {
    assertEquals(readClientHello(one.subarray(0, i)).state, NEED_MORE, `prefix ${i}`);
  }
  assertEquals(hello(records(msg, 7)).serverName, "api.example.com");
});

Deno.test("not TLS: plaintext, other record types, bad versions, malformed bodies", () => {
  const enc = new TextEncoder();
  assertEquals(readClientHello(enc.encode("GET / HTTP/1.1\r\n")).state, NOT_TLS);
  assertEquals(readClientHello(enc.encode("G")).state, NOT_TLS);
  assertEquals(readClientHello(new Uint8Array([23, 3, 3, 0, 1, 0])).state, NOT_TLS);
  assertEquals(readClientHello(new Uint8Array([22, 2, 0])).state, NOT_TLS);
  // A ServerHello (type 2) is not a ClientHello.
  assertEquals(readClientHello(new Uint8Array([22, 3, 1, 0, 4, 2, 0, 0, 0])).state, NOT_TLS);
  // A truncated body inside a complete message.
  assertEquals(readClientHello(records([1, 0, 0, 3, 3, 3, 0])).state, NOT_TLS);
  // Duplicate extensions.
  const dup = clientHelloMessage({ ciphers: [0x1301], extensions: [[0, sni("a")], [0, sni("b")]] });
  assertEquals(readClientHello(records(dup)).state, NOT_TLS);
  // An empty ALPN protocol name.
  const empty = clientHelloMessage({ ciphers: [0x1301], extensions: [[16, [0, 1, 0]]] });
  assertEquals(readClientHello(records(empty)).state, NOT_TLS);
});

Deno.test("a ClientHello over 16 KiB is refused as soon as its header shows the length", () => {
  const big = clientHelloMessage({ ciphers: [0x1301], extensions: [[0xffce, new Array(17000)]] });
  const data = records(big);
  // Only the first record's start: already decided.
  assertEquals(readClientHello(data.subarray(0, 20)).state, NOT_TLS);
});

Deno.test("JA3 leaves GREASE out; JA4 as FoxIO's reference Chrome hello", () => {
  const grease = 0x0a0a;
  const ciphers = [
    grease,
    0x1301,
    0x1302,
    0x1303,
    0xc02b,
    0xc02f,
    0xc02c,
    0xc030,
    0xcca9,
    0xcca8,
    0xc013,
    0xc014,
    0x009c,
    0x009d,
    0x002f,
    0x0035,
  ];
  const sigs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
  const msg = clientHelloMessage({
    ciphers,
    extensions: [
      [0x1a1a, []],
      [0x0000, sni("www.example.com")],
      [0x0017, []],
      [0xff01, [0]],
      [0x000a, list16([0x2a2a, 0x001d, 0x0017, 0x0018])],
      [0x000b, [1, 0]],
      [0x0023, []],
      [0x0010, alpn("h2", "http/1.1")],
      [0x0005, [1, 0, 0, 0, 0]],
      [0x000d, list16(sigs)],
      [0x0012, []],
      [0x0033, [0, 0]],
      [0x002d, [1, 1]],
      [0x002b, [6, 0x3a, 0x3a, 3, 4, 3, 3]],
      [0x001b, [2, 0, 2]],
      [0x4469, [0, 3, 2, 0x68, 0x32]],
      [0x0015, [0, 0]],
    ],
  });
  const h = hello(records(msg));
  assertEquals(
    ja3String(h),
    "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53," +
      "0-23-65281-10-11-35-16-5-13-18-51-45-43-27-17513-21,29-23-24,0",
  );
  assertEquals(ja4(h), "t13d1516h2_8daaf6152771_e5627efa2ab1");
  // No SNI, no ALPN, TLS 1.2 only.
  const bare = hello(records(clientHelloMessage({ ciphers: [0x002f], extensions: [] })));
  assert(ja4(bare).startsWith("t12i010000_"), ja4(bare));
  assert(ja4(bare).endsWith("_000000000000"), ja4(bare));
});
