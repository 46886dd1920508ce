import { assert, assertEquals } from "../testing/assert.ts";
import type { DescMessage } from "@bufbuild/protobuf";
import { builtinExtensions } from "../extensions/builtin.ts";
import { apiRegistry } from "./api.ts";
import { loadBootstrap } from "./bootstrap.ts";
import { CORE_FIELDS } from "./core_fields.ts";
import { formatIssue } from "./errors.ts";
import { type FieldDeclarations, FieldSupport, isLeafType } from "./field_support.ts";

const reg = builtinExtensions();

function load(yaml: string) {
  const r = loadBootstrap({ configYaml: yaml }, reg);
  return r.issues.map((i) => formatIssue(i).replace("--config-yaml:", ""));
}

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3." +
  "HttpConnectionManager";

/** One HTTP listener to one cluster; `route` and `cluster` are extra YAML lines. */
function config(route = "", cluster = "", hcm = ""): string {
  return `static_resources:
  listeners:
  - name: web
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: ingress_http
${hcm}          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route:
                  cluster: backend
${route}          http_filters:
          - name: envoy.filters.http.router
  clusters:
  - name: backend
${cluster}    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`;
}

const ROUTE = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config." +
  "route_config.virtual_hosts[0].routes[0].route";

Deno.test("field support: a set field nobody implements is refused with its place", () => {
  assertEquals(load(config("                stat_prefix: per_route\n")), [
    `19:17: ${ROUTE.slice(0, -".route".length)}: field 'stat_prefix' is not supported yet`,
  ]);
});

Deno.test("field support: an empty message counts as set; a default scalar does not", () => {
  assertEquals(load(config("", "", "          proxy_status_config: {}\n")), [
    "11:11: static_resources.listeners[0].filter_chains[0].filters[0].typed_config: " +
    "field 'proxy_status_config' is not supported yet",
  ]);
  // proto3 cannot tell `false` from absent, and neither can Envoy: nothing to refuse.
  assertEquals(load(config("", "", "          append_x_forwarded_port: false\n")), []);
  assertEquals(load(config("", "", "          append_x_forwarded_port: true\n")), [
    "11:11: static_resources.listeners[0].filter_chains[0].filters[0].typed_config: " +
    "field 'append_x_forwarded_port' is not supported yet",
  ]);
});

Deno.test("field support: inside a refused field nothing more is reported", () => {
  const issues = load(
    config(
      "",
      "    upstream_bind_config: { source_address: { address: 127.0.0.1, port_value: 0 } }\n",
    ),
  );
  assertEquals(issues, [
    "23:5: static_resources.clusters[0]: field 'upstream_bind_config' is not supported yet",
  ]);
});

Deno.test("field support: a field left to a specific check gets that check's message only", () => {
  const issues = load(config("", "    lb_subset_config: { panic_mode_any: true }\n"));
  assertEquals(issues.length, 1);
  assert(issues[0].includes("lb_subset_config.panic_mode_any is not supported yet"), issues[0]);
  assert(!issues[0].includes("field 'panic_mode_any'"), issues[0]);
});

Deno.test("field support: an unsupported extension's own fields are not listed", () => {
  const issues = load(
    config().replace(
      "          - name: envoy.filters.http.router\n",
      "          - name: envoy.filters.http.buffer\n            typed_config:\n" +
        '              "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer\n' +
        "              max_request_bytes: 10\n          - name: envoy.filters.http.router\n",
    ),
  );
  assertEquals(issues.length, 1, issues.join("\n"));
  assert(issues[0].includes("unsupported extension 'envoy.filters.http.buffer'"), issues[0]);
});

Deno.test("field support: validate reports every stage's problems in one run", () => {
  const issues = load(
    config("                stat_prefix: per_route\n", "    bogus: 1\n")
      .replace("cluster: backend\n", "cluster: nowhere\n"),
  );
  assertEquals(issues.length, 3, issues.join("\n"));
  assert(issues.some((i) => i.includes('unknown field "bogus"')));
  assert(issues.some((i) => i.includes("field 'stat_prefix' is not supported yet")));
  assert(issues.some((i) => i.includes("unknown cluster 'nowhere'")));
});

