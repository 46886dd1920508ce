/**
 * The TLS transport stream: a `node:tls` `TLSSocket` (downstream on the socket's native handle,
 * native_socket.ts; upstream, or where descriptors cannot be reached, over the raw `Deno.Conn`
 * through {@linkcode ConnDuplex}, bytes listener filters already read replayed first), seen by
 * the {@linkcode Connection} through the same
 * read/write/closeWrite/close interface as a raw socket. Reads take decrypted chunks from a
 * queue; the TLS socket pauses when a slow reader lets the queue grow past 64 KiB, so the peer
 * is back-pressured as on a raw socket.
 *
 * Why `node:tls` and not `Deno.listenTls`/`Deno.startTls` (Deno 2.9.6): only `node:tls` picks
 * a certificate per SNI, asks for a client certificate, shows the peer's chain, tells the
 * negotiated version and cipher suite (access logs, `ssl.versions.*`, `ssl.ciphers.*`), takes
 * over a connection whose ClientHello a listener filter already read, and (upstream) connects
 * without checking the server's certificate against the system roots, which is Envoy's default
 * when no `trusted_ca` is set. `Deno.listenTls` reports only ALPN after a handshake, so even a
 * one-certificate listener would lose `%DOWNSTREAM_TLS_VERSION%`/`_CIPHER%` and its stats.
 *
 * Where the time goes (bench/tls_layers_bench.ts, server CPU per 1 KiB echo, busy 2-core
 * machine, ratios only): plain TCP 1.0, `Deno.listenTls` ~1.4, node:tls on node's own TCP
 * handle ~1.6, node:tls over a `Deno.Conn` ~2.7 with the echo on `data` events and ~3.6
 * through this stream's promises. The gap to node's TCP handle is node:tls's JavaScript stream
 * mode (a second `net.Socket` between the TLS engine and the socket); the TLS engine itself
 * costs about as much as Deno's. Hence native_socket.ts for accepted connections.
 *
 * @module
 */
import type { Duplex } from "node:stream";
import { EventEmitter } from "node:events";
import type { TLSSocket } from "node:tls";
import { createHash, X509Certificate } from "node:crypto";
import type { SslConnectionInfo, TransportStream } from "../../../network/transport_socket.ts";
import type { TlsConnectionInfo, TlsSans } from "../../../stream_info/stream_info.ts";
import { parseSans } from "./context_config.ts";

const HIGH_WATER = 64 * 1024;
const FIRST_READ = 1024;
const MAX_READ = 64 * 1024;

/**
 * The encrypted side of a TLS socket: the raw `Deno.Conn`, starting with `initial` (bytes
 * listener filters already read off it). node:tls wraps a stream that is not a `net.Socket` in
 * its JSStreamSocket, which uses only this subset of a Duplex: `data`/`end`/`error`/`close`
 * events, `pause`/`resume`, `write`, `end`, `destroy` (and `cork`/`uncork` around writes). A
 * full `node:stream` Duplex here cost more CPU per request than the TLS records themselves
 * (its buffering, state machine and callbacks run for every chunk in both directions), so
 * this is the subset over the socket directly: reads are emitted as they arrive, writes queue
 * in order and leave together in one socket write.
 */
class ConnWire extends EventEmitter {
  readonly readable = true;
  readonly writable = true;
  readonly readableObjectMode = false;
  readonly readableLength = 0;
  readonly allowHalfOpen = true;
  readonly #conn: Deno.Conn;
  #initial: Uint8Array | undefined;
  #flowing = false;
  #reading = false;
  #readSize = FIRST_READ;
  #ended = false;
  #destroyed = false;
  /** Ciphertext waiting for the socket write in progress. */
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #endCb: (() => void) | undefined;
  #ending = false;

  constructor(conn: Deno.Conn, initial?: Uint8Array) {
    super();
    this.#conn = conn;
    if (initial && initial.length > 0) this.#initial = initial;
  }

  pause(): this {
    this.#flowing = false;
    return this;
  }

