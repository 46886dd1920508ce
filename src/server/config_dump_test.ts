import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { assertEquals } from "../testing/assert.ts";
import { ClusterManager } from "../upstream/cluster_manager.ts";
import { configDumpSections } from "./config_dump.ts";

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

const bootstrap = fromJson(
  messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap"),
  {
    static_resources: {
      listeners: [{
        name: "l",
        address: { socket_address: { address: "127.0.0.1", port_value: 1 } },
        filter_chains: [{
          filters: [{
            name: "hcm",
            typed_config: {
              "@type": HCM,
              stat_prefix: "p",
              route_config: { name: "rc", virtual_hosts: [] },
              http_filters: [],
            },
          }],
        }],
      }],
      clusters: [{
        name: "c",
        type: "STATIC",
        load_assignment: {
          cluster_name: "c",
          endpoints: [{
            locality: { zone: "z1" },
            lb_endpoints: [
              {
                endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } },
              },
              {
                endpoint: { address: { socket_address: { address: "10.0.0.2", port_value: 80 } } },
                health_status: "DEGRADED",
                load_balancing_weight: 3,
              },
            ],
          }],
        },
      }],
      secrets: [{
        name: "s",
        tls_certificate: { private_key: { inline_string: "KEY" } },
      }],
    },
  },
  { registry: apiRegistry() },
);

Deno.test("config dump sections in Envoy's order, with static resources and redacted secrets", async () => {
  const cm = new ClusterManager(bootstrap.staticResources!.clusters);
  await cm.initialize();
  try {
    const sections = configDumpSections(bootstrap, cm, "T", false);
    assertEquals(sections.map((s) => (s["@type"] as string).split(".").pop()), [
      "BootstrapConfigDump",
      "ClustersConfigDump",
      "ListenersConfigDump",
      "ScopedRoutesConfigDump",
      "RoutesConfigDump",
      "SecretsConfigDump",
    ]);
    const clusters = sections[1].static_clusters as JsonObject[];
    assertEquals(clusters[0].last_updated, "T");
    assertEquals(
      (clusters[0].cluster as JsonObject)["@type"],
      "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    );
    const routes = sections[4].static_route_configs as JsonObject[];
    assertEquals((routes[0].route_config as JsonObject).name, "rc");
    const secret = (sections[5].static_secrets as JsonObject[])[0];
    assertEquals(secret.name, "s");
    assertEquals(
      ((secret.secret as JsonObject).tls_certificate as JsonObject).private_key,
      { inline_string: "[redacted]" },
    );
    // ScopedRoutes has nothing: empty lists are left out.
    assertEquals(sections[3], {
      "@type": "type.googleapis.com/envoy.admin.v3.ScopedRoutesConfigDump",
    });

    const withEds = configDumpSections(bootstrap, cm, "T", true);
    assertEquals(withEds[2]["@type"], "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump");
    const cla =
      ((withEds[2].static_endpoint_configs as JsonObject[])[0].endpoint_config) as JsonObject;
    assertEquals(cla.cluster_name, "c");
    assertEquals(cla.policy, { overprovisioning_factor: 140 });
    const group = (cla.endpoints as JsonObject[])[0];
    assertEquals(group.locality, { zone: "z1" });
    assertEquals(
      (group.lb_endpoints as JsonObject[]).map((e) => [e.health_status, e.load_balancing_weight]),
      [["HEALTHY", 1], ["DEGRADED", 3]],
    );
  } finally {
    cm.destroy();
  }
});
