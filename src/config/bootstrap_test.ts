import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { create, toBinary } from "@bufbuild/protobuf";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import { messageSchema } from "./api.ts";
import { loadBootstrap, loadResourceFile } from "./bootstrap.ts";
import { formatIssue } from "./errors.ts";

const reg = builtinExtensions();

function tmp(text: string | Uint8Array, ext = ".yaml"): string {
  const path = Deno.makeTempFileSync({ suffix: ext });
  if (typeof text === "string") Deno.writeTextFileSync(path, text);
  else Deno.writeFileSync(path, text);
  return path;
}

function load(text: string, ext = ".yaml") {
  const path = tmp(text, ext);
  const r = loadBootstrap({ configPath: path }, reg);
  return { ...r, path, messages: r.issues.map((i) => formatIssue(i).replace(`${path}:`, "")) };
}

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3." +
  "HttpConnectionManager";

/** A minimal valid config: one HTTP listener routing to one static cluster. */
function config(hcmExtra = "", clusterExtra = "", listenerExtra = ""): string {
  return `static_resources:
  listeners:
  - name: web
    address:
      socket_address: { address: 127.0.0.1, port_value: 10000 }
${listenerExtra}    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: ingress_http
${hcmExtra}          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: backend }
          http_filters:
          - name: envoy.filters.http.router
  clusters:
  - name: backend
    connect_timeout: 0.25s
${clusterExtra}    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: 8080 }
`;
}

Deno.test("a valid config loads into a typed Bootstrap", () => {
  const r = load(config());
  assertEquals(r.messages, []);
  const l = r.bootstrap!.staticResources!.listeners[0];
  assertEquals(l.name, "web");
  assertEquals(r.bootstrap!.staticResources!.clusters[0].connectTimeout?.nanos, 250_000_000);
});

Deno.test("unknown field: file:line:col, field path, type and suggestion", () => {
  const r = load(config().replace("stat_prefix:", "stat_prefx:"));
  assertEquals(r.messages, [
    "11:11: static_resources.listeners[0].filter_chains[0].filters[0].typed_config: " +
    'unknown field "stat_prefx" in HttpConnectionManager (did you mean "stat_prefix"?)',
  ]);
});

Deno.test("every error is reported at once", () => {
  const r = load(
    config().replace("stat_prefix:", "stat_prefx:").replace("port_value: 8080", "port_value: -1")
      .replace("connect_timeout: 0.25s", "connect_timeout: 5"),
  );
  assertEquals(r.issues.length, 3);
  assertMatch(r.messages[1], /connect_timeout: expected a duration such as "5s"/);
  assertMatch(
    r.messages[2],
    /port_value: expected an integer from 0 to 4294967295, got negative -1/,
  );
});

Deno.test("port above 65535 is rejected by the API's own constraint", () => {
  const r = load(config().replace("port_value: 10000", "port_value: 70000"));
  assertEquals(r.messages, [
    "5:57: static_resources.listeners[0].address.socket_address.port_value: " +
    "must be at most 65535 (is 70000)",
  ]);
});

Deno.test("enum names are accepted in any case; unknown ones are named with choices", () => {
  assertEquals(load(config("          codec_type: auto\n")).messages, []);
  const r = load(config("          codec_type: HTTP9\n"));
  assertEquals(r.issues.length, 1);
  assertMatch(r.messages[0], /codec_type: unknown value "HTTP9" for enum CodecType/);
  assertMatch(r.messages[0], /expected one of AUTO, HTTP1, HTTP2, HTTP3/);
});

Deno.test("wrong types say what was expected", () => {
  const r = load(config("          generate_request_id: [1]\n"));
  assertMatch(r.messages[0], /generate_request_id: expected true or false, got a list/);
  const r2 = load(config().replace('domains: ["*"]', "domains: { a: 1 }"));
  assertMatch(r2.messages[0], /domains\[0\]: expected a string, got an object/);
});

Deno.test("a single value stands for a list of one, as in Envoy", () => {
  const r = load(config().replace('domains: ["*"]', 'domains: "*"'));
  assertEquals(r.messages, []);
  assertEquals(
    r.bootstrap!.staticResources!.listeners[0].filterChains[0].filters.length,
    1,
  );
});

