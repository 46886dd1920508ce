/**
 * The operations benchmark of issue 14:
 *
 * - `bundle`: start-up of the bundle (`deno task bundle` → `dist/denvoy.js`, built first when
 *   missing or with `--build`) to an accepting listener, next to `main.ts`: ms from spawn until
 *   a TCP connect to its listener succeeds (polled every 2 ms), and the CPU time the starting
 *   process used until then.
 * - `restart`: hot restart under wrk load (`--restart-epoch`, the next epoch takes the listen
 *   sockets over, the parent drains with `--drain-strategy immediate`): for each restart, the time
 *   from spawning epoch N+1 to its "all listeners ready" (and the CPU it used until then, all of it
 *   and its main thread's) and to it serving (a new connection answered by the new epoch's
 *   config), and wrk's latency percentiles over a run with the restart in its middle vs the same
 *   run just before it (steady state); errors must be zero.
 *   The proxy's CPU is every epoch's process.
 *
 * Both epochs proxy `/` to an nginx upstream serving 1 KiB (the data path of http_bench.ts);
 * `/epoch` is a direct response naming the epoch.
 *
 * Usage: `deno run -A bench/restart_bench.ts [--duration 10] [--quick] [--only bundle,restart]
 * [--build] [--new-conns]`; `--new-conns` makes wrk open a new connection per request
 * (`Connection: close`) instead of keeping them alive; with `DENVOY_UNDER_TEST=dist/denvoy.js`
 * the restart part runs the bundle.
 *
 * Needs `wrk` and `nginx` on PATH. Every process binds 127.0.0.1; every child is killed on exit,
 * on error and on SIGINT/SIGTERM. The run is printed as not valid when the load average before
 * it was > 1.0 or processes outside the bench used > 0.2 cores during a run.
 */
import { parseArgs } from "node:util";
import {
  benchTempDir,
  childPids,
  type CpuShare,
  cpuText,
  cpuWindow,
  type Denvoy,
  denvoyV8Args,
  f0,
  f1,
  f2,
  freePort,
  hcm,
  invalidity,
  killAllNow,
  loadAvg,
  type LoadResult,
  MAIN_TS,
  mainThreadTicks,
  median,
  procTicks,
  REPO_ROOT,
  requireTools,
  runWrk,
  setUpstreamPids,
  sh,
  sleep,
  spawn,
  startDenvoy,
  startNginx,
  staticCluster,
  StderrTail,
  stop,
  stopAll,
  verdict,
  waitForPort,
  WRK_CONNECTIONS,
  WRK_THREADS,
  type WrkResult,
} from "./harness.ts";

/** The targets of issue 14. */
const TARGET = { bundleStartupMs: 300, servingMs: 500, p99Ratio: 3 };
const PARTS = ["bundle", "restart"] as const;
type Part = typeof PARTS[number];
const BUNDLE = `${REPO_ROOT}dist/denvoy.js`;
const CLK_TCK = 100;

function config(upstreamPort: number, listenPort: number, epoch: number): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: bench
    address: { socket_address: { address: 127.0.0.1, port_value: ${listenPort} } }
    filter_chains:
    - filters:${
    hcm(
      "bench",
      `- match: { path: /epoch }
  direct_response: { status: 200, body: { inline_string: "epoch${epoch}" } }
- match: { prefix: "/" }
  route: { cluster: upstream, timeout: 60s }`,
    )
  }
  clusters:${staticCluster("upstream", upstreamPort)}
