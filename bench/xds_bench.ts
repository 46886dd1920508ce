/**
 * Times xDS updates from `path_config_source` files (issue 13, Performance): a CDS update of
 * 1,000 clusters, an EDS update of one ClusterLoadAssignment with 10,000 endpoints, an RDS
 * update of a RouteConfiguration with 10,000 routes.
 *
 * - `inproc` (default): in this process, `decodeResponseText` (decode + validate) timed
 *   directly, then an `XdsManager` over watched directories timed from the symlink swap to
 *   `update_success` (decode + validate + apply, with the watch); run it with `--cpu-prof`.
 * - `e2e`: the real server (`main.ts`), timed from the swap to the subscription's
 *   `update_time` gauge read via the admin.
 * - `mem`: RSS of the whole server with 1,000 STATIC clusters over an empty config, with
 *   `--concurrency 2`, per cluster: 3 s after ready and settled (45 s after ready).
 * - `heap`: heap bytes per cluster in each isolate (main, each worker) from heap snapshots of
 *   the same two configs, and what grew most; valid on a busy machine (bytes, not time).
 * - `churn`: wrk keep-alive through `--concurrency 1` to an nginx upstream, without and with
 *   one filesystem xDS update per second (CDS, EDS, RDS in turn), interleaved runs: req/s per
 *   proxy core and p99 with and without updates (target: ≤ 5% fewer req/s). `--quick` (3 s
 *   runs) only checks that it works.
 *
 * Each mode prints the load average and the CPU other processes used just before it runs; a
 * figure counts only when the load average was ≤ 1.0 and others used ≤ 0.2 cores.
 *
 * Usage: `deno run -A --unstable-net bench/xds_bench.ts [inproc|e2e|mem|heap] [runs]`,
 * `deno run -A --unstable-net bench/xds_bench.ts churn [rounds] [--quick]`
 */
import { decodeResponseText } from "../src/xds/decode.ts";
import { CDS, EDS, RDS, type ResourceType } from "../src/xds/resource_types.ts";
import { builtinExtensions } from "../src/extensions/builtin.ts";
import { loadBootstrap } from "../src/config/bootstrap.ts";
import { Store } from "../src/stats/store.ts";
import { ClusterStatsCache } from "../src/stats/data_path_stats.ts";
import { ClusterManager } from "../src/upstream/cluster_manager.ts";
import { ConnPoolManager } from "../src/upstream/conn_pool.ts";
import { ListenerManagerStats } from "../src/listener/listener_manager_stats.ts";
import { XdsManager } from "../src/xds/xds_manager.ts";
import { setLevel } from "../src/common/logger.ts";
import { ServerProcess, tempFile } from "../tests/helpers.ts";
import { curl, Proxy } from "../tests/proxy.ts";
import {
  adminStat,
  benchTempDir,
  childPids,
  cpuText,
  f0,
  f2,
  freePort,
  invalidity,
  killAllNow,
  loadAvg,
  MAIN_TS,
  median as medianOf,
  perCore,
  requireTools,
  runWrk,
  setUpstreamPids,
  sleep,
  spawn,
  startDenvoy,
  startNginx,
  StderrTail,
  stop,
  stopAll,
  waitForPort,
  withTimeout,
  WRK_CONNECTIONS,
  WRK_THREADS,
  type WrkResult,
} from "./harness.ts";
import { growth, heapSnapshots, type IsolateHeap } from "./heap_snapshot.ts";

const CLUSTERS = 1_000;
const ENDPOINTS = 10_000;
const ROUTES = 10_000;

// ---- generated updates ----

/** A CDS DiscoveryResponse of `n` STATIC clusters with one endpoint each. */
export function cdsResponse(n: number, version: string, port = 1): string {
  const out = [`version_info: "${version}"`, "resources:"];
  for (let i = 0; i < n; i++) {
    out.push(
      `- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster`,
      `  name: c${i}`,
      `  connect_timeout: 1s`,
      `  load_assignment:`,
      `    cluster_name: c${i}`,
      `    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: ` +
        `{ address: 127.0.0.1, port_value: ${port + (i % 60000)} } } } }] }]`,
    );
  }
  return out.join("\n") + "\n";
}

