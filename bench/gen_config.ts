/**
 * Generates large Envoy v3 bootstrap configs for the validate/startup benchmarks.
 *
 * The output is plain YAML text (not built through the `yaml` package) so that generating a
 * 10k-route file costs nothing measurable and the bench times only denvoy's own loader.
 *
 * Usage: `deno run -A bench/gen_config.ts <routes> <clusters> > big.yaml`
 */

/** Virtual hosts the routes are spread over; real configs group many routes per host. */
const VIRTUAL_HOSTS = 100;

/**
 * One route entry. The matcher kind rotates so every matcher the route table compiles
 * (prefix, exact path, safe_regex, header matchers) is exercised in proportion.
 */
function routeYaml(n: number, clusters: number): string {
  // Indented to sit under `routes:` of a virtual host (14 spaces in the layout below).
  const i = " ".repeat(14);
  const target = `${i}  route: { cluster: cluster_${n % clusters}, timeout: 5s }\n`;
  switch (n % 4) {
    case 0:
      return `${i}- match: { prefix: "/svc/${n}/" }\n${target}`;
    case 1:
      return `${i}- match: { path: "/svc/${n}" }\n${target}`;
    case 2:
      return `${i}- match: { safe_regex: { regex: "^/re/${n}/[a-z0-9]+$" } }\n${target}`;
    default:
      return `${i}- match:\n` +
        `${i}    prefix: "/svc/${n}/"\n` +
        `${i}    headers:\n` +
        `${i}    - name: x-tenant\n` +
        `${i}      string_match: { exact: "t${n}" }\n` +
        target;
  }
}

function clusterYaml(i: number): string {
  return `  - name: cluster_${i}
    type: STATIC
    connect_timeout: 0.25s
    load_assignment:
      cluster_name: cluster_${i}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: ${20000 + i} }
`;
}

/**
 * Returns a valid Envoy v3 bootstrap YAML with `clusters` STATIC clusters (`cluster_<i>` on
 * 127.0.0.1:20000+i) and one HTTP listener on 127.0.0.1:10000 whose inline route config holds
 * `routes` routes spread round-robin over up to 100 virtual hosts.
 */
export function generateConfig(routes: number, clusters: number): string {
  if (!Number.isInteger(routes) || routes < 1) throw new RangeError("routes must be >= 1");
  if (!Number.isInteger(clusters) || clusters < 1 || 20000 + clusters > 65536) {
    throw new RangeError("clusters must be between 1 and 45536 (ports 20000+i)");
  }
  const hosts = Math.min(VIRTUAL_HOSTS, routes);
  const perHost: string[][] = Array.from({ length: hosts }, () => []);
  for (let n = 0; n < routes; n++) perHost[n % hosts].push(routeYaml(n, clusters));

  const out: string[] = [];
  out.push(`static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: { address: 127.0.0.1, port_value: 10000 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          route_config:
            name: bench_routes
            virtual_hosts:
`);
  for (let h = 0; h < hosts; h++) {
    const domains = h === 0 ? `["host-0.example.com", "*"]` : `["host-${h}.example.com"]`;
    out.push(
      `            - name: vh_${h}\n              domains: ${domains}\n              routes:\n`,
    );
    out.push(...perHost[h]);
  }
  out.push("  clusters:\n");
  for (let i = 0; i < clusters; i++) out.push(clusterYaml(i));
  return out.join("");
}

if (import.meta.main) {
  const [routes = "10000", clusters = "1000"] = Deno.args;
  const yaml = generateConfig(Number(routes), Number(clusters));
  await Deno.stdout.write(new TextEncoder().encode(yaml));
}
