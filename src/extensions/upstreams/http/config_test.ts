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

Deno.test("HTTP/1.1, HTTP/2 and auto_config upstream options load; HTTP/3 is named as unsupported; auto_config without TLS is refused", () => {
  assertEquals(load("        explicit_http_config: { http_protocol_options: {} }").issues, []);
  assertEquals(load("        explicit_http_config: { http2_protocol_options: {} }").issues, []);
  assertEquals(
    load("        use_downstream_protocol_config: { http2_protocol_options: {} }").issues,
    [],
  );
  const h3 = load("        explicit_http_config: { http3_protocol_options: {} }").issues;
  assertEquals(h3.map((i) => i.kind), ["unsupported"]);
  assertMatch(
    formatIssue(h3[0]),
    /unsupported: envoy\.extensions\.upstreams\.http\.v3\.HttpProtocolOptions: upstream HTTP\/3/,
  );
  // auto_config picks the protocol by ALPN: a cluster without TLS is refused, in Envoy's words.
  const auto = load("        auto_config: { http2_protocol_options: {} }").issues;
  assertEquals(auto.length, 1);
  assertMatch(
    formatIssue(auto[0]),
    /ALPN configured for cluster c which has a non-ALPN transport socket/,
  );
  const autoH3 = load("        auto_config: { http3_protocol_options: {} }").issues;
  assertMatch(formatIssue(autoH3.find((i) => i.kind === "unsupported")!), /upstream HTTP\/3/);
});

Deno.test("auto_config with max_connection_pools is refused (the ALPN pool is not deleted when idle)", () => {
  const r = loadBootstrap({
    configYaml: `static_resources:
  clusters:
  - name: c
    circuit_breakers: { thresholds: [{ max_connection_pools: 2 }] }
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        auto_config: { http2_protocol_options: {} }
    load_assignment: { cluster_name: c }`,
  }, builtinExtensions());
  assertMatch(
    r.issues.map(formatIssue).join("\n"),
    /max_connection_pools with auto_config \(ALPN\) is not supported yet/,
  );
});
