import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { RETRY_ON_5XX, RETRY_ON_CONNECT_FAILURE } from "./retry_policy.ts";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { type MatchedRoute, type RouteMatchContext, RouteTable } from "./route_table.ts";
import { durationMs } from "./route_entry.ts";
import { runtimeSnapshot, setRuntimeSnapshot } from "../runtime/runtime.ts";
import type { RuntimeEntry } from "../runtime/snapshot.ts";

function table(routes: JsonValue[], vhost: Record<string, JsonValue> = {}): RouteTable {
  const json = { name: "rc", virtualHosts: [{ name: "vh", domains: ["*"], routes, ...vhost }] };
  const schema = messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
  return new RouteTable(fromJson(schema, json, { registry: apiRegistry() }));
}

function req(path: string | undefined, extra: Record<string, string> = {}): HeaderMap {
  const h = HeaderMap.from([[":method", "GET"], [":authority", "example.com"], [
    ":scheme",
    "http",
  ]]);
  if (path !== undefined) h.add(":path", path);
  for (const [k, v] of Object.entries(extra)) h.add(k, v);
  return h;
}

function match(
  t: RouteTable,
  path: string | undefined,
  extra: Record<string, string> = {},
  rest: Partial<RouteMatchContext> = {},
): MatchedRoute | undefined {
  return t.route({ headers: req(path, extra), random: 0, ...rest });
}

/** The name of the route a request takes, or undefined. */
function pick(
  t: RouteTable,
  path: string | undefined,
  extra: Record<string, string> = {},
  rest: Partial<RouteMatchContext> = {},
): string | undefined {
  return match(t, path, extra, rest)?.route.name;
}

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

const to = (name: string, m: JsonValue) => ({ name, match: m, route: { cluster: "c" } });

Deno.test("path specifiers compare the path without its query string", () => {
  const t = table([
    to("exact", { path: "/exact" }),
    to("regex", { safeRegex: { regex: "/re/[0-9]+" } }),
    to("sep", { pathSeparatedPrefix: "/api/dev" }),
    to("prefix", { prefix: "/p" }),
  ]);
  assertEquals(pick(t, "/exact?x=1"), "exact");
  assertEquals(pick(t, "/exact/"), undefined);
  assertEquals(pick(t, "/re/12?q=/re/x"), "regex");
  assertEquals(pick(t, "/re/12/x"), undefined, "safe_regex matches the whole path");
  for (const p of ["/api/dev", "/api/dev/", "/api/dev/v1", "/api/dev?param=true"]) {
    assertEquals(pick(t, p), "sep", p);
  }
  assertEquals(pick(t, "/api/developer"), undefined);
  assertEquals(pick(t, "/p"), "prefix");
  assertEquals(pick(t, "/px/y"), "prefix");
  assertEquals(pick(t, "/x?/p"), undefined, "the query is not part of the path");
  assertEquals(pick(t, undefined), undefined, "no :path, no path route");
});

Deno.test("case_sensitive: false folds prefix and path, never regexes", () => {
  const t = table([
    to("prefix", { prefix: "/Foo", caseSensitive: false }),
    to("path", { path: "/Bar", caseSensitive: false }),
    to("sep", { pathSeparatedPrefix: "/Baz", caseSensitive: false }),
    to("regex", { safeRegex: { regex: "/Re" }, caseSensitive: false }),
  ]);
  assertEquals(pick(t, "/FOO/x"), "prefix");
  assertEquals(pick(t, "/bAR"), "path");
  assertEquals(pick(t, "/baz/1"), "sep");
  assertEquals(pick(t, "/re"), undefined);
  assertEquals(pick(t, "/Re"), "regex");
});

Deno.test("routes are tried in order; every condition must hold", () => {
  const t = table([
    to("headers", { prefix: "/", headers: [{ name: "x-a", exactMatch: "1" }, { name: "x-b" }] }),
    to("query", {
      prefix: "/",
      queryParameters: [{ name: "debug" }, { name: "v", stringMatch: { exact: "2" } }],
    }),
    to("grpc", { prefix: "/", grpc: {} }),
    to("fallback", { prefix: "/" }),
  ]);
  assertEquals(pick(t, "/", { "x-a": "1", "x-b": "" }), "headers");
  assertEquals(pick(t, "/", { "x-a": "1" }), "fallback");
  assertEquals(pick(t, "/?debug&v=2"), "query");
  assertEquals(pick(t, "/?v=2"), "fallback");
  assertEquals(pick(t, "/", { "content-type": "application/grpc" }), "grpc");
  assertEquals(pick(t, "/", { "content-type": "application/grpc+proto" }), "grpc");
  assertEquals(pick(t, "/", { "content-type": "application/grpc-web" }), "fallback");
});

