import { create } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../../../../testing/assert.ts";
import {
  type JwtProvider,
  JwtProviderSchema,
} from "../../../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.ts";
import { type JwksFetch, Provider } from "./provider.ts";
import { parseJwt } from "./jwt.ts";
import { jwksOf, makeKey, signToken } from "./test_tokens.ts";

type ProviderInit = Parameters<typeof create<typeof JwtProviderSchema>>[1];

const provider = (init: ProviderInit) =>
  new Provider("p", create(JwtProviderSchema, init) as JwtProvider, "providers[p]");

const remote = (value: Record<string, unknown>): ProviderInit => ({
  issuer: "r",
  jwksSourceSpecifier: {
    case: "remoteJwks",
    value: {
      httpUri: {
        uri: "https://keys.example/jwks",
        httpUpstreamType: { case: "cluster", value: "keys" },
        timeout: { seconds: 5n },
      },
      ...value,
    },
  },
});

function counter() {
  const c = { ok: 0, failed: 0 };
  return { c, stats: { fetchSuccess: () => c.ok++, fetchFailed: () => c.failed++ } };
}

Deno.test("provider: remote keys are fetched once for concurrent requests and kept", async () => {
  const key = await makeKey("EdDSA");
  const p = provider(remote({ cacheDuration: { seconds: 60n } }));
  let calls = 0;
  const fetch: JwksFetch = (uri, cluster, timeoutMs) => {
    calls++;
    assertEquals([uri, cluster], ["https://keys.example/jwks", "keys"]);
    assert(timeoutMs > 0 && timeoutMs <= 5000);
    return Promise.resolve({ status: 200, body: jwksOf(key) });
  };
  const { c, stats } = counter();
  const all = await Promise.all([1, 2, 3].map(() => p.keys(fetch, stats)));
  assert(all.every((k) => typeof k !== "string"));
  await p.keys(fetch, stats);
  assertEquals([calls, c.ok, c.failed], [1, 1, 0]);
});

Deno.test("provider: a non-200 answer, a bad key set or no answer fail the fetch", async () => {
  for (
    const fetch of [
      () => Promise.resolve({ status: 404, body: "" }),
      () => Promise.resolve({ status: 200, body: '{"keys":[]}' }),
      () => Promise.reject(new Error("upstream reset: remote")),
    ] as JwksFetch[]
  ) {
    const { c, stats } = counter();
    assertEquals(await provider(remote({})).keys(fetch, stats), "JwksFetchFail");
    assertEquals(c.failed, 1);
  }
});

Deno.test("provider: retry_policy retries retriable failures only", async () => {
  const key = await makeKey("ES384");
  const p = () =>
    provider(remote({
      retryPolicy: { numRetries: 3, retryBackOff: { baseInterval: { nanos: 1_000_000 } } },
    }));
  const script = (answers: (number | Error)[]): JwksFetch => () => {
    const a = answers.shift()!;
    if (a instanceof Error) return Promise.reject(a);
    return Promise.resolve({ status: a, body: jwksOf(key) });
  };
  const { stats } = counter();
  const answers = [new Error("upstream connect error: refused"), 503, 200];
  assert(typeof await p().keys(script(answers), stats) !== "string");
  assertEquals(answers.length, 0);
  // A 404 is not retried.
  const notFound = [404, 200];
  assertEquals(await p().keys(script(notFound), stats), "JwksFetchFail");
  assertEquals(notFound, [200]);
});

Deno.test("provider: local keys, lifetime limits and the verified-token cache", async () => {
  const key = await makeKey("RS256");
  const p = provider({
    issuer: "l",
    maxLifetime: { seconds: 60n },
    jwtCacheConfig: { jwtCacheSize: 1 },
    jwksSourceSpecifier: {
      case: "localJwks",
      value: { specifier: { case: "inlineString", value: jwksOf(key) } },
    },
  });
  const { stats } = counter();
  assert(typeof await p.keys(() => Promise.reject(), stats) !== "string");
  const nowS = Math.floor(Date.now() / 1000);
  const jwt = async (claims: Record<string, unknown>) => {
    const j = parseJwt(await signToken(key, claims));
    if (typeof j === "string") throw new Error(j);
    return j;
  };
  const short = await jwt({ exp: nowS + 30 });
  const long = await jwt({ exp: nowS + 600 });
  assertEquals(p.lifetimeAllowed(short, Date.now()), true);
  assertEquals(p.lifetimeAllowed(long, Date.now()), false);
  assertEquals(p.lifetimeAllowed(await jwt({}), Date.now()), false);
  p.cacheJwt(short);
  assertEquals(p.cachedJwt(short.token, nowS)?.token, short.token);
  assertEquals(p.cachedJwt(short.token, nowS + 31), undefined);
  p.cacheJwt(short);
  p.cacheJwt(long);
  assertEquals(p.cachedJwt(short.token, nowS), undefined);
  // A bad local key set leaves the provider without keys.
  const bad = provider({
    jwksSourceSpecifier: {
      case: "localJwks",
      value: { specifier: { case: "inlineString", value: "x" } },
    },
  });
  assertEquals(await bad.keys(() => Promise.reject(), stats), "JwksNoValidKeys");
});