`;
}

// ---- bundle start-up ----

interface StartupSample {
  ms: number;
  /** CPU the process used from spawn to accepting (all its threads), in ms. */
  cpuMs: number;
}

/** Spawns `module` `runs` times (after one untimed start): ms and CPU ms to accepting. */
async function startupToAccept(
  dir: string,
  module: string,
  upstreamPort: number,
  runs: number,
): Promise<{ samples: StartupSample[]; cpu: CpuShare }> {
  const samples: StartupSample[] = [];
  let window: { end(): CpuShare } | undefined;
  for (let i = 0; i <= runs; i++) {
    if (i === 1) window = cpuWindow(() => [], () => []);
    const port = freePort();
    const path = `${dir}/startup_${i}.yaml`;
    await Deno.writeTextFile(path, config(upstreamPort, port, 0));
    const t0 = performance.now();
    const child = spawn(Deno.execPath(), [
      "run",
      "-A",
      "--unstable-net",
      ...denvoyV8Args(),
      module,
      "-c",
      path,
      "--concurrency",
      "1",
      "--disable-hot-restart",
    ], { cwd: REPO_ROOT, pipeErr: true });
    const err = new StderrTail(child.stderr);
    try {
      await waitForPort(port, child, module, 2);
      const ms = performance.now() - t0;
      const cpuMs = procTicks(child.pid) / CLK_TCK * 1000;
      if (i > 0) samples.push({ ms, cpuMs });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${err.text}`);
    } finally {
      await stop(child);
      await err.done;
    }
  }
  return { samples, cpu: window!.end() };
}

// ---- hot restart ----

/** Polls with new connections until `GET /epoch` names `epoch`; ms since `t0`. */
async function servingAfter(port: number, epoch: number, t0: number): Promise<number> {
  const deadline = t0 + 30_000;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const body = await epochOf(conn);
        if (body === `epoch${epoch}`) return performance.now() - t0;
      } finally {
        conn.close();
      }
    } catch { /* the socket changes hands: try again */ }
    if (performance.now() > deadline) throw new Error(`epoch ${epoch} never served`);
    await sleep(2);
  }
}

/** The body of `GET /epoch` on `conn` ("" when the connection closes first). */
async function epochOf(conn: Deno.Conn): Promise<string> {
  await conn.write(new TextEncoder().encode("GET /epoch HTTP/1.1\r\nHost: x\r\n\r\n"));
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return "";
    text += new TextDecoder().decode(buf.subarray(0, n));
    const head = text.indexOf("\r\n\r\n");
    const len = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, head));
    if (head >= 0 && len && text.length >= head + 4 + Number(len[1])) {
      return text.slice(head + 4, head + 4 + Number(len[1]));
    }
  }
}

interface RestartSample {
  steady: WrkResult;
  during: WrkResult;
  readyMs: number;
  /**
   * CPU the new epoch used (all its threads) from spawn to "all listeners ready", in ms: next
   * to `readyMs`, it tells start-up work from waiting (on a loaded machine the start-up gets
   * only its share of the cores).
   */
  readyCpuMs: number;
  /**
   * The part of `readyCpuMs` its main thread used: the critical path of a start-up (config load,
   * hand-over, the workers' init), while the first worker loads its modules on its own thread.
   */
  readyMainCpuMs: number;
  servingMs: number;
}