/** An EDS DiscoveryResponse: one assignment for `cluster` with `n` endpoints. */
export function edsResponse(cluster: string, n: number, version: string): string {
  const out = [
    `version_info: "${version}"`,
    "resources:",
    `- "@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment`,
    `  cluster_name: ${cluster}`,
    `  endpoints:`,
    `  - lb_endpoints:`,
  ];
  for (let i = 0; i < n; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    out.push(
      `    - endpoint: { address: { socket_address: { address: ${ip}, port_value: ${
        8000 + (Number(version) % 100)
      } } } }`,
    );
  }
  return out.join("\n") + "\n";
}

/** An RDS DiscoveryResponse: `name` with one virtual host of `n` routes to `cluster`. */
export function rdsResponse(name: string, cluster: string, n: number, version: string): string {
  const out = [
    `version_info: "${version}"`,
    "resources:",
    `- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration`,
    `  name: ${name}`,
    `  virtual_hosts:`,
    `  - name: all`,
    `    domains: ["*"]`,
    `    routes:`,
  ];
  for (let i = 0; i < n; i++) {
    out.push(
      `    - match: { prefix: "/v${version}/p${i}" }`,
      `      route: { cluster: ${cluster} }`,
    );
  }
  return out.join("\n") + "\n";
}

// ---- load ----

/** Load average (1 min) and the cores busy over `ms` (this process idle meanwhile). */
export async function machineLoad(ms = 2000): Promise<{ loadavg: number; otherCores: number }> {
  const busy = () => {
    const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
      .map(Number);
    const idle = f[3] + f[4];
    const total = f.reduce((a, b) => a + b, 0);
    return { idle, total };
  };
  const a = busy();
  await new Promise((r) => setTimeout(r, ms));
  const b = busy();
  const cores = navigator.hardwareConcurrency;
  const share = 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
  const loadavg = Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  return { loadavg, otherCores: Math.round(share * cores * 100) / 100 };
}

function counts(l: { loadavg: number; otherCores: number }): boolean {
  return l.loadavg <= 1.0 && l.otherCores <= 0.2;
}

// ---- watched directories ----

