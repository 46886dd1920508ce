import { assert, assertEquals } from "../../testing/assert.ts";
import {
  DECODE_COMPRESSION_ERROR,
  DECODE_INVALID_HEADER,
  DECODE_OK,
  DECODE_OVERFLOW,
  HpackDecoder,
  HpackEncoder,
  integer,
  string,
} from "./hpack.ts";
import { huffmanDecode, huffmanDecoded, huffmanEncode, huffmanEncodedLength } from "./huffman.ts";
import { latin1 } from "../http1/chars.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!, (h) => parseInt(h, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

const C3 = [
  ["828684410f7777772e6578616d706c652e636f6d", 57],
  ["828684be58086e6f2d6361636865", 110],
  ["828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565", 164],
] as const;
const C4 = [
  ["828684418cf1e3c2e5f23a6ba0ab90f4ff", 57],
  ["828684be5886a8eb10649cbf", 110],
  ["828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", 164],
] as const;
const REQUESTS = [
  [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"],
  [
    ":method",
    "GET",
    ":scheme",
    "http",
    ":path",
    "/",
    ":authority",
    "www.example.com",
    "cache-control",
    "no-cache",
  ],
  [
    ":method",
    "GET",
    ":scheme",
    "https",
    ":path",
    "/index.html",
    ":authority",
    "www.example.com",
    "custom-key",
    "custom-value",
  ],
];
const C5 = [
  [
    "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
    222,
  ],
  ["4803333037c1c0bf", 222],
  [
    "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
    215,
  ],
] as const;
const C6 = [
  [
    "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
    222,
  ],
  ["4883640effc1c0bf", 222],
  [
    "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
    215,
  ],
] as const;
const LOC = "https://www.example.com";
const RESPONSES = [
  [":status", "302", "cache-control", "private", "date", "Mon, 21 Oct 2013 20:13:21 GMT"],
  [":status", "307", "cache-control", "private", "date", "Mon, 21 Oct 2013 20:13:21 GMT"],
  [
    ":status",
    "200",
    "cache-control",
    "private",
    "date",
    "Mon, 21 Oct 2013 20:13:22 GMT",
    "location",
    LOC,
    "content-encoding",
    "gzip",
    "set-cookie",
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
  ],
];
RESPONSES[0].push("location", LOC);
RESPONSES[1].push("location", LOC);

function decodeAll(d: HpackDecoder, block: Uint8Array) {
  const out: string[] = [];
  const status = d.decode(block, 0, block.length, out, 1 << 20, 1000);
  return { status, out };
}

Deno.test("hpack: integer coding (RFC 7541 C.1)", () => {
  const out = new Uint8Array(8);
  assertEquals(toHex(out.subarray(0, integer(out, 0, 10, 5, 0))), "0a");
  assertEquals(toHex(out.subarray(0, integer(out, 0, 1337, 5, 0))), "1f9a0a");
  assertEquals(toHex(out.subarray(0, integer(out, 0, 42, 8, 0))), "2a");
});

Deno.test("hpack: decodes the request examples of C.3 and C.4", () => {
  for (const vectors of [C3, C4]) {
    const d = new HpackDecoder();
    vectors.forEach(([block, size], i) => {
      const { status, out } = decodeAll(d, hex(block));
      assertEquals(status, DECODE_OK);
      assertEquals(out, REQUESTS[i]);
      assertEquals(d.table.size, size);
    });
  }
});

Deno.test("hpack: decodes the response examples of C.5 and C.6 with eviction (table 256)", () => {
  for (const vectors of [C5, C6]) {
    const d = new HpackDecoder(256);
    vectors.forEach(([block, size], i) => {
      const { status, out } = decodeAll(d, hex(block));
      assertEquals(status, DECODE_OK);
      assertEquals(out, RESPONSES[i]);
      assertEquals(d.table.size, size);
    });
  }
});

Deno.test("hpack: the encoder produces the Huffman request examples of C.4", () => {
  const e = new HpackEncoder();
  REQUESTS.forEach((kv, i) => {
    const out = new Uint8Array(e.bound(kv));
    assertEquals(toHex(out.subarray(0, e.encode(kv, out, 0))), C4[i][0]);
    assertEquals(e.table.size, C4[i][1]);
  });
});

Deno.test("hpack: authorization and short cookies are never indexed", () => {
  const e = new HpackEncoder();
  const kv = ["authorization", "Bearer secret", "cookie", "a=b", "x-custom", "v"];
  const out = new Uint8Array(e.bound(kv));
  const n = e.encode(kv, out, 0);
  // authorization: literal never indexed with static name index 23 (0001 + 4-bit prefix 15, 8).
  assertEquals(out[0], 0x1f);
  assertEquals(out[1], 23 - 15);
  assertEquals(e.table.length, 1);
  const d = new HpackDecoder();
  const got: string[] = [];
  assertEquals(d.decode(out, 0, n, got, 1 << 20, 100), DECODE_OK);
  assertEquals(got, kv);
});

Deno.test("hpack: a smaller peer table size is signalled by a size update", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  const kv = ["x-a", "1".repeat(100), "x-b", "2"];
  for (let round = 0; round < 3; round++) {
    if (round === 1) {
      e.setMaxTableSize(0);
      e.setMaxTableSize(64);
    }
    const out = new Uint8Array(e.bound(kv));
    const n = e.encode(kv, out, 0);
    if (round === 1) assertEquals(out[0], 0x20); // size update to 0 first, then to 64
    const got: string[] = [];
    assertEquals(d.decode(out, 0, n, got, 1 << 20, 100), DECODE_OK);
    assertEquals(got, kv);
  }
  assert(d.table.maxSize === 64);
});

