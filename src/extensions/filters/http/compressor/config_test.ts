import { loadBootstrap } from "../../../../config/bootstrap.ts";
import { formatIssue } from "../../../../config/errors.ts";
import { assertEquals, assertMatch } from "../../../../testing/assert.ts";
import { builtinExtensions } from "../../../builtin.ts";
import { create } from "@bufbuild/protobuf";
import { RuntimeFeatureFlagSchema } from "../../../../../proto/gen/envoy/config/core/v3/base_pb.ts";
import { runtimeSnapshot, setRuntimeSnapshot } from "../../../../runtime/runtime.ts";
import { featureFlag } from "./config.ts";

/** A bootstrap whose HCM runs `filters` (YAML list items) before the router. */
function load(filters: string, routeExtra = "") {
  const f = filters.replace(/^/gm, "          ");
  return loadBootstrap({
    configYaml: `static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: x
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 200 }
${routeExtra}
          http_filters:
${f}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`,
  }, builtinExtensions());
}

const COMPRESSOR = `- name: envoy.filters.http.compressor
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor
    choose_first: true
    request_direction_config:
      common_config: { enabled: { default_value: false, runtime_key: rq }, content_type: [text/plain] }
    response_direction_config:
      common_config: { min_content_length: 100 }
      disable_on_etag_header: true
    compressor_library:
      name: lib
      typed_config:`;

Deno.test("compressor config: each library loads; per-route overrides load", () => {
  for (
    const lib of [
      "envoy.extensions.compression.gzip.compressor.v3.Gzip\n        compression_level: BEST_SPEED",
      "envoy.extensions.compression.brotli.compressor.v3.Brotli\n        quality: 5",
      "envoy.extensions.compression.zstd.compressor.v3.Zstd\n        strategy: LAZY",
    ]
  ) {
    const r = load(`${COMPRESSOR}\n        "@type": type.googleapis.com/${lib}`);
    assertEquals(r.issues.map(formatIssue), [], lib);
  }
  const perRoute = `                typed_per_filter_config:
                  envoy.filters.http.compressor:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.CompressorPerRoute
                    overrides: { response_direction_config: { remove_accept_encoding_header: true } }`;
  const r = load(
    `${COMPRESSOR}\n        "@type": type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip`,
    perRoute,
  );
  assertEquals(r.issues.map(formatIssue), []);
  const off = load(
    `${COMPRESSOR}\n        "@type": type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip`,
    perRoute.replace(/overrides: .*/, "disabled: false"),
  );
  assertMatch(
    off.issues.map(formatIssue).join("\n"),
    /typed_per_filter_config.*disabled: value must equal true/,
  );
});

Deno.test("compressor/decompressor config: a library of the other kind, or a zstd dictionary, is refused with its path", () => {
  const wrong = load(
    `${COMPRESSOR}\n        "@type": type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip`,
  );
  assertMatch(
    wrong.issues.map(formatIssue).join("\n"),
    /http_filters\[0\]\.typed_config\.compressor_library\.typed_config: .*decompressor\.v3\.Gzip is not a compressor library/,
  );
  const dict = load(
    `${COMPRESSOR}\n        "@type": type.googleapis.com/envoy.extensions.compression.zstd.compressor.v3.Zstd\n        dictionary: { inline_string: abc }`,
  );
  assertMatch(dict.issues.map(formatIssue).join("\n"), /field 'dictionary' is not supported yet/);
  const dec = load(`- name: envoy.filters.http.decompressor
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor
    decompressor_library:
      name: lib
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.compression.brotli.compressor.v3.Brotli`);
  assertMatch(
    dec.issues.map(formatIssue).join("\n"),
    /decompressor_library\.typed_config: .*is not a decompressor library/,
  );
});

Deno.test("compressor config: an `enabled` flag reads its runtime key per stream, else its default", () => {
  const flag = featureFlag(
    create(RuntimeFeatureFlagSchema, { defaultValue: false, runtimeKey: "rq_enabled" }),
  );
  const before = runtimeSnapshot();
  try {
    assertEquals(flag(), false);
    setRuntimeSnapshot({
      layers: [{ name: "admin", entries: { rq_enabled: { raw: "true", bool: true } } }],
    });
    assertEquals(flag(), true);
  } finally {
    setRuntimeSnapshot(before);
  }
  // No flag: on.
  assertEquals(featureFlag(undefined)(), true);
});
