/**
 * The HTTP/2 and gRPC benchmark of issue 11, peers side by side in one run (one worker each),
 * every proxy in front of the same nginx upstream serving 1 KiB:
 *
 * - `h2c`: `h2load -c16 -m16` over h2c (prior knowledge), denvoy vs nginx (`listen ... http2`),
 *   both proxying over HTTP/1.1: req/s per proxy core (the primary figure), req/s, latency
 *   percentiles (from h2load's per-request log).
 * - `tls`: the same over TLS 1.3 with ALPN h2 (the bench's ECDSA P-256 certificate; nginx is
 *   pinned to the cipher suite and group denvoy negotiated, both checked with `openssl s_client`).
 * - `upstream`: denvoy against itself, wrk (HTTP/1.1 downstream) to an HTTP/1.1 upstream vs to
 *   an HTTP/2 (h2c) upstream: what HTTP/1.1 → HTTP/2 costs per request.
 * - `grpc`: unary calls (100-byte request, 1 KiB response) from an `@grpc/grpc-js` client
 *   (bench/grpc_load.ts, its own process) to a grpc-js server, directly vs through denvoy and
 *   through bench/raw_relay.ts (a byte-copying Deno relay: the floor for any proxy on Deno):
 *   calls/s, calls per proxy core, latency percentiles, CPU per call of every process. Single
 *   runs in a fixed order proved noisy (a direct run whose client happened to cost half as much
 *   again moved the ratio by 0.2), so the three run in `--rounds N` interleaved rounds (direct,
 *   denvoy, relay, direct, denvoy, relay, ...; default 3, 1 with `--quick`): each round's ratios
 *   are printed, and the figures are the medians of the per-round ratios.
 *
 * Usage: `deno run -A bench/h2_bench.ts [--duration 10] [--quick] [--only h2c,tls,upstream,grpc]
 * [--rounds 3] [--cpu-prof DIR]`
 *
 * `--cpu-prof DIR` runs denvoy under `deno --cpu-prof` for the selected parts (of `upstream`
 * and `grpc`, only the runs through denvoy's HTTP/2 upstream; no comparison is reported),
 * stops it with SIGTERM so the profile is written, and prints the top self-time functions of
 * its worker.
 *
 * Needs `h2load` (Debian nghttp2-client), `wrk` and `nginx` on PATH. Every process binds
 * 127.0.0.1; every child is killed on exit, on error and on SIGINT/SIGTERM. The run is printed
 * as not valid when the load average before it was > 1.0, processes outside the bench used
 * > 0.2 cores during a run, or the hypervisor stole > 0.1 cores from the VM during a run
 * (`/proc/stat` steal, printed per gRPC run next to the other CPU columns).
 */
import { parseArgs } from "node:util";
import {
  BENCH_DIR,
  benchTempDir,
  childPids,
  cpuShare,
  cpuText,
  f0,
  f2,
  freePort,
  hcm,
  invalidity,
  killAllNow,
  loadAvg,
  type LoadResult,
  makeCert,
  median,
  negotiated,
  type Peer,
  type PeerPids,
  perCore,
  READY_TIMEOUT_MS,
  REPO_ROOT,
  requireTools,
  runLoadProcs,
  runWrk,
  setUpstreamPids,
  sh,
  spawn,
  startDenvoy,
  startNginx,
  startRelay,
  staticCluster,
  StderrTail,
  stop,
  stopAll,
  track,
  verdict,
  withTimeout,
  workerProfileSummary,
  WRK_CONNECTIONS,
  WRK_THREADS,
} from "./harness.ts";

/** The targets of issue 11. */
const TARGET = { h2PerCore: 0.6, upstreamH2: 0.85, grpcRps: 0.8, grpcP99: 3 };
const PARTS = ["h2c", "tls", "upstream", "grpc"] as const;
type Part = typeof PARTS[number];
const H2LOAD_CLIENTS = 16;
const H2LOAD_STREAMS = 16;
/** Unary calls the gRPC client keeps in flight on its one channel. */
const GRPC_CONCURRENCY = 16;