async function restarts(
  dir: string,
  upstreamPort: number,
  count: number,
  duration: number,
  warmup: number,
  wrkArgs: string[],
): Promise<RestartSample[]> {
  const baseId = 100_000 + Math.floor(Math.random() * 1_000_000);
  // The parent outlives the wrk run it is restarted in, so its CPU is read at both ends.
  const shutdownS = duration + 5;
  const args = (epoch: number) => [
    "--base-id",
    String(baseId),
    "--restart-epoch",
    String(epoch),
    "--drain-strategy",
    "immediate",
    "--parent-shutdown-time-s",
    String(shutdownS),
  ];
  const port = freePort();
  let current: Denvoy = await startDenvoy(dir, "epoch0", config(upstreamPort, port, 0), {
    args: args(0),
  });
  const parents: Denvoy[] = [];
  const samples: RestartSample[] = [];
  const url = `http://127.0.0.1:${port}/1k`;
  await runWrk({ url, seconds: warmup, args: wrkArgs });
  for (let epoch = 1; epoch <= count; epoch++) {
    const steady = await runWrk({
      url,
      seconds: duration,
      peerPids: current.child.pid,
      args: wrkArgs,
    });
    let next: Denvoy | undefined;
    let readyMs = NaN;
    let readyCpuMs = NaN;
    let readyMainCpuMs = NaN;
    let servingMs = NaN;
    const prev = current;
    const during = await runWrk({
      url,
      seconds: duration,
      args: wrkArgs,
      peerPids: () => [prev.child.pid, ...(next ? [next.child.pid] : [])],
      during: async () => {
        await sleep(duration * 1000 / 3);
        const t0 = performance.now();
        const serving = servingAfter(port, epoch, t0);
        next = await startDenvoy(dir, `epoch${epoch}`, config(upstreamPort, port, epoch), {
          args: args(epoch),
        });
        readyMs = performance.now() - t0;
        readyCpuMs = procTicks(next.child.pid) / CLK_TCK * 1000;
        readyMainCpuMs = mainThreadTicks(next.child.pid) / CLK_TCK * 1000;
        servingMs = await serving;
      },
    });
    samples.push({ steady, during, readyMs, readyCpuMs, readyMainCpuMs, servingMs });
    console.error(
      `restart ${epoch}: ready ${f0(readyMs)} ms (CPU ${f0(readyCpuMs)} ms, main thread ` +
        `${f0(readyMainCpuMs)} ms), serving ` +
        `${f0(servingMs)} ms; p99 steady ` +
        `${f2(steady.p99)} ms, during ${f2(during.p99)} ms; errors ${during.errors}` +
        `${during.errorText ? ` (${during.errorText})` : ""}; CPU cores ${cpuText(during.cpu)}`,
    );
    parents.push(prev);
    current = next!;
  }
  for (const p of parents) await stop(p.child, 1000);
  await stop(current.child);
  return samples;
}

