import { assertEquals } from "../../../../testing/assert.ts";
import { parseJwks, verifySignature } from "./jwks.ts";
import { ALGORITHMS, AudienceCheck, checkTime, type Jwt, parseJwt } from "./jwt.ts";
import { encodePart, jwksOf, makeKey, signToken } from "./test_tokens.ts";

const jwt = (token: string): Jwt => {
  const j = parseJwt(token);
  if (typeof j === "string") throw new Error(j);
  return j;
};

Deno.test("jwks: every supported algorithm verifies its own signature and no other key's", async () => {
  for (const alg of ALGORITHMS) {
    const key = await makeKey(alg);
    const other = await makeKey(alg);
    const token = await signToken(key, { iss: "me", sub: "s" });
    const jwks = parseJwks(jwksOf(key));
    if (typeof jwks === "string") throw new Error(`${alg}: ${jwks}`);
    assertEquals(await verifySignature(jwt(token), jwks), "Ok", alg);
    const wrong = parseJwks(jwksOf(other));
    if (typeof wrong === "string") throw new Error(wrong);
    assertEquals(await verifySignature(jwt(token), wrong), "JwtVerificationFail", alg);
  }
});

Deno.test("jwks: kid and alg select keys; no fitting key is a kid/alg mismatch", async () => {
  const rs = await makeKey("RS256", "a");
  const es = await makeKey("ES256", "b");
  const jwks = parseJwks(jwksOf(rs, es));
  if (typeof jwks === "string") throw new Error(jwks);
  assertEquals(jwks.keys.length, 2);
  assertEquals(await verifySignature(jwt(await signToken(es, {})), jwks), "Ok");
  // A kid no key has: no key fits.
  const other = await signToken(rs, {}, { kid: "zzz" });
  assertEquals(await verifySignature(jwt(other), jwks), "JwksKidAlgMismatch");
  // Without a kid every key of the right type is tried.
  const noKid = await signToken(rs, {}, { kid: undefined });
  assertEquals(await verifySignature(jwt(noKid), jwks), "Ok");
});

Deno.test("jwks: bad documents and keys never throw", () => {
  assertEquals(parseJwks("not json"), "JwksParseError");
  assertEquals(parseJwks("[1]"), "JwksParseError");
  assertEquals(parseJwks("{}"), "JwksNoKeys");
  assertEquals(parseJwks('{"keys":{}}'), "JwksBadKeys");
  assertEquals(
    parseJwks('{"keys":[1,null,{"kty":"RSA"},{"kty":"EC","crv":"P-1"}]}'),
    "JwksNoValidKeys",
  );
  assertEquals(parseJwks('{"keys":[{"kty":"oct","k":"!!"},{"kty":"XYZ"}]}'), "JwksNoValidKeys");
  const ok = parseJwks('{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"RSA","n":5,"e":"AQAB"}]}');
  assertEquals(typeof ok === "string" ? ok : ok.keys.length, 1);
});

Deno.test("jwt: malformed tokens get Envoy's statuses", () => {
  const h = encodePart({ alg: "RS256" });
  const p = encodePart({ iss: "x" });
  assertEquals(parseJwt("a.b"), "JwtBadFormat");
  assertEquals(parseJwt(""), "JwtBadFormat");
  assertEquals(parseJwt(`!!.${p}.AA`), "JwtHeaderParseErrorBadBase64");
  assertEquals(parseJwt(`${encodePart("str")}.${p}.AA`), "JwtHeaderParseErrorBadJson");
  assertEquals(parseJwt(`${encodePart({})}.${p}.AA`), "JwtHeaderBadAlg");
  assertEquals(parseJwt(`${encodePart({ alg: "none" })}.${p}.`), "JwtHeaderNotImplementedAlg");
  assertEquals(parseJwt(`${encodePart({ alg: "RS256", kid: 1 })}.${p}.AA`), "JwtHeaderBadKid");
  assertEquals(parseJwt(`${h}.%%.AA`), "JwtPayloadParseErrorBadBase64");
  assertEquals(parseJwt(`${h}.${encodePart([1])}.AA`), "JwtPayloadParseErrorBadJson");
  assertEquals(parseJwt(`${h}.${encodePart({ iss: 1 })}.AA`), "JwtPayloadParseErrorIssNotString");
  assertEquals(
    parseJwt(`${h}.${encodePart({ exp: 1.5 })}.AA`),
    "JwtPayloadParseErrorExpNotInteger",
  );
  assertEquals(parseJwt(`${h}.${encodePart({ nbf: -1 })}.AA`), "JwtPayloadParseErrorNbfOutOfRange");
  assertEquals(parseJwt(`${h}.${encodePart({ aud: [1] })}.AA`), "JwtPayloadParseErrorAudNotString");
  assertEquals(parseJwt(`${h}.${p}.A`), "JwtSignatureParseErrorBadBase64");
  assertEquals(
    parseJwt(`${encodePart({ alg: "EdDSA" })}.${p}.AAAA`),
    "JwtEd25519SignatureWrongLength",
  );
});

Deno.test("jwt: time constraints allow the clock skew; audiences compare without scheme", () => {
  const t = (claims: Record<string, unknown>) =>
    jwt(`${encodePart({ alg: "HS256" })}.${encodePart(claims)}.AA`);
  assertEquals(checkTime(t({ exp: 1000 }), 1050, 60), "Ok");
  assertEquals(checkTime(t({ exp: 1000 }), 1061, 60), "JwtExpired");
  assertEquals(checkTime(t({ nbf: 1000 }), 939, 60), "JwtNotYetValid");
  assertEquals(checkTime(t({}), 1e10, 0), "Ok");
  const aud = new AudienceCheck(["https://example.com/", "api"]);
  assertEquals(aud.allows(["http://example.com"]), true);
  assertEquals(aud.allows(["other", "api"]), true);
  assertEquals(aud.allows([]), false);
  assertEquals(new AudienceCheck([]).allows([]), true);
});
