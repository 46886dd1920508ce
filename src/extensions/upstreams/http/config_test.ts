import { loadBootstrap } from "../../../config/bootstrap.ts";
import { assertEquals } from "../../../testing/assert.ts";
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

Deno.test("HTTP/1.1 and HTTP/2 upstream options load", () => {
  assertEquals(load("        explicit_http_config: { http_protocol_options: {} }").issues, []);
  assertEquals(load("        explicit_http_config: { http2_protocol_options: {} }").issues, []);
});
