import { isIP as nodeIsIP } from "node:net";
import { assertEquals } from "../testing/assert.ts";
import { isIP } from "./ip.ts";

Deno.test("isIP agrees with node:net on literals and non-literals", () => {
  const cases = [
    "127.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    "::",
    "::1",
    "1::",
    "fe80::1%eth0",
    "fe80::1%",
    "2001:db8::8a2e:370:7334",
    "2001:0db8:0000:0000:0000:ff00:0042:8329",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7::",
    "::ffff:192.0.2.1",
    "::ffff:192.0.2",
    "1::2::3",
    ":1",
    "1:",
    "gggg::",
    "12345::",
    "localhost",
    "example.com",
    "",
    "[::1]",
    "1.2.3.4:80",
    "::1.2.3.4",
    "1:2:3:4:5:6:1.2.3.4",
    "1:2:3:4:5:6:7:1.2.3.4",
  ];
  for (const c of cases) assertEquals(isIP(c), nodeIsIP(c), c);
});