// ---- h2load ----

/**
 * One h2load run (`-D seconds` after `--warm-up-time warmup`); latency percentiles come from
 * its per-request log, counting only requests started after the warm-up.
 */
async function h2load(
  dir: string,
  url: string,
  seconds: number,
  warmup: number,
  peerPids?: PeerPids,
): Promise<LoadResult> {
  const log = `${dir}/h2load.log`;
  const startUs = Date.now() * 1000;
  const { outputs, cpu } = await runLoadProcs(
    [{
      cmd: "h2load",
      args: [
        "-t1",
        `-c${H2LOAD_CLIENTS}`,
        `-m${H2LOAD_STREAMS}`,
        "-D",
        String(seconds),
        "--warm-up-time",
        String(warmup),
        "--log-file",
        log,
        url,
      ],
    }],
    seconds,
    peerPids,
    warmup,
  );
  const out = outputs[0];
  const num = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`h2load output without ${re}:\n${out}`);
    return m;
  };
  const rps = Number(num(/finished in [\d.]+\w+, ([\d.]+) req\/s/)[1]);
  const req = num(/requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed/);
  const codes = num(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/);
  const from = startUs + warmup * 1e6;
  const lat: number[] = [];
  for (const line of (await Deno.readTextFile(log)).split("\n")) {
    const [start, , us] = line.split("\t");
    if (us && Number(start) >= from) lat.push(Number(us) / 1000);
  }
  await Deno.remove(log);
  lat.sort((a, b) => a - b);
  const pct = (p: number) =>
    lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] : NaN;
  const failed = Number(req[4]);
  const non2xx = Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
  return {
    rps,
    p50: pct(0.5),
    p90: pct(0.9),
    p99: pct(0.99),
    requests: Number(req[3]),
    errors: failed + non2xx,
    errorText: failed || non2xx ? `${failed} failed, ${non2xx} non-2xx` : "",
    cpu,
  };
}

// ---- gRPC peers ----

const GRPC_LOAD = `${BENCH_DIR}grpc_load.ts`;

async function startGrpcServer(): Promise<Peer> {
  const child = spawn(Deno.execPath(), ["run", "-A", GRPC_LOAD, "server"], {
    cwd: REPO_ROOT,
    pipeOut: true,
  });
  const out = new StderrTail(child.stdout);
  const m = await withTimeout(
    Promise.race([
      out.match(/listening on port (\d+)/),
      child.status.then((s) => {
        throw new Error(`grpc server exited (${s.code})`);
      }),
    ]),
    READY_TIMEOUT_MS,
    "grpc server start",
  );
  return { name: "grpc-js server", port: Number(m[1]), child, rssPid: () => child.pid };
}

/**
 * One client run; CPU is sampled from 0.5 s after the client says its measurement started
 * (after its own start-up and warm-up) to 0.5 s before it ends.
 */
async function grpcClient(
  port: number,
  seconds: number,
  warmup: number,
  peerPids: number,
): Promise<LoadResult> {
  const child = track(
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        GRPC_LOAD,
        "client",
        `127.0.0.1:${port}`,
        String(GRPC_CONCURRENCY),
        String(seconds),
        String(warmup),
      ],
      cwd: REPO_ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
  const out = new StderrTail(child.stdout);
  const err = new StderrTail(child.stderr);
  const timer = setTimeout(() => child.kill("SIGKILL"), READY_TIMEOUT_MS + seconds * 1000);
  let cpu;
  try {
    await withTimeout(
      Promise.race([
        out.match(/^measuring$/m),
        child.status.then((s) => {
          throw new Error(`grpc client exited (${s.code}) before measuring`);
        }),
      ]),
      READY_TIMEOUT_MS + warmup * 1000,
      "grpc client",
    );
    cpu = seconds < 2 ? undefined : await cpuShare(peerPids, child.pid, 500, seconds * 1000 - 500);
    const status = await child.status;
    await Promise.all([out.done, err.done]);
    if (!status.success) throw new Error(`grpc client failed (${status.code}): ${err.text}`);
  } finally {
    clearTimeout(timer);
  }
  const r = JSON.parse(out.text.trim().split("\n").at(-1)!);
  return {
    rps: r.rps,
    p50: r.p50,
    p90: r.p90,
    p99: r.p99,
    requests: r.calls,
    errors: r.errors,
    errorText: r.errors ? `${r.errors} failed calls (last: ${r.lastError})` : "",
    cpu,
  };
}

