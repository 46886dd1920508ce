import { assertEquals } from "../testing/assert.ts";
import { emptyHostStats } from "../upstream/host_stats.ts";
import { type ClusterInfo, clustersJson, clustersText, healthFlagsText } from "./clusters.ts";

const limits = (priority: "DEFAULT" | "HIGH") => ({
  priority,
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
});

const CLUSTER: ClusterInfo = {
  name: "web",
  observabilityName: "web_stats",
  addedViaApi: false,
  edsServiceName: "web-eds",
  circuitBreakers: [limits("DEFAULT"), { ...limits("HIGH"), maxRetries: 5 }],
  hosts: [{
    address: "10.0.0.2:80",
    hostname: "web-2.local",
    healthFlags: ["failed_eds_health"],
    weight: 5,
    priority: 1,
    region: "us-east-1",
    zone: "us-east-1a",
    subZone: "rack1",
    canary: true,
    stats: {
      ...emptyHostStats(),
      cx_total: 2,
      cx_active: 1,
      rq_total: 4,
      rq_success: 3,
      rq_error: 1,
    },
  }],
};

Deno.test("health flags print as Envoy's healthFlagsToString", () => {
  assertEquals(healthFlagsText([]), "healthy");
  assertEquals(
    healthFlagsText(["failed_active_hc", "failed_eds_health"]),
    "/failed_active_hc/failed_eds_health",
  );
});

Deno.test("text: cluster settings, then each host's stats (sorted) and details", () => {
  assertEquals(
    clustersText([CLUSTER]),
    [
      "web::observability_name::web_stats",
      "web::default_priority::max_connections::1024",
      "web::default_priority::max_pending_requests::1024",
      "web::default_priority::max_requests::1024",
      "web::default_priority::max_retries::3",
      "web::high_priority::max_connections::1024",
      "web::high_priority::max_pending_requests::1024",
      "web::high_priority::max_requests::1024",
      "web::high_priority::max_retries::5",
      "web::added_via_api::false",
      "web::eds_service_name::web-eds",
      "web::10.0.0.2:80::cx_active::1",
      "web::10.0.0.2:80::cx_connect_fail::0",
      "web::10.0.0.2:80::cx_total::2",
      "web::10.0.0.2:80::rq_active::0",
      "web::10.0.0.2:80::rq_error::1",
      "web::10.0.0.2:80::rq_success::3",
      "web::10.0.0.2:80::rq_timeout::0",
      "web::10.0.0.2:80::rq_total::4",
      "web::10.0.0.2:80::hostname::web-2.local",
      "web::10.0.0.2:80::health_flags::/failed_eds_health",
      "web::10.0.0.2:80::weight::5",
      "web::10.0.0.2:80::region::us-east-1",
      "web::10.0.0.2:80::zone::us-east-1a",
      "web::10.0.0.2:80::sub_zone::rack1",
      "web::10.0.0.2:80::canary::true",
      "web::10.0.0.2:80::priority::1",
      "web::10.0.0.2:80::success_rate::-1",
      "web::10.0.0.2:80::local_origin_success_rate::-1",
      "",
    ].join("\n"),
  );
});

Deno.test("JSON: admin.v3.Clusters as Envoy prints it (defaults omitted)", () => {
  assertEquals(clustersJson([CLUSTER]), {
    cluster_statuses: [{
      name: "web",
      host_statuses: [{
        address: { socket_address: { address: "10.0.0.2", port_value: 80 } },
        stats: [
          { name: "cx_connect_fail" },
          { value: "2", name: "cx_total" },
          { value: "1", name: "rq_error" },
          { value: "3", name: "rq_success" },
          { name: "rq_timeout" },
          { value: "4", name: "rq_total" },
          { type: "GAUGE", value: "1", name: "cx_active" },
          { type: "GAUGE", name: "rq_active" },
        ],
        health_status: { eds_health_status: "UNHEALTHY" },
        weight: 5,
        hostname: "web-2.local",
        priority: 1,
        locality: { region: "us-east-1", zone: "us-east-1a", sub_zone: "rack1" },
      }],
      circuit_breakers: {
        thresholds: [
          { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 },
          {
            priority: "HIGH",
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
            max_retries: 5,
          },
        ],
      },
      observability_name: "web_stats",
      eds_service_name: "web-eds",
    }],
  });
});
