/**
 * The TLS benchmark of issue 10, peers side by side in one run: denvoy terminating TLS vs nginx
 * `ssl` (one worker each, TLS 1.3 only, the same ECDSA P-256 certificate, the same cipher suite
 * and key-exchange group: nginx is configured with what denvoy negotiated, and both are checked
 * with `openssl s_client`), each proxying to the same nginx upstream serving 1 KiB.
 *
 * Parts (`--only keepalive,handshakes,...`; all by default):
 * - `keepalive`: wrk over HTTPS keep-alive, `/1k`: req/s per proxy core (the primary figure),
 *   req/s, latency percentiles.
 * - `handshakes`: full TLS 1.3 handshakes per second (no resumption, no request) from
 *   `openssl s_time -new` processes (wrk cannot do this: it resumes its TLS session when it
 *   reconnects), per proxy core.
 * - `inspector`: denvoy against itself with a new connection per request (wrk `Connection:
 *   close`): a plain-TCP listener with vs without `tls_inspector` (`--inspector-rounds` fresh
 *   runs each, alternating, compared by medians per core), and a TLS listener with one filter
 *   chain vs `tls_inspector` and ten filter chains picked by `server_names` (SNI).
 * - `idle`: RSS growth per idle keep-alive TLS connection (denvoy on a fresh process, nginx's
 *   worker).
 * - `rotate`: denvoy with its certificate from SDS (`path_config_source` with
 *   `watched_directory`), wrk with a new connection per request while the directory's symlink
 *   is swapped between two certificates: no request may fail; p99 vs the same run without swaps.
 *
 * Usage: `deno run -A bench/tls_bench.ts [--duration 10] [--quick] [--only PARTS]
 * [--inspector-rounds 3]` (the plain-TCP pair of `inspector` runs that many times each, on fresh
 * processes, and is compared by medians).
 *
 * Needs `wrk`, `nginx` and `openssl` on PATH. Every process binds 127.0.0.1; every child is
 * killed on exit, on error and on SIGINT/SIGTERM. The run is printed as not valid when the load
 * average before it was > 1.0 or processes outside the bench used > 0.2 cores during a run.
 */
import { parseArgs } from "node:util";
import {
  adminStat,
  benchTempDir,
  type Cert,
  childPids,
  cpuText,
  type Denvoy,
  f0,
  f1,
  f2,
  getOnConn,
  hcm,
  idleConnRss,
  type IdleRss,
  invalidity,
  killAllNow,
  loadAvg,
  type LoadResult,
  makeCert,
  negotiated,
  type Peer,
  perCore,
  REPO_ROOT,
  requireTools,
  runLoadProcs,
  runWrk,
  setUpstreamPids,
  sh,
  sleep,
  startDenvoy,
  startNginx,
  staticCluster,
  stop,
  stopAll,
  verdict,
  withConn,
  WRK_CONNECTIONS,
  WRK_THREADS,
} from "./harness.ts";

/** The targets of issue 10 (per proxy core, as in the data-path efficiency issue). */
const TARGET = { perCore: 0.7, handshakes: 0.7, inspector: 0.95, rssKiB: 48 };
const PARTS = ["keepalive", "handshakes", "inspector", "idle", "rotate"] as const;
type Part = typeof PARTS[number];
/** `openssl s_time` processes: each makes one connection at a time. */
const S_TIME_PROCS = 4;
/** How often the rotation run swaps the certificate directory. */
const ROTATE_EVERY_MS = 1000;

// ---- denvoy configs ----

const TLS13 =
  "tls_params: { tls_minimum_protocol_version: TLSv1_3, tls_maximum_protocol_version: TLSv1_3 }";
const TLS_INSPECTOR = `
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`;

/** A DownstreamTlsContext transport socket (keys at the filter chain's indentation). */
function tlsSocket(certificates: string): string {
  return `transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: ["http/1.1"]
            ${TLS13}
            ${certificates.trim().replace(/\n/g, "\n            ")}`;
}

const fileCert = (c: Cert) =>
  `tls_certificates:
- certificate_chain: { filename: ${c.cert} }
  private_key: { filename: ${c.key} }`;

