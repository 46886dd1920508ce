/**
 * The admin listener: serves the admin app (a fetch handler) over `node:http`, whose server
 * reports each connection and its end, so the admin has Envoy's `listener.admin.*` and
 * `http.admin.*` stats (`Deno.serve` shows requests only). Admin traffic is small; bodies are
 * read and written whole. With `--admin-tls-*` it serves HTTPS, optionally mutual TLS: each
 * accepted socket is wrapped in a server `TLSSocket` (which, unlike `node:https` in Deno, can
 * ask for client certificates) and handed to the HTTP server once the handshake is done.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import net, { type Socket } from "node:net";
import tls from "node:tls";
import { HttpConnManagerStats, ListenerStats } from "../stats/data_path_stats.ts";
import type { Scope } from "../stats/store.ts";
import type { AdminPeer } from "./access_log.ts";
import type { AdminTls } from "./security.ts";
import { CertValidator } from "../extensions/transport_sockets/tls/cert_validator.ts";
import { parseCertificates } from "../extensions/transport_sockets/tls/context_config.ts";
import { peerChain } from "../extensions/transport_sockets/tls/tls_stream.ts";
import { overloadState } from "../server/overload_state.ts";

/** A running admin listener. */
export interface AdminListener {
  port: number;
  close(): Promise<void>;
}

/** The admin app's entry: a request and where it came from, to a response. */
export type AdminFetch = (req: Request, peer: AdminPeer) => Response | Promise<Response>;

/** Per-connection bookkeeping for the stats. */
interface ConnState {
  start: number;
  peerClosed: boolean;
  activeRequests: number;
}

/**
 * Binds `hostname:port` and serves `fetch` there, counting into `stats` under
 * `listener.admin.*` (with the main thread's `listener.admin.main_thread.*`) and
 * `http.admin.*`, as Envoy names its admin listener and connection manager. Rejects with a
 * clear Error when it cannot bind. Its connections count in the global downstream connection
 * limit unless `ignoreGlobalConnLimit`. With `tlsConfig`, HTTPS (see the module doc).
 */
