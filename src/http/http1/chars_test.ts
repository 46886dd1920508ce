import { assert, assertEquals } from "../../testing/assert.ts";
import { FIELD_VALUE, HEX, HOST_CHAR, latin1, TOKEN, TOKEN_LOWER, URI_CHAR } from "./chars.ts";

const members = (t: Uint8Array) =>
  String.fromCharCode(...Array.from({ length: 256 }, (_, b) => b).filter((b) => t[b] !== 0));

Deno.test("TOKEN and TOKEN_LOWER hold exactly the RFC 9110 tchars", () => {
  const tchars = "!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~";
  assertEquals(members(TOKEN), tchars);
  assertEquals(members(TOKEN_LOWER), tchars);
  assertEquals(TOKEN_LOWER[0x41], 0x61);
  assertEquals(TOKEN_LOWER[0x7a], 0x7a);
  assertEquals(TOKEN[0x41], 0x41);
});

Deno.test("FIELD_VALUE allows HTAB, SP, VCHAR and obs-text, and no other control", () => {
  for (let b = 0; b < 256; b++) {
    const ok = b === 0x09 || (b >= 0x20 && b !== 0x7f);
    assertEquals(FIELD_VALUE[b] === 1, ok, `byte ${b}`);
  }
});

Deno.test("URI_CHAR is VCHAR only", () => {
  assertEquals(
    members(URI_CHAR),
    String.fromCharCode(...Array.from({ length: 94 }, (_, i) => i + 0x21)),
  );
});

Deno.test("HOST_CHAR covers reg-name, IP literals and ports, but not userinfo or paths", () => {
  for (const c of "aZ09-._~!$&'()*+,;=:[]%") assertEquals(HOST_CHAR[c.charCodeAt(0)], 1, c);
  for (const c of '@/?# "<>\\^`{|}') assertEquals(HOST_CHAR[c.charCodeAt(0)], 0, c);
});

Deno.test("HEX maps hex digits of either case and nothing else", () => {
  assertEquals([..."09afAF"].map((c) => HEX[c.charCodeAt(0)]), [0, 9, 10, 15, 10, 15]);
  assertEquals(HEX["g".charCodeAt(0)], 255);
  assertEquals(HEX[0x20], 255);
});

Deno.test("latin1 maps every byte to the code unit of the same value", () => {
  const all = Uint8Array.from({ length: 256 }, (_, b) => b);
  const s = latin1(all, 0, 256);
  assertEquals(s.length, 256);
  for (let b = 0; b < 256; b++) assertEquals(s.charCodeAt(b), b);
  assertEquals(latin1(all.subarray(0x41), 1, 3), "BC");
  assert(latin1(all, 5, 5) === "");
});
