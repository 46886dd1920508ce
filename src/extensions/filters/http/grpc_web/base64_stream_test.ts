import { assertEquals } from "../../../../testing/assert.ts";
import { Base64StreamDecoder, Base64StreamEncoder } from "./base64_stream.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("base64 stream: encodes in odd chunks as btoa does at once", () => {
  const text = "gRPC-Web text, split anywhere!";
  for (const step of [1, 2, 4, 7]) {
    const e = new Base64StreamEncoder();
    let out = "";
    const bytes = enc.encode(text);
    for (let i = 0; i < bytes.length; i += step) {
      out += dec.decode(e.push(bytes.subarray(i, i + step), i + step >= bytes.length));
    }
    assertEquals(out, btoa(text));
  }
});

Deno.test("base64 stream: decodes chunked and concatenated padded segments; refuses bad text", () => {
  const d = new Base64StreamDecoder();
  const text = btoa("ab") + btoa("cde") + btoa("f");
  let out = "";
  for (let i = 0; i < text.length; i += 3) {
    out += dec.decode(d.push(enc.encode(text.slice(i, i + 3)))!);
  }
  assertEquals(out, "abcdef");
  assertEquals(d.partial, false);
  assertEquals(new Base64StreamDecoder().push(enc.encode("ab$d")), undefined);
  const p = new Base64StreamDecoder();
  p.push(enc.encode("YWJ"));
  assertEquals(p.partial, true);
});
