/**
 * What every side-by-side benchmark in `bench/` shares, so that each measures the same way as
 * `http_bench.ts`: child processes tracked and killed on every exit path, nginx and haproxy
 * peers from config templates, `wrk` runs and their parsed output, the CPU time of every process
 * read from /proc during a run (the proxy, the load generator, the upstream, and what processes
 * outside the bench took), RSS per idle connection, and the validity rule (a busy machine
 * compresses every ratio, so such a run is printed as not valid).
 */
import { fileURLToPath } from "node:url";

/** This directory (with a trailing slash): templates live under it. */
export const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
/** The repository root (with a trailing slash). */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
/** denvoy's entry point. */
export const MAIN_TS = fileURLToPath(new URL("../main.ts", import.meta.url));

/**
 * The V8 flags denvoy ships with (deno.json's `start` task, the bundle and `compile.sh` pass them):
 * every isolate's young generation starts at 16 MiB semi-spaces instead of growing from 1 MiB.
 * V8 grows it only after as many bytes as it holds have survived scavenges; a worker's survivors
 * are its requests in flight, so with `--concurrency 2` each worker (half the connections, half
 * the allocation) took about four times as long as one worker to reach the same size, and in a
 * bench's window made up to twice the scavenges per request (bench/RESULTS.md, session 8).
 */
export const SHIPPED_V8_FLAGS = "--min-semi-space-size=16";

/**
 * The `--v8-flags` arguments of a denvoy child: the shipped flags, then `DENVOY_V8_FLAGS` from
 * the environment for experiments (Deno applies every `--v8-flags` in order: a later value of
 * the same flag wins).
 */
export function denvoyV8Args(): string[] {
  const extra = Deno.env.get("DENVOY_V8_FLAGS");
  return [`--v8-flags=${SHIPPED_V8_FLAGS}`, ...(extra ? [`--v8-flags=${extra}`] : [])];
}

/**
 * A run is valid only on a quiet machine: load before it, CPU others used during it, and CPU the
 * hypervisor stole from the VM during it.
 */
export const VALID = { loadBefore: 1.0, otherCores: 0.2, stealCores: 0.1 };
/**
 * One wrk thread: on 2 CPUs, two wrk threads plus the upstream and the proxy oversubscribe the
 * machine, and every peer then pays for preemption in its CPU time per request.
 */
export const WRK_THREADS = 1;
/** wrk connections per run (keep-alive unless a run asks otherwise). */
export const WRK_CONNECTIONS = 64;
/** A child that is not ready by then is a failure, not a slow sample. */
export const READY_TIMEOUT_MS = 20_000;
/** Slack on top of a load generator's duration before it is killed. */
export const WRK_SLACK_MS = 30_000;
const IO_TIMEOUT_MS = 10_000;

// ---- child processes: every one is tracked so that no exit path leaves one behind ----

const children = new Set<Deno.ChildProcess>();

/** Spawns a tracked child (killed on every exit path), stdin closed, colours off. */
export function spawn(
  cmd: string,
  args: string[],
  opts: { cwd?: string; pipeErr?: boolean; pipeOut?: boolean } = {},
) {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    stdin: "null",
    stdout: opts.pipeOut ? "piped" : "null",
    stderr: opts.pipeErr ? "piped" : "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  children.add(child);
  child.status.finally(() => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
export async function stop(child: Deno.ChildProcess, graceMs = 5000): Promise<Deno.CommandStatus> {
  try {
    child.kill("SIGTERM");
  } catch { /* already exited */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((r) => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      r();
    }, graceMs);
  });
  const status = await Promise.race([child.status, killed.then(() => child.status)]);
  clearTimeout(timer);
  return status;
}

/** Tracks a child spawned elsewhere (a load generator), so that it is killed on exit too. */
export function track(child: Deno.ChildProcess): Deno.ChildProcess {
  children.add(child);
  child.status.finally(() => children.delete(child));
  return child;
}

/** Stops every child still running (SIGTERM, then SIGKILL). */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c)));
}

/** The temp dir of this run, removed on every exit path. */
let tempDir: string | undefined;

/**
 * Makes the run's temp dir (removed on exit and on a signal), readable by nginx workers, which
 * drop privileges when started as root.
 */
export async function benchTempDir(prefix: string): Promise<string> {
  const dir = tempDir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o755);
  await Deno.mkdir(`${dir}/tmp`);
  return dir;
}

/** Last-resort cleanup (signal, error): SIGKILL every child and its children (nginx workers). */
export function killAllNow() {
  for (const c of children) {
    const grandchildren = childPids(c.pid);
    for (const pid of [c.pid, ...grandchildren]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already exited */ }
    }
  }
  if (tempDir) {
    try {
      Deno.removeSync(tempDir, { recursive: true });
    } catch { /* already removed */ }
  }
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, async () => {
    // SIGTERM first so that nginx masters stop their workers; then no survivors.
    await Promise.race([Promise.all([...children].map((c) => stop(c, 1000))), sleep(1500)]);
    killAllNow();
    Deno.exit(130);
  });
}
globalThis.addEventListener("unload", killAllNow);

