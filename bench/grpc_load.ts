/**
 * The gRPC peers of bench/h2_bench.ts, each its own process so that its CPU time is its own:
 *
 * - `server`: an `@grpc/grpc-js` server on an ephemeral port answering the unary method
 *   `/bench.Echo/Unary` with 1 KiB; prints `listening on port N`.
 * - `client HOST:PORT CONCURRENCY SECONDS [WARMUP_S]`: one grpc-js channel keeping CONCURRENCY
 *   unary calls (100-byte requests) in flight for SECONDS after a warm-up; prints one JSON line:
 *   calls, seconds, calls/s, latency p50/p90/p99 in ms, and failed calls.
 *
 * Messages are raw bytes (no protobuf): the bench measures the transport, not serialization.
 */
// @ts-types="../tests/grpc_js.d.ts"
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";

const id = (b: Buffer) => b;
const SERVICE = {
  unary: {
    path: "/bench.Echo/Unary",
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
} as unknown as grpc.ServiceDefinition;
const RESPONSE = Buffer.alloc(1024, 0x61);
const REQUEST = Buffer.alloc(100, 0x62);

// deno-lint-ignore no-explicit-any
type Any = any;

async function server() {
  const s = new grpc.Server();
  s.addService(SERVICE, { unary: (_call: Any, cb: Any) => cb(null, RESPONSE) });
  const port = await new Promise<number>((res, rej) =>
    s.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (e, p) => e ? rej(e) : res(p),
    )
  );
  console.log(`listening on port ${port}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
}

async function client(target: string, concurrency: number, seconds: number, warmup: number) {
  const Client = grpc.makeGenericClientConstructor(SERVICE, "Echo");
  const c: Any = new Client(target, grpc.credentials.createInsecure());
  let measuring = false;
  let stopping = false;
  const latencies: number[] = [];
  let errors = 0;
  let lastError = "";
  const loop = async () => {
    while (!stopping) {
      const t0 = performance.now();
      const ok = await new Promise<boolean>((res) =>
        c.unary(REQUEST, (e: Any) => {
          if (e) lastError = `${e.code} ${e.details}`;
          res(!e);
        })
      );
      if (!measuring) continue;
      if (ok) latencies.push(performance.now() - t0);
      else errors++;
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await new Promise((r) => setTimeout(r, warmup * 1000));
  measuring = true;
  console.log("measuring");
  const start = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  stopping = true;
  await Promise.all(loops);
  c.close();
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    calls: latencies.length,
    seconds: elapsed,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 0.5),
    p90: percentile(latencies, 0.9),
    p99: percentile(latencies, 0.99),
    errors,
    lastError,
  }));
}

/** `n` unary calls, `concurrency` in flight; rejects on the first failed call. */
async function fixedCalls(target: string, concurrency: number, n: number) {
  const Client = grpc.makeGenericClientConstructor(SERVICE, "Echo");
  const c: Any = new Client(target, grpc.credentials.createInsecure());
  let left = n;
  const loop = async () => {
    while (left > 0) {
      left--;
      await new Promise<void>((res, rej) =>
        c.unary(REQUEST, (e: Any) => e ? rej(new Error(`${e.code} ${e.details}`)) : res())
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  c.close();
}

if (import.meta.main) {
  const [mode, target, concurrency, seconds, warmup] = Deno.args;
  if (mode === "server") await server();
  else if (mode === "client") {
    await client(target, Number(concurrency), Number(seconds), Number(warmup ?? 0));
    Deno.exit(0);
  } else if (mode === "calls") {
    await fixedCalls(target, Number(concurrency), Number(seconds));
    Deno.exit(0);
  } else {
    console.error(
      "usage: grpc_load.ts server | client HOST:PORT CONCURRENCY SECONDS [WARMUP_S] | " +
        "calls HOST:PORT CONCURRENCY N",
    );
    Deno.exit(2);
  }
}
