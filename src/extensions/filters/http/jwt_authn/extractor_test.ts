import { assertEquals } from "../../../../testing/assert.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { Extractor, type ExtractorProvider } from "./extractor.ts";

const provider = (p: Partial<ExtractorProvider>): ExtractorProvider => ({
  issuer: "iss",
  fromHeaders: [],
  fromParams: [],
  fromCookies: [],
  writtenHeaders: [],
  ...p,
});

Deno.test("extractor: a provider naming no location reads Bearer and access_token", () => {
  const e = new Extractor([provider({})]);
  const h = new HeaderMap([":path", "/a?x=1&access_token=t2", "authorization", "Bearer t1"]);
  assertEquals(e.extract(h).map((l) => l.token), ["t1", "t2"]);
  assertEquals(e.extract(new HeaderMap([":path", "/", "authorization", "Basic abc"])), []);
  assertEquals(e.extract(new HeaderMap([":path", "/", "authorization", "Bearer "])), []);
});

Deno.test("extractor: value_prefix, token characters, removal from headers and the query", () => {
  const e = new Extractor([
    provider({
      fromHeaders: [{ name: "X-Jwt", valuePrefix: "tok=" }],
      fromParams: ["jwt"],
    }),
  ]);
  const h = new HeaderMap([":path", "/p?a=1&jwt=q.r.s&b=2", "x-jwt", "v1, tok=a.b-c_d; other"]);
  const locs = e.extract(h);
  assertEquals(locs.map((l) => l.token), ["a.b-c_d", "q.r.s"]);
  for (const l of locs) l.remove(h);
  assertEquals(h.get("x-jwt"), undefined);
  assertEquals(h.get(":path"), "/p?a=1&b=2");
});

Deno.test("extractor: cookies are read and kept; issuers limit where a token may come from", () => {
  const e = new Extractor([
    provider({ issuer: "a", fromCookies: ["session"] }),
    provider({ issuer: "b", fromHeaders: [{ name: "x-b", valuePrefix: "" }] }),
  ]);
  const h = new HeaderMap(["cookie", 'x=1; session="c.d.e"', "x-b", "f.g.h"]);
  const [b, a] = e.extract(h);
  assertEquals([a.token, b.token], ["c.d.e", "f.g.h"]);
  assertEquals([a.issuerAllowed("a"), a.issuerAllowed("b"), b.issuerAllowed("b")], [
    true,
    false,
    true,
  ]);
  a.remove(h);
  assertEquals(h.get("cookie"), 'x=1; session="c.d.e"');
  // A provider without an issuer accepts any.
  const any = new Extractor([provider({ issuer: "" })]).extract(
    new HeaderMap(["authorization", "Bearer z"]),
  );
  assertEquals(any[0].issuerAllowed("whoever"), true);
});

Deno.test("extractor: headers the providers write are removed before extraction", () => {
  const e = new Extractor([provider({ writtenHeaders: ["X-Payload", "x-sub"] })]);
  const h = new HeaderMap(["x-payload", "forged", "x-sub", "forged", "x-keep", "1"]);
  e.sanitize(h);
  assertEquals(h.entries(), [["x-keep", "1"]]);
});