export function serveAdmin(
  fetch: AdminFetch,
  hostname: string,
  port: number,
  stats: Scope,
  ignoreGlobalConnLimit = false,
  tlsConfig?: AdminTls,
): Promise<AdminListener> {
  const listenerStats = new ListenerStats(stats, "admin", "main_thread");
  const http = new HttpConnManagerStats(stats, "admin");
  const conns = new WeakMap<Socket, ConnState>();
  const server = createServer((req, res) => {
    const state = conns.get(req.socket);
    if (state) state.activeRequests++;
    http.rqTotal.inc();
    http.rqHttp1Total.inc();
    http.rqActive.inc();
    const start = performance.now();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (state) state.activeRequests--;
      http.rqActive.dec();
      http.requestDone(res.headersSent ? res.statusCode : undefined, performance.now() - start);
    };
    res.on("finish", finish);
    res.on("close", finish);
    handle(fetch, req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`${(e as Error).message}\n`);
    });
  });
  server.on("connection", (socket: Socket) => {
    // The global downstream connection limit covers the admin only as the deprecated runtime
    // key sets it, as in Envoy (see admitAdmin); overload actions cover the workers' listeners.
    const admitted = overloadState().admitAdmin(ignoreGlobalConnLimit);
    if (admitted === "refused") {
      listenerStats.rejected("global_limit");
      socket.destroy();
      return;
    }
    if (admitted === "counted") socket.on("close", () => overloadState().release(-1));
    const state: ConnState = { start: performance.now(), peerClosed: false, activeRequests: 0 };
    conns.set(socket, state);
    listenerStats.connectionOpened();
    http.connectionOpened();
    socket.on("end", () => state.peerClosed = true);
    socket.on("close", (hadError: boolean) => {
      const length = performance.now() - state.start;
      listenerStats.connectionClosed(length);
      http.connectionClosed(state.peerClosed || hadError, state.activeRequests > 0, length);
      // node's sockets count their bytes; the admin adds them when a connection ends.
      http.cxBytes.rx.inc(socket.bytesRead);
      http.cxBytes.tx.inc(socket.bytesWritten);
    });
  });
  server.on("clientError", (_e: Error, socket: Socket) => {
    http.cxProtocolError.inc();
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });
  const listener = tlsConfig ? tlsListener(server, tlsConfig, listenerStats.scope) : server;
  return new Promise((resolve, reject) => {
    listener.once("error", (e: Error & { code?: string }) => {
      const why = e.code === "EADDRINUSE" ? "address already in use" : e.message;
      reject(new Error(`admin: cannot bind ${hostname}:${port}: ${why}`));
    });
    listener.listen(port, hostname, () => {
      resolve({
        port: (listener.address() as { port: number }).port,
        close: () =>
          new Promise<void>((done) => {
            listener.close(() => done());
            if (listener !== server) server.close();
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** How long an admin client has for its TLS handshake. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * A TCP listener whose connections reach `http` once their TLS handshake, and for mutual TLS
 * the check of the client's certificate chain against the CA, are done; counts `ssl.*` in
 * `scope` (`listener.admin`) as Envoy names them.
 */
function tlsListener(http: Server, config: AdminTls, scope: Scope): net.Server {
  const handshakes = scope.counter("ssl.handshake");
  const errors = scope.counter("ssl.connection_error");
  const noCert = scope.counter("ssl.fail_verify_no_cert");
  const badCert = scope.counter("ssl.fail_verify_error");
  // Deno's node:tls server does not check a client certificate against `ca`: the chain is
  // checked after the handshake, by the validator the listeners' TLS uses.
  const validator = config.clientCa
    ? new CertValidator({
      trustedCas: parseCertificates(config.clientCa),
      trustedCaPath: "",
      trustedCaPem: config.clientCa,
      sanMatchers: [],
      certHashes: [],
      spkiHashes: [],
      allowExpired: false,
      acceptUntrusted: false,
      crls: [],
      onlyLeafCrl: false,
    })
    : undefined;
  const options = {
    isServer: true,
    key: config.key,
    cert: config.cert,
    requestCert: validator !== undefined,
    rejectUnauthorized: false,
  } as tls.TLSSocketOptions;
  const handshaking = new Set<Socket>();
  const listener = net.createServer((raw) => {
    handshaking.add(raw);
    raw.setTimeout(TLS_HANDSHAKE_TIMEOUT_MS, () => raw.destroy());
    raw.once("close", () => handshaking.delete(raw));
    const sock = new tls.TLSSocket(raw, options);
    sock.once("secure", () => {
      handshaking.delete(raw);
      raw.setTimeout(0);
      if (validator) {
        const chain = peerChain(sock);
        const refused = chain.length === 0
          ? noCert
          : validator.verify(chain, Date.now()) !== undefined
          ? badCert
          : undefined;
        if (refused) {
          refused.inc();
          sock.destroy();
          return;
        }
      }
      handshakes.inc();
      http.emit("connection", sock);
    });
    sock.on("error", () => {
      if (handshaking.delete(raw)) errors.inc();
      sock.destroy();
    });
  });
  listener.on("close", () => {
    for (const raw of handshaking) raw.destroy();
  });
  return listener;
}

/** Turns the node request into a fetch Request, runs the app, writes its Response back. */
async function handle(fetch: AdminFetch, req: IncomingMessage, res: ServerResponse) {
  const requestChunks: Uint8Array[] = [];
  for await (const c of req) requestChunks.push(c as Uint8Array);
  const method = req.method ?? "GET";
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const host = headers.get("host") ?? "localhost";
  const body = method === "GET" || method === "HEAD" || requestChunks.length === 0
    ? undefined
    : new Blob(requestChunks as BlobPart[]);
  const request = new Request(`http://${host}${req.url ?? "/"}`, { method, headers, body });
  const socket = req.socket;
  const response = await fetch(request, {
    remoteAddr: {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    },
  });
  // The body's chunks are written as they are (no concatenated copy), after its length.
  const chunks: Uint8Array[] = [];
  let length = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      chunks.push(chunk);
      length += chunk.length;
    }
  }
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((v, k) => {
    if (k === "set-cookie") out[k] = response.headers.getSetCookie();
    else out[k] = v;
  });
  out["content-length"] = String(length);
  res.writeHead(response.status, out);
  for (const chunk of chunks) res.write(chunk);
  res.end();
}
