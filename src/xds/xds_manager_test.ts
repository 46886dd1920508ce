import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import type { Listener } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import { decodeResponseText } from "./decode.ts";
import { LDS } from "./resource_types.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import { ListenerManagerStats } from "../listener/listener_manager_stats.ts";
import { Store } from "../stats/store.ts";
import { ClusterStatsCache } from "../stats/data_path_stats.ts";
import { ClusterManager } from "../upstream/cluster_manager.ts";
import { ConnPoolManager } from "../upstream/conn_pool.ts";
import { loadBootstrap } from "../config/bootstrap.ts";
import type { DynamicUpdate } from "./worker_updates.ts";
import { rdsRefs, routeClusters, XdsManager } from "./xds_manager.ts";

const ext = builtinExtensions();

function replace(path: string, text: string): void {
  Deno.writeTextFileSync(`${path}.tmp`, text);
  Deno.renameSync(`${path}.tmp`, path);
}

const cluster = (name: string, port: number) =>
  `- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: ${name}
  load_assignment:
    cluster_name: ${name}
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } } }] }]
`;

const listener = (name: string, port: number, route: string) =>
  `- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: ${name}
  address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: x
        ${route}
        http_filters:
        - name: envoy.filters.http.router
          typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;

const inline = (cluster: string) =>
  `route_config: { virtual_hosts: [{ name: a, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: ${cluster} } }] }] }`;

/** A manager over files in a temp dir, with the worker updates it posts. */
async function setup(staticClusters = "") {
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/cds.yaml`, "resources: []\n");
  Deno.writeTextFileSync(`${dir}/lds.yaml`, "resources: []\n");
  const yaml = `dynamic_resources:
  cds_config: { path_config_source: { path: ${dir}/cds.yaml } }
  lds_config: { path_config_source: { path: ${dir}/lds.yaml } }
static_resources:
  clusters:${staticClusters ? `\n${staticClusters}` : " []"}
`;
  const { bootstrap, issues } = loadBootstrap({ configYaml: yaml }, ext);
  assertEquals(issues, []);
  const stats = new Store();
  const clusterManager = new ClusterManager(bootstrap!.staticResources?.clusters ?? [], { stats });
  const clusterStats = new ClusterStatsCache(stats);
  const posts: DynamicUpdate[] = [];
  const listenerStats = new ListenerManagerStats(stats);
  const xds = new XdsManager({
    bootstrap: bootstrap!,
    ctx: {
      extensions: ext,
      clusterManager,
      pools: new ConnPoolManager(clusterStats),
      stats,
      clusterStats,
    },
    clusterDeps: { stats },
    listenerStats,
    post: (u) => posts.push(u),
    drainTimeMs: 10,
    staticPort: () => undefined,
    node: {},
  });
  xds.start();
  await xds.initialized();
  const settle = () => new Promise((r) => setTimeout(r, 0));
  const waitFor = async (f: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!f()) {
      assert(Date.now() < deadline, "timed out");
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const counter = (n: string) => stats.counter(n).value;
  const close = () => {
    xds.stop();
    clusterManager.destroy();
  };
  return { dir, xds, posts, stats, counter, settle, waitFor, close, clusterManager };
}

Deno.test("CDS: clusters added, modified and removed are posted once each; static ones stay", async () => {
  const t = await setup(
    cluster("static", 1).replace(/^- "@type": .*\n {2}/, "  - ").replace(/\n {2}/g, "\n    "),
  );
  try {
    replace(
      `${t.dir}/cds.yaml`,
      `version_info: "1"\nresources:\n${cluster("a", 1)}${cluster("static", 2)}`,
    );
    await t.waitFor(() => t.counter("cluster_manager.cluster_added") === 2);
    assertEquals(t.posts.flatMap((p) => p.clusters ?? []).map((c) => c.config.name), ["a"]);
    replace(`${t.dir}/cds.yaml`, `version_info: "2"\nresources:\n${cluster("a", 2)}`);
    await t.waitFor(() => t.counter("cluster_manager.cluster_modified") === 1);
    replace(`${t.dir}/cds.yaml`, `version_info: "3"\nresources: []\n`);
    await t.waitFor(() => t.counter("cluster_manager.cluster_removed") === 1);
    assertEquals(t.posts.flatMap((p) => p.removedClusters ?? []), ["a"]);
    assertEquals(t.clusterManager.names(), ["static"]);
    assertEquals(t.xds.dumpState().cdsVersion, "3");
  } finally {
    t.close();
  }
});

Deno.test("LDS: two listeners on one address reject the whole update", async () => {
  const t = await setup();
  try {
    replace(`${t.dir}/cds.yaml`, `resources:\n${cluster("a", 1)}`);
    await t.waitFor(() => t.clusterManager.get("a") !== undefined);
    replace(
      `${t.dir}/lds.yaml`,
      `resources:\n${listener("l1", 47001, inline("a"))}${listener("l2", 47001, inline("a"))}`,
    );
    await t.waitFor(() => t.counter("listener_manager.lds.update_rejected") === 1);
    assertEquals(t.posts.flatMap((p) => p.listeners ?? []), []);
    const errors = t.xds.dumpState().listenerErrors;
    assertMatch(errors.get("l2")!.details, /duplicate address '127\.0\.0\.1:47001'/);
  } finally {
    t.close();
  }
});

Deno.test("rdsRefs and routeClusters read the connection managers of a listener", () => {
  const r = decodeResponseText(
    `resources:\n${
      listener("r", 0, "rds: { route_config_name: routes, config_source: { path: /dev/null } }")
    }${listener("i", 1, inline("c"))}`,
    "l.yaml",
    LDS,
    { extensions: ext, clusters: () => new Set(["c"]) },
  );
  assert(r.ok);
  const [rds, inlined] = r.update.resources.map((x) => x.message as Listener);
  assertEquals(rdsRefs(rds).map((x) => [x.name, x.statPrefix]), [["routes", "x"]]);
  assertEquals([...routeClusters(inlined)], ["c"]);
  assertEquals(rdsRefs(inlined), []);
});

Deno.test("CDS: the clusters of one update reach workers as one message, removals too", async () => {
  const t = await setup();
  try {
    replace(
      `${t.dir}/cds.yaml`,
      `resources:\n${cluster("a", 1)}${cluster("b", 1)}${cluster("c", 1)}`,
    );
    await t.waitFor(() => t.counter("cluster_manager.cluster_added") === 3);
    await t.settle();
    assertEquals(t.posts.map((p) => p.clusters?.map((c) => c.config.name)), [["a", "b", "c"]]);
    replace(`${t.dir}/cds.yaml`, `resources:\n${cluster("b", 2)}`);
    await t.waitFor(() => t.counter("cluster_manager.cluster_modified") === 1);
    await t.settle();
    assertEquals(
      t.posts.slice(1).map((p) => [p.clusters?.map((c) => c.config.name), p.removedClusters]),
      [
        [undefined, ["a", "c"]],
        [["b"], undefined],
      ],
    );
  } finally {
    t.close();
  }
});
