import type { JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../../../../testing/assert.ts";
import { exchange, routeTable } from "../../../../testing/http_filter.ts";
import { Store } from "../../../../stats/store.ts";
import { corsFilterFactory, CorsStats } from "./cors_filter.ts";

const POLICY = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";
const policy = (p: Record<string, JsonValue>) => ({ "@type": POLICY, ...p });
const PREFLIGHT = { ":method": "OPTIONS", ":path": "/", "access-control-request-method": "PUT" };

function setup(vhost: Record<string, JsonValue>, configName = "envoy.filters.http.cors") {
  const store = new Store();
  const stats = new CorsStats(store.scope("http.test"));
  const table = routeTable({ virtualHosts: [{ name: "v", domains: ["*"], ...vhost }] });
  const run = (request: Record<string, string>, upstream?: Record<string, string>) =>
    exchange(table, [corsFilterFactory(stats, configName)], request, upstream);
  const count = (name: string) => store.counter(`http.test.cors.${name}`).value;
  return { run, count };
}

const ALLOW_EXAMPLE = {
  typedPerFilterConfig: {
    "envoy.filters.http.cors": policy({
      allowOriginStringMatch: [{ exact: "https://a.example" }],
      allowMethods: "GET,PUT",
      allowHeaders: "x-one",
      exposeHeaders: "x-exposed",
      maxAge: "600",
      allowCredentials: true,
    }),
  },
  routes: [{ match: { prefix: "/" }, route: { cluster: "c" } }],
};

Deno.test("cors: a preflight from an allowed origin is answered with the allow-* headers", () => {
  const { run, count } = setup(ALLOW_EXAMPLE);
  const r = run({ ...PREFLIGHT, origin: "https://a.example" });
  assert(!r.forwarded);
  assertEquals(Object.fromEntries(r.response!.entries()), {
    ":status": "200",
    "access-control-allow-origin": "https://a.example",
    "access-control-allow-credentials": "true",
    "access-control-allow-methods": "GET,PUT",
    "access-control-allow-headers": "x-one",
    "access-control-max-age": "600",
    // The filter's encoder sees its own preflight response too, as in Envoy.
    "access-control-expose-headers": "x-exposed",
  });
  assertEquals(r.streamInfo.responseCodeDetails, "cors_response");
  assertEquals(count("origin_valid"), 1);
});

Deno.test("cors: a simple request from an allowed origin gets allow-origin, credentials, expose", () => {
  const { run, count } = setup(ALLOW_EXAMPLE);
  const r = run({ ":method": "GET", ":path": "/", origin: "https://a.example" }, { x: "1" });
  assert(r.forwarded);
  assertEquals(r.response!.get("access-control-allow-origin"), "https://a.example");
  assertEquals(r.response!.get("access-control-allow-credentials"), "true");
  assertEquals(r.response!.get("access-control-expose-headers"), "x-exposed");
  assertEquals(r.response!.get("access-control-allow-methods"), undefined);
  assertEquals(count("origin_valid"), 1);
});

Deno.test("cors: other origins are counted invalid; their preflights go upstream by default", () => {
  const { run, count } = setup(ALLOW_EXAMPLE);
  const simple = run({ ":method": "GET", ":path": "/", origin: "https://b.example" }, {});
  assertEquals(simple.response!.get("access-control-allow-origin"), undefined);
  const pre = run({ ...PREFLIGHT, origin: "https://b.example" }, {});
  assert(pre.forwarded);
  assertEquals(count("origin_invalid"), 2);
  // No Origin: not a CORS request, nothing counted.
  const plain = run({ ":method": "GET", ":path": "/" }, {});
  assert(plain.forwarded);
  assertEquals(count("origin_invalid") + count("origin_valid"), 2);
});

Deno.test("cors: forward_not_matching_preflights false answers them without allow-origin", () => {
  const { run } = setup({
    typedPerFilterConfig: {
      "envoy.filters.http.cors": policy({
        allowOriginStringMatch: [{ exact: "https://a.example" }],
        allowMethods: "*",
        allowHeaders: "*",
        forwardNotMatchingPreflights: false,
      }),
    },
    routes: [{ match: { prefix: "/" }, route: { cluster: "c" } }],
  });
  const r = run({
    ...PREFLIGHT,
    origin: "https://b.example",
    "access-control-request-headers": "x-a",
  });
  assert(!r.forwarded);
  assertEquals(Object.fromEntries(r.response!.entries()), {
    ":status": "200",
    // "*" echoes the preflight's request method and headers.
    "access-control-allow-methods": "PUT",
    "access-control-allow-headers": "x-a",
  });
});

Deno.test("cors: route policy over virtual host policy, field by field; a matcher of '*' allows all", () => {
  const { run } = setup({
    typedPerFilterConfig: {
      "envoy.filters.http.cors": policy({
        allowOriginStringMatch: [{ safeRegex: { regex: "\\*" } }],
        allowMethods: "GET",
        maxAge: "60",
      }),
    },
    routes: [
      {
        match: { prefix: "/restricted" },
        route: { cluster: "c" },
        typedPerFilterConfig: {
          "envoy.filters.http.cors": policy({
            allowOriginStringMatch: [{ safeRegex: { regex: ".*\\.envoyproxy\\.io" } }],
            allowMethods: "POST",
          }),
        },
      },
      {
        match: { prefix: "/disabled" },
        route: { cluster: "c" },
        typedPerFilterConfig: {
          "envoy.filters.http.cors": policy({ filterEnabled: { defaultValue: { numerator: 0 } } }),
        },
      },
      { match: { prefix: "/" }, route: { cluster: "c" } },
    ],
  });
  const open = run({ ...PREFLIGHT, ":path": "/open", origin: "https://any.where" });
  assertEquals(open.response!.get("access-control-allow-origin"), "https://any.where");
  assertEquals(open.response!.get("access-control-allow-methods"), "GET");
  const ok = run({ ...PREFLIGHT, ":path": "/restricted", origin: "https://www.envoyproxy.io" });
  assertEquals(ok.response!.get("access-control-allow-methods"), "POST");
  assertEquals(ok.response!.get("access-control-max-age"), "60", "inherited from the vhost");
  const no = run({ ...PREFLIGHT, ":path": "/restricted", origin: "https://any.where" });
  assert(no.forwarded);
  const off = run({ ...PREFLIGHT, ":path": "/disabled", origin: "https://any.where" });
  assert(off.forwarded);
});

Deno.test("cors: shadow_enabled counts origins without enforcing", () => {
  const { run, count } = setup({
    typedPerFilterConfig: {
      "envoy.filters.http.cors": policy({
        allowOriginStringMatch: [{ exact: "https://a.example" }],
        filterEnabled: { defaultValue: { numerator: 0 } },
        shadowEnabled: { defaultValue: { numerator: 100 } },
      }),
    },
    routes: [{ match: { prefix: "/" }, route: { cluster: "c" } }],
  });
  const r = run({ ...PREFLIGHT, origin: "https://a.example" }, {});
  assert(r.forwarded);
  assertEquals(r.response!.get("access-control-allow-origin"), undefined);
  run({ ...PREFLIGHT, origin: "https://b.example" }, {});
  assertEquals([count("origin_valid"), count("origin_invalid")], [1, 1]);
});

Deno.test("cors: allow_private_network_access answers a private network preflight", () => {
  const { run } = setup({
    typedPerFilterConfig: {
      "envoy.filters.http.cors": policy({
        allowOriginStringMatch: [{ prefix: "https://" }],
        allowPrivateNetworkAccess: true,
      }),
    },
    routes: [{ match: { prefix: "/" }, route: { cluster: "c" } }],
  });
  const r = run({
    ...PREFLIGHT,
    origin: "https://a.example",
    "access-control-request-private-network": "true",
  });
  assertEquals(r.response!.get("access-control-allow-private-network"), "true");
});

Deno.test("cors: typed policies under the filter's chain name, else its extension name", () => {
  const routes = [{ match: { prefix: "/" }, route: { cluster: "c" } }];
  const p = policy({ allowOriginStringMatch: [{ exact: "https://a.example" }] });
  const byChainName = setup({ typedPerFilterConfig: { "my-cors": p }, routes }, "my-cors");
  assertEquals(
    byChainName.run({ ...PREFLIGHT, origin: "https://a.example" }).response?.get(
      "access-control-allow-origin",
    ),
    "https://a.example",
  );
  const other = setup({ typedPerFilterConfig: { "my-cors": p }, routes });
  assert(other.run({ ...PREFLIGHT, origin: "https://a.example" }).forwarded);
});

Deno.test("cors: the deprecated cors fields apply when no level has a typed policy", () => {
  const { run } = setup({
    cors: { allowOriginStringMatch: [{ exact: "https://a.example" }], allowMethods: "GET" },
    routes: [
      { match: { prefix: "/redirect" }, redirect: { hostRedirect: "x" } },
      { match: { prefix: "/r" }, route: { cluster: "c", cors: { allowMethods: "PATCH" } } },
      { match: { prefix: "/" }, route: { cluster: "c" } },
    ],
  });
  const vh = run({ ...PREFLIGHT, origin: "https://a.example" });
  assertEquals(vh.response!.get("access-control-allow-methods"), "GET");
  const route = run({ ...PREFLIGHT, ":path": "/r", origin: "https://a.example" });
  assertEquals(route.response!.get("access-control-allow-methods"), "PATCH");
  // Redirects have no route entry: the filter leaves them alone.
  assert(run({ ...PREFLIGHT, ":path": "/redirect", origin: "https://a.example" }).forwarded);
});
