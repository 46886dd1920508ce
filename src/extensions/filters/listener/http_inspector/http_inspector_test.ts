import { assertEquals } from "../../../../testing/assert.ts";
import { detectHttp, NEED_MORE, NOT_HTTP } from "./http_inspector.ts";

const d = (s: string) => detectHttp(new TextEncoder().encode(s));

Deno.test("HTTP/1.x request lines and the h2c preface", () => {
  assertEquals(d("GET / HTTP/1.1\r\nhost: x\r\n\r\n"), "http/1.1");
  assertEquals(d("POST /a?b HTTP/1.0\r\n"), "http/1.0");
  assertEquals(d("M-SEARCH * HTTP/1.1\n"), "http/1.1");
  assertEquals(d("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00"), "h2c");
});

Deno.test("partial input waits; anything else is not HTTP", () => {
  for (const s of ["", "G", "GET", "GET /", "GET / HTTP/1.1", "PRI * HTTP/2.0\r\n"]) {
    assertEquals(d(s), NEED_MORE, JSON.stringify(s));
  }
  for (
    const s of ["\x16\x03\x01", "get / HTTP/1.1\r\n", "FOO / HTTP/1.1\r\n", "GET / HTTP/2\r\n"]
  ) {
    assertEquals(d(s), NOT_HTTP, JSON.stringify(s));
  }
  assertEquals(d("GET /" + "a".repeat(9000)), NOT_HTTP);
  assertEquals(d("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n"), NOT_HTTP);
});

Deno.test("the version is what follows the request line's last space, after a non-empty target", () => {
  assertEquals(d("GET /a b HTTP/1.0\r\n"), "http/1.0");
  assertEquals(d("GET / HTTP/1.1\n"), "http/1.1");
  for (
    const s of [
      "GET HTTP/1.1\r\n",
      "GET  HTTP/1.1\r\n",
      "GET / HTTP/1.1x\r\n",
      "GET / HTTP/1.2\r\n",
      "GET / XHTTP/1.1\r\n",
      "GET / HTTP/1.1 \r\n",
      "GET /\r\n",
    ]
  ) {
    assertEquals(d(s), NOT_HTTP, JSON.stringify(s));
  }
});