/**
 * Keeps the last 16 KiB of a child's stderr (and keeps the pipe drained); V8's `--trace-gc-nvp`
 * records are kept whole in `gcEvents`, each with the `isolate` V8 numbered it with (0: the
 * main thread's, which starts first; workers from 1).
 */
export class StderrTail {
  text = "";
  readonly gcEvents: Record<string, number | string>[] = [];
  readonly done: Promise<void>;
  #waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  #partial = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (this.#partial + chunk).split("\n");
        this.#partial = lines.pop()!;
        for (const l of lines) {
          const at = l.indexOf("GC: {");
          if (at >= 0) {
            try {
              const isolate = Number(/^\[\d+:0x[0-9a-f]+:(\d+)\]/.exec(l)?.[1] ?? -1);
              this.gcEvents.push({ ...JSON.parse(l.slice(at + 4)), isolate });
            } catch { /* a record cut by other output: skip it */ }
          }
        }
        this.text = (this.text + chunk).slice(-16384);
        this.#waiters = this.#waiters.filter((w) => {
          const m = w.re.exec(this.text);
          if (m) w.resolve(m);
          return !m;
        });
      }
    })();
  }

  match(re: RegExp): Promise<RegExpExecArray> {
    const m = re.exec(this.text);
    return m ? Promise.resolve(m) : new Promise((resolve) => this.#waiters.push({ re, resolve }));
  }
}

// ---- small helpers ----

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `p`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** A port that was free a moment ago (for servers that cannot report an ephemeral one). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Whether a TCP connect to 127.0.0.1:`port` succeeds now. */
export async function accepts(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** Polls connect every `everyMs` until the port accepts; throws if `child` exits first. */
export async function waitForPort(
  port: number,
  child: Deno.ChildProcess,
  what: string,
  everyMs = 5,
) {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (exited) throw new Error(`${what} exited before accepting on port ${port}`);
    if (performance.now() > deadline) throw new Error(`${what}: port ${port} not accepting`);
    await sleep(everyMs);
  }
}

/**
 * Fills `__NAME__` placeholders: a plain YAML scalar, so `deno fmt` leaves the YAML template
 * as it is (it rewrites `{{NAME}}` into a flow mapping).
 */
