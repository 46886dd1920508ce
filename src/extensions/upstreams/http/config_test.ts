import { loadBootstrap } from "../../../config/bootstrap.ts";
import { formatIssue } from "../../../config/errors.ts";
import { assertEquals, assertMatch } from "../../../testing/assert.ts";
import { builtinExtensions } from "../../builtin.ts";

function load(protocol: string) {
  return loadBootstrap({
    configYaml: `static_resources:
  clusters:
  - name: c
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        common_http_protocol_options: { idle_timeout: 5s }
${protocol}
    load_assignment: { cluster_name: c }`,
  }, builtinExtensions());
}

Deno.test("HTTP/1.1 upstream options load; HTTP/2 upstream is named as unsupported", () => {
  assertEquals(load("        explicit_http_config: { http_protocol_options: {} }").issues, []);
  const h2 = load("        explicit_http_config: { http2_protocol_options: {} }").issues;
  assertEquals(h2.map((i) => i.kind), ["unsupported"]);
  assertMatch(
    formatIssue(h2[0]),
    /unsupported: envoy\.extensions\.upstreams\.http\.v3\.HttpProtocolOptions: upstream HTTP\/2/,
  );
});
