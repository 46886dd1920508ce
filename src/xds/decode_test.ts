import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { formatIssue } from "../config/errors.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import { type DecodeContext, decodeResponseText } from "./decode.ts";
import { CDS, EDS, LDS } from "./resource_types.ts";

const dc: DecodeContext = { extensions: builtinExtensions(), clusters: () => new Set(["known"]) };

const cluster = (name: string, extra = "") =>
  `- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: ${name}
  connect_timeout: 1s
${extra}`;

const listener = (cluster: string) =>
  `- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: l
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: x
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes: [{ match: { prefix: "/" }, route: { cluster: ${cluster} } }]
        http_filters:
        - name: envoy.filters.http.router
          typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;

Deno.test("a valid CDS response decodes with its version and names", () => {
  const r = decodeResponseText(
    `version_info: "7"\nresources:\n${cluster("a")}${cluster("b")}`,
    "c.yaml",
    CDS,
    dc,
  );
  assert(r.ok);
  assertEquals(r.update.versionInfo, "7");
  assertEquals(r.update.resources.map((x) => x.name), ["a", "b"]);
});

Deno.test("a text that is not a DiscoveryResponse is a failure, not a rejection", () => {
  const r = decodeResponseText("resources: [ {", "c.yaml", CDS, dc);
  assert(!r.ok && !r.rejected);
  const s = decodeResponseText("nope: 1", "c.yaml", CDS, dc);
  assert(!s.ok && !s.rejected);
});

Deno.test("invalid resources reject the update with file:line:col and field path", () => {
  const r = decodeResponseText(
    `resources:\n${cluster("a")}${cluster("b", "  lb_policy: NOPE\n")}`,
    "c.yaml",
    CDS,
    dc,
  );
  assert(!r.ok && r.rejected);
  assertMatch(
    formatIssue(r.issues[0]),
    /^c\.yaml:\d+:\d+: resources\[1\]\.lb_policy: unknown value "NOPE"/,
  );
  const maglev = decodeResponseText(
    `resources:\n${cluster("a", "  lb_policy: MAGLEV\n  maglev_lb_config: { table_size: 8 }\n")}`,
    "c.yaml",
    CDS,
    dc,
  );
  assert(!maglev.ok && maglev.rejected);
  // Decoded, so the config dump can show what was refused.
  assertEquals(maglev.update?.resources[0].name, "a");
  const dup = decodeResponseText(`resources:\n${cluster("a")}${cluster("a")}`, "c.yaml", CDS, dc);
  assert(!dup.ok);
  assertMatch(dup.issues[0].message, /duplicate resource name 'a'/);
});

Deno.test("a resource of another type, or of an unknown type, is rejected", () => {
  const wrong = decodeResponseText(`resources:\n${cluster("a")}`, "l.yaml", LDS, dc);
  assert(!wrong.ok && wrong.rejected);
  assertMatch(wrong.issues[0].message, /does not match the message-wide type URL/);
  const unknown = decodeResponseText(
    `resources:\n- "@type": type.googleapis.com/example.Nope\n  name: a\n`,
    "c.yaml",
    CDS,
    dc,
  );
  assert(!unknown.ok && unknown.rejected);
  const typeUrl = decodeResponseText(
    `type_url: type.googleapis.com/envoy.config.listener.v3.Listener\nresources: []\n`,
    "c.yaml",
    CDS,
    dc,
  );
  assert(!typeUrl.ok);
  assertMatch(typeUrl.issues[0].message, /for a CDS subscription/);
});

Deno.test("listeners are checked as static ones: inline routes name known clusters", () => {
  assert(decodeResponseText(`resources:\n${listener("known")}`, "l.yaml", LDS, dc).ok);
  const r = decodeResponseText(`resources:\n${listener("missing")}`, "l.yaml", LDS, dc);
  assert(!r.ok && r.rejected);
  assertMatch(r.issues[0].message, /unknown cluster 'missing'/);
});

Deno.test("load assignments are named by cluster_name", () => {
  const r = decodeResponseText(
    `resources:
- "@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
  cluster_name: svc
  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 80 } } } }] }]
`,
    "e.yaml",
    EDS,
    dc,
  );
  assert(r.ok);
  assertEquals(r.update.resources[0].name, "svc");
});

Deno.test("a file's resources may come wrapped in a Resource (its TTL unused); one with no body is refused", () => {
  const wrapped = (body: string) =>
    `version_info: "1"
resources:
- "@type": type.googleapis.com/envoy.service.discovery.v3.Resource
  name: a
  ttl: 1s
${body}`;
  const ok = decodeResponseText(
    wrapped(`  resource:
    "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
    name: a
    connect_timeout: -1s
`),
    "c.yaml",
    CDS,
    dc,
  );
  assert(!ok.ok);
  assertEquals(ok.issues.map((i) => [i.path, i.line]), [[
    "resources[0].resource.connect_timeout",
    9,
  ]]);
  const good = decodeResponseText(
    wrapped(
      `  resource: { "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: a }\n`,
    ),
    "c.yaml",
    CDS,
    dc,
  );
  assertEquals(good.update?.resources.map((r) => r.name), ["a"]);
  // Only a response's resources may be wrapped: a wrapper in a wrapper is no extension.
  const nested = decodeResponseText(
    wrapped(`  resource: { "@type": type.googleapis.com/envoy.service.discovery.v3.Resource }\n`),
    "c.yaml",
    CDS,
    dc,
  );
  assert(!nested.ok);
  assertMatch(formatIssue(nested.issues[0]), /unsupported extension/);
  const heartbeat = decodeResponseText(wrapped(""), "c.yaml", CDS, dc);
  assert(!heartbeat.ok);
  assertMatch(formatIssue(heartbeat.issues[0]), /c\.yaml:3:3.*no body \(a TTL heartbeat\)/);
});