Deno.test("runtime_fraction uses its default value against the request's random", () => {
  const t = table([
    to("rare", {
      prefix: "/",
      runtimeFraction: { defaultValue: { numerator: 1, denominator: "MILLION" } },
    }),
    to("half", {
      prefix: "/",
      runtimeFraction: { defaultValue: { numerator: 50 }, runtimeKey: "k" },
    }),
    to("rest", { prefix: "/" }),
  ]);
  assertEquals(pick(t, "/", {}, { random: 0 }), "rare");
  assertEquals(pick(t, "/", {}, { random: 2_000_000 }), "rare");
  assertEquals(pick(t, "/", {}, { random: 49 }), "half");
  assertEquals(pick(t, "/", {}, { random: 149 }), "half", "149 % 100 < 50");
  assertEquals(pick(t, "/", {}, { random: 50 }), "rest");
  assertEquals(pick(t, "/", {}, { random: 1_000_050 }), "rest");
});

Deno.test("runtime_fraction reads its runtime key from the live snapshot", () => {
  const t = table([
    to("canary", {
      prefix: "/",
      runtimeFraction: { defaultValue: { numerator: 0 }, runtimeKey: "routing.canary" },
    }),
    to("stable", { prefix: "/" }),
  ]);
  const before = runtimeSnapshot();
  try {
    assertEquals(pick(t, "/", {}, { random: 5 }), "stable");
    const layer = (v: RuntimeEntry) => ({
      layers: [{ name: "admin", entries: { "routing.canary": v } }],
    });
    // An integer is a percentage.
    setRuntimeSnapshot(layer({ raw: "10", uint: 10 }));
    assertEquals(pick(t, "/", {}, { random: 5 }), "canary");
    assertEquals(pick(t, "/", {}, { random: 10 }), "stable");
    // A fractional percent with its own denominator.
    setRuntimeSnapshot(
      layer({ raw: "", fractionalPercent: { numerator: 1, denominator: 10_000 } }),
    );
    assertEquals(pick(t, "/", {}, { random: 10_000 }), "canary");
    assertEquals(pick(t, "/", {}, { random: 10_001 }), "stable");
  } finally {
    setRuntimeSnapshot(before);
  }
});

Deno.test("tls_context and connect_matcher", () => {
  const t = table([
    to("connect", { connectMatcher: {} }),
    to("mtls", { prefix: "/", tlsContext: { presented: true, validated: true } }),
    to("plain", { prefix: "/", tlsContext: { presented: false } }),
  ]);
  assertEquals(pick(t, "/", {}, { tls: { presented: true, validated: true } }), "mtls");
  assertEquals(pick(t, "/", {}, { tls: { presented: true, validated: false } }), undefined);
  assertEquals(pick(t, "/"), "plain");
  const connect = req(undefined);
  connect.set(":method", "CONNECT");
  assertEquals(t.route({ headers: connect, random: 0 })?.route.name, "connect");
});

Deno.test("cluster: one shared answer per route", () => {
  const t = table([to("r", { prefix: "/" })]);
  const a = match(t, "/a")!;
  assertEquals(a.clusterName, "c");
  assertEquals(a.route.action, "route");
  assert(a === match(t, "/b"), "fixed clusters reuse one MatchedRoute");
});

Deno.test("cluster_header: the header's first value; missing or empty is no cluster", () => {
  const t = table([{ match: { prefix: "/" }, route: { clusterHeader: "X-Cluster" } }]);
  assertEquals(match(t, "/", { "x-cluster": "blue" })?.clusterName, "blue");
  assertEquals(match(t, "/", { "x-cluster": "" })?.clusterName, undefined);
  assertEquals(match(t, "/")?.clusterName, undefined);
  assert(match(t, "/") !== undefined, "the route still matches (503 NC, not 404)");
});

Deno.test("weighted_clusters split by random modulo the sum of weights", () => {
  const t = table([{
    match: { prefix: "/" },
    route: {
      weightedClusters: {
        totalWeight: 1000,
        clusters: [
          { name: "a", weight: 10 },
          { name: "zero", weight: 0 },
          { name: "b", weight: 20 },
          { clusterHeader: "x-c", weight: 70, hostRewriteLiteral: "c.internal" },
        ],
      },
    },
  }]);
  const counts: Record<string, number> = {};
  for (let r = 0; r < 1000; r++) {
    const m = match(t, "/", { "x-c": "from-header" }, { random: r })!;
    counts[m.clusterName!] = (counts[m.clusterName!] ?? 0) + 1;
  }
  assertEquals(counts, { a: 100, b: 200, "from-header": 700 });
  const c = match(t, "/", {}, { random: 99 })!;
  assertEquals(c.weightedCluster?.hostRewriteLiteral, "c.internal");
  assertEquals(c.clusterName, undefined, "cluster_header entry without the header");
  assertEquals(match(t, "/", {}, { random: 4_294_967_215 })!.clusterName, "b", "% 100 = 15");
});