/** A ConfigMap-style directory: `<dir>/<file>` -> `..data/<file>`, `..data` -> a version. */
class WatchedDir {
  #n = 0;
  constructor(readonly dir: string, readonly file: string, text: string) {
    Deno.mkdirSync(`${dir}/v0`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/v0/${file}`, text);
    Deno.symlinkSync("v0", `${dir}/..data`);
    Deno.symlinkSync(`..data/${file}`, `${dir}/${file}`);
  }

  get path(): string {
    return `${this.dir}/${this.file}`;
  }

  /** Writes `text` as a new version, then swaps `..data` to it; returns the swap time. */
  swap(text: string): number {
    const v = `v${++this.#n}`;
    Deno.mkdirSync(`${this.dir}/${v}`);
    Deno.writeTextFileSync(`${this.dir}/${v}/${this.file}`, text);
    Deno.symlinkSync(v, `${this.dir}/..tmp`);
    const t = performance.now();
    Deno.renameSync(`${this.dir}/..tmp`, `${this.dir}/..data`);
    return t;
  }

  source(): string {
    return `{ path_config_source: { path: ${this.path}, watched_directory: { path: ${this.dir} } } }`;
  }
}

function listenerYaml(rds: WatchedDir): string {
  return `version_info: "1"
resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: l
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: bench
        rds: { route_config_name: routes, config_source: ${rds.source()} }
        http_filters:
        - name: envoy.filters.http.router
          typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;
}

function edsClusterYaml(eds: WatchedDir): string {
  return `version_info: "1"
resources:
- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: backend
  type: EDS
  connect_timeout: 1s
  eds_cluster_config: { eds_config: ${eds.source()} }
`;
}

/** The three watched sources of one run: CDS, LDS (one listener on RDS), and EDS and RDS. */
function layout(root: string) {
  const eds = new WatchedDir(`${root}/eds`, "eds.yaml", edsResponse("backend", 1, "0"));
  const rds = new WatchedDir(`${root}/rds`, "rds.yaml", rdsResponse("routes", "backend", 1, "0"));
  const cds = new WatchedDir(`${root}/cds`, "cds.yaml", edsClusterYaml(eds));
  const lds = new WatchedDir(`${root}/lds`, "lds.yaml", listenerYaml(rds));
  return { eds, rds, cds, lds };
}

interface Case {
  name: string;
  type: ResourceType;
  dir: WatchedDir;
  text: (version: string) => string;
  /** The subscription's stats prefix. */
  prefix: string;
  targetMs: number;
}

function cases(l: ReturnType<typeof layout>): Case[] {
  return [
    {
      name: `CDS ${CLUSTERS} clusters`,
      type: CDS,
      dir: l.cds,
      // The EDS cluster stays so the EDS case keeps its subscription.
      text: (v) =>
        // Every cluster changes (its endpoint's port), so each run rebuilds all 1,000.
        cdsResponse(CLUSTERS, v, Number(v)) +
        edsClusterYaml(l.eds).split("resources:\n")[1],
      prefix: "cluster_manager.cds",
      targetMs: 1000,
    },
    {
      name: `EDS ${ENDPOINTS} endpoints`,
      type: EDS,
      dir: l.eds,
      text: (v) => edsResponse("backend", ENDPOINTS, v),
      prefix: "cluster.backend",
      targetMs: 200,
    },
    {
      name: `RDS ${ROUTES} routes`,
      type: RDS,
      dir: l.rds,
      text: (v) => rdsResponse("routes", "backend", ROUTES, v),
      prefix: "http.bench.rds.routes",
      targetMs: 1000,
    },
  ];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const r1 = (x: number) => Math.round(x * 10) / 10;

// ---- modes ----

async function inproc(runs: number): Promise<void> {
  setLevel("error");
  const ext = builtinExtensions();
  const root = Deno.makeTempDirSync({ prefix: "denvoy-xds-bench-" });
  const l = layout(root);
  const { bootstrap, issues } = loadBootstrap(
    {
      configYaml: `dynamic_resources:
  cds_config: ${l.cds.source()}
  lds_config: ${l.lds.source()}
`,
    },
    ext,
  );
  if (!bootstrap) throw new Error(JSON.stringify(issues));
  const stats = new Store();
  const clusterManager = new ClusterManager([], { stats });
  const clusterStats = new ClusterStatsCache(stats);
  let posts = 0;
  const xds = new XdsManager({
    bootstrap,
    ctx: {
      extensions: ext,
      clusterManager,
      pools: new ConnPoolManager(clusterStats),
      stats,
      clusterStats,
    },
    clusterDeps: { stats },
    listenerStats: new ListenerManagerStats(stats),
    post: () => posts++,
    drainTimeMs: 10,
    staticPort: () => 0,
    node: {},
  });
  xds.start();
  await xds.initialized();
  const load = await machineLoad();
  console.log(
    `load before: loadavg ${load.loadavg}, other processes ${load.otherCores} cores: ` +
      (counts(load) ? "counts" : "DOES NOT COUNT"),
  );
  const decodeCtx = { extensions: ext, clusters: () => new Set(clusterManager.names()) };
  let version = 1;
  for (const c of cases(l)) {
    const decode: number[] = [];
    const total: number[] = [];
    const postsPer: number[] = [];
    for (let i = 0; i < runs; i++) {
      const v = String(++version);
      const text = c.text(v);
      const t0 = performance.now();
      const r = decodeResponseText(text, c.dir.path, c.type, decodeCtx);
      decode.push(performance.now() - t0);
      if (!r.ok) throw new Error(`${c.name}: ${JSON.stringify(r.issues.slice(0, 3))}`);
      const success = stats.counter(`${c.prefix}.update_success`);
      const before = success.value;
      const p0 = posts;
      const t1 = c.dir.swap(text);
      while (success.value === before) await new Promise((r) => setTimeout(r, 0));
      total.push(performance.now() - t1);
      postsPer.push(posts - p0);
      // Warming clusters post when they activate: let them before the next run.
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(
      `${c.name}: decode+validate ${r1(median(decode))} ms; swap to update_success ` +
        `${r1(median(total))} ms (target ${c.targetMs} ms); worker posts ${median(postsPer)}`,
    );
  }
  xds.stop();
  clusterManager.destroy();
  Deno.removeSync(root, { recursive: true });
}

async function e2e(runs: number): Promise<void> {
  const root = Deno.makeTempDirSync({ prefix: "denvoy-xds-bench-" });
  const l = layout(root);
  const p = await Proxy.start(
    `admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  cds_config: ${l.cds.source()}
  lds_config: ${l.lds.source()}
`,
    ["--concurrency", "2"],
  );
  const stat = async (name: string): Promise<number> => {
    const out = (await curl([`http://127.0.0.1:${p.adminPort}/stats?filter=^${name}$`])).out;
    const m = /: (\d+)/.exec(out);
    return m ? Number(m[1]) : 0;
  };
  try {
    const load = await machineLoad();
    console.log(
      `load before: loadavg ${load.loadavg}, other processes ${load.otherCores} cores ` +
        `(the idle server included): ${counts(load) ? "counts" : "DOES NOT COUNT"}`,
    );
    let version = 1;
    for (const c of cases(l)) {
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) {
        const text = c.text(String(++version));
        const before = await stat(`${c.prefix}.update_success`);
        const t0 = Date.now();
        c.dir.swap(text);
        // The figure is the server's own update_time: polling only finds when it is set, and
        // rarely, as each /stats collects every worker's stats on the main thread it measures.
        while (await stat(`${c.prefix}.update_success`) === before) {
          await new Promise((r) => setTimeout(r, 100));
        }
        ms.push((await stat(`${c.prefix}.update_time`)) - t0);
      }
      console.log(
        `${c.name}: swap to update_time ${median(ms)} ms (target ${c.targetMs} ms); runs ${ms}`,
      );
    }
  } finally {
    await p.stop();
    Deno.removeSync(root, { recursive: true });
  }
}