const ROUTE_UPSTREAM = `- match: { prefix: "/" }
  route: { cluster: upstream, timeout: 60s }`;

/** A filter chain: optional match and transport socket, then the HCM to the upstream. */
function chain(opts: { match?: string; tls?: string } = {}): string {
  const lines = [
    opts.match ? `filter_chain_match: ${opts.match}` : "",
    opts.tls ? tlsSocket(opts.tls) : "",
  ].filter(Boolean);
  return `
    - ${[...lines, `filters:${hcm("bench", ROUTE_UPSTREAM)}`].join("\n      ")}`;
}

function bootstrap(upstreamPort: number, chains: string, listenerExtra = ""): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: bench
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }${listenerExtra}
    filter_chains:${chains}
  clusters:${staticCluster("upstream", upstreamPort)}
`;
}

/** Ten filter chains picked by SNI, the one wrk's SNI (`localhost`) matches last of the exact. */
function sniChains(c: Cert): string {
  const names = Array.from({ length: 8 }, (_, i) => `"svc${i}.bench.example.com"`);
  return [
    ...names.map((n) => chain({ match: `{ server_names: [${n}] }`, tls: fileCert(c) })),
    chain({ match: `{ server_names: ["*.example.org"] }`, tls: fileCert(c) }),
    chain({ match: `{ server_names: ["localhost"] }`, tls: fileCert(c) }),
  ].join("");
}

// ---- measurements ----

const tlsConnect = (pem: string) => (port: number) =>
  Deno.connectTls({ hostname: "localhost", port, caCerts: [pem] });

/** Checks that a peer answers `/1k` over TLS. */
async function checkTls(name: string, port: number, pem: string) {
  const { value } = await withConn(port, (c) => getOnConn(c, "/1k"), false, tlsConnect(pem));
  if (value.status !== 200 || value.len !== 1024) {
    throw new Error(`${name}: status ${value.status}, ${value.len} bytes over TLS`);
  }
}

/** Full TLS 1.3 handshakes (no resumption, no request) per second from `openssl s_time`. */
async function handshakes(
  port: number,
  seconds: number,
  cipher: string,
  peerPids?: number,
): Promise<LoadResult> {
  const cmd = {
    cmd: "openssl",
    args: [
      "s_time",
      "-connect",
      `127.0.0.1:${port}`,
      "-new",
      "-tls1_3",
      "-ciphersuites",
      cipher,
      "-time",
      String(seconds),
    ],
  };
  const { outputs, cpu } = await runLoadProcs(
    Array.from({ length: S_TIME_PROCS }, () => cmd),
    seconds,
    peerPids,
  );
  let conns = 0;
  for (const o of outputs) {
    const m = /(\d+) connections in \d+ real seconds/.exec(o);
    if (!m) throw new Error(`s_time output without a connection count:\n${o}`);
    conns += Number(m[1]);
  }
  return {
    rps: conns / seconds,
    p50: NaN,
    p90: NaN,
    p99: NaN,
    requests: conns,
    errors: 0,
    errorText: "",
    cpu,
  };
}

/** Warm-up, then one measured wrk run of `/1k` on `localhost` (so TLS sends SNI). */
async function wrkTls(
  p: Peer,
  seconds: number,
  warmup: number,
  opts: { scheme?: string; newConns?: boolean; during?: () => Promise<void> } = {},
) {
  const url = `${opts.scheme ?? "https"}://localhost:${p.port}/1k`;
  const args = opts.newConns ? ["-H", "Connection: close"] : [];
  if (warmup > 0) await runWrk({ url, seconds: warmup, args });
  const r = await runWrk({ url, seconds, args, peerPids: p.rssPid(), during: opts.during });
  console.error(
    `${p.name}: ${f0(r.rps)} req/s, p50/p90/p99 ${f2(r.p50)}/${f2(r.p90)}/${f2(r.p99)} ms` +
      `${r.errors ? `, ${r.errorText}` : ""}; CPU cores ${cpuText(r.cpu)}`,
  );
  return r;
}

