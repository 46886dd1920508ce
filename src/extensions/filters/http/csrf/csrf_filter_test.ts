import { create, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../../../../testing/assert.ts";
import { exchange, routeTable } from "../../../../testing/http_filter.ts";
import { CsrfPolicySchema } from "../../../../../proto/gen/envoy/extensions/filters/http/csrf/v3/csrf_pb.ts";
import { Store } from "../../../../stats/store.ts";
import { csrfFilterFactory, CsrfPolicy, CsrfStats, hostAndPort } from "./csrf_filter.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy";
const ON = { defaultValue: { numerator: 100 } };
const OFF = { defaultValue: { numerator: 0 } };

function setup(
  filterPolicy: MessageInitShape<typeof CsrfPolicySchema>,
  routes: JsonValue[] = [{ match: { prefix: "/" }, route: { cluster: "c" } }],
) {
  const store = new Store();
  const stats = new CsrfStats(store.scope("http.test"));
  const policy = new CsrfPolicy(create(CsrfPolicySchema, filterPolicy), "typed_config");
  const table = routeTable({ virtualHosts: [{ name: "v", domains: ["*"], routes }] });
  const run = (request: Record<string, string>) =>
    exchange(table, [csrfFilterFactory(policy, stats, "envoy.filters.http.csrf")], request);
  const counts = () =>
    ["missing_source_origin", "request_invalid", "request_valid"].map((n) =>
      store.counter(`http.test.csrf.${n}`).value
    );
  return { run, counts };
}

const enforced = { filterEnabled: { defaultValue: { numerator: 100 } } };

Deno.test("csrf: host and port as Envoy's URL parser renders them, else the raw value", () => {
  assertEquals(hostAndPort("https://Example.com:443"), "example.com");
  assertEquals(hostAndPort("http://example.com:8080/path?q"), "example.com:8080");
  assertEquals(hostAndPort("http://[::1]:10000"), "[::1]:10000");
  assertEquals(hostAndPort("null"), "null");
  assertEquals(hostAndPort("ftp://example.com"), "ftp://example.com");
  assertEquals(hostAndPort(""), "");
});

Deno.test("csrf: state-changing requests from another origin get 403 Invalid origin", () => {
  const { run, counts } = setup(enforced);
  const bad = run({ ":method": "POST", ":path": "/", origin: "http://evil.example" });
  assertEquals(bad.localReply, {
    status: 403,
    body: "Invalid origin",
    details: "csrf_origin_mismatch",
  });
  assert(!bad.forwarded);
  for (const m of ["PUT", "DELETE", "PATCH"]) {
    assertEquals(run({ ":method": m, ":path": "/", origin: "http://x" }).localReply?.status, 403);
  }
  assertEquals(counts(), [0, 4, 0]);
  // Safe methods are not checked.
  assert(run({ ":method": "GET", ":path": "/", origin: "http://evil.example" }).forwarded);
  assertEquals(counts(), [0, 4, 0]);
});

Deno.test("csrf: same origin (Origin, else Referer) passes; none at all is missing and invalid", () => {
  const { run, counts } = setup(enforced);
  assert(run({ ":method": "POST", ":path": "/", origin: "http://Example.com:80" }).forwarded);
  assert(
    run({ ":method": "POST", ":path": "/", referer: "http://example.com/form" }).forwarded,
  );
  assertEquals(counts(), [0, 0, 2]);
  const none = run({ ":method": "POST", ":path": "/" });
  assertEquals(none.localReply?.status, 403);
  assertEquals(counts(), [1, 1, 2]);
});

Deno.test("csrf: shadow_enabled counts without rejecting; disabled does nothing", () => {
  const shadow = setup({ filterEnabled: OFF, shadowEnabled: ON });
  assert(shadow.run({ ":method": "POST", ":path": "/", origin: "http://evil" }).forwarded);
  assertEquals(shadow.counts(), [0, 1, 0]);
  const off = setup({ filterEnabled: OFF });
  assert(off.run({ ":method": "POST", ":path": "/", origin: "http://evil" }).forwarded);
  assertEquals(off.counts(), [0, 0, 0]);
});

Deno.test("csrf: the most specific per-route policy replaces the filter's; additional_origins", () => {
  const { run } = setup({ filterEnabled: OFF }, [
    {
      match: { prefix: "/additional" },
      route: { cluster: "c" },
      typedPerFilterConfig: {
        "envoy.filters.http.csrf": {
          "@type": TYPE,
          filterEnabled: ON,
          additionalOrigins: [{ suffix: ".trusted.example" }],
        },
      },
    },
    {
      match: { prefix: "/on" },
      route: { cluster: "c" },
      typedPerFilterConfig: { "envoy.filters.http.csrf": { "@type": TYPE, filterEnabled: ON } },
    },
    { match: { prefix: "/" }, route: { cluster: "c" } },
  ]);
  const post = (path: string, origin: string) => run({ ":method": "POST", ":path": path, origin });
  assert(post("/", "http://evil").forwarded, "the filter's own policy is off");
  assertEquals(post("/on", "http://evil").localReply?.status, 403);
  assert(post("/additional", "https://a.trusted.example").forwarded);
  assertEquals(post("/additional", "https://evil").localReply?.status, 403);
});

Deno.test("csrf: a bad additional origin regex is refused naming the field", () => {
  const bad = create(CsrfPolicySchema, {
    additionalOrigins: [{ matchPattern: { case: "safeRegex", value: { regex: "(" } } }],
  });
  let message = "";
  try {
    new CsrfPolicy(bad, "typed_config");
  } catch (e) {
    message = (e as Error).message;
  }
  assertMatch(message, /^typed_config\.additional_origins\[0\]\.safe_regex\.regex: invalid regex/);
});
