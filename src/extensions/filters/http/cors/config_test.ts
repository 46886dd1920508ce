import { assertEquals } from "../../../../testing/assert.ts";
import { loadBootstrap } from "../../../../config/bootstrap.ts";
import { formatIssue } from "../../../../config/errors.ts";
import { builtinExtensions } from "../../../builtin.ts";

const reg = builtinExtensions();

/** An HTTP listener with the CORS and CSRF filters; `vhost` and `route` are extra YAML lines. */
function config(vhost: string, route = ""): string {
  return `static_resources:
  listeners:
  - name: web
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
${vhost}              routes:
              - match: { prefix: "/" }
                route:
                  cluster: backend
${route}          http_filters:
          - name: envoy.filters.http.cors
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors
          - name: envoy.filters.http.csrf
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy
              filter_enabled: { default_value: { numerator: 100 } }
              additional_origins: [{ safe_regex: { regex: "a(" } }]
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: backend
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`;
}

const load = (yaml: string) =>
  loadBootstrap({ configYaml: yaml }, reg).issues.map((i) =>
    formatIssue(i).replace("--config-yaml:", "")
  );

const HCM = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const CSRF_ERROR =
  `31:59: ${HCM}.http_filters[1].typed_config.additional_origins[0].safe_regex.regex: ` +
  "invalid regex 'a(': missing ): a(";

Deno.test("cors/csrf config: bad matchers in typed and deprecated policies are refused in place", () => {
  const typed = `              typed_per_filter_config:
                envoy.filters.http.cors:
                  "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy
                  allow_origin_string_match: [{ safe_regex: { regex: "(" } }]
`;
  assertEquals(load(config(typed)), [
    `18:70: ${HCM}.route_config.virtual_hosts[0].typed_per_filter_config["envoy.filters.http.cors"]` +
    ".allow_origin_string_match[0].safe_regex.regex: invalid regex '(': missing ): (",
    CSRF_ERROR,
  ]);
  const legacy =
    "                  cors: { allow_origin_string_match: [{ safe_regex: { regex: '(' } }] }\n";
  assertEquals(load(config("", legacy)), [
    `12:13: ${HCM}.route_config: virtual_hosts[0].routes[0].route.cors.allow_origin_string_match[0]` +
    ".safe_regex.regex: invalid regex '(': missing ): (",
    CSRF_ERROR.replace("31:59", "28:59"),
  ]);
});
