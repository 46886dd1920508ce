/**
 * What each TLS layer costs in this Deno version, measured without the proxy: 1 KiB echo
 * servers side by side in one run, each in its own process, loaded in turn by a client process
 * (8 connections, one 1 KiB message in flight on each), so CPU figures are the server's alone.
 *
 * Servers (`--modes`, all by default):
 * - `plain`: `Deno.listen`, echo through `read`/`write`.
 * - `deno_tls`: `Deno.listenTls` (rustls in Deno's runtime), the same loop.
 * - `node_tls_conn`: what denvoy's downstream TLS does: `node:tls` `TLSSocket` over the accepted
 *   `Deno.Conn` (src/extensions/transport_sockets/tls/tls_stream.ts: `ConnDuplex`, `TlsStream`).
 * - `node_tls_events`: the same socket with the echo on its `data` events (no `TlsStream`), to
 *   split the stream adapter's cost from node:tls's.
 * - `node_tls_net`: `tls.createServer` (node's own TCP handle: no JavaScript between the socket
 *   and the TLS engine), the floor for node:tls.
 * - `node_tls_net_peek`: a `node:net` server whose accepted socket is read first (as a listener
 *   filter reads the ClientHello), the bytes put back with `unshift`, then wrapped in a server
 *   `TLSSocket`: node:tls feeds the put-back bytes to its engine and stays on the native handle.
 * - `node_tls_fd`: what denvoy's downstream TLS does where it can reach descriptors: accepted by
 *   `Deno.listen`, the ClientHello read from the `Deno.Conn` (as tls_inspector does), then a
 *   `net.Socket` on a second descriptor of the socket, the ClientHello put back, a server
 *   `TLSSocket` over it (src/extensions/transport_sockets/tls/native_socket.ts).
 *
 * Reported: server CPU µs per echo (user + system from /proc, min and median over rounds
 * interleaved across servers, the first round dropped as warm-up), server CPU per full TLS 1.3
 * handshake (`openssl s_time -new`: no resumption, no data; same rounds) and the RSS each server
 * grows by per idle TLS connection (after one echo on each). Absolute numbers depend on the machine;
 * compare the rows of one run.
 *
 * Usage: `deno run -A bench/tls_layers_bench.ts [--rounds 5] [--ms 1500] [--idle 300]
 * [--modes plain,deno_tls,...]`. Needs `openssl` on PATH; Linux (/proc).
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import { parseArgs } from "node:util";
import { benchTempDir, makeCert } from "./harness.ts";
import { ConnDuplex, TlsStream } from "../src/extensions/transport_sockets/tls/tls_stream.ts";
import { nativeSocket } from "../src/extensions/transport_sockets/tls/native_socket.ts";

const MODES = [
  "plain",
  "deno_tls",
  "node_tls_conn",
  "node_tls_events",
  "node_tls_net",
  "node_tls_net_peek",
  "node_tls_fd",
];
const MSG = 1024;
const CONNS = 8;

interface Stream {
  read(b: Uint8Array): Promise<number | null>;
  write(b: Uint8Array): Promise<number>;
}

async function echo(s: Stream): Promise<void> {
  const buf = new Uint8Array(MSG);
  try {
    for (;;) {
      const n = await s.read(buf);
      if (n === null) return;
      await s.write(buf.slice(0, n));
    }
  } catch { /* the client went away */ }
}