// ---- denvoy ----

const H2_UPSTREAM = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: {} }`;

const route = (cluster: string) =>
  `- match: { prefix: "/" }
  route: { cluster: ${cluster}, timeout: 60s }`;

function listener(name: string, cluster: string, tls?: { cert: string; key: string }): string {
  const socket = tls
    ? `
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: ["h2", "http/1.1"]
            tls_params: { tls_minimum_protocol_version: TLSv1_3 }
            tls_certificates:
            - certificate_chain: { filename: ${tls.cert} }
              private_key: { filename: ${tls.key} }`
    : "";
  return `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:${hcm(name, route(cluster))}${socket}`;
}

// ---- report ----

const ms = (x: number) => Number.isNaN(x) ? "—" : f2(x);
const HEAD = [
  "| peer | req/s | req/s per peer core | per core vs baseline | req/s vs baseline | " +
  "p50 / p90 / p99 ms | errors | CPU cores peer / load generator / upstream / other |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
];
const row = (name: string, r: LoadResult, base: LoadResult) =>
  `| ${name} | ${f0(r.rps)} | ${f0(perCore(r))} | ${f2(perCore(r) / perCore(base))}× | ` +
  `${f2(r.rps / base.rps)}× | ${ms(r.p50)} / ${ms(r.p90)} / ${ms(r.p99)} | ` +
  `${r.errors}${r.errorText ? ` (${r.errorText})` : ""} | ${cpuText(r.cpu)} |`;

function log(name: string, r: LoadResult) {
  console.error(
    `${name}: ${f0(r.rps)} req/s, p50/p90/p99 ${ms(r.p50)}/${ms(r.p90)}/${ms(r.p99)} ms` +
      `${r.errors ? `, ${r.errorText}` : ""}; CPU cores ${cpuText(r.cpu)}`,
  );
  return r;
}

/**
 * CPU per call (µs) of each process of a gRPC run, and the calls/s the machine's CPUs could
 * carry at that cost if they were always busy. The client, the server and (through the proxy)
 * denvoy share the cores, so the ratio of the two ceilings bounds the calls/s ratio whatever
 * the scheduling; a gap between calls/s and its ceiling is time every process spent waiting.
 */
function grpcCpuPerCall(r: LoadResult, proxy?: string): string {
  const c = r.cpu;
  if (!c || !(r.rps > 0)) return "—";
  const us = (cores: number) => (cores * 1e6) / r.rps;
  const server = proxy ? c.upstream : c.peer;
  const parts = [`client ${f0(us(c.wrk))}`, `server ${f0(us(server))}`];
  if (proxy) parts.push(`${proxy} ${f0(us(c.peer))}`);
  const total = us(c.wrk + server + (proxy ? c.peer : 0));
  const ceiling = (navigator.hardwareConcurrency * 1e6) / total;
  return `${parts.join(", ")}; total ${f0(total)} µs, ceiling ${f0(ceiling)} calls/s ` +
    `(${f2(r.rps / ceiling)} of it)`;
}

/** One round of the gRPC part: the same client directly, through denvoy, through the relay. */
interface GrpcRound {
  direct: LoadResult;
  via: LoadResult;
  relay: LoadResult;
}

/**
 * The gRPC part's report: every run, each round's ratios, and as the figures the medians of the
 * per-round ratios (each round's three runs are adjacent in time, so a slow spell of the machine
 * moves both sides of its ratios; the median drops a round that one phase of it spoiled).
 */
function grpcReport(rounds: GrpcRound[], duration: number, warmup: number): string[] {
  const rps = rounds.map((r) => r.via.rps / r.direct.rps);
  const relayRps = rounds.map((r) => r.relay.rps / r.direct.rps);
  const p99 = rounds.map((r) => r.via.p99 / r.direct.p99);
  const m = { rps: median(rps), relay: median(relayRps), p99: median(p99) };
  const steal = (r: LoadResult) => r.cpu ? f2(r.cpu.steal) : "—";
  return [
    `### gRPC unary, @grpc/grpc-js client (${GRPC_CONCURRENCY} calls in flight on one ` +
    `channel, ${duration} s after a ${warmup} s warm-up) to a grpc-js server, ` +
    `${rounds.length} interleaved rounds (direct, through denvoy, through the raw relay)`,
    "",
    `${HEAD[0].replace("| peer |", "| round | path |")} steal cores |`,
    `| --- ${HEAD[1]} ---: |`,
    ...rounds.flatMap((r, i) => [
      `| ${i + 1} ${row("direct (peer: the server)", r.direct, r.direct)} ${steal(r.direct)} |`,
      `| ${i + 1} ${row("through denvoy (peer: denvoy)", r.via, r.direct)} ${steal(r.via)} |`,
      `| ${i + 1} ${row("through the raw relay (peer: the relay)", r.relay, r.direct)} ` +
      `${steal(r.relay)} |`,
    ]),
    "",
    "| round | calls/s through denvoy vs direct | through the raw relay vs direct | " +
    "p99 through denvoy vs direct |",
    "| --- | ---: | ---: | ---: |",
    ...rounds.map((_, i) => `| ${i + 1} | ${f2(rps[i])}× | ${f2(relayRps[i])}× | ${f2(p99[i])}× |`),
    `| **median** | **${f2(m.rps)}×** | ${f2(m.relay)}× | ${f2(m.p99)}× |`,
    "",
    `Targets (medians of the per-round ratios): calls/s through the proxy ≥ ${TARGET.grpcRps}× ` +
    `direct: ${f2(m.rps)}× ${verdict(m.rps >= TARGET.grpcRps)}; p99 ≤ ${TARGET.grpcP99}× ` +
    `direct: ${f2(m.p99)}× ${verdict(m.p99 <= TARGET.grpcP99)}. The raw relay ` +
    `(bench/raw_relay.ts, byte copying only) is the floor for a proxy on Deno: ` +
    `${f2(m.relay)}× direct.`,
    "",
    ...rounds.flatMap((r, i) => [
      `CPU per call (µs), round ${i + 1}: direct: ${grpcCpuPerCall(r.direct)}; through denvoy: ` +
      `${grpcCpuPerCall(r.via, "denvoy")}; through the raw relay: ` +
      `${grpcCpuPerCall(r.relay, "relay")}`,
      "",
    ]),
  ];
}

