import { assertEquals } from "../../../../testing/assert.ts";
import { chooseEncoding, parseAcceptEncoding } from "./accept_encoding.ts";

const gzip = { contentEncoding: "gzip", chooseFirst: false };
const br = { contentEncoding: "br", chooseFirst: false };

Deno.test("accept-encoding: codings with q-values; an unparseable q drops the token", () => {
  assertEquals(parseAcceptEncoding("gzip, br;q=0.5 , *;Q=0, deflate;q=abc, identity;q=.2"), [
    ["gzip", 1],
    ["br", 0.5],
    ["*", 0],
    ["identity", 0.2],
  ]);
  assertEquals(parseAcceptEncoding(""), []);
});

Deno.test("accept-encoding: the highest q among the chain's compressors wins", () => {
  assertEquals(chooseEncoding("gzip;q=0.5, br", [gzip, br]), {
    encoding: "br",
    stat: "valid_compressor",
  });
  // A tie goes to the coding listed first.
  assertEquals(chooseEncoding("br, gzip", [gzip, br]).encoding, "br");
  assertEquals(chooseEncoding("gzip, br", [gzip, br]).encoding, "gzip");
});

Deno.test("accept-encoding: wildcard, identity, q=0 and unknown codings", () => {
  // `*` picks the first compressor of the chain.
  assertEquals(chooseEncoding("*", [br, gzip]), { encoding: "br", stat: "wildcard" });
  // q=0 rules a coding out even under `*`.
  assertEquals(chooseEncoding("gzip;q=0, *", [gzip, br]), { encoding: "br", stat: "wildcard" });
  assertEquals(chooseEncoding("gzip;q=0,*;q=1", [gzip]), {
    encoding: "identity",
    stat: "not_valid",
  });
  assertEquals(chooseEncoding("*;q=0,gzip;q=1", [gzip]).encoding, "gzip");
  assertEquals(chooseEncoding("identity, gzip;q=0.5", [gzip]), {
    encoding: "identity",
    stat: "identity",
  });
  assertEquals(chooseEncoding("deflate", [gzip]), { encoding: "identity", stat: "not_valid" });
  assertEquals(chooseEncoding("gzip", []), { encoding: "identity", stat: "not_valid" });
});

Deno.test("accept-encoding: choose_first wins ties and goes first for `*`", () => {
  const brFirst = { contentEncoding: "br", chooseFirst: true };
  assertEquals(chooseEncoding("gzip, br", [gzip, brFirst]).encoding, "br");
  assertEquals(chooseEncoding("gzip, br;q=0.9", [gzip, brFirst]).encoding, "gzip");
  assertEquals(chooseEncoding("*", [gzip, brFirst]).encoding, "br");
});
