/**
 * The CORS and CSRF filters on a real proxy, between curl and a real upstream: preflights
 * answered by the proxy, CORS headers on simple responses, a route's own policy, CSRF 403s
 * and shadow mode, and the filters' stats on the admin.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, httpConfig, Proxy, staticCluster, upstream } from "./proxy.ts";

const CORS_POLICY = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";
const CSRF_POLICY = "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy";

function config(upstreamPort: number): string {
  return httpConfig({
    vhostExtra: `typed_per_filter_config:
  envoy.filters.http.cors:
    "@type": ${CORS_POLICY}
    allow_origin_string_match: [{ exact: "http://front.example" }]
    allow_methods: "GET, PUT"
    allow_headers: "content-type, x-token"
    expose_headers: "x-up"
    max_age: "3600"
    allow_credentials: true`,
    routes: `- match: { prefix: "/cors/restricted" }
  route: { cluster: backend }
  typed_per_filter_config:
    envoy.filters.http.cors:
      "@type": ${CORS_POLICY}
      allow_origin_string_match: [{ safe_regex: { regex: '.*\\.trusted\\.example' } }]
      forward_not_matching_preflights: false
- match: { prefix: "/csrf/shadow" }
  route: { cluster: backend }
  typed_per_filter_config:
    envoy.filters.http.csrf:
      "@type": ${CSRF_POLICY}
      filter_enabled: { default_value: { numerator: 0 } }
      shadow_enabled: { default_value: { numerator: 100 } }
- match: { prefix: "/" }
  route: { cluster: backend }`,
    httpFilters: `- name: envoy.filters.http.cors
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors
- name: envoy.filters.http.csrf
  typed_config:
    "@type": ${CSRF_POLICY}
    filter_enabled: { default_value: { numerator: 100 } }`,
    clusters: staticCluster("backend", upstreamPort),
  });
}

/** Response headers of `curl -i` output, by lower-case name. */
function headers(out: string): Record<string, string> {
  const head = out.split("\r\n\r\n")[0].split("\r\n").slice(1);
  return Object.fromEntries(head.map((l) => {
    const i = l.indexOf(":");
    return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
  }));
}

Deno.test("cors and csrf: preflights, simple requests, route policies, 403s and stats", async () => {
  const seen: string[] = [];
  const up = upstream((req) => {
    const line = `${req.method} ${new URL(req.url).pathname}`;
    seen.push(line);
    return new Response(`up ${line}`, { headers: { "x-up": "1" } });
  });
  const proxy = await Proxy.start(config(up.port));
  try {
    const base = `http://127.0.0.1:${proxy.port()}`;
    const preflight = (path: string, origin: string) =>
      curl([
        "-i",
        "-X",
        "OPTIONS",
        "-H",
        `Origin: ${origin}`,
        "-H",
        "Access-Control-Request-Method: PUT",
        "-H",
        "Access-Control-Request-Headers: x-token",
        `${base}${path}`,
      ]);

    // A preflight from an allowed origin is answered by the proxy itself.
    const pre = await preflight("/api", "http://front.example");
    assertMatch(pre.out, /^HTTP\/1\.1 200 /, pre.out);
    const h = headers(pre.out);
    assertEquals(h["access-control-allow-origin"], "http://front.example");
    assertEquals(h["access-control-allow-methods"], "GET, PUT");
    assertEquals(h["access-control-allow-headers"], "content-type, x-token");
    assertEquals(h["access-control-max-age"], "3600");
    assertEquals(h["access-control-allow-credentials"], "true");
    assertEquals(seen, []);
    // The same over HTTP/2.
    const h2 = await curl([
      "-i",
      "--http2-prior-knowledge",
      "-X",
      "OPTIONS",
      "-H",
      "Origin: http://front.example",
      "-H",
      "Access-Control-Request-Method: PUT",
      `${base}/api`,
    ]);
    assertMatch(h2.out, /^HTTP\/2 200/, h2.out);
    assertMatch(h2.out, /\r\naccess-control-allow-origin: http:\/\/front\.example\r\n/);
    assertEquals(seen, []);

    // A simple request goes upstream; the response gets the CORS headers.
    const get = await curl(["-i", "-H", "Origin: http://front.example", `${base}/api`]);
    const g = headers(get.out);
    assertMatch(get.out, /up GET \/api$/);
    assertEquals(g["access-control-allow-origin"], "http://front.example");
    assertEquals(g["access-control-allow-credentials"], "true");
    assertEquals(g["access-control-expose-headers"], "x-up");
    assertEquals(g["access-control-allow-methods"], undefined);

    // The route's own origins; its not-matching preflights are answered, without allow-origin.
    const denied = await preflight("/cors/restricted", "http://front.example");
    assertMatch(denied.out, /^HTTP\/1\.1 200 /);
    assertEquals(headers(denied.out)["access-control-allow-origin"], undefined);
    const trusted = await preflight("/cors/restricted", "https://app.trusted.example");
    assertEquals(
      headers(trusted.out)["access-control-allow-origin"],
      "https://app.trusted.example",
    );
    assertEquals(
      headers(trusted.out)["access-control-allow-methods"],
      "GET, PUT",
      "from the virtual host's policy",
    );
    assertEquals(seen, ["GET /api"]);

    // CSRF: a cross-origin POST is refused, a same-origin one goes through.
    const post = (path: string, origin: string) =>
      curl(["-i", "-X", "POST", "-d", "x=1", "-H", `Origin: ${origin}`, `${base}${path}`]);
    const evil = await post("/api", "http://evil.example");
    assertMatch(evil.out, /^HTTP\/1\.1 403 /, evil.out);
    assertMatch(evil.out, /\r\n\r\nInvalid origin$/);
    const same = await post("/api", base);
    assertMatch(same.out, /up POST \/api$/, same.out);
    // Shadow mode only counts.
    const shadow = await post("/csrf/shadow", "http://evil.example");
    assertMatch(shadow.out, /up POST \/csrf\/shadow$/);
    assertEquals(seen, ["GET /api", "POST /api", "POST /csrf/shadow"]);

    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["http.test.csrf.request_valid"] === 1 && s["http.test.cors.origin_invalid"] === 4,
    );
    assertEquals(s["http.test.cors.origin_valid"], 4);
    assertEquals(s["http.test.csrf.request_invalid"], 2);
    assertEquals(s["http.test.csrf.missing_source_origin"], 0);
    assert(s["http.test.downstream_rq_2xx"] >= 6);
  } finally {
    await proxy.stop();
    await up.close();
  }
});
