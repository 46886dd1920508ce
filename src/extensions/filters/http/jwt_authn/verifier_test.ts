import { create } from "@bufbuild/protobuf";
import { assertEquals } from "../../../../testing/assert.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import {
  type JwtProvider,
  JwtProviderSchema,
  type JwtRequirement,
  JwtRequirementSchema,
} from "../../../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.ts";
import { type JwksFetch, Provider } from "./provider.ts";
import { compileRequirement, type VerifyContext } from "./verifier.ts";
import { jwksOf, makeKey, signToken, type TestKey } from "./test_tokens.ts";

type ProviderInit = Parameters<typeof create<typeof JwtProviderSchema>>[1];
type RequirementInit = Parameters<typeof create<typeof JwtRequirementSchema>>[1];

const counts = { hit: 0, miss: 0, ok: 0, failed: 0 };
const stats = {
  cacheHit: () => counts.hit++,
  cacheMiss: () => counts.miss++,
  fetchSuccess: () => counts.ok++,
  fetchFailed: () => counts.failed++,
};

function providers(defs: Record<string, ProviderInit>): Map<string, Provider> {
  const out = new Map<string, Provider>();
  for (const [name, init] of Object.entries(defs)) {
    out.set(name, new Provider(name, create(JwtProviderSchema, init) as JwtProvider, name));
  }
  return out;
}

const local = (key: TestKey, issuer: string, extra: ProviderInit = {}): ProviderInit => ({
  issuer,
  jwksSourceSpecifier: {
    case: "localJwks",
    value: { specifier: { case: "inlineString", value: jwksOf(key) } },
  },
  ...extra,
});

const noFetch: JwksFetch = () => Promise.reject(new Error("no fetch"));

function context(headers: HeaderMap, fetch = noFetch, nowMs = Date.now()): VerifyContext {
  return { headers, nowMs, fetch, stats, extracted: {}, routeCacheCleared: false };
}

const run = (
  req: RequirementInit,
  ps: Map<string, Provider>,
  ctx: VerifyContext,
) => compileRequirement(create(JwtRequirementSchema, req) as JwtRequirement, ps)(ctx);

const bearer = (token: string) => new HeaderMap([":path", "/", "authorization", `Bearer ${token}`]);
const now = () => Math.floor(Date.now() / 1000);

Deno.test("verifier: a verified token fills metadata and headers as its provider says", async () => {
  const key = await makeKey("ES256");
  const ps = providers({
    a: local(key, "a", {
      payloadInMetadata: "payload",
      headerInMetadata: "header",
      normalizePayloadInMetadata: { spaceDelimitedClaims: ["scope"] },
      forwardPayloadHeader: "x-payload",
      padForwardPayloadHeader: true,
      claimToHeaders: [
        { headerName: "x-n", claimName: "n" },
        { headerName: "x-f", claimName: "f" },
        { headerName: "x-b", claimName: "b" },
        { headerName: "x-obj", claimName: "obj" },
      ],
      clearRouteCache: true,
    }),
  });
  const token = await signToken(key, {
    iss: "a",
    scope: "read write",
    n: 7,
    f: 1.5,
    b: true,
    obj: {},
  });
  const ctx = context(bearer(token));
  assertEquals(await run({ requiresType: { case: "providerName", value: "a" } }, ps, ctx), "Ok");
  assertEquals((ctx.extracted.payload as Record<string, unknown>).scope, ["read", "write"]);
  assertEquals((ctx.extracted.header as Record<string, unknown>).alg, "ES256");
  const payload = ctx.headers.get("x-payload")!;
  assertEquals(payload.length % 4, 0);
  assertEquals(payload.replace(/=+$/, ""), token.split(".")[1]);
  assertEquals(
    ["x-n", "x-f", "x-b", "x-obj", "authorization"].map((h) => ctx.headers.get(h)),
    ["7", "1.500000", "true", undefined, undefined],
  );
  assertEquals(ctx.routeCacheCleared, true);
});

