/**
 * Config that denvoy would ignore is refused, the same way by `--mode validate` and by serving:
 * unimplemented fields (route stat prefixes, preconnecting) and unsupported values (codec_type HTTP3),
 * each with file:line:col and field path, exit code 1.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { runMain, tempFile } from "./helpers.ts";

const CONFIG = `static_resources:
  listeners:
  - name: web
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          codec_type: HTTP3
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route:
                  cluster: backend
                stat_prefix: per_route
          http_filters:
          - name: envoy.filters.http.router
  clusters:
  - name: backend
    preconnect_policy: { per_upstream_preconnect_ratio: 1.5 }
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9 } } }
`;

const HCM = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

/** The three problems, as `file:line:col: path: message` prefixes. */
function expected(path: string): string[] {
  return [
    `${path}:11:23: ${HCM}.codec_type: unsupported: envoy.filters.network.http_connection_manager: ` +
    "codec_type HTTP3 is not supported yet",
    `${path}:20:17: ${HCM}.route_config.virtual_hosts[0].routes[0]: ` +
    "field 'stat_prefix' is not supported yet",
    `${path}:25:5: static_resources.clusters[0]: field 'preconnect_policy' is not supported yet`,
  ];
}

Deno.test("validate refuses unimplemented fields and unsupported values with file:line:col, all at once", async () => {
  const path = tempFile(CONFIG);
  const r = await runMain(["--mode", "validate", "-c", path]);
  assertEquals(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 4, r.stderr);
  expected(path).forEach((e, i) => assert(lines[i].startsWith(e), `${lines[i]}\n!= ${e}`));
  assertEquals(lines[3], `configuration '${path}' is invalid: 3 errors`);
});

Deno.test("serving the same config fails at start-up with the same messages", async () => {
  const path = tempFile(CONFIG);
  const r = await runMain(["-c", path, "--concurrency", "1"]);
  assertEquals(r.code, 1, r.stderr);
  for (const e of expected(path)) assert(r.stderr.includes(`[critical][config] ${e}`), r.stderr);
  assert(r.stderr.includes("3 error(s)"), r.stderr);
});