// ---- report ----

/** The index of the run with the median req/s per core (the lower middle one of an even count). */
function medianIndex(runs: LoadResult[]): number {
  const order = runs.map((_, i) => i).sort((a, b) => perCore(runs[a]) - perCore(runs[b]));
  return order[Math.floor((order.length - 1) / 2)];
}

const ms = (x: number) => Number.isNaN(x) ? "—" : f2(x);
const row = (name: string, r: LoadResult, base: LoadResult) =>
  `| ${name} | ${f0(r.rps)} | ${f0(perCore(r))} | ${f2(perCore(r) / perCore(base))}× | ` +
  `${ms(r.p50)} / ${ms(r.p90)} / ${ms(r.p99)} | ${r.errors} | ${cpuText(r.cpu)} |`;
const HEAD = [
  "| peer | req/s | req/s per peer core | per core vs baseline | p50 / p90 / p99 ms | errors | " +
  "CPU cores peer / load generator / upstream / other |",
  "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
];

// ---- main ----

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "10" },
      quick: { type: "boolean", default: false },
      only: { type: "string", default: PARTS.join(",") },
      "inspector-rounds": { type: "string", default: "3" },
    },
  });
  const quick = values.quick;
  const duration = quick ? Math.min(3, Number(values.duration)) : Number(values.duration);
  if (!(duration > 0 && duration <= 600)) throw new Error(`--duration must be in (0, 600] s`);
  const warmup = quick ? 1 : 2;
  const idleConns = quick ? 500 : 5000;
  const inspectorRounds = quick ? 1 : Number(values["inspector-rounds"]);
  if (!(Number.isInteger(inspectorRounds) && inspectorRounds >= 1)) {
    throw new Error(`--inspector-rounds must be a whole number ≥ 1`);
  }
  const only = new Set(values.only.split(","));
  for (const p of only) {
    if (!PARTS.includes(p as Part)) throw new Error(`--only: unknown part ${p} (${PARTS})`);
  }

  await requireTools(["wrk", "nginx", "openssl"], "tls_bench", "wrk nginx openssl");
  const nofile = Number(await sh("ulimit -n"));
  // denvoy holds two descriptors per TLS connection (native_socket.ts), the client one.
  if (only.has("idle") && nofile < 2 * idleConns + 1024) {
    throw new Error(
      `ulimit -n is ${nofile}; ${idleConns} idle connections need more (run \`ulimit -n 65536\`)`,
    );
  }
  const loadAtStart = loadAvg();
  const dir = await benchTempDir("denvoy-tls-bench-");
  await Deno.mkdir(`${dir}/www`);
  await Deno.writeFile(`${dir}/www/1k`, new Uint8Array(1024).fill(0x61), { mode: 0o644 });
  const all: LoadResult[] = [];
  const out: string[] = [];
  try {
    const certA = await makeCert(dir, "a");
    const upstream = await startNginx(dir, "upstream.conf", "upstream", { ROOT: `${dir}/www` });
    setUpstreamPids(() => [upstream.child.pid, ...childPids(upstream.child.pid)]);

    // denvoy terminating TLS, then nginx with what denvoy negotiated.
    const denvoyYaml = bootstrap(upstream.port, chain({ tls: fileCert(certA) }));
    let denvoy: Denvoy | undefined = await startDenvoy(dir, "denvoy_tls", denvoyYaml);
    const dn = await negotiated(denvoy.ports.bench);
    const nginx = await startNginx(dir, "proxy_tls.conf", "nginx_tls", {
      UPSTREAM_PORT: upstream.port,
      CERT: certA.cert,
      KEY: certA.key,
      CIPHERSUITE: dn.cipher,
      GROUP: dn.group,
    });
    const ng = await negotiated(nginx.port);
    const same = dn.version === ng.version && dn.cipher === ng.cipher && dn.group === ng.group;
    out.push(
      `Negotiated with \`openssl s_client\`: denvoy ${dn.version} ${dn.cipher} ${dn.group}; ` +
        `nginx ${ng.version} ${ng.cipher} ${ng.group}${
          same ? " (the same)" : " — **they differ: the comparison is not like for like**"
        }. Certificate ECDSA P-256 (signed by a CA the bench makes).`,
      "",
    );
    const dPeer = denvoy.peer("bench", "denvoy");
    for (const [p, port] of [["denvoy", dPeer.port], ["nginx", nginx.port]] as const) {
      await checkTls(p, port, certA.pem);
    }

    if (only.has("keepalive")) {
      const n = await wrkTls({ ...nginx, name: "nginx ssl" }, duration, warmup);
      const d = await wrkTls(dPeer, duration, warmup);
      all.push(n, d);
      out.push(
        `### HTTPS keep-alive, wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -d${duration}s /1k`,
        "",
        ...HEAD,
        row("nginx ssl (1 worker)", n, n),
        row("denvoy (--concurrency 1)", d, n),
        "",
        `Target: req/s per proxy core ≥ ${TARGET.perCore}× nginx: ` +
          `${f2(perCore(d) / perCore(n))}× ${verdict(perCore(d) / perCore(n) >= TARGET.perCore)}`,
        "",
      );
    }

    if (only.has("handshakes")) {
      const hs = async (name: string, p: Peer) => {
        await handshakes(p.port, warmup, dn.cipher);
        const r = await handshakes(p.port, duration, dn.cipher, p.rssPid());
        console.error(`${name}: ${f0(r.rps)} handshakes/s; CPU cores ${cpuText(r.cpu)}`);
        return r;
      };
      const n = await hs("nginx ssl", nginx);
      const d = await hs("denvoy", dPeer);
      all.push(n, d);
      out.push(
        `### Full TLS 1.3 handshakes (no resumption, no request), ${S_TIME_PROCS} × ` +
          `\`openssl s_time -new -tls1_3 -ciphersuites ${dn.cipher} -time ${duration}\``,
        "",
        ...HEAD.map((l) => l.replace("req/s", "handshakes/s").replace("req/s per", "hs/s per")),
        row("nginx ssl (1 worker)", n, n),
        row("denvoy (--concurrency 1)", d, n),
        "",
        `Target: handshakes/s per proxy core ≥ ${TARGET.handshakes}× nginx: ` +
          `${f2(perCore(d) / perCore(n))}× ` +
          `${verdict(perCore(d) / perCore(n) >= TARGET.handshakes)}`,
        "",
      );
    }

    let idleD: IdleRss | undefined;
    let idleN: IdleRss | undefined;
    if (only.has("idle")) {
      idleN = await idleConnRss(nginx.rssPid, nginx.port, idleConns, tlsConnect(certA.pem));
      console.error(`nginx idle TLS conns: ${f1(idleN.perConnKiB)} KiB per connection`);
    }
    await stop(nginx.child);
    await stop(denvoy.child);
    denvoy = undefined;
    if (only.has("idle")) {
      // A fresh process: after the load its heap is full of garbage a GC may free mid-count.
      const fresh = await startDenvoy(dir, "denvoy_tls_idle", denvoyYaml);
      const p = fresh.peer("bench");
      idleD = await idleConnRss(p.rssPid, p.port, idleConns, tlsConnect(certA.pem));
      console.error(`denvoy idle TLS conns: ${f1(idleD.perConnKiB)} KiB per connection`);
      await stop(fresh.child);
      out.push(
        `### RSS per idle keep-alive TLS connection (${idleConns} connections, one GET /1k each)`,
        "",
        "| peer | RSS before (KiB) | RSS after (KiB) | growth per conn (KiB) |",
        "| --- | ---: | ---: | ---: |",
        ...[["nginx ssl (worker)", idleN!], ["denvoy (fresh process)", idleD]].map(([n, r]) => {
          const i = r as IdleRss;
          return `| ${n} | ${i.beforeKiB} | ${i.afterKiB} | ${f1(i.perConnKiB)} |`;
        }),
        "",
        `Target: ≤ ${TARGET.rssKiB} KiB per idle TLS connection: ${f1(idleD.perConnKiB)} KiB ` +
          `${verdict(idleD.perConnKiB <= TARGET.rssKiB)}`,
        "",
      );
    }

    if (only.has("inspector")) {
      const variants: [string, string, string][] = [
        ["plain TCP, no listener filter", "http", bootstrap(upstream.port, chain())],
        [
          "plain TCP + tls_inspector",
          "http",
          bootstrap(upstream.port, chain(), TLS_INSPECTOR),
        ],
        [
          "TLS, one filter chain",
          "https",
          bootstrap(upstream.port, chain({ tls: fileCert(certA) })),
        ],
        [
          "TLS + tls_inspector, 10 filter chains by server_names",
          "https",
          bootstrap(upstream.port, sniChains(certA), TLS_INSPECTOR),
        ],
      ];
      const once = async (v: number) => {
        const [name, scheme, yaml] = variants[v];
        const d = await startDenvoy(dir, `denvoy_inspector_${v}`, yaml);
        try {
          return await wrkTls(d.peer("bench", name), duration, warmup, { scheme, newConns: true });
        } finally {
          await stop(d.child);
        }
      };
      // The plain-TCP pair, each on a fresh process, in rounds ordered ABBA: under connection
      // churn a process's GC settles in one of two modes for the run (V8 pretenuring; see
      // bench/RESULTS.md), so one run each is a coin toss, not a 5% comparison.
      const plain: LoadResult[][] = [[], []];
      for (let r = 0; r < inspectorRounds; r++) {
        for (const v of r % 2 === 0 ? [0, 1] : [1, 0]) plain[v].push(await once(v));
      }
      const rs = [
        plain[0][medianIndex(plain[0])],
        plain[1][medianIndex(plain[1])],
        await once(2),
        await once(3),
      ];
      all.push(...plain[0], ...plain[1], ...rs.slice(2));
      const roundRows = inspectorRounds > 1
        ? plain.flatMap((runs, v) =>
          runs.map((r, i) => row(`round ${i + 1}: ${variants[v][0]}`, r, plain[0][i]))
        )
        : [];
      out.push(
        `### Listener filter and filter chain match cost, a new connection per request ` +
          `(wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -H 'Connection: close'; wrk resumes its ` +
          `TLS session on reconnect)`,
        "",
        ...HEAD,
        row(`denvoy: ${variants[0][0]} (median of ${inspectorRounds})`, rs[0], rs[0]),
        row(`denvoy: ${variants[1][0]} (median of ${inspectorRounds})`, rs[1], rs[0]),
        ...roundRows,
        row(`denvoy: ${variants[2][0]}`, rs[2], rs[2]),
        row(`denvoy: ${variants[3][0]}`, rs[3], rs[2]),
        "",
        `Target: tls_inspector on a plain-TCP listener costs ≤ 5% (per core ≥ ` +
          `${TARGET.inspector}×, medians per core of ${inspectorRounds} fresh runs each): ` +
          `${f2(perCore(rs[1]) / perCore(rs[0]))}× ` +
          `${verdict(perCore(rs[1]) / perCore(rs[0]) >= TARGET.inspector)}. tls_inspector + SNI ` +
          `match over 10 chains vs one chain: ${f2(perCore(rs[3]) / perCore(rs[2]))}× per core.`,
        "",
      );
    }

    if (only.has("rotate")) out.push(...await rotation(dir, upstream.port, duration, warmup, all));
  } finally {
    await stopAll();
  }
  const commit = await sh(`git -C ${REPO_ROOT} rev-parse --short HEAD || echo unknown`);
  const why = invalidity(loadAtStart, all);
  console.log([
    `denvoy at ${commit}; ${navigator.hardwareConcurrency} CPUs shared by the load generator, ` +
    `the nginx upstream and the proxy; ${warmup} s warm-up per run; load average (1/5/15 min) ` +
    `at the start ${loadAtStart}, at the end ${loadAvg()}. CPU cores are the proxy's (all its ` +
    `threads), the load generator's, the upstream's, and "other": what processes outside the ` +
    `bench used during the run.`,
    "",
    ...out,
    why ? `**Not valid** (a busy machine compresses every ratio): ${why}.` : "Valid run.",
  ].join("\n"));
}