Deno.test("two members of one oneof are rejected", () => {
  const r = load(config().replace('match: { prefix: "/" }', 'match: { prefix: "/", path: "/x" }'));
  assertMatch(r.messages[0], /only one of "prefix", "path", .* may be set/);
});

Deno.test("required fields and minimum lengths come from the API's constraints", () => {
  const r = load(config().replace("  - name: backend\n", "  - name: ''\n"));
  assert(
    r.messages.some((m) => /clusters\[0\]\.name: must not be empty/.test(m)),
    r.messages.join(),
  );
  const r2 = load(config().replace('domains: ["*"]', "domains: []"));
  assertMatch(r2.messages[0], /virtual_hosts\[0\]\.domains: must not be empty/);
});

Deno.test("unsupported extensions name the extension, its type URL, place and path", () => {
  const r = load(
    config().replace(
      "          - name: envoy.filters.http.router\n",
      `          - name: envoy.filters.http.lua
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
              default_source_code: { inline_string: "x" }
          - name: envoy.filters.http.router
`,
    ),
  );
  assertEquals(r.issues.length, 1);
  assertEquals(r.issues[0].kind, "unsupported");
  assertEquals(r.issues[0].extension, {
    name: "envoy.filters.http.lua",
    typeUrl: "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
  });
  assertEquals(
    r.messages[0],
    "22:24: static_resources.listeners[0].filter_chains[0].filters[0].typed_config" +
      ".http_filters[0].typed_config: unsupported extension 'envoy.filters.http.lua' " +
      "(type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua)",
  );
});

Deno.test("a type URL outside the known API is unsupported, not a schema error", () => {
  const r = load(
    config().replace(
      "          - name: envoy.filters.http.router\n",
      `          - name: envoy.filters.http.golang
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config
              library_id: x
          - name: envoy.filters.http.router
`,
    ),
  );
  assertEquals(r.issues.map((i) => i.kind), ["unsupported"]);
});

Deno.test("name-only filters resolve by well-known name; unknown names are unsupported", () => {
  assertEquals(load(config()).messages, []);
  const r = load(
    config().replace("- name: envoy.filters.http.router", "- name: envoy.filters.http.nope"),
  );
  assertMatch(r.messages[0], /unsupported extension 'envoy.filters.http.nope'/);
});

Deno.test("a filter named without typed_config gets its empty config, which must pass the API's constraints", () => {
  const r = load(
    config().replace(
      "- name: envoy.filters.http.router",
      "- name: envoy.filters.http.csrf\n          - name: envoy.filters.http.router",
    ),
  );
  assertEquals(r.messages, [
    "20:19: static_resources.listeners[0].filter_chains[0].filters[0].typed_config." +
    "http_filters[0]: named without typed_config, its empty CsrfPolicy fails: filter_enabled: " +
    "is required",
  ]);
});

Deno.test("TypedStruct carries the real type and is checked as it", () => {
  const text = (field: string) =>
    config().replace(
      "  clusters:\n",
      `  - name: tcp
    address:
      socket_address: { address: 127.0.0.1, port_value: 10001 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/xds.type.v3.TypedStruct
          type_url: type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          value:
            ${field}: tcp
            cluster: backend
  clusters:
`,
    );
  assertEquals(load(text("stat_prefix")).messages, []);
  const bad = load(text("stat_prefixx"));
  assertMatch(bad.messages[0], /value|typed_config: unknown field "stat_prefixx" in TcpProxy/);
});

Deno.test("duplicate listener and cluster names, shared addresses", () => {
  const text = config().replace(
    "  clusters:\n",
    `  - name: web
    address:
      socket_address: { address: 127.0.0.1, port_value: 10000 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: backend
  clusters:
  - name: backend
    type: STATIC
`,
  );
  const r = load(text);
  assertEquals(r.issues.map((i) => i.kind), ["semantic", "semantic", "semantic"]);
  assertMatch(r.messages[0], /listeners\[1\]\.name: duplicate listener name 'web'/);
  assertMatch(r.messages[1], /listeners\[1\]\.address: listener 'web' has the same address/);
  assertMatch(r.messages[2], /clusters\[1\]\.name: duplicate cluster name 'backend'/);
});