/** RSS (KiB) of the server process and its children, once it is ready. */
function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/** A bootstrap of `n` STATIC clusters of one endpoint each (the `mem` and `heap` modes). */
function staticYaml(n: number): string {
  const out = [
    "admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }",
    "static_resources:",
    "  clusters:",
  ];
  if (n === 0) out[2] = "  clusters: []";
  for (let i = 0; i < n; i++) {
    out.push(
      `  - name: c${i}`,
      `    connect_timeout: 1s`,
      `    load_assignment:`,
      `      cluster_name: c${i}`,
      `      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: ` +
        `{ address: 127.0.0.1, port_value: ${1 + i} } } } }] }]`,
    );
  }
  return out.join("\n") + "\n";
}

async function mem(): Promise<void> {
  const load = await machineLoad();
  console.log(
    `load before: loadavg ${load.loadavg}, other processes ${load.otherCores} cores: ` +
      (counts(load) ? "counts" : "DOES NOT COUNT"),
  );
  // RSS 3 s after ready still holds start-up garbage (config parsing, validation); V8's memory
  // reducer returns it some 10-30 s later, once allocation goes quiet. Both are printed; the
  // settled figure (the lowest of the last 10 one-second samples, 45 s after ready) is the
  // steady state an operator sees.
  const early: Record<number, number> = {};
  const settled: Record<number, number> = {};
  for (const n of [0, CLUSTERS]) {
    const proc = new ServerProcess(["-c", tempFile(staticYaml(n)), "--concurrency", "2"]);
    await proc.waitFor(/all listeners ready/);
    const samples: number[] = [];
    for (let t = 1; t <= SETTLE_S; t++) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(rssKiB(proc.child.pid));
      if (t === 3) early[n] = samples[samples.length - 1];
    }
    settled[n] = Math.min(...samples.slice(-10));
    await proc.stop("SIGINT");
  }
  const per = (r: Record<number, number>) => r1((r[CLUSTERS] - r[0]) / CLUSTERS);
  console.log(
    `RSS 3 s after ready: empty ${early[0]} KiB, ${CLUSTERS} static clusters ` +
      `${early[CLUSTERS]} KiB: ${per(early)} KiB per cluster`,
  );
  console.log(
    `RSS settled (${SETTLE_S} s): empty ${settled[0]} KiB, ${CLUSTERS} static clusters ` +
      `${settled[CLUSTERS]} KiB: ${per(settled)} KiB per cluster (target 20 KiB)`,
  );
}

