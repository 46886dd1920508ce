/**
 * Cost of access logging on the data path (issue 4: "access logging to a file on vs off costs
 * ≤ 10% req/s"). Two denvoy processes (`--concurrency 1`) proxy to one nginx upstream serving
 * 1 KiB; one has no access log, the other a file access log in Envoy's default format (or
 * `--format json`: a typed JSON line of 12 operators). wrk runs against them alternately, so
 * both see the same machine load on average, and the medians are compared.
 *
 * Usage: `deno run -A bench/access_log_bench.ts [--rounds 5] [--duration 5] [--format json]`
 */
import { parseArgs } from "node:util";
import { denvoyV8Args } from "./harness.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    duration: { type: "string", default: "5" },
    format: { type: "string", default: "default" },
  },
});
const ROUNDS = Number(values.rounds);
const DURATION = Number(values.duration);
const MAIN = new URL("../main.ts", import.meta.url).pathname;

const JSON_FORMAT = {
  start: "%START_TIME%",
  method: "%REQ(:METHOD)%",
  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
  protocol: "%PROTOCOL%",
  code: "%RESPONSE_CODE%",
  flags: "%RESPONSE_FLAGS%",
  received: "%BYTES_RECEIVED%",
  sent: "%BYTES_SENT%",
  duration: "%DURATION%",
  upstream: "%UPSTREAM_HOST%",
  request_id: "%REQ(X-REQUEST-ID)%",
  remote: "%DOWNSTREAM_REMOTE_ADDRESS%",
};

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitForPort(port: number, child: Deno.ChildProcess): Promise<void> {
  let exited = false;
  child.status.then(() => (exited = true));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !exited) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw new Error(`port ${port} never accepted`);
}

function denvoyConfig(port: number, upstreamPort: number, accessLog: string): string {
  return `static_resources:
  listeners:
  - name: bench
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
${accessLog}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: upstream, timeout: 60s }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } }
`;
}

function fileAccessLog(path: string): string {
  const format = values.format === "json"
    ? `\n              log_format: { json_format: ${JSON.stringify(JSON_FORMAT)} }`
    : "";
  return `          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${path}${format}`;
}

async function wrk(port: number): Promise<number> {
  const out = await new Deno.Command("wrk", {
    args: ["-t1", "-c32", `-d${DURATION}s`, `http://127.0.0.1:${port}/1k`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!m || /Non-2xx|Socket errors/.test(text)) throw new Error(`wrk failed:\n${text}`);
  return Number(m[1]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = await Deno.makeTempDir({ prefix: "denvoy-access-log-bench-" });
const children: Deno.ChildProcess[] = [];
try {
  await Deno.writeFile(`${dir}/1k`, new Uint8Array(1024).fill(120));
  // nginx workers started by root run as nobody: the temp dir must be readable to them.
  await Deno.chmod(dir, 0o755);
  await Deno.chmod(`${dir}/1k`, 0o644);
  const upstreamPort = freePort();
  await Deno.writeTextFile(
    `${dir}/upstream.conf`,
    `worker_processes 1;
pid upstream.pid;
error_log upstream_error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:${upstreamPort}; root ${dir}; }
}
`,
  );
  const nginx = new Deno.Command("nginx", {
    args: [
      "-p",
      `${dir}/`,
      "-e",
      `${dir}/nginx.log`,
      "-c",
      `${dir}/upstream.conf`,
      "-g",
      "daemon off;",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  children.push(nginx);
  await waitForPort(upstreamPort, nginx);

  const peers: Record<"off" | "on", number> = { off: freePort(), on: freePort() };
  for (const [name, port] of Object.entries(peers)) {
    const config = `${dir}/${name}.yaml`;
    const log = name === "on" ? fileAccessLog(`${dir}/access.log`) : "";
    await Deno.writeTextFile(config, denvoyConfig(port, upstreamPort, log));
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-net",
        ...denvoyV8Args(),
        MAIN,
        "-c",
        config,
        "--concurrency",
        "1",
        // Two proxies run at once: no hot-restart domain socket to share.
        "--disable-hot-restart",
        "-l",
        "warning",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    children.push(child);
    await waitForPort(port, child);
  }
  // Warm-up, then alternate so machine load drifts hit both alike.
  for (const port of Object.values(peers)) await wrk(port);
  const results: Record<"off" | "on", number[]> = { off: [], on: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const name of i % 2 === 0 ? ["off", "on"] as const : ["on", "off"] as const) {
      results[name].push(await wrk(peers[name]));
    }
  }
  const off = median(results.off);
  const on = median(results.on);
  const lines = (await Deno.readTextFile(`${dir}/access.log`).catch(() => "")).split("\n").length;
  console.log(`load average: ${Deno.loadavg().join(" ")}`);
  console.log(`off: ${results.off.map(Math.round).join(", ")} req/s`);
  console.log(`on (${values.format}): ${results.on.map(Math.round).join(", ")} req/s`);
  console.log(
    `| ${new Date().toISOString().slice(0, 10)} | ${values.format} | ${Math.round(off)} | ` +
      `${Math.round(on)} | ${((1 - on / off) * 100).toFixed(1)}% | ${lines - 1} lines flushed |`,
  );
} finally {
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch { /* gone */ }
    await c.status;
  }
  await Deno.remove(dir, { recursive: true });
}