  resume(): this {
    if (this.#flowing || this.#destroyed) return this;
    this.#flowing = true;
    // Not from inside resume(): node:tls resumes while it is still wiring the socket up.
    queueMicrotask(this.#start);
    return this;
  }

  readonly #start = (): void => {
    const first = this.#initial;
    if (first && this.#flowing && !this.#destroyed) {
      this.#initial = undefined;
      this.emit("data", first);
    }
    this.#read();
  };

  #read(): void {
    if (this.#reading || !this.#flowing || this.#ended || this.#destroyed) return;
    this.#reading = true;
    // Small first (an idle connection's pending read holds its buffer), doubling on full reads.
    const buf = new Uint8Array(this.#readSize);
    this.#conn.read(buf).then((n) => this.#onRead(buf, n), this.#onReadError);
  }

  #onRead(buf: Uint8Array, n: number | null): void {
    this.#reading = false;
    if (this.#destroyed) return;
    if (n === null) {
      this.#ended = true;
      this.emit("end");
      return;
    }
    // Bigger after a full read (bulk data), smaller again after a short one: an idle
    // connection's pending read holds its buffer, which must not stay at a transfer's size.
    if (n === buf.length) {
      if (this.#readSize < MAX_READ) this.#readSize *= 2;
    } else if (n < buf.length >> 2 && this.#readSize > FIRST_READ) this.#readSize >>= 1;
    this.emit("data", buf.subarray(0, n));
    this.#read();
  }

  readonly #onReadError = (e: Error): void => {
    this.#reading = false;
    if (!this.#destroyed) this.destroy(e);
  };

  cork(): void {}
  uncork(): void {}

  write(chunk: Uint8Array, cb?: (e?: Error | null) => void): boolean {
    if (this.#destroyed) {
      cb?.(new Error("write after destroy"));
      return false;
    }
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (!this.#writing) this.#flush();
    // Callers waiting for this chunk are told once it is on the socket.
    if (cb) this.once("written", cb);
    return true;
  }

  #flush(): void {
    if (this.#queue.length === 0) {
      this.emit("written");
      if (this.#ending) this.#shutdown();
      return;
    }
    let data: Uint8Array;
    if (this.#queue.length === 1) data = this.#queue[0];
    else {
      data = new Uint8Array(this.#queued);
      let o = 0;
      for (const c of this.#queue) {
        data.set(c, o);
        o += c.length;
      }
    }
    this.#queue = [];
    this.#queued = 0;
    this.#writing = true;
    writeAll(this.#conn, data).then(this.#onWritten, this.#onWriteError);
  }

  readonly #onWritten = (): void => {
    this.#writing = false;
    if (!this.#destroyed) this.#flush();
  };

  readonly #onWriteError = (e: Error): void => {
    this.#writing = false;
    if (!this.#destroyed) {
      this.emit("written", e);
      this.destroy(e);
    }
  };

  end(cb?: () => void): this {
    if (this.#ending) return this;
    this.#ending = true;
    this.#endCb = cb;
    if (!this.#writing && this.#queue.length === 0) this.#shutdown();
    return this;
  }

  #shutdown(): void {
    const cb = this.#endCb;
    this.#endCb = undefined;
    this.#ending = false;
    this.#conn.closeWrite().then(cb, cb);
  }

  destroy(e?: Error): this {
    if (this.#destroyed) return this;
    this.#destroyed = true;
    this.#queue = [];
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    if (e) this.emit("error", e);
    this.emit("close");
    return this;
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/**
 * The encrypted side of a TLS socket over a `Deno.Conn` (see {@linkcode ConnWire}); typed as
 * the Duplex node:tls takes.
 */
export const ConnDuplex = ConnWire as unknown as new (
  conn: Deno.Conn,
  initial?: Uint8Array,
) => Duplex;

/**
 * A connected TLS socket as a {@linkcode TransportStream}. Written without async functions:
 * a read finds queued plaintext (one settled promise) or parks one resolver that the next
 * chunk fills; a write the TLS socket takes without going above its buffer limit settles at
 * once (node:tls encrypted it or holds the reference; the connection never reuses a written
 * array), and only a write past the limit waits for `drain`, as a raw socket's would.
 */
export class TlsStream implements TransportStream {
  readonly #sock: TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  /** The read waiting for data, and the array it reads into. */
  #reader: ((n: number | null) => void) | undefined;
  #readerFail: ((e: Error) => void) | undefined;
  #readerBuf: Uint8Array | undefined;
  /** The write waiting for `drain`. */
  #drain: (() => void) | undefined;
  #drainFail: ((e: Error) => void) | undefined;

  constructor(sock: TLSSocket) {
    this.#sock = sock;
    sock.on("data", (c: Uint8Array) => {
      this.#chunks.push(c);
      this.#queued += c.length;
      if (this.#queued > HIGH_WATER) sock.pause();
      const r = this.#reader;
      if (r) {
        this.#reader = this.#readerFail = undefined;
        const buf = this.#readerBuf!;
        this.#readerBuf = undefined;
        r(this.#take(buf));
      }
    });
    sock.on("drain", () => {
      const d = this.#drain;
      this.#drain = this.#drainFail = undefined;
      d?.();
    });
    sock.on("end", () => {
      this.#ended = true;
      this.#settle();
    });
    sock.on("error", (e: Error) => {
      this.#error ??= e;
      this.#settle();
    });
    sock.on("close", () => {
      this.#ended = true;
      this.#settle();
    });
  }

  /** The stream ended or failed: a parked read and a write waiting for drain learn it now. */
  #settle(): void {
    const r = this.#reader, rf = this.#readerFail;
    this.#reader = this.#readerFail = this.#readerBuf = undefined;
    if (this.#error) rf?.(this.#error);
    else r?.(null);
    const df = this.#drainFail;
    this.#drain = this.#drainFail = undefined;
    df?.(this.#error ?? new Error("TLS connection closed"));
  }

  /** Copies queued plaintext into `buf`. */
  #take(buf: Uint8Array): number {
    let n = 0;
    while (n < buf.length && this.#chunks.length > 0) {
      const c = this.#chunks[0];
      const take = Math.min(c.length, buf.length - n);
      buf.set(take === c.length ? c : c.subarray(0, take), n);
      n += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    this.#queued -= n;
    if (this.#queued <= HIGH_WATER / 2 && this.#sock.isPaused()) this.#sock.resume();
    return n;
  }

  /** Copies queued plaintext into `buf`; waits when there is none. */
  read(buf: Uint8Array): Promise<number | null> {
    if (this.#chunks.length > 0) return Promise.resolve(this.#take(buf));
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#reader = resolve;
      this.#readerFail = reject;
      this.#readerBuf = buf;
    });
  }

  /** Encrypts and sends `data`; waits only when the TLS socket is above its buffer limit. */
  write(data: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#sock.destroyed) return Promise.reject(new Error("TLS connection closed"));
    if (this.#sock.write(data)) return Promise.resolve(data.length);
    return new Promise((resolve, reject) => {
      this.#drain = () => resolve(data.length);
      this.#drainFail = reject;
    });
  }

  /** Sends close_notify, then FIN. */
  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#sock.end(resolve));
  }

  close(): void {
    this.#sock.destroy();
  }
}

/** Hex of a digest, lower case. */
function hex(alg: string, der: Uint8Array): string {
  return createHash(alg).update(der).digest("hex");
}

/** RFC 2253 order (most specific first, comma-separated) from node's one-per-line subject. */
export function rfc2253(name: string): string {
  return name.split("\n").filter((l) => l).reverse().join(",");
}

/** The access-log facts of a peer certificate (and the chain it came with). */
export function peerCertificateFacts(chain: readonly X509Certificate[]): TlsConnectionInfo {
  const cert = chain[0];
  const sans = parseSans(cert.subjectAltName ?? "");
  return {
    peerSubject: rfc2253(cert.subject),
    peerIssuer: rfc2253(cert.issuer),
    peerSerial: cert.serialNumber.toLowerCase(),
    peerFingerprint256: hex("sha256", cert.raw),
    peerFingerprint1: hex("sha1", cert.raw),
    peerChainFingerprints256: chain.map((c) => hex("sha256", c.raw)),
    peerChainFingerprints1: chain.map((c) => hex("sha1", c.raw)),
    peerChainSerials: chain.map((c) => c.serialNumber.toLowerCase()),
    peerCertificatePem: cert.toString(),
    peerValidFrom: Date.parse(cert.validFrom),
    peerExpiration: Date.parse(cert.validTo),
    peerSans: { uri: sans.uri, dns: sans.dns, ip: sans.ip, email: sans.email },
  };
}

/** The access-log facts of our own certificate. */
export function localCertificateFacts(cert: X509Certificate): TlsConnectionInfo {
  const sans = parseSans(cert.subjectAltName ?? "");
  return {
    localSubject: rfc2253(cert.subject),
    localSans: { uri: sans.uri, dns: sans.dns, ip: sans.ip, email: sans.email },
  };
}

/** The peer's chain (leaf first) from a connected TLS socket; empty when it sent none. */
export function peerChain(sock: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  // deno-lint-ignore no-explicit-any
  let c: any = sock.getPeerCertificate(true);
  const seen = new Set<string>();
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}

/**
 * What a finished handshake negotiated, with the certificates' facts. What was negotiated is
 * read at once (the `ssl.*` stats need it); the peer certificate's facts (digests, PEM, names)
 * are worked out from its chain only when something asks (an access log operator, XFCC), once.
 */
class HandshakeInfo implements SslConnectionInfo {
  readonly tlsVersion: string | undefined;
  readonly cipherSuite: string;
  readonly serverName: string;
  readonly alpn: string;
  readonly sessionReused: boolean;
  readonly peerCertificatePresented: boolean;
  readonly peerCertificateValidated: boolean;
  readonly localSubject: string | undefined;
  readonly localSans: TlsSans | undefined;
  readonly #chain: readonly X509Certificate[];
  #facts: TlsConnectionInfo | undefined;
  #chainPem: string | undefined;

  constructor(
    sock: TLSSocket,
    chain: readonly X509Certificate[],
    local: TlsConnectionInfo | undefined,
    serverName: string,
    validated: boolean,
  ) {
    this.#chain = chain;
    this.tlsVersion = sock.getProtocol() ?? undefined;
    // Envoy prints the OpenSSL name (ECDHE-RSA-AES128-GCM-SHA256; TLS_AES_128_GCM_SHA256 in 1.3).
    this.cipherSuite = sock.getCipher().name;
    this.serverName = serverName;
    this.alpn = typeof sock.alpnProtocol === "string" ? sock.alpnProtocol : "";
    this.sessionReused = sock.isSessionReused();
    this.peerCertificatePresented = chain.length > 0;
    this.peerCertificateValidated = chain.length > 0 && validated;
    this.localSubject = local?.localSubject;
    this.localSans = local?.localSans;
  }

  get #peer(): TlsConnectionInfo {
    return this.#facts ??= this.#chain.length > 0 ? peerCertificateFacts(this.#chain) : {};
  }
  get peerSubject(): string | undefined {
    return this.#peer.peerSubject;
  }
  get peerIssuer(): string | undefined {
    return this.#peer.peerIssuer;
  }
  get peerSerial(): string | undefined {
    return this.#peer.peerSerial;
  }
  get peerFingerprint256(): string | undefined {
    return this.#peer.peerFingerprint256;
  }
  get peerFingerprint1(): string | undefined {
    return this.#peer.peerFingerprint1;
  }
  get peerChainFingerprints256(): readonly string[] | undefined {
    return this.#peer.peerChainFingerprints256;
  }
  get peerChainFingerprints1(): readonly string[] | undefined {
    return this.#peer.peerChainFingerprints1;
  }
  get peerChainSerials(): readonly string[] | undefined {
    return this.#peer.peerChainSerials;
  }
  get peerCertificatePem(): string | undefined {
    return this.#peer.peerCertificatePem;
  }
  get peerValidFrom(): number | undefined {
    return this.#peer.peerValidFrom;
  }
  get peerExpiration(): number | undefined {
    return this.#peer.peerExpiration;
  }
  get peerSans(): TlsSans | undefined {
    return this.#peer.peerSans;
  }
  get peerChainPem(): string | undefined {
    if (this.#chain.length === 0) return undefined;
    return this.#chainPem ??= this.#chain.map((c) => c.toString()).join("");
  }
}

/** What a finished handshake negotiated, with the certificates' facts (the peer's on demand). */
export function connectionInfo(
  sock: TLSSocket,
  chain: readonly X509Certificate[],
  local: TlsConnectionInfo | undefined,
  serverName: string,
  validated: boolean,
): SslConnectionInfo {
  return new HandshakeInfo(sock, chain, local, serverName, validated);
}