Deno.test("hpack: Huffman round trip for every byte", () => {
  let s = "";
  for (let i = 0; i < 256; i++) s += String.fromCharCode(i);
  s += s.split("").reverse().join("");
  const out = new Uint8Array(huffmanEncodedLength(s));
  assertEquals(huffmanEncode(s, out, 0), out.length);
  const n = huffmanDecode(out, 0, out.length);
  assertEquals(latin1(huffmanDecoded(), 0, n), s);
});

Deno.test("hpack: a literal is Huffman-coded exactly when that is shorter, whatever its length", () => {
  // Lengths around the one-byte prefix (127), an empty one, ones whose code is as long as the
  // raw bytes (4 × "&" is 32 bits) or longer (control bytes), and a short random mix.
  const cases = ["", "a", "&&&&", "\x01\x02", "www.example.com", "a".repeat(126), "a".repeat(127)];
  cases.push("x-request-id-" + "0123456789abcdef".repeat(12), "\u00ff".repeat(200));
  let seed = 7;
  for (let k = 0; k < 200; k++) {
    let v = "";
    const n = k % 140;
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      v += String.fromCharCode(k % 3 === 0 ? seed >>> 24 : 0x20 + ((seed >>> 24) % 95));
    }
    cases.push(v);
  }
  for (const v of cases) {
    const out = new Uint8Array(v.length + 8);
    const end = string(out, 0, v);
    const h = huffmanEncodedLength(v);
    const want = new Uint8Array(v.length + 8);
    let p = integer(want, 0, Math.min(h, v.length), 7, h < v.length ? 0x80 : 0);
    if (h < v.length) p = huffmanEncode(v, want, p);
    else for (let i = 0; i < v.length; i++) want[p++] = v.charCodeAt(i);
    assertEquals(toHex(out.subarray(0, end)), toHex(want.subarray(0, p)), JSON.stringify(v));
  }
});

Deno.test("hpack: invalid Huffman (EOS, long or zero padding) is refused", () => {
  // 30 one bits: EOS.
  assertEquals(huffmanDecode(hex("fffffffc"), 0, 4), -1);
  // 8 bits of one padding.
  assertEquals(huffmanDecode(hex("ff"), 0, 1), -1);
  // 'a' (00011) padded with zeros.
  assertEquals(huffmanDecode(hex("18"), 0, 1), -1);
  assertEquals(huffmanDecode(hex("1f"), 0, 1), 1);
});

Deno.test("hpack: malformed blocks are COMPRESSION_ERROR", () => {
  const cases = [
    "80", // index 0
    "be", // dynamic index beyond the table
    "ff8080808080808001", // integer overflow
    "ff80", // truncated integer
    "3f" + "80".repeat(200) + "01", // endless zero continuation bytes in a size update
    "0f" + "80".repeat(200) + "0001", // ... and in a literal's name index
    "400a6162", // truncated string
    "4085ffffffffff0161", // Huffman EOS in a name
    "823fe11f", // size update after a field
    "3fe21f", // size update above our SETTINGS_HEADER_TABLE_SIZE
  ];
  for (const c of cases) {
    assertEquals(decodeAll(new HpackDecoder(), hex(c)).status, DECODE_COMPRESSION_ERROR, c);
  }
});

Deno.test("hpack: upper-case names and CR/LF/NUL in values are invalid headers", () => {
  const d = new HpackDecoder();
  assertEquals(decodeAll(d, hex("400158" + "0161")).status, DECODE_INVALID_HEADER);
  assertEquals(decodeAll(d, hex("000178" + "03610d62")).status, DECODE_INVALID_HEADER);
  assertEquals(decodeAll(d, hex("000178" + "0161")).status, DECODE_OK);
  // The table kept the invalid entry: later blocks still decode in step.
  assertEquals(decodeAll(d, hex("be")).out, ["X", "a"]);
});