/** The server role: echoes on `port` until killed. */
async function serve(mode: string, port: number, cert: string, key: string): Promise<void> {
  const hostname = "127.0.0.1";
  if (mode === "plain") {
    for await (const c of Deno.listen({ hostname, port })) echo(c);
  } else if (mode === "deno_tls") {
    for await (const c of Deno.listenTls({ hostname, port, cert, key })) echo(c);
  } else if (mode === "node_tls_net_peek") {
    const secureContext = tls.createSecureContext({ cert, key });
    net.createServer((raw) => {
      raw.on("error", () => {});
      raw.once("data", (hello: Uint8Array) => {
        raw.pause();
        raw.unshift(hello);
        const sock = new tls.TLSSocket(raw, { isServer: true, secureContext });
        sock.on("error", () => {});
        sock.on("data", (d) => sock.write(d));
      });
    }).listen(port, hostname);
  } else if (mode === "node_tls_fd") {
    const secureContext = tls.createSecureContext({ cert, key });
    for await (const c of Deno.listen({ hostname, port })) {
      const hello = new Uint8Array(16 * 1024);
      c.read(hello).then((n) => {
        const raw = nativeSocket(c, hello.slice(0, n ?? 0));
        if (!raw) throw new Error("no descriptor (run with -A on Linux)");
        const sock = new tls.TLSSocket(raw, { isServer: true, secureContext });
        sock.on("error", () => {});
        sock.on("close", () => c.close());
        sock.once("secure", () => echo(new TlsStream(sock)));
      }, () => c.close());
    }
  } else if (mode === "node_tls_net") {
    tls.createServer({ cert, key }, (sock) => {
      sock.on("data", (d) => sock.write(d));
      sock.on("error", () => {});
    }).listen(port, hostname);
  } else {
    const secureContext = tls.createSecureContext({ cert, key });
    for await (const c of Deno.listen({ hostname, port })) {
      const sock = new tls.TLSSocket(new ConnDuplex(c), { isServer: true, secureContext });
      sock.on("error", () => {});
      if (mode === "node_tls_events") sock.on("data", (d) => sock.write(d));
      else sock.once("secure", () => echo(new TlsStream(sock)));
    }
  }
}

/** The client role: `CONNS` connections echoing for `ms`; prints the number of echoes. */
async function load(port: number, ms: number, ca: string | undefined): Promise<void> {
  let count = 0;
  const end = Date.now() + ms;
  const one = async () => {
    const c = ca
      ? await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] })
      : await Deno.connect({ hostname: "127.0.0.1", port });
    const msg = new Uint8Array(MSG).fill(97);
    const buf = new Uint8Array(4 * MSG);
    while (Date.now() < end) {
      await c.write(msg);
      for (let got = 0; got < MSG;) {
        const n = await c.read(buf);
        if (n === null) throw new Error("server closed");
        got += n;
      }
      count++;
    }
    c.close();
  };
  await Promise.all(Array.from({ length: CONNS }, one));
  console.log(count);
}

/** User + system CPU of a process, ms. */
function cpuMs(pid: number): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`port ${port} never opened`);
}

interface Server {
  mode: string;
  port: number;
  child: Deno.ChildProcess;
  us: number[];
  handshakeUs: number[];
}

function self(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL(import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "inherit",
  });
}

async function startServer(mode: string, dir: string): Promise<Server> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL(import.meta.url).pathname, "--serve", mode]
      .concat(["--port", String(port), "--dir", dir]),
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitPort(port);
  return { mode, port, child, us: [], handshakeUs: [] };
}

async function stopServer(s: Server): Promise<void> {
  try {
    s.child.kill("SIGKILL");
  } catch { /* gone */ }
  await s.child.status;
}

/** RSS growth per idle TLS connection (one echo on each first). */
async function idleKiB(s: Server, n: number, ca: string): Promise<number> {
  const conns: Deno.Conn[] = [];
  const one = async () => {
    const c = await Deno.connectTls({ hostname: "127.0.0.1", port: s.port, caCerts: [ca] });
    await c.write(new Uint8Array(MSG));
    const b = new Uint8Array(4 * MSG);
    for (let got = 0; got < MSG;) got += (await c.read(b)) ?? MSG;
    conns.push(c);
  };
  for (let i = 0; i < 20; i++) await one();
  await new Promise((r) => setTimeout(r, 1000));
  const before = rssKiB(s.child.pid);
  for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: 20 }, one));
  await new Promise((r) => setTimeout(r, 2000));
  const grown = (rssKiB(s.child.pid) - before) / n;
  for (const c of conns) c.close();
  return grown;
}

