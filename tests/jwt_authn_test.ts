/**
 * `envoy.filters.http.jwt_authn` end to end: curl through the proxy to a real upstream that
 * echoes what it got, with tokens signed in the test (WebCrypto), a local JWKS, a remote JWKS
 * served by a small server through a cluster (and one whose cluster has no server), rules,
 * per-route configs, CORS preflight bypass, and the filter's stats; `--mode validate` refuses
 * what is not implemented with its place in the file.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import {
  jwksOf,
  makeKey,
  signToken,
  type TestKey,
} from "../src/extensions/filters/http/jwt_authn/test_tokens.ts";
import { runMain, tempFile } from "./helpers.ts";
import { adminStatsWhen, curl, httpConfig, Proxy, staticCluster, upstream } from "./proxy.ts";

const route = (prefix: string, extra = "") =>
  `- match: { prefix: "${prefix}" }\n  route: { cluster: backend }\n${extra}`;
const perRoute = (cfg: string) =>
  `  typed_per_filter_config:\n    jwt:\n      "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig\n      ${cfg}\n`;

function filterConfig(local: TestKey[], cookieKey: TestKey): string {
  // Named as operators often do: per-route configs use the chain's name.
  return `- name: jwt
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
    bypass_cors_preflight: true
    providers:
      local:
        issuer: local-iss
        audiences: [api]
        local_jwks: { inline_string: '${jwksOf(...local)}' }
        forward_payload_header: x-jwt-payload
        claim_to_headers:
        - { header_name: x-sub, claim_name: sub }
        - { header_name: x-team, claim_name: org.team }
        - { header_name: x-tenant, claim_path: [{ key: https://example.com/tenant }] }
      remote:
        issuer: remote-iss
        from_headers: [{ name: x-token }]
        forward: true
        remote_jwks:
          http_uri: { uri: "http://jwks.example/keys?v=1", cluster: jwks, timeout: 5s }
          cache_duration: 300s
        jwt_cache_config: {}
      async:
        issuer: async-iss
        from_headers: [{ name: x-async }]
        remote_jwks:
          http_uri: { uri: "http://jwks.example/async-keys", cluster: jwks, timeout: 5s }
          async_fetch: { fast_listener: true }
          retry_policy: { num_retries: 2, retry_back_off: { base_interval: 0.01s } }
      broken:
        issuer: broken-iss
        from_headers: [{ name: x-broken }]
        remote_jwks:
          http_uri: { uri: "http://jwks.example/keys", cluster: nowhere, timeout: 1s }
      cookie:
        issuer: cookie-iss
        from_cookies: [session]
        local_jwks: { inline_string: '${jwksOf(cookieKey)}' }
    requirement_map:
      remote-req: { provider_name: remote }
    rules:
    - match: { prefix: /public }
    - match: { prefix: /remote }
      requires: { provider_name: remote }
    - match: { prefix: /async }
      requires: { provider_name: async }
    - match: { prefix: /broken }
      requires: { provider_name: broken }
    - match: { prefix: /any }
      requires: { requires_any: { requirements: [{ provider_name: local }, { provider_name: remote }] } }
    - match: { prefix: /optional }
      requires: { allow_missing: {} }
    - match: { prefix: /aud }
      requires: { provider_and_audiences: { provider_name: local, audiences: [other] } }
    - match: { prefix: /cookie }
      requires: { provider_name: cookie }
    - match: { prefix: / }
      requires: { provider_name: local }
`;
}

Deno.test("jwt_authn: tokens from headers, params and cookies; local and remote JWKS; Envoy's replies", async () => {
  const [rs, es, hs, remoteKey, other] = await Promise.all([
    makeKey("RS256"),
    makeKey("ES256"),
    makeKey("HS256"),
    makeKey("PS384"),
    makeKey("RS256"),
  ]);
  const app = upstream((req) => {
    const h: Record<string, string> = {};
    req.headers.forEach((v, k) => h[k] = v);
    return Response.json({ url: new URL(req.url).pathname + new URL(req.url).search, h });
  });
  let jwksFetches = 0;
  let asyncFetches = 0;
  const jwks = upstream((req) => {
    // The async provider's first fetch fails: its retry policy fetches again.
    if (new URL(req.url).pathname === "/async-keys") {
      return ++asyncFetches === 1
        ? new Response("busy", { status: 503 })
        : new Response(jwksOf(es));
    }
    jwksFetches++;
    assertEquals(new URL(req.url).pathname + new URL(req.url).search, "/keys?v=1");
    return new Response(jwksOf(remoteKey));
  });
  const filters = filterConfig([rs, es], hs);
  const yaml = httpConfig({
    routes: [
      route("/disabled", perRoute("disabled: true")),
      route("/named", perRoute("requirement_name: remote-req")),
      route("/unnamed", perRoute("requirement_name: nope")),
      route("/"),
    ].join(""),
    clusters: staticCluster("backend", app.port) + staticCluster("jwks", jwks.port),
  }).replace(
    "          http_filters:\n",
    "          http_filters:\n" + filters.replace(/^/gm, "          ") + "\n",
  );
  const proxy = await Proxy.start(yaml);
  const base = `http://127.0.0.1:${proxy.port()}`;
  const now = Math.floor(Date.now() / 1000);
  const good = {
    iss: "local-iss",
    aud: "api",
    sub: "alice",
    exp: now + 600,
    org: { team: "t1" },
    "https://example.com/tenant": "t2",
  };
  const get = async (path: string, ...args: string[]) => {
    const r = await curl(["-i", ...args, `${base}${path}`]);
    const [head, body] = r.out.split("\r\n\r\n");
    const status = Number(head.split(" ")[1]);
    const www = /^www-authenticate: (.*)\r?$/im.exec(head)?.[1];
    return { status, body, www, json: () => JSON.parse(body) };
  };
  try {
    // No token: 401 with the realm of the request and no error attribute.
    let r = await get("/x?q=1");
    assertEquals([r.status, r.body], [401, "Jwt is missing"]);
    assertEquals(r.www, `Bearer realm="http://127.0.0.1:${proxy.port()}/x?q=1"`);

    // The same over HTTP/2 (h2c).
    r = await get("/x", "--http2-prior-knowledge");
    assertEquals([r.status, r.body], [401, "Jwt is missing"]);
    assertEquals(r.www, `Bearer realm="http://127.0.0.1:${proxy.port()}/x"`);

    // A good RS256 token: on upstream with its payload and claims; the token is removed.
    const token = await signToken(rs, good);
    r = await get("/x", "-H", `Authorization: Bearer ${token}`, "-H", "x-sub: spoofed");
    assertEquals(r.status, 200, r.body);
    const h = r.json().h;
    assertEquals(h.authorization, undefined);
    assertEquals(h["x-sub"], "alice");
    assertEquals(h["x-team"], "t1");
    assertEquals(h["x-tenant"], "t2");
    assertEquals(h["x-jwt-payload"], token.split(".")[1]);

    // ES256 from the same set; the access_token query parameter is read and removed.
    r = await get(`/x?a=1&access_token=${await signToken(es, good)}`);
    assertEquals(r.status, 200, r.body);
    assertEquals(r.json().url, "/x?a=1");

    // Invalid tokens: 401 with error="invalid_token".
    r = await get(
      "/x",
      "-H",
      `Authorization: Bearer ${await signToken(rs, { ...good, exp: now - 120 })}`,
    );
    assertEquals([r.status, r.body], [401, "Jwt is expired"]);
    assert(r.www?.endsWith(', error="invalid_token"'), r.www);
    r = await get(
      "/x",
      "-H",
      `Authorization: Bearer ${await signToken(other, good, { kid: "rs256" })}`,
    );
    assertEquals([r.status, r.body], [401, "Jwt verification fails"]);
    r = await get(
      "/x",
      "-H",
      `Authorization: Bearer ${await signToken(rs, { ...good, iss: "who" })}`,
    );
    assertEquals([r.status, r.body], [401, "Jwt issuer is not configured"]);
    r = await get("/x", "-H", "Authorization: Bearer a.b");
    assertEquals([r.status, r.body], [
      401,
      "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    ]);
    r = await get("/x", "-H", `Authorization: Bearer ${btoa('{"alg":"none"}')}.e30.`);
    assertEquals([r.status, r.body], [401, "Jwt header [alg] is not supported"]);

    // Audiences of provider_and_audiences replace the provider's: 403.
    r = await get("/aud", "-H", `Authorization: Bearer ${token}`);
    assertEquals([r.status, r.body], [403, "Audiences in Jwt are not allowed"]);

    // Remote JWKS through the jwks cluster, fetched once and cached; the token is forwarded.
    const remoteToken = await signToken(remoteKey, { iss: "remote-iss", exp: now + 600 });
    for (let i = 0; i < 2; i++) {
      r = await get("/remote", "-H", `x-token: ${remoteToken}`);
      assertEquals(r.status, 200, r.body);
      assertEquals(r.json().h["x-token"], remoteToken);
    }
    assertEquals(jwksFetches, 1);
    // async_fetch: fetched at start-up (retried after a 503), ready for requests.
    r = await get("/async", "-H", `x-async: ${await signToken(es, { iss: "async-iss" })}`);
    assertEquals(r.status, 200, r.body);
    assertEquals(asyncFetches, 2);
    // A JWKS cluster with no server: the fetch fails.
    const brokenToken = await signToken(remoteKey, { iss: "broken-iss" });
    r = await get("/broken", "-H", `x-broken: ${brokenToken}`);
    assertEquals([r.status, r.body], [401, "Jwks remote fetch is failed"]);

    // requires_any: either provider; allow_missing: no token passes, a bad one does not.
    r = await get("/any", "-H", `x-token: ${remoteToken}`);
    assertEquals(r.status, 200, r.body);
    r = await get("/any");
    assertEquals([r.status, r.body], [401, "Jwt is missing"]);
    assertEquals((await get("/optional")).status, 200);
    r = await get(
      "/optional",
      "-H",
      `Authorization: Bearer ${await signToken(other, good, { kid: "rs256" })}`,
    );
    assertEquals(r.status, 401);

    // Cookies (HS256 with an oct key); public paths; CORS preflights.
    r = await get(
      "/cookie",
      "-H",
      `Cookie: a=b; session=${await signToken(hs, { iss: "cookie-iss" })}`,
    );
    assertEquals(r.status, 200, r.body);
    assertEquals((await get("/public")).status, 200);
    r = await get(
      "/x",
      "-X",
      "OPTIONS",
      "-H",
      "Origin: http://a",
      "-H",
      "Access-Control-Request-Method: GET",
    );
    assertEquals(r.status, 200);

    // Per-route configs: disabled, a requirement by name, an unknown name (403).
    assertEquals((await get("/disabled")).status, 200);
    assertEquals((await get("/named", "-H", `x-token: ${remoteToken}`)).status, 200);
    r = await get("/unnamed");
    assertEquals(r.status, 403);
    assertEquals(
      r.body,
      "Failed JWT authentication: Wrong requirement_name: nope. It should be one of [remote-req]",
    );

    const s = await adminStatsWhen(proxy.adminPort, (s) => s["http.test.jwt_authn.allowed"] === 12);
    assertEquals(s["http.test.jwt_authn.denied"], 12);
    assertEquals(s["http.test.jwt_authn.cors_preflight_bypassed"], 1);
    assertEquals(s["http.test.jwt_authn.jwks_fetch_success"], 2);
    assertEquals(s["http.test.jwt_authn.jwks_fetch_failed"], 1);
    // The remote provider caches verified tokens: hits for the second /remote, /any and /named.
    assertEquals(s["http.test.jwt_authn.jwt_cache_hit"], 3);
  } finally {
    await proxy.stop();
    await app.close();
    await jwks.close();
  }
});

Deno.test("jwt_authn: validate refuses unimplemented fields and unknown providers with their place", async () => {
  const yaml = httpConfig({
    routes: route("/", perRoute("disabled: false")),
    clusters: staticCluster("backend", 9),
  }).replace(
    "          http_filters:\n",
    `          http_filters:
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                p:
                  local_jwks: { inline_string: "{}" }
                  failed_status_in_metadata: status
              rules:
              - match: { prefix: /, grpc: {} }
                requires: { provider_name: q }
`,
  );
  const path = tempFile(yaml);
  const r = await runMain(["--mode", "validate", "-c", path]);
  assertEquals(r.code, 1, r.stderr);
  const f =
    "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0]" +
    ".typed_config";
  for (
    const want of [
      `${f}.providers["p"]: field 'failed_status_in_metadata' is not supported yet`,
      `${f}.rules[0].match.grpc: unsupported: envoy.filters.http.jwt_authn`,
      "Required provider ['q'] is not configured.",
      `typed_per_filter_config["jwt"].disabled: value must equal true`,
    ]
  ) assert(r.stderr.includes(want), `missing '${want}' in:\n${r.stderr}`);
});