Deno.test("FieldSupport: declarations merge; checked fields pass", () => {
  const fs = new FieldSupport([
    { implemented: { "a.B": ["x"] } },
    { implemented: { "a.B": ["y"] }, checked: { "a.C": ["w"] } },
  ]);
  assert(fs.supports("a.B", "x") && fs.supports("a.B", "y"));
  assert(!fs.supports("a.B", "z"));
  assert(fs.supports("a.C", "w") && fs.isChecked("a.C", "w") && !fs.isChecked("a.B", "x"));
  assertEquals([...fs.fields("a.C")!], []);
  assertEquals(fs.fields("a.D"), undefined);
});

function message(typeName: string): DescMessage {
  const d = apiRegistry().getMessage(typeName);
  if (!d) throw new Error(`${typeName} is not a message of the API`);
  return d;
}

Deno.test("field support: every declared field exists in its message", () => {
  const tables: FieldDeclarations[] = [];
  for (const t of [...CORE_FIELDS, ...reg.all().flatMap((f) => f.fields ? [f.fields] : [])]) {
    tables.push(t.implemented, t.checked ?? {});
  }
  for (const decls of tables) {
    for (const [typeName, names] of Object.entries(decls)) {
      const desc = message(typeName);
      for (const n of names) {
        assert(desc.fields.some((f) => f.name === n), `${typeName} has no field '${n}'`);
      }
    }
  }
});

Deno.test("field support: every message reachable through implemented fields declares its fields", () => {
  // Roots: the bootstrap, a filesystem xDS resource file, and every registered extension's
  // configs (what a typed_config or typed_per_filter_config may hold).
  const roots = [
    "envoy.config.bootstrap.v3.Bootstrap",
    "envoy.service.discovery.v3.DiscoveryResponse",
    ...reg.all().flatMap((f) => [...f.configTypes, ...(f.perRouteConfigTypes ?? [])]),
  ];
  const via = new Map<string, string>(roots.map((r) => [r, "root"]));
  const queue = [...roots];
  const undeclared: string[] = [];
  while (queue.length > 0) {
    const typeName = queue.shift()!;
    const implemented = reg.fields.fields(typeName);
    if (!implemented) {
      undeclared.push(`${typeName} (via ${via.get(typeName)})`);
      continue;
    }
    for (const f of message(typeName).fields) {
      if (!implemented.has(f.name)) continue; // refused, or left to a specific check
      const m = f.fieldKind === "message"
        ? f.message
        : f.fieldKind === "list" && f.listKind === "message"
        ? f.message
        : f.fieldKind === "map" && f.mapKind === "message"
        ? f.message
        : undefined;
      // Any holds extension configs (roots above); well-known types are plain data.
      if (!m || isLeafType(m.typeName) || via.has(m.typeName)) continue;
      via.set(m.typeName, `${typeName}.${f.name}`);
      queue.push(m.typeName);
    }
  }
  assertEquals(undeclared, [], "reachable message types without a field declaration");
  // Everything else denvoy could meet is refused whole: only declared types have set fields.
  assert(via.size > 100, `only ${via.size} types reachable`);
});

Deno.test("a field declared after a walk is implemented for the next walk (cached answers drop)", () => {
  const own = builtinExtensions();
  const yaml = `static_resources:
  clusters:
  - name: c
    track_timeout_budgets: true
`;
  const refused = () =>
    loadBootstrap({ configYaml: yaml }, own).issues.filter((i) =>
      i.field?.name === "track_timeout_budgets"
    ).length;
  assertEquals(refused(), 1);
  const before = own.fields.generation;
  own.fields.declare({
    implemented: { "envoy.config.cluster.v3.Cluster": ["track_timeout_budgets"] },
  });
  assert(own.fields.generation !== before);
  assertEquals(refused(), 0);
});