/** The SDS secret file naming the certificate files under `live/`. */
async function writeSds(path: string, live: string) {
  await Deno.writeTextFile(
    `${path}.tmp`,
    `resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: server_cert
  tls_certificate:
    certificate_chain: { filename: ${live}/cert.pem }
    private_key: { filename: ${live}/key.pem }
`,
  );
  await Deno.rename(`${path}.tmp`, path);
}

/**
 * Certificate rotation under load: the same wrk run (a new connection per request) without and
 * with a `watched_directory` symlink swap every ROTATE_EVERY_MS; every swap must be applied
 * (`ssl_context_update_by_sds`) and no request may fail.
 */
async function rotation(
  dir: string,
  upstreamPort: number,
  duration: number,
  warmup: number,
  all: LoadResult[],
): Promise<string[]> {
  const certB = await makeCert(dir, "b");
  const certA = { cert: `${dir}/a.crt`, key: `${dir}/a.key` };
  const sdsDir = `${dir}/sds`;
  await Deno.mkdir(sdsDir);
  for (const [v, c] of [["v1", certA], ["v2", certB]] as const) {
    await Deno.mkdir(`${sdsDir}/${v}`);
    await Deno.copyFile(c.cert, `${sdsDir}/${v}/cert.pem`);
    await Deno.copyFile(c.key, `${sdsDir}/${v}/key.pem`);
  }
  await Deno.symlink(`${sdsDir}/v1`, `${sdsDir}/live`);
  await writeSds(`${sdsDir}/sds.yaml`, `${sdsDir}/live`);
  const d = await startDenvoy(
    dir,
    "denvoy_sds",
    bootstrap(
      upstreamPort,
      chain({
        tls: `tls_certificate_sds_secret_configs:
- name: server_cert
  sds_config:
    path_config_source: { path: ${sdsDir}/sds.yaml, watched_directory: { path: ${sdsDir} } }`,
      }),
    ),
  );
  const stat = `listener.127.0.0.1_${d.ports.bench}.server_ssl_socket_factory.` +
    `ssl_context_update_by_sds`;
  try {
    const p = d.peer("bench", "denvoy, certificate from SDS");
    const steady = await wrkTls(p, duration, warmup, { newConns: true });
    let swaps = 0;
    const swapLoop = async () => {
      const end = performance.now() + duration * 1000 - ROTATE_EVERY_MS;
      while (performance.now() < end) {
        await sleep(ROTATE_EVERY_MS);
        swaps++;
        await Deno.symlink(`${sdsDir}/${swaps % 2 ? "v2" : "v1"}`, `${sdsDir}/live.new`);
        await Deno.rename(`${sdsDir}/live.new`, `${sdsDir}/live`);
      }
    };
    const before = await adminStat(d.adminPort, stat);
    const rotating = await wrkTls(
      { ...p, name: "denvoy, certificate swapped" },
      duration,
      0,
      { newConns: true, during: swapLoop },
    );
    // The last swap is applied shortly after it is made.
    let applied = 0;
    for (let i = 0; i < 50 && applied < swaps; i++) {
      applied = (await adminStat(d.adminPort, stat)) - before;
      if (applied < swaps) await sleep(100);
    }
    all.push(steady, rotating);
    return [
      `### Certificate rotation under load (SDS \`watched_directory\` symlink swap every ` +
      `${ROTATE_EVERY_MS} ms; wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -H 'Connection: close')`,
      "",
      ...HEAD,
      row("denvoy, no swap", steady, steady),
      row(`denvoy, ${swaps} swaps (${applied} applied)`, rotating, steady),
      "",
      `Target: zero failed requests during rotation: ${rotating.errors} ` +
      `${verdict(rotating.errors === 0 && applied === swaps)}; p99 with swaps ` +
      `${f2(rotating.p99 / steady.p99)}× without.`,
      "",
    ];
  } finally {
    await stop(d.child);
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    killAllNow();
    console.error(`tls_bench: ${(e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