// ---- main ----

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "10" },
      quick: { type: "boolean", default: false },
      only: { type: "string", default: PARTS.join(",") },
      "cpu-prof": { type: "string" },
      rounds: { type: "string" },
    },
  });
  const quick = values.quick;
  const duration = quick ? Math.min(3, Number(values.duration)) : Number(values.duration);
  if (!(duration > 0 && duration <= 600)) throw new Error(`--duration must be in (0, 600] s`);
  const warmup = quick ? 1 : 2;
  const grpcRounds = values.rounds ? Number(values.rounds) : quick ? 1 : 3;
  if (!(Number.isInteger(grpcRounds) && grpcRounds >= 1)) throw new Error(`--rounds must be ≥ 1`);
  const only = new Set(values.only.split(","));
  const profDir = values["cpu-prof"];
  let profBefore = new Set<string>();
  if (profDir) {
    await Deno.mkdir(profDir, { recursive: true });
    profBefore = new Set([...Deno.readDirSync(profDir)].map((e) => e.name));
  }
  for (const p of only) {
    if (!PARTS.includes(p as Part)) throw new Error(`--only: unknown part ${p} (${PARTS})`);
  }

  await requireTools(["h2load", "wrk", "nginx"], "h2_bench", "nghttp2-client wrk nginx");
  const loadAtStart = loadAvg();
  const dir = await benchTempDir("denvoy-h2-bench-");
  await Deno.mkdir(`${dir}/www`);
  await Deno.writeFile(`${dir}/www/1k`, new Uint8Array(1024).fill(0x61), { mode: 0o644 });
  const all: LoadResult[] = [];
  const out: string[] = [];
  try {
    const cert = await makeCert(dir, "h2");
    const upH2Port = freePort();
    const upstream = await startNginx(dir, "upstream_h2.conf", "upstream_h2", {
      ROOT: `${dir}/www`,
      H2_PORT: upH2Port,
    });
    const upstreamPids = () => [upstream.child.pid, ...childPids(upstream.child.pid)];
    setUpstreamPids(upstreamPids);
    const grpcServer = only.has("grpc") ? await startGrpcServer() : undefined;
    const denvoy = await startDenvoy(
      dir,
      "denvoy_h2",
      `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:${listener("plain", "upstream")}${listener("tls", "upstream", cert)}${
        listener("to_h2", "upstream_h2")
      }${listener("grpc", "grpc")}
  clusters:${staticCluster("upstream", upstream.port)}${
        staticCluster("upstream_h2", upH2Port, H2_UPSTREAM)
      }${staticCluster("grpc", grpcServer?.port ?? upH2Port, H2_UPSTREAM)}
`,
      { denoArgs: profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [] },
    );
    const dPid = denvoy.child.pid;
    // nginx gets the TLS 1.3 cipher suite and group denvoy negotiated: the same cryptography.
    const dn = await negotiated(denvoy.ports.tls);
    const nginxTlsPort = freePort();
    const nginx = await startNginx(dir, "proxy_h2.conf", "nginx_h2", {
      UPSTREAM_PORT: upstream.port,
      TLS_PORT: nginxTlsPort,
      CERT: cert.cert,
      KEY: cert.key,
      CIPHERSUITE: dn.cipher,
      GROUP: dn.group,
    });
    const ng = await negotiated(nginxTlsPort);
    // The worker (forked after the master started listening) serves the connections.
    const nPid = () => [nginx.rssPid()];
    const h2Head = `h2load -t1 -c${H2LOAD_CLIENTS} -m${H2LOAD_STREAMS} -D ${duration} ` +
      `--warm-up-time ${warmup} /1k`;

    for (
      const [part, scheme, dPort, nPort] of [
        ["h2c", "http", denvoy.ports.plain, nginx.port],
        ["tls", "https", denvoy.ports.tls, nginxTlsPort],
      ] as const
    ) {
      if (!only.has(part)) continue;
      const url = (port: number) => `${scheme}://localhost:${port}/1k`;
      const n = log(`nginx ${part}`, await h2load(dir, url(nPort), duration, warmup, nPid));
      const d = log(`denvoy ${part}`, await h2load(dir, url(dPort), duration, warmup, dPid));
      all.push(n, d);
      out.push(
        `### HTTP/2 downstream, ${part === "h2c" ? "h2c (prior knowledge)" : "TLS 1.3, ALPN h2"}` +
          `, ${h2Head}; both proxies to the upstream over HTTP/1.1`,
        "",
        ...(part === "tls"
          ? [
            `Negotiated with \`openssl s_client\`: denvoy ${dn.version} ${dn.cipher} ${dn.group}; ` +
            `nginx ${ng.version} ${ng.cipher} ${ng.group}${
              dn.cipher === ng.cipher && dn.group === ng.group && dn.version === ng.version
                ? " (the same)"
                : " — **they differ: the comparison is not like for like**"
            }.`,
            "",
          ]
          : []),
        ...HEAD,
        row(`nginx (1 worker, http2)`, n, n),
        row(`denvoy (--concurrency 1)`, d, n),
        "",
        `Target: req/s per proxy core ≥ ${TARGET.h2PerCore}× nginx: ` +
          `${f2(perCore(d) / perCore(n))}× ${verdict(perCore(d) / perCore(n) >= TARGET.h2PerCore)}`,
        "",
      );
    }

    if (only.has("upstream") && profDir) {
      // Only the path under study goes through the profiled process.
      const url = `http://127.0.0.1:${denvoy.ports.to_h2}/1k`;
      await runWrk({ url, seconds: warmup });
      log("denvoy h1 -> h2", await runWrk({ url, seconds: duration, peerPids: dPid }));
    } else if (only.has("upstream")) {
      const wrk = async (name: string, port: number) => {
        const url = `http://127.0.0.1:${port}/1k`;
        await runWrk({ url, seconds: warmup });
        return log(name, await runWrk({ url, seconds: duration, peerPids: dPid }));
      };
      const h1 = await wrk("denvoy h1 -> h1", denvoy.ports.plain);
      const h2 = await wrk("denvoy h1 -> h2", denvoy.ports.to_h2);
      all.push(h1, h2);
      out.push(
        `### HTTP/1.1 downstream → HTTP/2 upstream vs → HTTP/1.1 upstream (denvoy ` +
          `--concurrency 1, nginx upstream; wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} ` +
          `-d${duration}s /1k)`,
        "",
        ...HEAD,
        row("denvoy h1 → h1", h1, h1),
        row("denvoy h1 → h2 (h2c upstream)", h2, h1),
        "",
        `Target: h1 → h2 costs ≤ 15% over h1 → h1 (per core ≥ ${TARGET.upstreamH2}×): ` +
          `${f2(perCore(h2) / perCore(h1))}× ` +
          `${verdict(perCore(h2) / perCore(h1) >= TARGET.upstreamH2)}`,
        "",
      );
    }

    if (grpcServer && profDir) {
      log("grpc via denvoy", await grpcClient(denvoy.ports.grpc, duration, warmup, dPid));
    } else if (grpcServer) {
      const gPid = grpcServer.child.pid;
      setUpstreamPids(() => [gPid]);
      // The floor for any proxy on Deno: the same hops and event loops, no HTTP/2 work.
      const relay = await startRelay(grpcServer.port);
      const rounds: GrpcRound[] = [];
      for (let i = 1; i <= grpcRounds; i++) {
        // Direct: the "peer" is the server itself (calls per server core).
        const direct = log(
          `grpc direct, round ${i}`,
          await grpcClient(grpcServer.port, duration, warmup, gPid),
        );
        const via = log(
          `grpc via denvoy, round ${i}`,
          await grpcClient(denvoy.ports.grpc, duration, warmup, dPid),
        );
        const viaRelay = log(
          `grpc via raw relay, round ${i}`,
          await grpcClient(relay.port, duration, warmup, relay.child.pid),
        );
        rounds.push({ direct, via, relay: viaRelay });
        all.push(direct, via, viaRelay);
      }
      await stop(relay.child);
      setUpstreamPids(upstreamPids);
      out.push(...grpcReport(rounds, duration, warmup));
    }
    if (profDir) {
      await stop(denvoy.child, 20_000);
      await denvoy.err.done;
      out.push(await workerProfileSummary(profDir, profBefore), "");
    }
  } finally {
    await stopAll();
  }
  const commit = await sh(`git -C ${REPO_ROOT} rev-parse --short HEAD || echo unknown`);
  const why = invalidity(loadAtStart, all);
  console.log([
    `denvoy at ${commit}; ${navigator.hardwareConcurrency} CPUs shared by the load generator, ` +
    `the upstream and the proxy; load average (1/5/15 min) at the start ${loadAtStart}, at the ` +
    `end ${loadAvg()}. CPU cores are the proxy's (all its threads), the load generator's, the ` +
    `upstream's, and "other": what processes outside the bench used during the run.`,
    "",
    ...out,
    why ? `**Not valid** (a busy machine compresses every ratio): ${why}.` : "Valid run.",
  ].join("\n"));
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    killAllNow();
    console.error(`h2_bench: ${(e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