// ---- churn: the data path during a stream of updates ----

/** Clusters and routes besides the ones the traffic uses, so updates carry some bulk. */
const CHURN_OTHERS = 50;

/** The CDS response of `churn`: the EDS cluster the traffic uses and the others. */
function churnCds(eds: WatchedDir, upstreamPort: number, v: number): string {
  const out = [
    `version_info: "${v}"`,
    "resources:",
    `- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster`,
    `  name: backend`,
    `  type: EDS`,
    // Every CDS update changes the cluster the traffic uses: it is rebuilt and warms again.
    `  connect_timeout: ${1 + (v % 2)}s`,
    `  eds_cluster_config: { eds_config: ${eds.source()} }`,
  ];
  for (let i = 0; i < CHURN_OTHERS; i++) {
    out.push(
      `- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster`,
      `  name: o${i}`,
      `  connect_timeout: ${1 + ((v + i) % 3)}s`,
      `  load_assignment:`,
      `    cluster_name: o${i}`,
      `    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: ` +
        `{ address: 127.0.0.1, port_value: ${upstreamPort} } } } }] }]`,
    );
  }
  return out.join("\n") + "\n";
}

/** The EDS response of `churn`: the upstream as one endpoint, its weight and zone changing. */
function churnEds(upstreamPort: number, v: number): string {
  return `version_info: "${v}"
resources:
- "@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
  cluster_name: backend
  endpoints:
  - locality: { zone: z${v % 3} }
    lb_endpoints:
    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } } }
      load_balancing_weight: ${1 + (v % 5)}
`;
}

/** The RDS response of `churn`: the route the traffic uses (its timeout changing) and others. */
function churnRds(v: number): string {
  const out = [
    `version_info: "${v}"`,
    "resources:",
    `- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration`,
    `  name: routes`,
    `  virtual_hosts:`,
    `  - name: all`,
    `    domains: ["*"]`,
    `    routes:`,
  ];
  for (let i = 0; i < CHURN_OTHERS; i++) {
    out.push(
      `    - match: { prefix: "/v${v}/o${i}" }`,
      `      route: { cluster: o${i} }`,
    );
  }
  out.push(
    `    - match: { prefix: "/" }`,
    `      route: { cluster: backend, timeout: ${10 + (v % 5)}s }`,
  );
  return out.join("\n") + "\n";
}

/** The LDS response of `churn`: one HTTP listener on `port` whose routes come from RDS. */
function churnLds(rds: WatchedDir, port: number): string {
  return listenerYaml(rds).replace("port_value: 0", `port_value: ${port}`);
}

/**
 * `churn`: wrk -t1 -c64 keep-alive `GET /1k` through denvoy (`--concurrency 1`) to an nginx
 * upstream, runs without updates and with one filesystem xDS update per second (CDS, EDS and
 * RDS in turn, each changing the cluster, endpoint or route the traffic uses, and others),
 * interleaved; req/s per proxy core, p99, and the ratio. The target (issue 13): req/s drops
 * ≤ 5% with the updates.
 */
