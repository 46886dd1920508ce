import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { assertEquals } from "../../../../testing/assert.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import type { LocalReplyOptions, StreamFilterCallbacks } from "../../../../http/filter.ts";
import { StreamInfo } from "../../../../stream_info/stream_info.ts";
import { Store } from "../../../../stats/store.ts";
import {
  type JwtAuthentication,
  JwtAuthenticationSchema,
  PerRouteConfigSchema,
} from "../../../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.ts";
import { compileJwtAuthn, jwtAuthnFilterFactory } from "./jwt_authn_filter.ts";
import { jwksOf, makeKey, signToken, type TestKey } from "./test_tokens.ts";

type ConfigInit = Parameters<typeof create<typeof JwtAuthenticationSchema>>[1];

const config = (key: TestKey, extra: ConfigInit = {}) =>
  compileJwtAuthn(
    create(JwtAuthenticationSchema, {
      providers: {
        p: {
          issuer: "p",
          payloadInMetadata: "claims",
          jwksSourceSpecifier: {
            case: "localJwks",
            value: { specifier: { case: "inlineString", value: jwksOf(key) } },
          },
        },
      },
      rules: [
        { match: { pathSpecifier: { case: "prefix", value: "/open" } } },
        {
          match: { pathSpecifier: { case: "prefix", value: "/" } },
          requirementType: {
            case: "requires",
            value: { requiresType: { case: "providerName", value: "p" } },
          },
        },
      ],
      requirementMap: { b: {}, a: {} },
      ...extra,
    }) as JwtAuthentication,
  );

/** Runs one request through the filter; resolves with what it did. */
async function request(
  cfg: ReturnType<typeof compileJwtAuthn>,
  headers: HeaderMap,
  perRoute?: ReturnType<typeof create<typeof PerRouteConfigSchema>>,
  filterState: Record<string, unknown> = {},
) {
  const store = new Store();
  const out = {
    status: "",
    reply: undefined as
      | { status: number; body: string; headers: HeaderMap; details?: string }
      | undefined,
    streamInfo: new StreamInfo(),
    counter: (n: string) => store.counter(`http.x.jwt_authn.${n}`).value,
  };
  for (const [k, v] of Object.entries(filterState)) out.streamInfo.filterState.set(k, v);
  let done!: () => void;
  const finished = new Promise<void>((r) => done = r);
  const cb = {
    streamInfo: out.streamInfo,
    requestHeaders: headers,
    perFilterConfig: (name: string) =>
      name === "jwt" && perRoute ? anyPack(PerRouteConfigSchema, perRoute) : undefined,
    clearRouteCache: () => {},
    continueDecoding: () => done(),
    sendLocalReply: (status: number, body: string, opts?: LocalReplyOptions) => {
      const h = new HeaderMap();
      opts?.modifyHeaders?.(h);
      out.reply = { status, body, headers: h, details: opts?.details };
      done();
    },
    onBug: (e: unknown) => {
      throw e;
    },
  } as unknown as StreamFilterCallbacks;
  const filter = jwtAuthnFilterFactory(cfg, store, "http.x.", () => Promise.reject(), "jwt")(cb);
  out.status = filter.decoder!.decodeHeaders(headers, true);
  if (out.status === "stop") await finished;
  return out;
}

const req = (path: string, ...kv: string[]) =>
  new HeaderMap([":method", "GET", ":path", path, ":authority", "h.example", ...kv]);

Deno.test("jwt_authn filter: 401 with realm and error, 200 with the payload in metadata", async () => {
  const key = await makeKey("RS256");
  const cfg = config(key);
  let r = await request(cfg, req("/a?b=c", "x-forwarded-proto", "https"));
  assertEquals([r.reply?.status, r.reply?.body], [401, "Jwt is missing"]);
  assertEquals(r.reply?.headers.get("www-authenticate"), 'Bearer realm="https://h.example/a?b=c"');
  assertEquals(r.reply?.details, "jwt_authn_access_denied{Jwt_is_missing}");
  assertEquals([r.counter("denied"), r.counter("allowed")], [1, 0]);
  r = await request(cfg, req("/a", "authorization", "Bearer x.y.z"));
  assertEquals(r.reply?.status, 401);
  assertEquals(
    r.reply?.headers.get("www-authenticate"),
    'Bearer realm="http://h.example/a", error="invalid_token"',
  );
  const token = await signToken(key, { iss: "p", sub: "me" });
  r = await request(cfg, req("/a", "authorization", `Bearer ${token}`));
  assertEquals([r.status, r.reply, r.counter("allowed")], ["stop", undefined, 1]);
  assertEquals(
    (r.streamInfo.dynamicMetadata["envoy.filters.http.jwt_authn"].claims as { sub: string }).sub,
    "me",
  );
  r = await request(cfg, req("/open"));
  assertEquals([r.status, r.counter("allowed")], ["continue", 1]);
});

Deno.test("jwt_authn filter: strip_failure_response, CORS preflights, per-route configs", async () => {
  const key = await makeKey("ES256");
  const strip = config(key, { stripFailureResponse: true, bypassCorsPreflight: true });
  let r = await request(strip, req("/a"));
  assertEquals([r.reply?.status, r.reply?.body, r.reply?.headers.size], [401, "", 0]);
  r = await request(
    strip,
    new HeaderMap([
      ":method",
      "OPTIONS",
      ":path",
      "/a",
      "origin",
      "http://o",
      "access-control-request-method",
      "PUT",
    ]),
  );
  assertEquals([r.status, r.counter("cors_preflight_bypassed"), r.counter("allowed")], [
    "continue",
    1,
    1,
  ]);
  const cfg = config(key);
  r = await request(
    cfg,
    req("/a"),
    create(PerRouteConfigSchema, { requirementSpecifier: { case: "disabled", value: true } }),
  );
  assertEquals([r.status, r.counter("allowed")], ["continue", 1]);
  r = await request(
    cfg,
    req("/a"),
    create(PerRouteConfigSchema, { requirementSpecifier: { case: "requirementName", value: "c" } }),
  );
  assertEquals([r.reply?.status, r.reply?.body], [
    403,
    "Failed JWT authentication: Wrong requirement_name: c. It should be one of [a,b]",
  ]);
  // An empty requirement of the map allows every request.
  r = await request(
    cfg,
    req("/a"),
    create(PerRouteConfigSchema, { requirementSpecifier: { case: "requirementName", value: "a" } }),
  );
  assertEquals([r.reply, r.counter("allowed")], [undefined, 1]);
});

Deno.test("jwt_authn filter: filter_state_rules apply when no rule matches", async () => {
  const key = await makeKey("HS256");
  const cfg = config(key, {
    rules: [],
    filterStateRules: {
      name: "jwt_selector",
      requires: { strict: { requiresType: { case: "providerName", value: "p" } } },
    },
  });
  let r = await request(cfg, req("/a"), undefined, { jwt_selector: "strict" });
  assertEquals(r.reply?.status, 401);
  r = await request(cfg, req("/a"), undefined, { jwt_selector: "other" });
  assertEquals(r.status, "continue");
  // Only a string selects.
  r = await request(cfg, req("/a"), undefined, { jwt_selector: { value: "strict" } });
  assertEquals(r.status, "continue");
  r = await request(cfg, req("/a"));
  assertEquals(r.status, "continue");
});