Deno.test("hpack: an HPACK bomb stops collecting at the header list limit", () => {
  const d = new HpackDecoder();
  const big = "v".repeat(3000);
  const e = new HpackEncoder();
  const kv = ["x-big", big];
  const first = new Uint8Array(e.bound(kv));
  const n = e.encode(kv, first, 0);
  const block = new Uint8Array(n + 16000);
  block.set(first.subarray(0, n));
  block.fill(0xbe, n); // 16000 references to the 3 KB entry: 48 MB if expanded
  const out: string[] = [];
  const status = d.decode(block, 0, block.length, out, 60 * 1024, 100);
  assertEquals(status, DECODE_OVERFLOW);
  assert(out.length <= 2 * 21); // 60 KB of 3 KB values
});

Deno.test("hpack: header count limit", () => {
  const d = new HpackDecoder();
  const out: string[] = [];
  assertEquals(d.decode(hex("82868441016182"), 0, 7, out, 1 << 20, 3), DECODE_OVERFLOW);
  assertEquals(out.length, 6);
});

Deno.test("hpack: random input never throws or hangs (fuzz)", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let round = 0; round < 3000; round++) {
    const d = new HpackDecoder();
    const len = 1 + Math.floor(rand() * 64);
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = Math.floor(rand() * 256);
    const out: string[] = [];
    const status = d.decode(b, 0, len, out, 8192, 100);
    assert(status >= 0 && status <= 3);
    assert(d.table.size <= 4096);
  }
});

Deno.test("hpack: random header lists round trip through encoder and decoder", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const names = ["x-a", "x-b", "cookie", "authorization", ":path", "content-type", "x-long"];
  const e = new HpackEncoder(1024);
  const d = new HpackDecoder(1024);
  for (let round = 0; round < 500; round++) {
    const kv: string[] = [];
    const n = Math.floor(rand() * 10);
    for (let i = 0; i < n; i++) {
      const name = names[Math.floor(rand() * names.length)];
      let v = "";
      const vl = Math.floor(rand() * (name === "x-long" ? 900 : 30));
      for (let j = 0; j < vl; j++) v += String.fromCharCode(0x20 + Math.floor(rand() * 95));
      kv.push(name, v);
    }
    if (round === 250) e.setMaxTableSize(100);
    const out = new Uint8Array(e.bound(kv));
    const len = e.encode(kv, out, 0);
    const got: string[] = [];
    assertEquals(d.decode(out, 0, len, got, 1 << 20, 100), DECODE_OK);
    assertEquals(got, kv);
  }
});

Deno.test("hpack: cookie crumbs count once toward max_headers_count, with their separators", () => {
  const e = new HpackEncoder();
  const kv = [":method", "GET", "cookie", "a=1", "cookie", "b=2", "cookie", "c=3", "x", "y"];
  const out = new Uint8Array(e.bound(kv));
  const n = e.encode(kv, out, 0);
  const got: string[] = [];
  // 3 headers once the crumbs are joined: fits a count of 3.
  assertEquals(new HpackDecoder().decode(out, 0, n, got, 1 << 20, 3), DECODE_OK);
  assertEquals(got.length, 10);
  // Bytes: 7+3 + (6+3)*3 + 2*2 separators + 1+1 = 43.
  assertEquals(new HpackDecoder().decode(out, 0, n, [], 43, 100), DECODE_OK);
  assertEquals(new HpackDecoder().decode(out, 0, n, [], 42, 100), DECODE_OVERFLOW);
});

Deno.test("hpack: a literal decoded again (from the literal cache) keeps its checks", () => {
  // Literals without indexing, Huffman-coded and raw, each sent three times: the repeats come
  // from the cache and must still carry their validity (an upper-case name is malformed).
  const e = new HpackEncoder();
  const kv = [":path", "/bench.Echo/Unary", "x-raw", "\x7f", "x-id", "0"];
  const block = new Uint8Array(e.bound(kv));
  const n = e.encode(kv, block, 0);
  const bad = hex("000358" + "2d41" + "0176"); // name "X-A" (raw), value "v", not indexed
  const d = new HpackDecoder();
  for (let round = 0; round < 3; round++) {
    const { status, out } = decodeAll(d, block.subarray(0, n));
    assertEquals(status, DECODE_OK);
    assertEquals(out, kv);
    assertEquals(decodeAll(d, bad).status, DECODE_INVALID_HEADER);
    // A list reused for the next block keeps its length: decodedLength says where it ends.
    const reused = ["stale", "entries", "left", "behind", "from", "before", "a", "b"];
    assertEquals(d.decode(block, 0, n, reused, 1 << 20, 100), DECODE_OK);
    assertEquals(reused.slice(0, d.decodedLength), kv);
    assertEquals(reused.length, 8);
  }
});
