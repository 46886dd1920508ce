import { assertEquals } from "../../testing/assert.ts";
import {
  KIND_CONNECTION,
  KIND_CONTENT_LENGTH,
  KIND_EXPECT,
  KIND_HOST,
  KIND_OTHER,
  KIND_TRANSFER_ENCODING,
  KIND_UPGRADE,
} from "./intern.ts";
import { bytes } from "./test_util.ts";
import { HEADER_NAMES, METHODS } from "./words.ts";

const kindOf = (name: string) => {
  const b = bytes(name);
  const id = HEADER_NAMES.lookup(b, 0, b.length);
  return id < 0 ? undefined : HEADER_NAMES.kind(id);
};

Deno.test("framing headers are tagged with their kind, whatever their case", () => {
  assertEquals(kindOf("Host"), KIND_HOST);
  assertEquals(kindOf("CONTENT-LENGTH"), KIND_CONTENT_LENGTH);
  assertEquals(kindOf("Transfer-Encoding"), KIND_TRANSFER_ENCODING);
  assertEquals(kindOf("connection"), KIND_CONNECTION);
  assertEquals(kindOf("Upgrade"), KIND_UPGRADE);
  assertEquals(kindOf("Expect"), KIND_EXPECT);
  assertEquals(kindOf("User-Agent"), KIND_OTHER);
  assertEquals(kindOf("X-Not-Common"), undefined);
});

Deno.test("interned names come back lower-case", () => {
  const b = bytes("X-Forwarded-For");
  assertEquals(HEADER_NAMES.word(HEADER_NAMES.lookup(b, 0, b.length)), "x-forwarded-for");
});

Deno.test("the method table has Envoy's methods, case-sensitively", () => {
  const has = (m: string) => METHODS.lookup(bytes(m), 0, m.length) >= 0;
  for (
    const m of ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
  ) {
    assertEquals(has(m), true, m);
  }
  assertEquals(has("get"), false);
  assertEquals(has("QUERY"), false);
  assertEquals(has("PRI"), false);
});