Deno.test("weighted_clusters: the random value can come from a header", () => {
  const t = table([{
    match: { prefix: "/" },
    route: {
      weightedClusters: {
        headerName: "x-rand",
        clusters: [{ name: "a", weight: 1 }, { name: "b", weight: 1 }],
      },
    },
  }]);
  assertEquals(match(t, "/", { "x-rand": "1" }, { random: 0 })?.clusterName, "b");
  assertEquals(match(t, "/", { "x-rand": "18446744073709551615" })?.clusterName, "b");
  assertEquals(match(t, "/", { "x-rand": "x" }, { random: 0 })?.clusterName, "a", "not a number");
  const twice = req("/");
  twice.add("x-rand", "1");
  twice.add("x-rand", "1");
  assertEquals(t.route({ headers: twice, random: 0 })?.clusterName, "a", "repeated: ignored");
});

Deno.test("weighted_clusters are validated like Envoy does", () => {
  const wc = (clusters: JsonValue) => () =>
    table([{ match: { prefix: "/" }, route: { weightedClusters: { clusters } } }]);
  assertMatch(
    error(wc([{ name: "a", weight: 0 }])),
    /weighted_clusters: Sum of weights in the weighted_cluster must be greater than 0\./,
  );
  assertMatch(
    error(wc([{ name: "a", clusterHeader: "h", weight: 1 }])),
    /clusters\[0\]: Only one of name or cluster_header can be specified/,
  );
  assertMatch(
    error(wc([{ weight: 1 }])),
    /clusters\[0\]: At least one of name or cluster_header need to be specified/,
  );
});

Deno.test("timeouts: 15s by default, 0 disables, idle_timeout only when set", () => {
  const t = table([
    { name: "default", match: { path: "/d" }, route: { cluster: "c" } },
    { name: "none", match: { path: "/n" }, route: { cluster: "c", timeout: "0s" } },
    {
      name: "set",
      match: { path: "/s" },
      route: { cluster: "c", timeout: "1.5s", idleTimeout: "30s" },
    },
  ]);
  assertEquals(match(t, "/d")!.route.timeoutMs, 15000);
  assertEquals(match(t, "/d")!.route.idleTimeoutMs, undefined);
  assertEquals(match(t, "/n")!.route.timeoutMs, 0);
  assertEquals(match(t, "/s")!.route.timeoutMs, 1500);
  assertEquals(match(t, "/s")!.route.idleTimeoutMs, 30000);
  assertEquals(durationMs({ seconds: 2n, nanos: 999_999 } as never), 2000);
});

Deno.test("host rewrites and route policies are exposed", () => {
  const t = table([
    {
      match: { path: "/lit" },
      route: { cluster: "c", hostRewriteLiteral: "new.host", appendXForwardedHost: true },
    },
    { match: { path: "/auto" }, route: { cluster: "c", autoHostRewrite: true } },
    { match: { path: "/hdr" }, route: { cluster: "c", hostRewriteHeader: "X-Host" } },
    {
      match: { prefix: "/re" },
      route: {
        cluster: "c",
        hostRewritePathRegex: { pattern: { regex: "^/re/([^/]+).*$" }, substitution: "\\1.svc" },
        retryPolicy: { retryOn: "5xx", numRetries: 3 },
        hashPolicy: [{ header: { headerName: "x-user" } }],
        clusterNotFoundResponseCode: "NOT_FOUND",
      },
    },
  ], { retryPolicy: { retryOn: "connect-failure" }, hedgePolicy: { hedgeOnPerTryTimeout: true } });
  const lit = match(t, "/lit")!.route;
  assertEquals([lit.hostRewriteLiteral, lit.appendXForwardedHost], ["new.host", true]);
  assertEquals(lit.retryPolicy?.retryOn, RETRY_ON_CONNECT_FAILURE, "the virtual host's policy");
  assertEquals(lit.hedgeOnPerTryTimeout, true);
  assertEquals(lit.clusterNotFoundResponseCode, 503);
  assertEquals(match(t, "/auto")!.route.autoHostRewrite, true);
  assertEquals(match(t, "/hdr")!.route.hostRewriteHeader, "x-host");
  const re = match(t, "/re/users/1?x")!.route;
  assertEquals(re.hostRewritePathRegex?.replaceAll("/re/users/1"), "users.svc");
  assertEquals(re.retryPolicy?.retryOn, RETRY_ON_5XX, "the route's own policy wins");
  assertEquals(re.retryPolicy?.numRetries, 3);
  assertEquals(re.hashPolicy !== undefined, true);
  assertEquals(re.clusterNotFoundResponseCode, 404);
});