export function fill(template: string, vars: Record<string, string | number>): string {
  return template.replace(/__([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)__/g, (_, k) => {
    if (!(k in vars)) throw new Error(`template variable ${k} not set`);
    return String(vars[k]);
  });
}

/** Resident set size of a process, in KiB. */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** The pids of `pid`'s children (nginx workers of a master). */
export function childPids(pid: number): number[] {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
    return text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

/** The 1/5/15-minute load averages: the machine is shared, so every report carries them. */
export function loadAvg(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

/** The median of `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Runs a shell script; its trimmed stdout. */
export async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Exits with a clear message when a required tool is missing: `bench` names the script,
 * `packages` the Debian packages that bring the tools.
 */
export async function requireTools(tools: string[], bench: string, packages: string) {
  const missing: string[] = [];
  for (const t of tools) {
    if (!(await sh(`command -v ${t} || true`))) missing.push(t);
  }
  if (missing.length) {
    console.error(
      `${bench}: missing ${missing.join(", ")} on PATH; install with\n` +
        `  apt-get update && apt-get install -y ${packages}`,
    );
    Deno.exit(2);
  }
}

// ---- raw HTTP/1.1 on a kept-open connection ----

const enc = new TextEncoder();

/** Sends `GET path` on `conn` and reads exactly one Content-Length response; returns status. */
export async function getOnConn(
  conn: Deno.Conn,
  path: string,
): Promise<{ status: number; len: number }> {
  await conn.write(enc.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
  const buf = new Uint8Array(65536);
  let head = "";
  let headEnd = -1;
  let bodyHave = 0;
  let status = 0;
  let len = -1;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("connection closed mid-response");
    if (headEnd < 0) {
      head += new TextDecoder("latin1").decode(buf.subarray(0, n));
      headEnd = head.indexOf("\r\n\r\n");
      if (headEnd < 0) continue;
      status = Number(head.slice(9, 12));
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, headEnd));
      if (!cl) throw new Error(`response without content-length: ${head.slice(0, headEnd)}`);
      len = Number(cl[1]);
      bodyHave = head.length - headEnd - 4;
    } else {
      bodyHave += n;
    }
    if (bodyHave >= len) return { status, len };
  }
}

/** How a client connects to a peer: plain TCP by default, or e.g. TLS. */
export type Connect = (port: number) => Promise<Deno.Conn>;

const tcpConnect: Connect = (port) => Deno.connect({ hostname: "127.0.0.1", port });

/** Opens a connection, runs `fn`, closes on timeout (so a stuck peer cannot hang the bench). */
export async function withConn<T>(
  port: number,
  fn: (c: Deno.Conn) => Promise<T>,
  keep = false,
  connect: Connect = tcpConnect,
) {
  const conn = await connect(port);
  const timer = setTimeout(() => conn.close(), IO_TIMEOUT_MS);
  try {
    return { conn, value: await fn(conn) };
  } catch (e) {
    try {
      conn.close();
    } catch { /* closed by the timer */ }
    throw e;
  } finally {
    clearTimeout(timer);
    if (!keep) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }
}

// ---- servers ----

/** The raw Deno relay (bench/raw_relay.ts): the ceiling for a proxy written on Deno. */
export async function startRelay(upstreamPort: number): Promise<Peer> {
  const child = spawn(Deno.execPath(), [
    "run",
    "-A",
    `${BENCH_DIR}raw_relay.ts`,
    String(upstreamPort),
  ], { pipeOut: true, pipeErr: true });
  const out = new StderrTail(child.stdout);
  const m = await withTimeout(
    Promise.race([
      out.match(/listening on port (\d+)/),
      child.status.then((s) => {
        throw new Error(`raw relay exited (${s.code})`);
      }),
    ]),
    READY_TIMEOUT_MS,
    "raw relay start",
  );
  return { name: "raw Deno relay", port: Number(m[1]), child, rssPid: () => child.pid };
}

/** A server measured side by side with the others. */
export interface Peer {
  name: string;
  port: number;
  child: Deno.ChildProcess;
  /** The process whose memory holds the connections (nginx: the worker, not the master). */
  rssPid: () => number;
}

export async function startNginx(
  dir: string,
  template: string,
  name: string,
  vars: Record<string, string | number>,
): Promise<Peer> {
  const port = freePort();
  const conf = `${dir}/${name}.conf`;
  await Deno.writeTextFile(
    conf,
    fill(await Deno.readTextFile(`${BENCH_DIR}nginx/${template}`), { ...vars, PORT: port }),
  );
  const child = spawn("nginx", [
    "-p",
    `${dir}/`,
    "-e",
    `${dir}/${name}_startup_error.log`,
    "-c",
    conf,
    "-g",
    "daemon off;",
  ], { pipeErr: true });
  const err = new StderrTail(child.stderr);
  try {
    await waitForPort(port, child, name);
  } catch (e) {
    await stop(child);
    await err.done;
    throw new Error(`${(e as Error).message}\n${err.text}`);
  }
  return { name, port, child, rssPid: () => childPids(child.pid)[0] ?? child.pid };
}

export async function startHaproxy(dir: string, upstreamPort: number): Promise<Peer> {
  const port = freePort();
  const conf = `${dir}/haproxy.cfg`;
  await Deno.writeTextFile(
    conf,
    fill(await Deno.readTextFile(`${BENCH_DIR}haproxy/haproxy.cfg`), {
      PORT: port,
      UPSTREAM_PORT: upstreamPort,
    }),
  );
  // -db: stay in the foreground, no master process; the pid we spawn is the one serving.
  const child = spawn("haproxy", ["-db", "-f", conf], { pipeErr: true });
  const err = new StderrTail(child.stderr);
  try {
    await waitForPort(port, child, "haproxy");
  } catch (e) {
    await stop(child);
    await err.done;
    throw new Error(`${(e as Error).message}\n${err.text}`);
  }
  return { name: "haproxy", port, child, rssPid: () => child.pid };
}

/** How a denvoy peer runs: worker count, and a file access log on every request or none. */
// ---- wrk ----

/** What every load generator reports (wrk, h2load, the gRPC client). */
export interface LoadResult {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  requests: number;
  /** Failed requests of any kind (socket errors, bad statuses). */
  errors: number;
  errorText: string;
  /** CPU used during the run (cores): by the peer, the load generator, and everything else. */
  cpu?: CpuShare;
}

/** A wrk run: LoadResult plus its transfer rate. */
export interface WrkResult extends LoadResult {
  rps: number;
  /** wrk's Transfer/sec in MB (wrk's MB are MiB). */
  mbps: number;
  p50: number;
  p90: number;
  p99: number;
  requests: number;
  /** Socket errors plus non-2xx/3xx responses. */
  errors: number;
  errorText: string;
  /** CPU used while wrk ran (cores): by the peer, by wrk, and by everything else on the box. */
  cpu?: CpuShare;
}

/** CPU used during a run, in cores (1 = one CPU busy the whole time). */
export interface CpuShare {
  peer: number;
  wrk: number;
  /** The nginx upstream (master and worker), when a proxy is measured. */
  upstream: number;
  other: number;
  /**
   * Cores the hypervisor gave to other guests while this VM wanted them (`/proc/stat` steal):
   * every process here ran slower by as much, whatever its own CPU time says.
   */
  steal: number;
}

/** The upstream's processes (set once it runs), for the upstream's share of the CPU. */
let upstreamPids: () => number[] = () => [];

/** Names the upstream's processes, whose CPU every later run reports as "upstream". */
export function setUpstreamPids(pids: () => number[]): void {
  upstreamPids = pids;
}

const CLK_TCK = 100;

/** utime + stime of a process (all its threads), in clock ticks; 0 once it is gone. */
export function procTicks(pid: number): number {
  return statTicks(pid, false);
}

/**
 * utime + stime of `pid`'s main thread alone (the thread whose id is the pid): for denvoy, the
 * thread that loads the config and starts the workers.
 */
export function mainThreadTicks(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/**
 * utime + stime of `pid`, plus with `reaped` the cutime + cstime of the children it has waited
 * for (and theirs): the CPU of a process that exited is not lost once its parent reaped it.
 */
function statTicks(pid: number, reaped: boolean): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
  } catch {
    return 0;
  }
}