Deno.test("a static route naming an undefined cluster is an error (validate_clusters)", () => {
  const r = load(config().replace("route: { cluster: backend }", "route: { cluster: nowhere }"));
  assertEquals(r.messages, [
    "18:35: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config" +
    ".virtual_hosts[0].routes[0].route.cluster: route: unknown cluster 'nowhere'",
  ]);
  const off = load(
    config().replace("route: { cluster: backend }", "route: { cluster: nowhere }")
      .replace(
        "          route_config:\n",
        "          route_config:\n            validate_clusters: false\n",
      ),
  );
  assertEquals(off.messages, []);
});

Deno.test("the router must be the last HTTP filter", () => {
  const r = load(
    config().replace(
      "          - name: envoy.filters.http.router\n",
      "          - name: envoy.filters.http.router\n          - name: envoy.router\n",
    ),
  );
  assertMatch(r.messages[0], /http_filters\[0\]: terminal filter 'envoy.filters.http.router'/);
});

Deno.test("referenced files that do not exist are reported as missing", () => {
  const r = load(
    config().replace(
      "          stat_prefix: ingress_http\n",
      `          stat_prefix: ingress_http
          local_reply_config:
            mappers:
            - filter: { status_code_filter: { comparison: { op: EQ, value: { default_value: 404, runtime_key: k } } } }
              body: { filename: /nonexistent/denvoy/body.txt }
`,
    ),
  );
  assertEquals(r.issues.map((i) => i.kind), ["missing_file"]);
  assertEquals(r.issues[0].missingPath, "/nonexistent/denvoy/body.txt");
});

Deno.test("--config-yaml is merged over the file (scalars replace, lists append)", () => {
  const path = tmp(config());
  const r = loadBootstrap({
    configPath: path,
    configYaml: `admin: { address: { socket_address: { address: 127.0.0.1, port_value: 9901 } } }
static_resources:
  clusters:
  - name: extra
    load_assignment: { cluster_name: extra }`,
  }, reg);
  assertEquals(r.issues.map(formatIssue), []);
  assertEquals(r.bootstrap!.staticResources!.clusters.map((c) => c.name), ["backend", "extra"]);
  assert(r.bootstrap!.admin?.address);
  const only = loadBootstrap({ configYaml: "node: { id: x }" }, reg);
  assertEquals(only.bootstrap?.node?.id, "x");
});

Deno.test("errors in --config-yaml point into it", () => {
  const r = loadBootstrap({ configYaml: "node:\n  idd: x" }, reg);
  assertEquals(r.issues.map(formatIssue), [
    '--config-yaml:2:3: node: unknown field "idd" in Node (did you mean "id"?)',
  ]);
});

Deno.test("JSON configs load and their errors have positions too", () => {
  const r = load(JSON.stringify({ node: { id: "n" }, admin: {} }), ".json");
  assertEquals(r.messages, []);
  const bad = load('{\n  "node": {\n    "idd": "n"\n  }\n}', ".json");
  assertEquals(bad.messages, ['3:5: node: unknown field "idd" in Node (did you mean "id"?)']);
});

Deno.test("binary .pb bootstraps load", () => {
  const schema = messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap");
  const msg = create(schema, { node: { id: "from-pb" } });
  const path = tmp(toBinary(schema, msg), ".pb");
  const r = loadBootstrap({ configPath: path }, reg);
  assertEquals(r.bootstrap?.node?.id, "from-pb");
  const garbage = loadBootstrap(
    { configPath: tmp(new Uint8Array([0xff, 0xff, 0xff]), ".pb") },
    reg,
  );
  assertMatch(formatIssue(garbage.issues[0]), /not a binary Bootstrap proto/);
});

