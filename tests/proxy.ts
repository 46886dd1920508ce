/**
 * Integration-test harness for the data path: runs the real main.ts on a config, learns the
 * ports its listeners bound (configs use port 0) from its start-up log, and offers raw-socket
 * and curl clients plus small real upstream servers.
 */
import { ServerProcess, tempFile } from "./helpers.ts";

/** A running proxy with its bound ports. */
export class Proxy {
  readonly ports: Record<string, number> = {};
  adminPort = 0;

  private constructor(readonly proc: ServerProcess, readonly configPath: string) {}

  /** Starts main.ts on `yaml`; resolves once every listener is ready. */
  static async start(yaml: string, extraArgs: string[] = []): Promise<Proxy> {
    const path = tempFile(yaml);
    const concurrency = extraArgs.includes("--concurrency") ? [] : ["--concurrency", "1"];
    const proc = new ServerProcess(["-c", path, ...concurrency, ...extraArgs]);
    const p = new Proxy(proc, path);
    await proc.waitFor(/all listeners ready: .*\n/);
    const line = /all listeners ready: (.*)\n/.exec(proc.stderr)![1];
    for (const m of line.matchAll(/'([^']*)' on port (\d+)/g)) p.ports[m[1]] = Number(m[2]);
    const admin = /admin address: .*:(\d+)\n/.exec(proc.stderr);
    if (admin) p.adminPort = Number(admin[1]);
    return p;
  }

  /** The port of the named listener (or the only one). */
  port(name?: string): number {
    if (name) return this.ports[name];
    const all = Object.values(this.ports);
    if (all.length !== 1) throw new Error(`several listeners: ${Object.keys(this.ports)}`);
    return all[0];
  }

  /** The port of listener `name` added after start-up (xDS), once the proxy logs it. */
  async addedPort(name: string): Promise<number> {
    const re = new RegExp(`listener '${name}' added on [^:]+:(\\d+)`);
    await this.proc.waitFor(re);
    return Number(re.exec(this.proc.stderr)![1]);
  }

  /** Stops the proxy at once (SIGINT: no drain) and returns its log. */
  async stop(): Promise<string> {
    await this.proc.stop("SIGINT");
    return this.proc.stderr;
  }
}

/** A parsed HTTP/1 response read off a raw socket. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Sends raw bytes and reads until the server closes or `until` matches the received text. */
export async function rawExchange(
  port: number,
  request: string | Uint8Array,
  opts: { until?: RegExp; timeoutMs?: number } = {},
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const data = typeof request === "string" ? new TextEncoder().encode(request) : request;
  await conn.write(data);
  const dec = new TextDecoder();
  let text = "";
  const buf = new Uint8Array(65536);
  const timer = setTimeout(() => conn.close(), opts.timeoutMs ?? 10_000);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n), { stream: true });
      if (opts.until?.test(text)) break;
    }
  } catch { /* closed by the timer or the peer */ }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* already closed */ }
  return text;
}

/** Parses the first response of a raw exchange (Content-Length or chunked or to close). */
export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  const head = raw.slice(0, end).split("\r\n");
  const status = Number(head[0].split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.slice(end + 4);
  if (headers["content-length"] !== undefined) {
    body = body.slice(0, Number(headers["content-length"]));
  } else if (headers["transfer-encoding"] === "chunked") {
    let out = "";
    let rest = body;
    for (;;) {
      const nl = rest.indexOf("\r\n");
      const size = parseInt(rest.slice(0, nl), 16);
      if (!size) break;
      out += rest.slice(nl + 2, nl + 2 + size);
      rest = rest.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  return { status, headers, body, raw };
}

/** Runs curl with `args`; returns stdout (and the exit code). */
export async function curl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command("curl", {
    args: ["-s", "--max-time", "10", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** A real upstream HTTP server (Deno.serve) on an ephemeral port. */
export function upstream(
  handler: (req: Request) => Response | Promise<Response>,
): { port: number; close: () => Promise<void> } {
  const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  return { port: srv.addr.port, close: () => srv.shutdown() };
}

/**
 * Resolves after `ms`, or at once when `signal` aborts: an upstream handler's late answer to a
 * request the proxy gave up on (a timeout) would otherwise hold the upstream's `close`, which
 * waits for every handler.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** A raw TCP server: `onConn` gets each connection. */
export function tcpServer(
  onConn: (c: Deno.TcpConn) => void | Promise<void>,
): { port: number; close: () => void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    try {
      for await (const c of l) onConn(c);
    } catch { /* closed */ }
  })();
  return { port: (l.addr as Deno.NetAddr).port, close: () => l.close() };
}

/** A listener + static cluster config around an HCM route section (ports: 0 = ephemeral). */
export function httpConfig(opts: {
  routes: string;
  clusters?: string;
  hcmExtra?: string;
  vhostExtra?: string;
  /** HTTP filters (YAML list items) that run before the router. */
  httpFilters?: string;
  admin?: boolean;
}): string {
  const indent = (s: string, n: number) => s.replace(/^/gm, " ".repeat(n)).replace(/^\s+$/gm, "");
  return `${
    opts.admin === false ? "" : `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
`
  }static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
${indent(opts.hcmExtra ?? "", 10)}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
${indent(opts.vhostExtra ?? "", 14)}
              routes:
${indent(opts.routes, 14)}
          http_filters:
${indent(opts.httpFilters ?? "", 10)}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${indent(opts.clusters ?? "", 2)}
`;
}

/** A STATIC cluster config for one loopback port. */
export function staticCluster(name: string, port: number, extra = ""): string {
  return `- name: ${name}
  type: STATIC
  connect_timeout: 1s
${extra.replace(/^/gm, "  ")}
  load_assignment:
    cluster_name: ${name}
    endpoints:
    - lb_endpoints:
      - endpoint:
          address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
`;
}

/** Every counter and gauge of the admin's `/stats?format=json`, by name. */
export async function adminStats(adminPort: number): Promise<Record<string, number>> {
  const r = await curl([`http://127.0.0.1:${adminPort}/stats?format=json`]);
  const out: Record<string, number> = {};
  for (const s of JSON.parse(r.out).stats) if ("value" in s) out[s.name] = s.value;
  return out;
}

/**
 * Polls the admin stats until `ready` holds: workers report their counters, and connections
 * close, asynchronously. An admin that does not answer yet (refused at the global connection
 * limit until a closed connection is released) is polled again too. Fails after `ms` with the
 * last stats seen.
 */
export async function adminStatsWhen(
  adminPort: number,
  ready: (s: Record<string, number>) => boolean,
  ms = 20_000,
): Promise<Record<string, number>> {
  const deadline = performance.now() + ms;
  for (;;) {
    let last: string;
    try {
      const s = await adminStats(adminPort);
      if (ready(s)) return s;
      last = JSON.stringify(s);
    } catch (e) {
      last = `the admin did not answer: ${e}`;
    }
    if (performance.now() > deadline) throw new Error(`stats never got ready: ${last}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An HCM `access_log` entry (YAML) writing `format` lines to the file at `path`. */
export function fileAccessLog(path: string, format: string): string {
  return `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${path}
    log_format: { text_format_source: { inline_string: "${format}\\n" } }`;
}

/** The file's lines once it has at least `n` (polling; fails after `ms`). */
export async function waitForLines(path: string, n: number, ms = 20_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    let text = "";
    try {
      text = Deno.readTextFileSync(path);
    } catch { /* not created yet */ }
    const lines = text.split("\n").filter((l) => l !== "");
    if (lines.length >= n) return lines;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${n} lines in ${path}; have:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
