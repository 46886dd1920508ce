import type { JsonObject } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { configDump, resourceName, trimJson } from "./config_dump.ts";

const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const SECTIONS: JsonObject[] = [
  {
    "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
    bootstrap: { node: { id: "n", cluster: "c" }, admin: {} },
    last_updated: "2024-01-01T00:00:00Z",
  },
  {
    "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
    static_clusters: [
      { cluster: { "@type": CLUSTER, name: "web", connect_timeout: "1s" }, last_updated: "t" },
      { cluster: { "@type": CLUSTER, name: "db", connect_timeout: "2s" }, last_updated: "t" },
    ],
  },
  {
    "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
    static_endpoint_configs: [{ endpoint_config: { cluster_name: "web", endpoints: [] } }],
  },
];

function dump(query: string) {
  return configDump(structuredClone(SECTIONS), new URLSearchParams(query));
}

Deno.test("no parameters: every section", () => {
  assertEquals(dump(""), { ok: { configs: SECTIONS } });
});

Deno.test("resource: the elements of that repeated field, each with its own @type", () => {
  assertEquals(dump("resource=static_clusters"), {
    ok: {
      configs: [
        {
          "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster",
          cluster: { "@type": CLUSTER, name: "web", connect_timeout: "1s" },
          last_updated: "t",
        },
        {
          "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster",
          cluster: { "@type": CLUSTER, name: "db", connect_timeout: "2s" },
          last_updated: "t",
        },
      ],
    },
  });
  assertEquals(dump("resource=nope"), { status: 404, message: "nope not found in config dump" });
  assertEquals(dump("resource=bootstrap"), {
    status: 400,
    message: "bootstrap is not a repeated field. Use ?mask=bootstrap to get only this field",
  });
});

Deno.test("resource + mask: the mask reaches into the resource's Any", () => {
  const r = dump("resource=static_clusters&mask=cluster.name");
  assertEquals(r, {
    ok: {
      configs: [
        {
          "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster",
          cluster: { "@type": CLUSTER, name: "web" },
        },
        {
          "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster",
          cluster: { "@type": CLUSTER, name: "db" },
        },
      ],
    },
  });
  assertEquals(dump("resource=static_clusters&mask=cluster.nope"), {
    status: 400,
    message: 'FieldMask paths: "cluster.nope"\n could not be successfully used.',
  });
});

Deno.test("mask alone trims each section it fits and drops the others", () => {
  assertEquals(dump("mask=bootstrap.node.id"), {
    ok: {
      configs: [{
        "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
        bootstrap: { node: { id: "n" } },
      }],
    },
  });
  // Repeated fields cannot be indexed through.
  assertEquals(dump("mask=static_clusters.cluster"), {
    status: 400,
    message: "FieldMask static_clusters.cluster could not be successfully applied to any configs.",
  });
});

Deno.test("name_regex keeps resources whose whole name matches", () => {
  const r = dump("resource=static_clusters&name_regex=w.b") as { ok: { configs: JsonObject[] } };
  assertEquals(r.ok.configs.map((c) => (c.cluster as JsonObject).name), ["web"]);
  const all = dump("name_regex=d") as { ok: { configs: JsonObject[] } };
  assertEquals(all.ok.configs[1].static_clusters, []);
  const eds = dump("resource=static_endpoint_configs&name_regex=web") as {
    ok: { configs: JsonObject[] };
  };
  assertEquals(eds.ok.configs.length, 1);
  const bad = dump("name_regex=(") as { status: number; message: string };
  assertEquals(bad.status, 400);
  assertEquals(
    bad.message.startsWith("INVALID_ARGUMENT: Error while parsing name_regex from ("),
    true,
  );
});

Deno.test("helpers", () => {
  assertEquals(trimJson({ "@type": "t", a: { b: 1, c: 2 }, d: 3 }, [["a", "b"]]), {
    "@type": "t",
    a: { b: 1 },
  });
  assertEquals(resourceName({ cluster: { name: "x" } }), "x");
  assertEquals(resourceName({ endpoint_config: { cluster_name: "y" } }), "y");
  assertEquals(resourceName({ name: "z", other: { name: "no" } }), "z");
});