Deno.test("verifier: subjects, require_expiration, max_lifetime and audiences", async () => {
  const key = await makeKey("RS256");
  const ps = providers({
    a: local(key, "a", {
      subjects: { matchPattern: { case: "prefix", value: "spiffe://ok/" } },
      maxLifetime: { seconds: 3600n },
      audiences: ["https://api.example/"],
    }),
    b: local(key, "b", { requireExpiration: true }),
  });
  const check = async (p: string, claims: Record<string, unknown>) =>
    await run(
      { requiresType: { case: "providerName", value: p } },
      ps,
      context(bearer(await signToken(key, claims))),
    );
  const good = { iss: "a", sub: "spiffe://ok/x", aud: "api.example", exp: now() + 60 };
  assertEquals(await check("a", good), "Ok");
  assertEquals(await check("a", { ...good, sub: "spiffe://bad/x" }), "JwtVerificationFail");
  assertEquals(await check("a", { ...good, exp: now() + 7200 }), "JwtExpired");
  assertEquals(await check("a", { ...good, exp: undefined }), "JwtExpired");
  assertEquals(await check("a", { ...good, aud: ["other"] }), "JwtAudienceNotAllowed");
  assertEquals(await check("b", { iss: "b" }), "JwtExpired");
  assertEquals(await check("b", { iss: "b", exp: now() + 99999 }), "Ok");
});

Deno.test("verifier: requires_any, requires_all, allow_missing and allow_missing_or_failed", async () => {
  const ka = await makeKey("RS256", "ka");
  const kb = await makeKey("HS256", "kb");
  const ps = providers({
    a: local(ka, "a", { payloadInMetadata: "a" }),
    b: local(kb, "b", { fromHeaders: [{ name: "x-b", valuePrefix: "" }] }),
  });
  const ta = await signToken(ka, { iss: "a" });
  const tb = await signToken(kb, { iss: "b" });
  // Signed by another key under ka's id.
  const bad = await signToken(await makeKey("RS256", "ka"), { iss: "a" });
  const a = { requiresType: { case: "providerName" as const, value: "a" } };
  const b = { requiresType: { case: "providerName" as const, value: "b" } };
  const any = { requiresType: { case: "requiresAny" as const, value: { requirements: [a, b] } } };
  const all = { requiresType: { case: "requiresAll" as const, value: { requirements: [a, b] } } };
  const both = () => new HeaderMap(["authorization", `Bearer ${ta}`, "x-b", tb]);
  assertEquals(await run(any, ps, context(new HeaderMap(["x-b", tb]))), "Ok");
  assertEquals(await run(any, ps, context(new HeaderMap())), "JwtMissed");
  // The telling failure wins over a missing token.
  assertEquals(await run(any, ps, context(bearer(bad))), "JwtVerificationFail");
  assertEquals(await run(all, ps, context(both())), "Ok");
  assertEquals(await run(all, ps, context(new HeaderMap(["x-b", tb]))), "JwtMissed");
  const missing = { requiresType: { case: "allowMissing" as const, value: {} } };
  const failed = { requiresType: { case: "allowMissingOrFailed" as const, value: {} } };
  assertEquals(await run(missing, ps, context(new HeaderMap())), "Ok");
  assertEquals(await run(missing, ps, context(bearer(bad))), "JwtVerificationFail");
  const ctx = context(bearer(ta));
  assertEquals(await run(failed, ps, ctx), "Ok");
  assertEquals((ctx.extracted.a as Record<string, unknown>).iss, "a");
  assertEquals(await run(failed, ps, context(bearer(bad))), "Ok");
  // A token whose issuer no provider has: unknown issuer.
  const stranger = await signToken(ka, { iss: "z" });
  assertEquals(await run(missing, ps, context(bearer(stranger))), "JwtUnknownIssuer");
  // requires_any with allow_missing forgives only a missing token.
  const anyOrMissing = {
    requiresType: { case: "requiresAny" as const, value: { requirements: [a, missing] } },
  };
  assertEquals(await run(anyOrMissing, ps, context(new HeaderMap())), "Ok");
  assertEquals(await run(anyOrMissing, ps, context(bearer(bad))), "JwtVerificationFail");
  // A good token with a bad one: the bad one fails the request.
  const two = new HeaderMap([":path", `/?access_token=${bad}`, "authorization", `Bearer ${ta}`]);
  assertEquals(await run(a, ps, context(two)), "JwtVerificationFail");
});
