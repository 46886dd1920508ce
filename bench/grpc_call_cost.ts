/**
 * What denvoy spends per gRPC unary call: a grpc-js server (bench/grpc_load.ts), denvoy (`--concurrency
 * 1`, h2c downstream, HTTP/2 upstream, as in bench/h2_bench.ts) and a grpc-js client process
 * (`grpc_load.ts calls`) keeping 16 unary calls (100-byte request, 1 KiB response) in flight.
 * After a warm-up client, each round is one client process making a fixed number of calls on a new
 * connection, over which the denvoy process (all its threads: worker, main, V8 helpers such as
 * the parallel scavengers) is measured: its CPU time per call (utime + stime, which a busy
 * machine inflates: compare A/B runs interleaved) and, where the machine exposes hardware
 * counters, Linux `perf stat -e instructions:u` per call (which does not depend on load; VMs
 * without a virtual PMU report it as not supported, and it is then left out). With `--alloc`,
 * also the bytes denvoy allocated per call (V8's `--trace-gc-nvp`, young generation pinned at 1
 * MiB: load-independent too, but the small young generation makes its CPU figure not
 * comparable with a run without `--alloc`).
 *
 * Usage: `deno run -A bench/grpc_call_cost.ts [--calls 20000] [--rounds 3] [--warmup 5000]
 * [--alloc]`
 *
 * Needs `perf` with access to user-space counters of the denvoy process.
 */
import { parseArgs } from "node:util";
import {
  BENCH_DIR,
  benchTempDir,
  hcm,
  procTicks,
  READY_TIMEOUT_MS,
  REPO_ROOT,
  spawn,
  startDenvoy,
  staticCluster,
  StderrTail,
  stopAll,
  withTimeout,
} from "./harness.ts";

const CONCURRENCY = 16;
/**
 * `--alloc`: V8 reports each collection with the bytes allocated since the previous one; a young
 * generation pinned at 1 MiB keeps what the last collection of a round leaves uncounted small.
 */
const ALLOC_V8_FLAGS = "--trace-gc-nvp,--max-semi-space-size=1,--semi-space-growth-factor=1";
const GRPC_LOAD = `${BENCH_DIR}grpc_load.ts`;

/**
 * `n` calls from a client process of their own (a grpc-js channel in the process that also
 * spawns `perf` was seen to corrupt the heap of Deno's node:http2).
 */
async function calls(port: number, n: number): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", GRPC_LOAD, "calls", `127.0.0.1:${port}`, String(CONCURRENCY), String(n)],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`grpc client failed: ${new TextDecoder().decode(out.stderr)}`);
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      calls: { type: "string", default: "20000" },
      rounds: { type: "string", default: "3" },
      warmup: { type: "string", default: "5000" },
      alloc: { type: "boolean", default: false },
    },
  });
  const n = Number(values.calls);
  const dir = await benchTempDir("denvoy-grpc-icount-");
  try {
    const server = spawn(Deno.execPath(), ["run", "-A", `${BENCH_DIR}grpc_load.ts`, "server"], {
      cwd: REPO_ROOT,
      pipeOut: true,
    });
    const m = await withTimeout(
      new StderrTail(server.stdout).match(/listening on port (\d+)/),
      READY_TIMEOUT_MS,
      "grpc server start",
    );
    const denvoy = await startDenvoy(
      dir,
      "denvoy_grpc",
      `static_resources:
  listeners:
  - name: grpc
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:${hcm("grpc", `- match: { prefix: "/" }\n  route: { cluster: grpc, timeout: 60s }`)}
  clusters:${
        staticCluster(
          "grpc",
          Number(m[1]),
          `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: {} }`,
        )
      }
`,
      values.alloc ? { denoArgs: [`--v8-flags=${ALLOC_V8_FLAGS}`], pipeOut: true } : {},
    );
    const port = denvoy.ports.grpc;
    await calls(port, Number(values.warmup));
    const pid = denvoy.child.pid;
    const cpu: number[] = [];
    const instructions: number[] = [];
    const alloc: number[] = [];
    const gc = denvoy.out?.gcEvents;
    const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)];
    for (let r = 0; r < Number(values.rounds); r++) {
      const out = `${dir}/perf_${r}.txt`;
      const perf = new Deno.Command("perf", {
        args: ["stat", "-x", ",", "-o", out, "-e", "instructions:u", "-p", String(pid)],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const ticks0 = procTicks(pid);
      const gc0 = gc?.length ?? 0;
      // perf says nothing once attached; the client's own start-up (hundreds of ms) comes first.
      await calls(port, n);
      cpu.push((procTicks(pid) - ticks0) * 1e4 / n);
      // Bytes allocated between collections, summed over those of the round (every isolate).
      if (gc) alloc.push(gc.slice(gc0).reduce((a, e) => a + Number(e.allocated ?? 0), 0) / n);
      perf.kill("SIGINT");
      await perf.status;
      const line = (await Deno.readTextFile(out)).split("\n").find((l) => l.includes("instr"));
      const count = Number(line?.split(",")[0]);
      if (count > 0) instructions.push(count / n);
      console.log(
        `round ${r + 1}: ${cpu[r].toFixed(1)} µs CPU per call` +
          (count > 0 ? `, ${(count / n).toFixed(0)} instructions:u per call` : "") +
          (gc ? `, ${alloc[r].toFixed(0)} bytes allocated per call` : ""),
      );
    }
    console.log(
      `median of ${cpu.length} rounds (${n} calls each, ${CONCURRENCY} in flight): ` +
        `${median(cpu).toFixed(1)} µs CPU per call` +
        (instructions.length
          ? `, ${median(instructions).toFixed(0)} instructions:u per call`
          : " (instructions:u not supported here)") +
        (gc ? `, ${median(alloc).toFixed(0)} bytes allocated per call` : ""),
    );
  } finally {
    await stopAll();
  }
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