/**
 * utime + stime of each live thread of a process, in clock ticks, summed by thread name
 * (`worker-1`, `V8 DefaultWorke`, ...): where a multi-threaded peer's CPU goes.
 */
export function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: Deno.DirEntry[];
  try {
    tids = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(name, (out.get(name) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch { /* the thread ended between the listing and the read */ }
  }
  return out;
}

/**
 * Each thread name's share of what the process's threads used between two `threadTicks`
 * readings, largest first ("worker-1 46%, worker-2 41%, ..."); names under 1% are left out.
 */
export function threadShares(before: Map<string, number>, after: Map<string, number>): string {
  const used = [...after].map(([n, t]) => [n, t - (before.get(n) ?? 0)] as const)
    .filter(([, d]) => d > 0);
  const total = used.reduce((a, [, d]) => a + d, 0);
  if (total === 0) return "";
  return used.sort((a, b) => b[1] - a[1]).filter(([, d]) => d / total >= 0.01)
    .map(([n, d]) => `${n} ${Math.round(100 * d / total)}%`).join(", ");
}

/** The machine's CPU ticks so far from `/proc/stat` (all CPUs). */
function machineTicks(): { busy: number; steal: number } {
  const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal: busy is what this VM's CPUs ran.
  return { busy: f.slice(0, 7).reduce((a, b) => a + b, 0) - f[3] - f[4], steal: f[7] };
}

/**
 * The CPU ticks of our own processes so far (this one, every tracked child and their children,
 * e.g. nginx workers): the live ones, and (through this
 * process's cutime/cstime) every child that exited and was reaped, with what it reaped in turn.
 * A child that exits between two samples (a hot restart's previous epoch) would otherwise take
 * its whole lifetime's CPU out of the difference, and "other" would grow by as much.
 */
function benchTicks(): number {
  let ticks = statTicks(Deno.pid, true);
  for (const c of children) {
    for (const pid of [c.pid, ...childPids(c.pid)]) ticks += procTicks(pid);
  }
  return ticks;
}

/** A peer's process ids: one pid, or a function read at each sample (a peer that changes). */
export type PeerPids = number | (() => number[]);

/**
 * Samples CPU from `fromMs` to `toMs` after now (inside a load generator's run, so the load
 * generator `loadPid` is still alive at both ends). The machine is shared: "other" is what
 * processes outside the bench took. A peer process that starts between the samples (a hot
 * restart's next epoch) counts from zero; one that exits counts what it used until it was
 * last seen (see `cpuWindow`).
 */
export async function cpuShare(
  peerPids: PeerPids,
  loadPid: PeerPids,
  fromMs: number,
  toMs: number,
): Promise<CpuShare> {
  await sleep(fromMs);
  const w = cpuWindow(peerPids, loadPid);
  await sleep(toMs - fromMs);
  return w.end();
}

/** How often a CPU window reads its processes, so that one that exits keeps what it used. */
const CPU_SAMPLE_MS = 100;

/**
 * Per-process CPU ticks over a window: the first and the last value seen of each pid. A
 * process gone from /proc reads 0 and keeps its last value, so its share is what it used
 * until the last sample before it exited (at most `CPU_SAMPLE_MS` of CPU short).
 */
class TicksSeen {
  #first = new Map<number, number>();
  #last = new Map<number, number>();

  /** Records `pids` now; one seen for the first time after the window began counts from 0. */
  sample(pids: number[], atStart: boolean): void {
    for (const pid of pids) {
      const t = procTicks(pid);
      if (!this.#first.has(pid)) this.#first.set(pid, atStart ? t : 0);
      if (t > 0) this.#last.set(pid, t);
    }
  }

  /** Records the pids already known again (gone ones keep their last value). */
  resample(): void {
    this.sample([...this.#first.keys()], false);
  }

  has(pid: number): boolean {
    return this.#first.has(pid);
  }

  /** Ticks used in the window by every pid seen. */
  total(): number {
    let sum = 0;
    for (const [pid, first] of this.#first) sum += (this.#last.get(pid) ?? first) - first;
    return sum;
  }
}

/**
 * Starts a CPU sample now; `end()` gives each share in cores since then (see `cpuShare`).
 * For a span that is not a load generator's run (e.g. start-ups), `loadPids` may be `() => []`.
 * The bench's own processes are counted exactly, exited ones included (`benchTicks`); peers,
 * load generators and the upstream are read every `CPU_SAMPLE_MS` while the window is open.
 */
export function cpuWindow(peerPids: PeerPids, loadPids: PeerPids): { end(): CpuShare } {
  const peers = typeof peerPids === "number" ? () => [peerPids] : peerPids;
  const loads = typeof loadPids === "number" ? () => [loadPids] : loadPids;
  const peer = new TicksSeen();
  const wrk = new TicksSeen();
  const upstream = new TicksSeen();
  const sample = (atStart: boolean) => {
    peer.resample();
    peer.sample(peers(), atStart);
    wrk.resample();
    wrk.sample(loads(), atStart);
    upstream.resample();
    upstream.sample(upstreamPids().filter((p) => !peer.has(p)), atStart);
  };
  const t0 = performance.now();
  const machine0 = machineTicks();
  const ours0 = benchTicks();
  sample(true);
  const timer = setInterval(() => sample(false), CPU_SAMPLE_MS);
  Deno.unrefTimer(timer);
  return {
    end() {
      clearInterval(timer);
      sample(false);
      const machine = machineTicks();
      const busy = machine.busy - machine0.busy;
      const ours = benchTicks() - ours0;
      const cores = (ticks: number) => ticks / CLK_TCK / ((performance.now() - t0) / 1000);
      return {
        peer: cores(peer.total()),
        wrk: cores(wrk.total()),
        upstream: cores(upstream.total()),
        other: Math.max(0, cores(busy - ours)),
        steal: cores(machine.steal - machine0.steal),
      };
    },
  };
}

const TIME_UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1000, m: 60000 };
const SIZE_UNIT_MB: Record<string, number> = {
  B: 1 / 1048576,
  KB: 1 / 1024,
  MB: 1,
  GB: 1024,
  TB: 1024 * 1024,
};

/** Parses the output of `wrk --latency`. */
export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk output without ${re}:\n${out}`);
    return m;
  };
  const pct = (p: number) => {
    const m = num(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m"));
    return Number(m[1]) * TIME_UNIT_MS[m[2]];
  };
  const transfer = num(/Transfer\/sec:\s+([\d.]+)([KMGT]?B)/);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const badStatus = non2xx ? Number(non2xx[1]) : 0;
  return {
    rps: Number(num(/Requests\/sec:\s+([\d.]+)/)[1]),
    mbps: Number(transfer[1]) * SIZE_UNIT_MB[transfer[2]],
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    requests: Number(num(/(\d+) requests in /)[1]),
    errors: sockErrors + badStatus,
    errorText: [sock?.[0], non2xx?.[0]].filter(Boolean).join("; "),
  };
}

/** One wrk run: what to load, for how long, and whose CPU to sample. */
export interface WrkRun {
  url: string;
  seconds: number;
  /** The peer measured; no CPU sampling without it (a warm-up). */
  peerPids?: PeerPids;
  connections?: number;
  /** Extra wrk arguments, e.g. `["-H", "Connection: close"]` for a connection per request. */
  args?: string[];
  /** Called once wrk runs (e.g. to start a hot restart in the middle of the run). */
  during?: () => Promise<void>;
}

/**
 * Runs load generator processes side by side for `warmup` + `seconds` (each is killed after
 * that plus a slack) and samples CPU from 0.5 s after the warm-up to 0.5 s before the end;
 * resolves with their stdout. A process that fails is an error.
 */
export async function runLoadProcs(
  cmds: { cmd: string; args: string[] }[],
  seconds: number,
  peerPids?: PeerPids,
  warmup = 0,
): Promise<{ outputs: string[]; cpu?: CpuShare }> {
  const procs = cmds.map(({ cmd, args }) =>
    track(
      new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn(),
    )
  );
  const timer = setTimeout(() => {
    for (const p of procs) {
      try {
        p.kill("SIGKILL");
      } catch { /* exited */ }
    }
  }, (warmup + seconds) * 1000 + WRK_SLACK_MS);
  try {
    const cpu = peerPids === undefined || seconds < 2 ? undefined : cpuShare(
      peerPids,
      () => procs.map((p) => p.pid),
      warmup * 1000 + 500,
      (warmup + seconds) * 1000 - 500,
    );
    const outs = await Promise.all(procs.map((p) => p.output()));
    const dec = new TextDecoder();
    outs.forEach((o, i) => {
      if (!o.success) {
        throw new Error(
          `${cmds[i].cmd} failed (${o.code}): ${dec.decode(o.stdout)}${dec.decode(o.stderr)}`,
        );
      }
    });
    return { outputs: outs.map((o) => dec.decode(o.stdout)), cpu: await cpu };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `wrk --latency` with WRK_THREADS threads; CPU is sampled from 0.5 s to the end - 0.5 s. */
export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const { seconds, peerPids } = run;
  const cmd = new Deno.Command("wrk", {
    args: [
      `-t${WRK_THREADS}`,
      `-c${run.connections ?? WRK_CONNECTIONS}`,
      `-d${seconds}s`,
      "--latency",
      ...(run.args ?? []),
      run.url,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  children.add(child);
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, seconds * 1000 + WRK_SLACK_MS);
  try {
    const cpu = peerPids === undefined || seconds < 2
      ? undefined
      : cpuShare(peerPids, child.pid, 500, seconds * 1000 - 500);
    const during = run.during?.();
    const out = await child.output();
    await during;
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      throw new Error(`wrk failed (${out.code}): ${text}${new TextDecoder().decode(out.stderr)}`);
    }
    return { ...parseWrk(text), cpu: await cpu };
  } finally {
    clearTimeout(timer);
    children.delete(child);
  }
}

// ---- idle keep-alive connections ----

export interface IdleRss {
  conns: number;
  beforeKiB: number;
  afterKiB: number;
  perConnKiB: number;
  /** RSS after each further 1,000 connections, to show whether growth is linear. */
  stepsKiB: number[];
}

/**
 * Opens `n` keep-alive connections to `port` (in batches, each with one `GET /1k` answered),
 * keeps them all open, and reports the growth of `pid`'s RSS per connection. A round of 200
 * connections is opened and closed first so that code paths are compiled and pools are warm.
 */
export async function idleConnRss(
  pid: () => number,
  port: number,
  n: number,
  connect: Connect = tcpConnect,
): Promise<IdleRss> {
  const BATCH = 100;
  const openOne = async () => {
    const { conn, value } = await withConn(port, (c) => getOnConn(c, "/1k"), true, connect);
    if (value.status !== 200) throw new Error(`idle conn: status ${value.status}`);
    return conn;
  };
  // Idle means idle: a quiet isolate gives back the garbage and the young-generation growth a
  // burst left (src/common/idle_memory_release.ts: 2 s without work), so both figures are taken
  // after longer than that without work.
  const settleMs = Number(Deno.env.get("IDLE_SETTLE_MS") ?? 4000);
  const warm = await Promise.all(Array.from({ length: 200 }, openOne));
  warm.forEach((c) => c.close());
  await sleep(settleMs);
  const beforeKiB = rssKiB(pid());
  const conns: Deno.Conn[] = [];
  const stepsKiB: number[] = [];
  try {
    for (let i = 0; i < n; i += BATCH) {
      conns.push(...await Promise.all(Array.from({ length: Math.min(BATCH, n - i) }, openOne)));
      if (conns.length % 1000 === 0 && conns.length < n) stepsKiB.push(rssKiB(pid()));
    }
    await sleep(settleMs);
    const afterKiB = rssKiB(pid());
    stepsKiB.push(afterKiB);
    return { conns: n, beforeKiB, afterKiB, perConnKiB: (afterKiB - beforeKiB) / n, stepsKiB };
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
  }
}

// ---- report ----

/** Fixed-point formatting for the reports. */
export const f0 = (x: number) => x.toFixed(0);
export const f1 = (x: number) => x.toFixed(1);
export const f2 = (x: number) => x.toFixed(2);
/** "peer / load generator / upstream / other" cores, or a dash without a sample. */
export const cpuText = (c?: CpuShare) =>
  c ? `${f2(c.peer)} / ${f2(c.wrk)} / ${f2(c.upstream)} / ${f2(c.other)}` : "—";
/** Requests per second per core the peer used (the primary figure). */
export const perCore = (r: LoadResult) => r.cpu?.peer ? r.rps / r.cpu.peer : NaN;
/** Why a run does not count (load before it, CPU others used), or "" when it is valid. */
export function invalidity(loadBefore: string, results: LoadResult[]): string {
  const why: string[] = [];
  const l1 = Number(loadBefore.split(" ")[0]);
  if (l1 > VALID.loadBefore) why.push(`load average ${l1} before the run (> ${VALID.loadBefore})`);
  const other = Math.max(...results.map((r) => r.cpu?.other ?? 0));
  if (other > VALID.otherCores) {
    why.push(`other processes used up to ${f2(other)} cores (> ${VALID.otherCores})`);
  }
  const steal = Math.max(...results.map((r) => r.cpu?.steal ?? 0));
  if (steal > VALID.stealCores) {
    why.push(`the hypervisor stole up to ${f2(steal)} cores (> ${VALID.stealCores})`);
  }
  return why.join("; ");
}
/** A target's result cell. */
export const verdict = (ok: boolean) => ok ? "pass" : "**FAIL**";

// ---- certificates ----

export interface Cert {
  cert: string;
  key: string;
  /** The CA that signed it (PEM), for clients. */
  pem: string;
}

async function openssl(args: string[]) {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** An ECDSA P-256 certificate for localhost (and 127.0.0.1), signed by a CA of its own. */
export async function makeCert(dir: string, name: string): Promise<Cert> {
  const [ca, cert, key] = [`${dir}/${name}_ca`, `${dir}/${name}.crt`, `${dir}/${name}.key`];
  await openssl(["req", "-x509", ...P256, "-keyout", `${ca}.key`, "-out", `${ca}.crt`]
    .concat(["-days", "30", "-subj", `/CN=bench CA ${name}`]));
  await openssl(["req", ...P256, "-keyout", key, "-out", `${dir}/${name}.csr`]
    .concat(["-subj", `/CN=localhost/O=${name}`]));
  await Deno.writeTextFile(`${dir}/${name}.ext`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    `${dir}/${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-days",
    "30",
    "-extfile",
    `${dir}/${name}.ext`,
    "-out",
    cert,
  ]);
  // nginx workers drop privileges when started as root.
  await Deno.chmod(key, 0o644);
  return { cert, key, pem: await Deno.readTextFile(`${ca}.crt`) };
}

/** What `openssl s_client` negotiated: protocol, cipher suite and key-exchange group. */
export async function negotiated(
  port: number,
): Promise<{ version: string; cipher: string; group: string }> {
  const out = await sh(
    `echo | timeout 10 openssl s_client -connect 127.0.0.1:${port} -servername localhost ` +
      `-brief 2>&1`,
  );
  const get = (re: RegExp) => re.exec(out)?.[1] ?? "?";
  return {
    version: get(/Protocol version: (\S+)/),
    cipher: get(/Ciphersuite: (\S+)/),
    group: get(/(?:Server Temp Key|Negotiated TLS1\.3 group): (\w+)/),
  };
}

// ---- denvoy from a config written by the bench ----

/** A running denvoy: its listeners' ports by name, its admin port, and its stderr. */
export interface Denvoy {
  child: Deno.ChildProcess;
  ports: Record<string, number>;
  adminPort: number;
  err: StderrTail;
  /** Its stdout, with `pipeOut` (where V8's `--trace-gc-nvp` records go). */
  out?: StderrTail;
  /** A peer for the named listener (all threads of the process are its CPU). */
  peer(listener: string, name?: string): Peer;
}

/**
 * Writes `yaml` to `dir` and serves it with main.ts (or the artifact named by
 * `DENVOY_UNDER_TEST`), `--concurrency` workers, no hot restart unless `args` ask for it;
 * resolves once every listener (and, with several workers, every worker) is ready.
 */
export async function startDenvoy(
  dir: string,
  name: string,
  yaml: string,
  opts: { concurrency?: number; args?: string[]; denoArgs?: string[]; pipeOut?: boolean } = {},
): Promise<Denvoy> {
  const config = `${dir}/${name}.yaml`;
  await Deno.writeTextFile(config, yaml);
  const args = opts.args ?? ["--disable-hot-restart"];
  const concurrency = opts.concurrency ?? 1;
  const child = spawn(Deno.execPath(), [
    "run",
    "-A",
    "--unstable-net",
    ...denvoyV8Args(),
    ...(opts.denoArgs ?? []),
    Deno.env.get("DENVOY_UNDER_TEST") || MAIN_TS,
    "-c",
    config,
    "--concurrency",
    String(concurrency),
    ...args,
  ], { cwd: REPO_ROOT, pipeErr: true, pipeOut: opts.pipeOut });
  const err = new StderrTail(child.stderr);
  const out = opts.pipeOut ? new StderrTail(child.stdout) : undefined;
  try {
    const m = await withTimeout(
      Promise.race([
        err.match(/all listeners ready: (.*)\n/),
        child.status.then((s) => {
          throw new Error(`denvoy ${name} exited (${s.code}) before its listeners were ready`);
        }),
      ]),
      READY_TIMEOUT_MS,
      `denvoy ${name} start`,
    );
    if (concurrency > 1) {
      await withTimeout(err.match(/all \d+ workers serving/), READY_TIMEOUT_MS, name);
    }
    const ports: Record<string, number> = {};
    for (const p of m[1].matchAll(/'([^']*)' on port (\d+)/g)) ports[p[1]] = Number(p[2]);
    const admin = /admin address: .*:(\d+)\n/.exec(err.text);
    return {
      child,
      ports,
      adminPort: admin ? Number(admin[1]) : 0,
      err,
      out,
      peer: (listener, label = name) => ({
        name: label,
        port: ports[listener],
        child,
        rssPid: () => child.pid,
      }),
    };
  } catch (e) {
    await stop(child);
    await err.done;
    throw new Error(`${(e as Error).message}\n${err.text}`);
  }
}

/** One counter or gauge from denvoy's admin `/stats` (0 when absent). */
export async function adminStat(adminPort: number, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/stats?filter=^${name}$`);
  const m = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: (\\d+)`, "m")
    .exec(await res.text());
  return m ? Number(m[1]) : 0;
}

/** The HCM, router-only, as a filter list item (`routes` are the virtual host's routes). */
export function hcm(statPrefix: string, routes: string, extra = ""): string {
  return `
        - name: envoy.filters.network.http_connection_manager
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
            stat_prefix: ${statPrefix}
            common_http_protocol_options: { idle_timeout: 3600s }
            stream_idle_timeout: 300s${
    extra ? `\n            ${extra.trim().replace(/\n/g, "\n            ")}` : ""
  }
            route_config:
              virtual_hosts:
              - name: all
                domains: ["*"]
                routes:
${routes.trim().replace(/^/gm, "                ")}
            http_filters:
            - name: envoy.filters.http.router
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`;
}

/** A STATIC cluster of one endpoint at 127.0.0.1:`port`. */
export function staticCluster(name: string, port: number, extra = ""): string {
  return `
  - name: ${name}
    type: STATIC
    connect_timeout: 5s${extra ? `\n    ${extra.trim().replace(/\n/g, "\n    ")}` : ""}
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }`;
}

// ---- CPU profiles ----

/** A node of a V8 `.cpuprofile`. */
interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

/**
 * Top self-time functions of a V8 `.cpuprofile`, as Markdown tables: by function, by file, and
 * charged to the nearest denvoy frame (`src/`), so runtime time such as `op_write` or timer
 * internals shows which of our functions caused it.
 */
export function summarizeProfile(
  profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] },
  top = 25,
): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byOurs = new Map<string, number>();
  let total = 0;
  // timeDeltas[i] is the time before sample i; the time after a sample belongs to it.
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const f = byId.get(profile.samples[i])!.callFrame;
    const file = f.url.replace(`file://${REPO_ROOT}`, "").replace(/^.*\/node_modules\//, "npm:") ||
      f.functionName;
    const name = f.functionName || "(anonymous)";
    const key = f.url ? `${name} ${file}:${f.lineNumber + 1}:${f.columnNumber + 1}` : name;
    self.set(key, (self.get(key) ?? 0) + dt);
    byFile.set(file, (byFile.get(file) ?? 0) + dt);
    let id: number | undefined = profile.samples[i];
    while (id !== undefined && !byId.get(id)!.callFrame.url.startsWith(`file://${REPO_ROOT}src/`)) {
      id = parent.get(id);
    }
    const ours = id === undefined ? `(not under src/) ${name}` : (() => {
      const o = byId.get(id)!.callFrame;
      return `${o.functionName || "(anonymous)"} ${o.url.replace(`file://${REPO_ROOT}`, "")}:${
        o.lineNumber + 1
      }:${o.columnNumber + 1}`;
    })();
    byOurs.set(ours, (byOurs.get(ours) ?? 0) + dt);
    total += dt;
  }
  const rows = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) =>
      `| ${(us / 1000).toFixed(0)} | ${(100 * us / total).toFixed(1)}% | \`${k}\` |`
    ).join("\n");
  return [
    `sampled ${(total / 1e6).toFixed(1)} s`,
    "",
    "| self ms | share | function file:line:col |",
    "| ---: | ---: | --- |",
    rows(self, top),
    "",
    "| self ms | share | file |",
    "| ---: | ---: | --- |",
    rows(byFile, 15),
    "",
    "| self ms | share | charged to the nearest src/ frame |",
    "| ---: | ---: | --- |",
    rows(byOurs, top),
  ].join("\n");
}

/**
 * The summary of the one worker profile `deno --cpu-prof --cpu-prof-dir=profDir` wrote since
 * `before` (the directory's names then): the data path runs in the worker isolate, which
 * writes its own `*.worker-N` profile.
 */
export async function workerProfileSummary(profDir: string, before: Set<string>): Promise<string> {
  const fresh = [...Deno.readDirSync(profDir)].map((e) => e.name)
    .filter((n) => n.endsWith(".cpuprofile") && n.includes(".worker-") && !before.has(n));
  if (fresh.length !== 1) {
    throw new Error(`expected one new worker profile in ${profDir}: ${fresh}`);
  }
  const path = `${profDir}/${fresh[0]}`;
  return `profile: ${path}\n\n${summarizeProfile(JSON.parse(await Deno.readTextFile(path)))}`;
}