async function churn(
  rounds: number,
  seconds: number,
  warmup: number,
  only?: readonly string[],
): Promise<void> {
  await requireTools(["wrk", "nginx"], "xds_bench churn", "wrk nginx");
  const loadBefore = loadAvg();
  const dir = await benchTempDir("denvoy-xds-churn-");
  await Deno.mkdir(`${dir}/www`);
  await Deno.writeFile(`${dir}/www/1k`, new Uint8Array(1024).fill(0x61), { mode: 0o644 });
  try {
    const upstream = await startNginx(dir, "upstream.conf", "upstream", { ROOT: `${dir}/www` });
    setUpstreamPids(() => [upstream.child.pid, ...childPids(upstream.child.pid)]);
    let v = 1;
    const eds = new WatchedDir(`${dir}/eds`, "eds.yaml", churnEds(upstream.port, v));
    const rds = new WatchedDir(`${dir}/rds`, "rds.yaml", churnRds(v));
    const cds = new WatchedDir(`${dir}/cds`, "cds.yaml", churnCds(eds, upstream.port, v));
    const port = freePort();
    const lds = new WatchedDir(`${dir}/lds`, "lds.yaml", churnLds(rds, port));
    const denvoy = await startDenvoy(
      dir,
      "denvoy",
      `admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  cds_config: ${cds.source()}
  lds_config: ${lds.source()}
`,
      { concurrency: 1 },
    );
    await waitForPort(port, denvoy.child, "denvoy listener");
    const url = `http://127.0.0.1:${port}/1k`;
    const updates = [
      {
        dir: cds,
        text: (v: number) => churnCds(eds, upstream.port, v),
        stat: "cluster_manager.cds",
        kind: "cds",
      },
      {
        dir: eds,
        text: (v: number) => churnEds(upstream.port, v),
        stat: "cluster.backend",
        kind: "eds",
      },
      { dir: rds, text: churnRds, stat: "http.bench.rds.routes", kind: "rds" },
    ].filter((u) => only === undefined || only.includes(u.kind));
    if (updates.length === 0) throw new Error("--only: name cds, eds or rds (comma-separated)");
    // Each update type's update_success (an EDS one also follows each CDS change of backend,
    // which subscribes anew).
    const applied = () =>
      Promise.all(updates.map((u) => adminStat(denvoy.adminPort, `${u.stat}.update_success`)));
    const swaps = updates.map(() => 0);
    // One update a second, CDS, EDS and RDS in turn, until `end`.
    let next = 0;
    const stream = async (end: number) => {
      while (Date.now() + 1000 <= end) {
        await sleep(1000);
        const i = next++ % updates.length;
        updates[i].dir.swap(updates[i].text(++v));
        swaps[i]++;
      }
    };
    /** How many of the swaps since `before` each type has not applied yet. */
    const missing = async (before: { swaps: number[]; applied: number[] }) => {
      const now = await applied();
      return updates.map((_, i) =>
        Math.max(0, swaps[i] - before.swaps[i] - (now[i] - before.applied[i]))
      ).reduce((a, b) => a + b, 0);
    };
    const without: WrkResult[] = [];
    const withUpdates: WrkResult[] = [];
    for (let r = 0; r < rounds; r++) {
      // Interleaved, the order alternating, so drift on the machine falls on both sides.
      for (const updating of r % 2 === 0 ? [false, true] : [true, false]) {
        await runWrk({ url, seconds: warmup });
        const before = { swaps: [...swaps], applied: await applied() };
        const res = await runWrk({
          url,
          seconds,
          peerPids: denvoy.child.pid,
          during: updating ? () => stream(Date.now() + seconds * 1000) : undefined,
        });
        // Every update is applied before the next run (the last one may still be on its way).
        for (let i = 0; i < 50 && await missing(before) > 0; i++) await sleep(100);
        const sent = swaps.reduce((a, b) => a + b, 0) - before.swaps.reduce((a, b) => a + b, 0);
        const lost = await missing(before);
        console.error(
          `round ${r + 1} ${updating ? "with updates" : "no updates"}: ${f0(res.rps)} req/s, ` +
            `${f0(perCore(res))} per core, p99 ${f2(res.p99)} ms, ${res.errors} errors` +
            (updating ? `, ${sent - lost} of ${sent} updates applied` : ""),
        );
        if (res.errors > 0) throw new Error(`failed requests: ${res.errorText}`);
        if (lost > 0) throw new Error(`${lost} updates not applied`);
        (updating ? withUpdates : without).push(res);
      }
    }
    await stop(denvoy.child);
    const all = [...without, ...withUpdates];
    const invalid = invalidity(loadBefore, all);
    const med = (rs: WrkResult[], f: (r: WrkResult) => number) => medianOf(rs.map(f));
    const ratio = med(withUpdates, perCore) / med(without, perCore);
    console.log(
      `churn: wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} ${seconds} s runs (${warmup} s warm-up), ` +
        `${rounds} rounds interleaved; load average before ${loadBefore}, after ${loadAvg()}` +
        (invalid ? `\n**Not valid**: ${invalid}` : ""),
    );
    for (const [name, rs] of [["no updates", without], ["1 update/s", withUpdates]] as const) {
      console.log(
        `${name}: ${f0(med(rs, (r) => r.rps))} req/s, ${f0(med(rs, perCore))} req/s per proxy ` +
          `core, p99 ${f2(med(rs, (r) => r.p99))} ms; cores (proxy / wrk / upstream / other) ` +
          rs.map((r) => cpuText(r.cpu)).join(", "),
      );
    }
    console.log(
      `ratio (per proxy core, with / without updates): ${f2(ratio)} (target ≥ 0.95)`,
    );
  } finally {
    await stopAll();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * `heap`: heap bytes per cluster in each isolate (`--concurrency 2`), from heap snapshots
 * after a full GC, 3 s after ready, 1,000 STATIC clusters against none; and what grew most, by
 * kind, in the main thread and the first worker. Byte counts do not depend on the machine's
 * load: this is the guide for memory work, where RSS needs a quiet machine.
 */
async function heap(): Promise<void> {
  const snaps: IsolateHeap[][] = [];
  for (const n of [0, CLUSTERS]) {
    const port = freePort();
    const proc = spawn(Deno.execPath(), [
      "run",
      "-A",
      "--unstable-net",
      `--inspect=127.0.0.1:${port}`,
      MAIN_TS,
      "-c",
      tempFile(staticYaml(n)),
      "--concurrency",
      "2",
      "--disable-hot-restart",
    ], { pipeErr: true });
    const err = new StderrTail(proc.stderr);
    try {
      await withTimeout(err.match(/all 2 workers serving/), 60_000, "denvoy start");
      await sleep(3000);
      snaps.push(await heapSnapshots(port));
    } finally {
      await stop(proc);
    }
  }
  const [empty, full] = snaps;
  for (const after of full) {
    const before = empty.find((b) => b.name === after.name)!;
    console.log(
      `${after.name}: ${f0((after.bytes - before.bytes) / CLUSTERS)} heap bytes per cluster`,
    );
  }
  for (const [i, name] of [[0, "main"], [1, "a worker"]] as const) {
    console.log(`\nlargest growth per cluster, ${name} (bytes, objects, kind):`);
    for (const g of growth(empty[i], full.find((h) => h.name === empty[i].name)!, CLUSTERS, 12)) {
      console.log(`${f0(g.bytes).padStart(7)} ${f2(g.count).padStart(6)}  ${g.kind}`);
    }
  }
}

/** Seconds the `mem` mode watches each server after it is ready. */
const SETTLE_S = 45;

if (import.meta.main) {
  const mode = Deno.args[0] ?? "inproc";
  const runs = Number(Deno.args[1] ?? 3);
  if (mode === "inproc") await inproc(runs);
  else if (mode === "e2e") await e2e(runs);
  else if (mode === "mem") await mem();
  else if (mode === "heap") await heap();
  else if (mode === "churn") {
    // `churn [rounds] [--quick] [--only cds,eds,rds]`: --quick (3 s runs, 1 s warm-ups) only
    // checks that it works; --only streams just those update types (to find which one costs).
    const quick = Deno.args.includes("--quick");
    const at = Deno.args.indexOf("--only");
    const only = at > 0 ? Deno.args[at + 1]?.split(",") : undefined;
    const rounds = Number(Deno.args.find((a, i) => i > 0 && /^\d+$/.test(a)) ?? 3);
    try {
      await churn(rounds, quick ? 3 : 10, quick ? 1 : 3, only);
    } catch (e) {
      killAllNow();
      throw e;
    }
  } else throw new Error(`unknown mode '${mode}'`);
}