// ---- main ----

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "10" },
      quick: { type: "boolean", default: false },
      only: { type: "string", default: PARTS.join(",") },
      build: { type: "boolean", default: false },
      "new-conns": { type: "boolean", default: false },
    },
  });
  const quick = values.quick;
  const duration = quick ? Math.min(3, Number(values.duration)) : Number(values.duration);
  if (!(duration > 0 && duration <= 600)) throw new Error(`--duration must be in (0, 600] s`);
  const warmup = quick ? 1 : 2;
  const startupRuns = quick ? 3 : 10;
  const restartCount = quick ? 1 : 5;
  const only = new Set(values.only.split(","));
  for (const p of only) {
    if (!PARTS.includes(p as Part)) throw new Error(`--only: unknown part ${p} (${PARTS})`);
  }

  await requireTools(["wrk", "nginx"], "restart_bench", "wrk nginx");
  const loadAtStart = loadAvg();
  const dir = await benchTempDir("denvoy-restart-bench-");
  await Deno.mkdir(`${dir}/www`);
  await Deno.writeFile(`${dir}/www/1k`, new Uint8Array(1024).fill(0x61), { mode: 0o644 });
  const out: string[] = [];
  const all: LoadResult[] = [];
  const others: CpuShare[] = [];
  try {
    const upstream = await startNginx(dir, "upstream.conf", "upstream", { ROOT: `${dir}/www` });
    setUpstreamPids(() => [upstream.child.pid, ...childPids(upstream.child.pid)]);

    if (only.has("bundle")) {
      let built = "";
      if (values.build || !(await Deno.stat(BUNDLE).catch(() => undefined))) {
        const t0 = performance.now();
        const b = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "build/bundle.ts"],
          cwd: REPO_ROOT,
          stdout: "piped",
          stderr: "piped",
        }).output();
        if (!b.success) {
          throw new Error(`deno task bundle failed:\n${new TextDecoder().decode(b.stderr)}`);
        }
        built = ` (built by this run in ${f0(performance.now() - t0)} ms)`;
      }
      const rows: string[] = [];
      let bundleMedian = NaN;
      for (const [name, module] of [["dist/denvoy.js", BUNDLE], ["main.ts", MAIN_TS]] as const) {
        const { samples, cpu } = await startupToAccept(dir, module, upstream.port, startupRuns);
        others.push(cpu);
        const ms = samples.map((s) => s.ms);
        const med = median(ms);
        if (module === BUNDLE) bundleMedian = med;
        console.error(`${name} start-up to accepting: ${ms.map(f0).join(", ")} ms`);
        rows.push(
          `| ${name} | ${f0(med)} | ${f0(Math.min(...ms))} / ${f0(Math.max(...ms))} | ` +
            `${f0(median(samples.map((s) => s.cpuMs)))} | ${f2(cpu.other)} |`,
        );
      }
      out.push(
        `### Start-up to accepting (${startupRuns} runs after an untimed one; spawn → TCP ` +
          `connect succeeds, polled every 2 ms)${built}`,
        "",
        "| module | median ms | min / max ms | CPU ms of the process (median) | other cores |",
        "| --- | ---: | ---: | ---: | ---: |",
        ...rows,
        "",
        `Target: the bundle accepts ≤ ${TARGET.bundleStartupMs} ms after spawn: median ` +
          `${f0(bundleMedian)} ms ${verdict(bundleMedian <= TARGET.bundleStartupMs)}`,
        "",
      );
    }

    if (only.has("restart")) {
      const newConns = values["new-conns"];
      const samples = await restarts(
        dir,
        upstream.port,
        restartCount,
        duration,
        warmup,
        newConns ? ["-H", "Connection: close"] : [],
      );
      for (const s of samples) all.push(s.steady, s.during);
      const p99Ratio = median(samples.map((s) => s.during.p99 / s.steady.p99));
      const serving = median(samples.map((s) => s.servingMs));
      const errors = samples.reduce((a, s) => a + s.during.errors + s.steady.errors, 0);
      out.push(
        `### Hot restart under load (${restartCount} restart(s); wrk -t${WRK_THREADS} ` +
          `-c${WRK_CONNECTIONS} -d${duration}s ` +
          `${newConns ? "a new connection per request (Connection: close)" : "keep-alive"} /1k, ` +
          `the next epoch spawned ` +
          `${f1(duration / 3)} s into the run; --drain-strategy immediate)`,
        "",
        "| restart | spawn → all listeners ready ms | its CPU ms (all / main thread) | " +
          "spawn → serving ms | " +
          "req/s steady / " +
          "during | p50 / p90 / p99 ms steady | p50 / p90 / p99 ms during | p99 during / steady | " +
          "errors | CPU cores (all epochs / wrk / upstream / other) during |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ...samples.map((s, i) =>
          `| ${i + 1} | ${f0(s.readyMs)} | ${f0(s.readyCpuMs)} / ${f0(s.readyMainCpuMs)} | ` +
          `${f0(s.servingMs)} | ` +
          `${f0(s.steady.rps)} / ` +
          `${f0(s.during.rps)} | ${f2(s.steady.p50)} / ${f2(s.steady.p90)} / ` +
          `${f2(s.steady.p99)} | ${f2(s.during.p50)} / ${f2(s.during.p90)} / ` +
          `${f2(s.during.p99)} | ${f2(s.during.p99 / s.steady.p99)}× | ` +
          `${s.during.errors}${s.during.errorText ? ` (${s.during.errorText})` : ""} | ` +
          `${cpuText(s.during.cpu)} |`
        ),
        "",
        `Targets: spawn → serving ≤ ${TARGET.servingMs} ms: median ${f0(serving)} ms ` +
          `${verdict(serving <= TARGET.servingMs)}; p99 during a restart ≤ ${TARGET.p99Ratio}× ` +
          `steady: median ${f2(p99Ratio)}× ${verdict(p99Ratio <= TARGET.p99Ratio)}; no failed ` +
          `request: ${errors} ${verdict(errors === 0)}`,
        "",
      );
    }
  } finally {
    await stopAll();
  }
  const commit = await sh(`git -C ${REPO_ROOT} rev-parse --short HEAD || echo unknown`);
  const why = invalidity(loadAtStart, [...all, ...others.map((cpu) => ({ cpu } as LoadResult))]);
  console.log([
    `denvoy at ${commit}; ${navigator.hardwareConcurrency} CPUs; load average (1/5/15 min) at ` +
    `the start ${loadAtStart}, at the end ${loadAvg()}. "other" cores: what processes outside ` +
    `the bench used during a run.`,
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
    console.error(`restart_bench: ${(e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