/** Full handshakes `openssl s_time -new` made in `ms` (one connection at a time). */
async function sTime(port: number, ms: number): Promise<number> {
  const out = await new Deno.Command("openssl", {
    args: ["s_time", "-connect", `127.0.0.1:${port}`, "-new", "-tls1_3"]
      .concat(["-time", String(Math.max(1, Math.round(ms / 1000)))]),
    stdout: "piped",
    stderr: "null",
  }).output();
  const m = /(\d+) connections in \d+ real seconds/.exec(new TextDecoder().decode(out.stdout));
  return m ? Number(m[1]) : 0;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

async function main(): Promise<void> {
  const { values: o } = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      load: { type: "string" },
      port: { type: "string" },
      dir: { type: "string" },
      ms: { type: "string", default: "1500" },
      rounds: { type: "string", default: "5" },
      idle: { type: "string", default: "300" },
      modes: { type: "string", default: MODES.join(",") },
    },
  });
  if (o.serve) {
    const cert = Deno.readTextFileSync(`${o.dir}/layers.crt`);
    const key = Deno.readTextFileSync(`${o.dir}/layers.key`);
    return serve(o.serve, Number(o.port), cert, key);
  }
  if (o.load) {
    const ca = o.load === "tls" ? Deno.readTextFileSync(`${o.dir}/layers_ca.crt`) : undefined;
    return load(Number(o.port), Number(o.ms), ca);
  }
  const dir = await benchTempDir("denvoy-tls-layers-");
  const cert = await makeCert(dir, "layers");
  const modes = o.modes.split(",");
  const servers: Server[] = [];
  try {
    // One at a time: the load and RSS of one server never overlap another's startup.
    for (const m of modes) servers.push(await startServer(m, dir));
    for (let round = 0; round <= Number(o.rounds); round++) {
      for (const s of servers) {
        const c0 = cpuMs(s.child.pid);
        const out = await self(["--load", s.mode === "plain" ? "plain" : "tls"]
          .concat(["--port", String(s.port), "--dir", dir, "--ms", o.ms])).output();
        const n = Number(new TextDecoder().decode(out.stdout).trim());
        if (round > 0 && n > 0) s.us.push((cpuMs(s.child.pid) - c0) * 1000 / n);
        if (s.mode === "plain") continue;
        const h0 = cpuMs(s.child.pid);
        const h = await sTime(s.port, Number(o.ms));
        if (round > 0 && h > 0) s.handshakeUs.push((cpuMs(s.child.pid) - h0) * 1000 / h);
      }
    }
    const base = median(servers[0].us);
    console.log(`server CPU per 1 KiB echo (${CONNS} connections), rounds: ${o.rounds}`);
    for (const s of servers) {
      const med = median(s.us);
      console.log(
        `  ${s.mode.padEnd(18)} min ${Math.min(...s.us).toFixed(1)} µs, median ${
          med.toFixed(1)
        } µs (${(med / base).toFixed(2)}× ${servers[0].mode})  [${
          s.us.map((x) => x.toFixed(0)).join(" ")
        }]`,
      );
    }
    const tlsServers = servers.filter((s) => s.handshakeUs.length > 0);
    console.log("server CPU per full TLS 1.3 handshake (openssl s_time -new, ECDSA P-256):");
    for (const s of tlsServers) {
      console.log(
        `  ${s.mode.padEnd(18)} min ${Math.min(...s.handshakeUs).toFixed(0)} µs, median ${
          median(s.handshakeUs).toFixed(0)
        } µs  [${s.handshakeUs.map((x) => x.toFixed(0)).join(" ")}]`,
      );
    }
    if (Number(o.idle) > 0) {
      console.log(`RSS per idle TLS connection (${o.idle} connections, one echo each):`);
      for (const s of servers) {
        if (s.mode === "plain") continue;
        // A fresh process: the load rounds grew its heap.
        await stopServer(s);
        const fresh = await startServer(s.mode, dir);
        s.child = fresh.child;
        s.port = fresh.port;
        console.log(
          `  ${s.mode.padEnd(18)} ${(await idleKiB(s, Number(o.idle), cert.pem)).toFixed(1)} KiB`,
        );
      }
    }
  } finally {
    for (const s of servers) await stopServer(s);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