Deno.test("bad files: missing, directory, empty, binary, YAML syntax, too large", () => {
  const one = (p: string) => loadBootstrap({ configPath: p }, reg).issues.map(formatIssue);
  assertMatch(one("/nonexistent/x.yaml")[0], /cannot read the config file: no such file/);
  assertMatch(one(Deno.makeTempDirSync())[0], /it is a directory/);
  assertMatch(one(tmp(""))[0], /the config is empty/);
  assertMatch(one(tmp(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2])))[0], /not text/);
  const syntax = one(tmp("static_resources:\n  listeners: [\n"));
  assertMatch(syntax[0], /:\d+:\d+: invalid YAML/);
  const big = tmp("#".repeat(33 * 1024 * 1024));
  assertMatch(one(big)[0], /the config file is 33\.0 MiB; the limit is 32 MiB/);
  assertMatch(
    loadBootstrap({}, reg).issues.map(formatIssue)[0],
    /no configuration: pass -c\/--config-path/,
  );
});

Deno.test("a YAML alias bomb is refused, not expanded", () => {
  let text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i < 10; i++) {
    text += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(",")}]\n`;
  }
  text = `node:\n  metadata:\n    bomb: *a9\n` + text.replace(/^/gm, "#");
  // Anchors must be defined before use, so put them inside the Struct itself.
  const bomb = `node:\n  metadata:\n${
    text.split("\n").filter((l) => l.startsWith("#a")).map((l) => `    ${l.slice(1)}`).join("\n")
  }\n`;
  const t0 = performance.now();
  const r = load(bomb);
  assert(performance.now() - t0 < 5000);
  assertMatch(r.messages[0], /YAML aliases expand to more than \d+ nodes/);
});

Deno.test("legacy scheme_header_transformation form of Envoy's own example config", () => {
  const r = load(
    config("          scheme_header_transformation: OVERWRITE_SCHEME\n          scheme: https\n"),
  );
  assertEquals(r.messages, []);
});

Deno.test("xDS resource files (DiscoveryResponse) load with their resources checked", () => {
  const path = tmp(`resources:
- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: a
  connect_timeout: 1s
- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: b
  lb_policy: NOPE
`);
  const r = loadResourceFile(path, reg);
  assertEquals(r.issues.length, 1);
  assertMatch(formatIssue(r.issues[0]), /resources\[1\]\.lb_policy: unknown value "NOPE"/);
  const asBootstrap = loadBootstrap({ configPath: path }, reg);
  assertMatch(formatIssue(asBootstrap.issues[0]), /looks like an xDS resource file/);
});

Deno.test("validate compiles route tables and clusters as serving would", () => {
  const badRegex = load(
    config().replace('match: { prefix: "/" }', 'match: { safe_regex: { regex: "(" } }'),
  );
  assertEquals(badRegex.issues.map((i) => i.kind), ["semantic"]);
  assertMatch(badRegex.messages[0], /route_config: .*invalid regex/);
  const provided = load(config("", "    lb_policy: CLUSTER_PROVIDED\n"));
  assertEquals(provided.issues.map((i) => i.kind), ["unsupported"]);
  assertMatch(
    provided.messages[0],
    /unsupported: cluster 'backend': lb_policy CLUSTER_PROVIDED is not supported yet/,
  );
  const maglev = load(
    config("", "    lb_policy: MAGLEV\n    maglev_lb_config: { table_size: 4 }\n"),
  );
  assertEquals(maglev.issues.map((i) => i.kind), ["semantic"]);
  assertMatch(
    maglev.messages[0],
    /cluster 'backend': The table size of maglev must be prime number/,
  );
});

Deno.test("the admin address may not share a port with a listener", () => {
  const withAdmin = (ip: string, port: number) =>
    `admin:\n  address:\n    socket_address: { address: ${ip}, port_value: ${port} }\n` +
    config();
  const r = load(withAdmin("0.0.0.0", 10000));
  assertEquals(r.issues.map((i) => i.kind), ["semantic"]);
  assertMatch(r.messages[0], /admin\.address: the admin address 0\.0\.0\.0:10000 shares its port/);
  assertEquals(load(withAdmin("127.0.0.1", 9901)).messages, []);
  assertEquals(load(withAdmin("127.0.0.2", 10000)).messages, []);
});