Deno.test("direct_response: inline string or bytes, files read at compile time", () => {
  const file = Deno.makeTempFileSync();
  Deno.writeTextFileSync(file, "from a file\n");
  try {
    const t = table([
      {
        name: "s",
        match: { path: "/s" },
        directResponse: { status: 200, body: { inlineString: "hi" } },
      },
      {
        name: "b",
        match: { path: "/b" },
        directResponse: { status: 201, body: { inlineBytes: btoa("bytes") } },
      },
      {
        name: "f",
        match: { path: "/f" },
        directResponse: { status: 503, body: { filename: file } },
      },
      { name: "none", match: { path: "/n" }, directResponse: { status: 204 } },
    ]);
    const s = match(t, "/s")!;
    assertEquals(s.route.action, "direct_response");
    assertEquals(s.route.directResponse, { status: 200, body: "hi" });
    assertEquals(s.clusterName, undefined);
    assertEquals(match(t, "/b")!.route.directResponse, { status: 201, body: "bytes" });
    assertEquals(match(t, "/f")!.route.directResponse, { status: 503, body: "from a file\n" });
    assertEquals(match(t, "/n")!.route.directResponse, { status: 204, body: "" });
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("direct_response bodies are bounded and must be readable", () => {
  const big = "x".repeat(4097);
  assertMatch(
    error(() =>
      table([{
        match: { prefix: "/" },
        directResponse: { status: 200, body: { inlineString: big } },
      }])
    ),
    /^virtual_hosts\[0\]\.routes\[0\]\.direct_response\.body: response body size is 4097 bytes; maximum is 4096$/,
  );
  assertMatch(
    error(() =>
      table([{
        match: { prefix: "/" },
        directResponse: { status: 200, body: { filename: "/nonexistent/x" } },
      }])
    ),
    /direct_response\.body\.filename: cannot read '\/nonexistent\/x'/,
  );
});

Deno.test("typed_per_filter_config: route over virtual host; weighted cluster over route", () => {
  const any = (type: string) => ({ "@type": `type.googleapis.com/${type}` });
  const cors = "envoy.extensions.filters.http.cors.v3.CorsPolicy";
  const router = "envoy.extensions.filters.http.router.v3.Router";
  const t = table([
    {
      match: { prefix: "/" },
      typedPerFilterConfig: { "envoy.filters.http.cors": any(cors) },
      route: {
        weightedClusters: {
          clusters: [{ name: "a", weight: 1, typedPerFilterConfig: { x: any(router) } }],
        },
      },
    },
  ], { typedPerFilterConfig: { "envoy.filters.http.cors": any(router), other: any(router) } });
  const m = match(t, "/")!;
  assertEquals(
    m.route.typedPerFilterConfig.get("envoy.filters.http.cors")?.typeUrl,
    `type.googleapis.com/${cors}`,
  );
  assertEquals(m.route.typedPerFilterConfig.get("other")?.typeUrl, `type.googleapis.com/${router}`);
  assertEquals(
    m.virtualHost.typedPerFilterConfig.get("envoy.filters.http.cors")?.typeUrl,
    `type.googleapis.com/${router}`,
  );
  assertEquals([...m.weightedCluster!.typedPerFilterConfig.keys()].sort(), [
    "envoy.filters.http.cors",
    "other",
    "x",
  ]);
});

Deno.test("bad regexes and unsupported features fail naming the field", () => {
  assertMatch(
    error(() => table([to("ok", { prefix: "/" }), to("bad", { safeRegex: { regex: "/(a" } })])),
    /^virtual_hosts\[0\]\.routes\[1\]\.match\.safe_regex\.regex: invalid regex '\/\(a': /,
  );
  assertMatch(
    error(() =>
      table([
        to("bad", { prefix: "/", headers: [{ name: "a", safeRegexMatch: { regex: "(?=x)" } }] }),
      ])
    ),
    /routes\[0\]\.match\.headers\[0\]\.safe_regex_match\.regex: invalid regex '\(\?=x\)': .*lookahead/,
  );
  assertMatch(
    error(() =>
      table([{
        match: { prefix: "/" },
        route: {
          cluster: "c",
          prefixRewrite: "/a",
          regexRewrite: { pattern: { regex: "a" }, substitution: "b" },
        },
      }])
    ),
    /Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy/,
  );
  assertMatch(
    error(() =>
      table([{
        match: {
          prefix: "/",
          dynamicMetadata: [{ filter: "f", path: [{ key: "k" }], value: { presentMatch: true } }],
        },
        route: { cluster: "c" },
      }])
    ),
    /routes\[0\]\.match\.dynamic_metadata: .*not supported/,
  );
  assertMatch(
    error(() => table([{ match: { prefix: "/" }, nonForwardingAction: {} }])),
    /routes\[0\]: non_forwarding_action is not supported/,
  );
  assertMatch(
    error(() => table([{ match: { prefix: "/" }, route: { clusterSpecifierPlugin: "p" } }])),
    /routes\[0\]\.route: cluster specifier plugins are not supported/,
  );
});

Deno.test("runtime_key_prefix: each weight is read from <prefix>.<name>, else the configured one", () => {
  const t = table([{
    name: "split",
    match: { prefix: "/" },
    route: {
      weightedClusters: {
        runtimeKeyPrefix: "w",
        clusters: [{ name: "a", weight: 1 }, { name: "b", weight: 1 }],
      },
    },
  }, to("fallback", { prefix: "/" })]);
  const before = runtimeSnapshot();
  const uint = (n: number): RuntimeEntry => ({ raw: String(n), uint: n });
  try {
    assertEquals(match(t, "/", {}, { random: 0 })?.clusterName, "a");
    assertEquals(match(t, "/", {}, { random: 1 })?.clusterName, "b");
    setRuntimeSnapshot({
      layers: [{ name: "admin", entries: { "w.a": uint(0), "w.b": uint(9) } }],
    });
    assertEquals(match(t, "/", {}, { random: 0 })?.clusterName, "b");
    // a keeps its configured weight 1 when only b is overridden: 1 + 9 = 10.
    setRuntimeSnapshot({ layers: [{ name: "admin", entries: { "w.b": uint(9) } }] });
    assertEquals(match(t, "/", {}, { random: 10 })?.clusterName, "a");
    assertEquals(match(t, "/", {}, { random: 11 })?.clusterName, "b");
    // All weights 0: this route resolves to nothing and the next route takes the request.
    setRuntimeSnapshot({
      layers: [{ name: "admin", entries: { "w.a": uint(0), "w.b": uint(0) } }],
    });
    assertEquals(pick(t, "/"), "fallback");
  } finally {
    setRuntimeSnapshot(before);
  }
});

Deno.test("upgrade_configs: per-type map, duplicates and CONNECT refused", () => {
  const route = (upgradeConfigs: JsonValue) => ({
    name: "r",
    match: { prefix: "/" },
    route: { cluster: "c", upgradeConfigs },
  });
  const m = match(
    table([route([{ upgradeType: "WebSocket", enabled: false }, { upgradeType: "h2c" }])]),
    "/",
  );
  assertEquals([...m!.route.upgradeMap!], [["websocket", false], ["h2c", true]]);
  assertMatch(
    error(() => table([route([{ upgradeType: "websocket" }, { upgradeType: "WEBSOCKET" }])])),
    /upgrade_configs\[1\]: Duplicate upgrade WEBSOCKET$/,
  );
  assertMatch(
    error(() => table([route([{ upgradeType: "CONNECT" }])])),
    /upgrade_configs\[0\]: CONNECT upgrades are not supported yet$/,
  );
  // Disabling CONNECT is what denvoy does anyway.
  assert(table([route([{ upgradeType: "CONNECT", enabled: false }])]));
});

Deno.test("max_stream_duration and internal_redirect_policy compile onto the route", () => {
  const m = match(
    table([{
      name: "r",
      match: { prefix: "/" },
      route: {
        cluster: "c",
        maxStreamDuration: { maxStreamDuration: "1.5s", grpcTimeoutHeaderOffset: "0.01s" },
        internalRedirectPolicy: { maxInternalRedirects: 3 },
      },
    }, {
      name: "legacy",
      match: { prefix: "/legacy" },
      route: { cluster: "c", internalRedirectAction: "HANDLE_INTERNAL_REDIRECT" },
    }]),
    "/",
  );
  assertEquals(m!.route.maxStreamDuration, {
    maxStreamDurationMs: 1500,
    grpcTimeoutHeaderMaxMs: undefined,
    grpcTimeoutHeaderOffsetMs: 10,
  });
  assertEquals(m!.route.internalRedirectPolicy?.maxInternalRedirects, 3);
});
