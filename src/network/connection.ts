/**
 * A network connection as the proxy's filters see it, over a raw `Deno.Conn`: a read loop that
 * can be paused (flow control), writes that are queued, coalesced into one syscall per tick and
 * counted against a buffer limit (backpressure), half-close in both directions, and one close
 * event. It reads and writes through a transport socket's stream (see transport_socket.ts): the
 * raw `Deno.Conn` itself for plaintext, so that path has no extra layer; TLS swaps in its own
 * stream once the handshake is done.
 */

import { allocate, MAX_CARVED_BYTES } from "../common/slab.ts";
import { containBug, reportBug } from "../common/error_boundary.ts";
import type { ByteCounters } from "../stats/data_path_stats.ts";
import { monotonicNow } from "../common/monotonic_time.ts";
import { ioActivity } from "../common/idle_memory_release.ts";
import type { SslConnectionInfo, TransportStream } from "./transport_socket.ts";
import type { Counter } from "../stats/metrics.ts";
import { CoarseTimer } from "../common/coarse_timer.ts";
import { getLogger } from "../common/logger.ts";

const log = getLogger("connection");

/** Why a connection closed, for access logs and stats. */
export type CloseReason = "local" | "remote" | "error";

/** What a connection reports to its owner. */
export interface ConnectionCallbacks {
  /** Bytes arrived. The chunk is the caller's to keep (never reused by the connection). */
  onData(chunk: Uint8Array): void;
  /** The peer half-closed (FIN); writing may still be possible. */
  onEnd(): void;
  /** The connection is gone; called once. */
  onClose(reason: CloseReason, error?: Error): void;
  /** Queued write bytes dropped below the low watermark after being above the high one. */
  onWritable?(): void;
  /**
   * A callback above threw (a bug, already counted and logged): abandon what it was doing.
   * Without it the connection is closed.
   */
  onBug?(error: unknown): void;
  /**
   * The listener drains (shutdown, hot restart): wind the connection down gracefully. Without
   * it the connection is left to finish or to be closed when the server stops.
   */
  onDrain?(): void;
}

/**
 * Envoy's delayed close (`delayed_close_timeout` of the HTTP connection manager, which sets it
 * on its connections): how long a flush-close may go without write progress, and how long a
 * connection that closes with a delay waits for its peer to close first.
 */
export interface DelayedClose {
  /** The timeout in ms, above 0 (a 0 timeout disables delayed close: no `DelayedClose`). */
  readonly timeoutMs: number;
  /** Counted each time the timer closes a connection (`downstream_cx_delayed_close_timeout`). */
  readonly timeouts: Counter;
}

/**
 * The callbacks of a connection waiting out its delayed close: the request bytes still coming
 * are read and dropped (nobody parses them any more; read, they cannot turn the close into a
 * reset), and the peer's end of stream goes to the owner, which closes as on any FIN.
 */
class DelayedCloseReader implements ConnectionCallbacks {
  constructor(readonly owner: ConnectionCallbacks) {}
  onData(): void {}
  onEnd(): void {
    this.owner.onEnd();
  }
  onClose(reason: CloseReason, error?: Error): void {
    this.owner.onClose(reason, error);
  }
}

/** Who is told when a connection is gone: its listener's bookkeeping. */
export interface ConnectionOwner {
  onConnectionFinished(conn: Connection): void;
}

let nextConnectionId = 1;

/**
 * Read buffer sizes. Each open connection keeps one buffer for its pending read, so idle
 * downstream connections must not each hold a big one (at 16 KiB, 5,000 idle keep-alive
 * connections cost 80 MB). 1 KiB holds most request heads; a buffer doubles when a read fills
 * it, so a bigger head or a body costs one more read, once per connection.
 */
const MIN_READ_SIZE = 1024;
const MAX_READ_SIZE = 256 * 1024;

/** `ip:port` of a Deno address, with IPv6 in brackets. */
export function formatNetAddr(a: Deno.Addr): string {
  if (a.transport === "tcp" || a.transport === "udp") {
    return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
  }
  return (a as Deno.UnixAddr).path ?? "";
}

/** One TCP connection (downstream or upstream). */
export class Connection {
  readonly id = nextConnectionId++;
  /** Index in its listener's list of connections (`SlotList`). */
  slot = -1;
  /** The peer (the PROXY protocol source when a listener filter restored it). */
  remoteAddress: string;
  /** The local address (the PROXY protocol destination when a listener filter restored it). */
  localAddress: string;
  remoteIp: string;
  remotePort: number;
  localPort: number;
  /** The socket's own peer, whatever a listener filter restored (`%DOWNSTREAM_DIRECT_...%`). */
  readonly directRemoteAddress: string;
  /**
   * The socket's own local address, when a listener filter restored the local address
   * (proxy_protocol, original_dst); set means restored (Envoy's `localAddressRestored()`).
   */
  directLocalAddress: string | undefined = undefined;
  #cb: ConnectionCallbacks | undefined;
  #readPaused = false;
  /** A read is pending on the socket. */
  #reading = false;
  /** The buffer reads go into (made by `start`, or handed over by `setFirstRead`). */
  #buf: Uint8Array | undefined;
  /** Bytes read before `start`, which it delivers first (see `setFirstRead`). */
  #firstRead: Uint8Array | undefined;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #flushScheduled = false;
  #closeAfterFlush = false;
  /**
   * Set by the owner (the HTTP connection manager) to bound flush-closes and enable
   * `closeAfterFlushAndDelay`; undefined for connections that have none (Envoy's 0).
   */
  delayedClose: DelayedClose | undefined;
  /** Armed once a flush-close starts under `delayedClose`; re-armed by each write's progress. */
  #delayTimer: CoarseTimer | undefined;
  /** Envoy's CloseAfterFlushAndWait: the flush done, the connection waits for the timer. */
  #waitAfterFlush = false;
  /** A transport socket's goodbye (TLS close_notify, FIN) is on its way; then the close. */
  #goodbye = false;
  #shutdownAfterFlush = false;
  #closed = false;
  #aboveHigh = false;
  /**
   * Told once when the connection is gone (the listener's bookkeeping). An object rather than
   * a closure: a closure's context would keep whatever else the listener's code captured alive
   * for the connection's lifetime.
   */
  owner: ConnectionOwner | undefined;
  /** Bytes written and read, for stats and access logs. */
  bytesWritten = 0;
  bytesRead = 0;
  /** When the connection was created (`performance.now()`), for connection length stats. */
  readonly openedMs = monotonicNow();
  /**
   * Counters that see the bytes as they move (`*_cx_rx_bytes_total`), so long-lived
   * connections show up in the stats before they close, as in Envoy.
   */
  byteCounters: ByteCounters | undefined;
  /** The stream bytes move through: the raw socket, or a transport socket's (TLS). */
  #io: TransportStream;
  /** What TLS negotiated; undefined on a plaintext connection (Envoy's `ssl()`). */
  ssl: SslConnectionInfo | undefined;

  /**
   * @param highWatermark per_connection_buffer_limit_bytes (default 1 MiB, as Envoy).
   * @param readSize the first read buffer's size.
   */
  constructor(
    readonly conn: Deno.Conn,
    readonly highWatermark = 1024 * 1024,
    readonly readSize = MIN_READ_SIZE,
  ) {
    this.#io = conn;
    this.remoteAddress = this.directRemoteAddress = formatNetAddr(conn.remoteAddr);
    this.localAddress = formatNetAddr(conn.localAddr);
    const r = conn.remoteAddr as Deno.NetAddr;
    this.remoteIp = r.hostname ?? "";
    this.remotePort = r.port ?? 0;
    this.localPort = (conn.localAddr as Deno.NetAddr).port ?? 0;
  }

  /** Tells the connection's owner that its listener drains (see `ConnectionCallbacks.onDrain`). */
  startDrain(): void {
    if (this.#closed) return;
    try {
      this.#cb?.onDrain?.();
    } catch (e) {
      this.#bug("onDrain", e);
    }
  }

  /** Restores the addresses a proxy connected on behalf of (the proxy_protocol listener filter). */
  restoreAddresses(remoteIp: string, remotePort: number, localIp: string, localPort: number): void {
    this.remoteIp = remoteIp;
    this.remotePort = remotePort;
    this.remoteAddress = formatNetAddr({ transport: "tcp", hostname: remoteIp, port: remotePort });
    const local = formatNetAddr({ transport: "tcp", hostname: localIp, port: localPort });
    if (local !== this.localAddress) {
      this.directLocalAddress ??= this.localAddress;
      this.localPort = localPort;
      this.localAddress = local;
    }
  }

  /** Whether close() ran or the peer went away. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes queued but not yet written. */
  get bufferedBytes(): number {
    return this.#queued;
  }

  /** Whether writes are above the buffer limit (the writer should stop producing). */
  get aboveHighWatermark(): boolean {
    return this.#aboveHigh;
  }

  /**
   * Reads and writes through `io` from now on (a transport socket's stream after its
   * handshake); called before `start`.
   */
  setTransport(io: TransportStream, ssl: SslConnectionInfo | undefined): void {
    this.#io = io;
    this.ssl = ssl;
  }

  /**
   * Hands over bytes already read from the socket (by listener filters) as the connection's
   * first read: `start` delivers them as it delivers any read's bytes (a copy the callbacks
   * keep), then reads on. `buffer`, the one they were read into (`data` is a view of it), becomes
   * the connection's read buffer when it is no bigger than `readSize` and nothing else reads into
   * it: a connection behind listener filters then allocates one read buffer, as one without does.
   */
  setFirstRead(data: Uint8Array, buffer?: Uint8Array): void {
    if (data.length > 0) this.#firstRead = data;
    if (buffer !== undefined && buffer.length > 0 && buffer.length <= this.readSize) {
      this.#buf = buffer;
    }
  }

  /** Starts reading; data goes to `cb` (first the bytes `setFirstRead` handed over). */
  start(cb: ConnectionCallbacks): void {
    this.#cb = cb;
    const first = this.#firstRead;
    const buf = this.#buf ??= new Uint8Array(this.readSize);
    if (first !== undefined) {
      this.#firstRead = undefined;
      // Read up to the buffer's end: more may be waiting, as after a full read.
      const full = first.buffer === buf.buffer &&
        first.byteOffset + first.length === buf.byteOffset + buf.length;
      this.#deliver(first, first.length, full);
    }
    this.#read();
  }

  /**
   * The error boundary of this connection's callbacks (they are the entry points of socket
   * events into the data path): the owner abandons its work, or the connection closes.
   */
  #bug(where: string, e: unknown): void {
    containBug(this, `connection ${where}`, e);
  }

  /** BugScope: lets the owner abandon its work; closes the connection if it cannot. */
  onBug(e: unknown): void {
    const cb = this.#cb;
    if (cb?.onBug === undefined || this.#closed) {
      this.close();
      return;
    }
    try {
      cb.onBug(e);
    } catch (again) {
      this.close();
      throw again;
    }
  }

  // The read loop is written with one callback bound per connection rather than as an async
  // function: an async function parked in `await` keeps a generator, its register file and a
  // promise alive for as long as the connection is idle (~300 bytes per idle keep-alive
  // connection), and resuming it costs more than a call.
  /** Issues the next read, unless one is pending, reading is paused or the connection closed. */
  #read(): void {
    if (this.#reading || this.#readPaused || this.#closed) return;
    this.#reading = true;
    this.#io.read(this.#buf!).then(this.#onRead, this.#onRead);
  }

  /** A read finished: the byte count, null at the peer's end of stream, or why it failed. */
  readonly #onRead = (r: number | null | Error): void => {
    this.#reading = false;
    ioActivity.count++;
    if (this.#closed) return;
    if (r === null) {
      try {
        this.#cb?.onEnd();
      } catch (e) {
        this.#bug("onEnd", e);
      }
      return;
    }
    if (typeof r !== "number") {
      this.#finish("error", r instanceof Error ? r : new Error(String(r)));
      return;
    }
    const buf = this.#buf!;
    this.#deliver(buf, r, r === buf.length);
    this.#read();
  };

  /**
   * Counts the `r` bytes read at the start of `src` and hands a copy of them to the callbacks
   * (the next read reuses the buffer they are in). `full`: they filled the read buffer.
   */
  #deliver(src: Uint8Array, r: number, full: boolean): void {
    this.bytesRead += r;
    this.byteCounters?.rx.inc(r);
    // Small reads are copied into a shared slab: cheaper than a fresh array each time.
    let chunk: Uint8Array;
    if (r <= MAX_CARVED_BYTES) {
      chunk = allocate(r);
      chunk.set(r === src.length ? src : src.subarray(0, r));
    } else chunk = src.slice(0, r);
    // A full buffer means more is waiting: read bigger next time (bulk transfers). Grown before
    // onData, which may already issue the next read (readDisable(false)).
    const size = this.#buf!.length;
    if (full && size < MAX_READ_SIZE) this.#buf = new Uint8Array(size * 2);
    try {
      this.#cb?.onData(chunk);
    } catch (e) {
      this.#bug("onData", e);
    }
  }

  /** Stops (true) or resumes (false) reading: downstream flow control. */
  readDisable(disable: boolean): void {
    // A connection waiting out its delayed close reads on, to see the peer's close.
    if (this.#readPaused === disable || this.#waitAfterFlush) return;
    this.#readPaused = disable;
    if (!disable && this.#buf !== undefined) this.#read();
  }

  /** Queues bytes; they go out together with others written in the same tick. */
  write(data: Uint8Array): void {
    if (this.#closed || data.length === 0) return;
    this.#queue.push(data);
    this.#queued += data.length;
    if (!this.#aboveHigh && this.#queued > this.highWatermark) this.#aboveHigh = true;
    if (!this.#flushScheduled && !this.#writing) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  // The write path runs twice per proxied request, so it is written with callbacks bound once
  // per connection rather than as an async function: that saved a generator, a promise and a
  // closure per write (the largest allocation site under load, hence most of the GC work).
  readonly #flushTask = () => {
    this.#flushScheduled = false;
    if (!this.#writing) this.#flush();
  };
  /** The bytes being written now, and how many of them the socket took so far. */
  #inFlight: Uint8Array | undefined;
  #inFlightOff = 0;

  /** Writes everything queued (one coalesced buffer), then runs a pending close/shutdown. */
  #flush(): void {
    if (this.#queue.length === 0 || this.#closed) {
      this.#drained();
      return;
    }
    let data: Uint8Array;
    if (this.#queue.length === 1) data = this.#queue[0];
    else {
      data = allocate(this.#queued);
      let o = 0;
      for (const c of this.#queue) {
        data.set(c, o);
        o += c.length;
      }
    }
    this.#queue.length = 0;
    this.#writing = true;
    this.#inFlight = data;
    this.#inFlightOff = 0;
    this.#io.write(data).then(this.#onWritten, this.#onWritten);
  }

  /** A write finished: the count written, or why it failed (one closure for both). */
  readonly #onWritten = (n: number | Error): void => {
    if (typeof n !== "number") {
      this.#onWriteError(n);
      return;
    }
    // A flush-close's timeout counts from the last write progress, as Envoy's.
    if (this.#delayTimer !== undefined && n > 0) this.#delayTimer.arm(this.delayedClose!.timeoutMs);
    const data = this.#inFlight!;
    this.#inFlightOff += n;
    if (this.#inFlightOff < data.length && !this.#closed) {
      this.#io.write(data.subarray(this.#inFlightOff)).then(this.#onWritten, this.#onWritten);
      return;
    }
    this.#inFlight = undefined;
    this.#writing = false;
    this.#queued -= data.length;
    this.bytesWritten += data.length;
    this.byteCounters?.tx.inc(data.length);
    if (this.#aboveHigh && this.#queued <= this.highWatermark / 2) {
      this.#aboveHigh = false;
      try {
        this.#cb?.onWritable?.();
      } catch (e) {
        this.#bug("onWritable", e);
      }
    }
    if (!this.#writing) this.#flush();
  };

  #onWriteError(e: unknown): void {
    this.#inFlight = undefined;
    this.#writing = false;
    if (!this.#closed) this.#finish("error", e instanceof Error ? e : new Error(String(e)));
  }

  /** Nothing left to write: a close or half-close that waited for the data happens now. */
  #drained(): void {
    if (this.#waitAfterFlush) return;
    if (this.#closeAfterFlush) this.#closeWithGoodbye();
    else if (this.#shutdownAfterFlush) {
      this.#shutdownAfterFlush = false;
      this.#io.closeWrite().catch(() => {});
    }
  }

  /** Half-closes the write side once queued data is out (FIN to the peer). */
  shutdownWrite(): void {
    if (this.#closed) return;
    if (this.#queue.length > 0 || this.#writing) this.#shutdownAfterFlush = true;
    else this.#io.closeWrite().catch(() => {});
  }

  /**
   * Closes after queued data is written (Envoy's `FlushWrite` close). Under `delayedClose` a
   * flush that makes no progress for its timeout ends in a close too.
   */
  closeAfterFlush(): void {
    if (this.#closed || this.#goodbye) return;
    // A delayed close already waiting becomes a plain flush-close (Envoy's CloseAfterFlush).
    this.#waitAfterFlush = false;
    if (this.#queue.length > 0 || this.#writing || this.#flushScheduled) {
      this.#closeAfterFlush = true;
      if (this.delayedClose !== undefined) this.#armDelayTimer();
    } else this.close();
  }

  /**
   * Envoy's `FlushWriteAndDelay` close: queued data is written, then the connection waits for
   * the peer to close first, closing itself only when `delayedClose.timeoutMs` passes without
   * write progress (counted in `delayedClose.timeouts`). A peer that did not read everything
   * we did not read of it would otherwise get a reset (a close with unread bytes sends RST),
   * which can destroy the response still in its receive buffer. Without `delayedClose` this is
   * `closeAfterFlush`.
   */
  closeAfterFlushAndDelay(): void {
    if (this.#closed || this.#goodbye) return;
    if (this.delayedClose === undefined) {
      this.closeAfterFlush();
      return;
    }
    this.#closeAfterFlush = true;
    if (this.#waitAfterFlush) return;
    this.#waitAfterFlush = true;
    this.#armDelayTimer();
    // Read (and drop) what the peer still sends, and see its close, whatever paused reads.
    if (this.#cb !== undefined) this.#cb = new DelayedCloseReader(this.#cb);
    this.#readPaused = false;
    if (this.#buf !== undefined) this.#read();
  }

  #armDelayTimer(): void {
    this.#delayTimer ??= new CoarseTimer(() => {
      // A goodbye that did not get out within the timeout either (the peer reads nothing).
      if (this.#goodbye) {
        this.close();
        return;
      }
      log.debug(() => `[C${this.id}] triggered delayed close`);
      this.delayedClose!.timeouts.inc();
      this.#closeWithGoodbye();
    }, this);
    this.#delayTimer.arm(this.delayedClose!.timeoutMs);
  }

  /**
   * Ends a flush-close or a delayed close. Under `delayedClose`, a transport socket says goodbye
   * first, as Envoy's TLS socket sends close_notify when its connection closes: once its
   * close_notify and FIN are out, the connection closes (the delay timer bounds the wait). A
   * raw socket, or a connection without `delayedClose`, closes now.
   */
  #closeWithGoodbye(): void {
    if (this.#io === this.conn || this.delayedClose === undefined) {
      this.close();
      return;
    }
    this.#goodbye = true;
    this.#waitAfterFlush = false;
    this.#armDelayTimer();
    const close = () => this.close();
    this.#io.closeWrite().then(close, close);
  }

  /** Closes now, dropping anything unwritten. */
  close(): void {
    this.#finish("local");
  }

  #finish(reason: CloseReason, err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#delayTimer?.disarm();
    try {
      this.#io.close();
    } catch { /* already closed */ }
    if (this.#io !== this.conn) {
      try {
        this.conn.close();
      } catch { /* closed with the transport */ }
    }
    // The connection is gone whatever its owners do; their errors are only reported.
    try {
      this.owner?.onConnectionFinished(this);
    } catch (e) {
      reportBug("connection owner onConnectionFinished", e);
    }
    try {
      this.#cb?.onClose(reason, err);
    } catch (e) {
      reportBug("connection onClose", e);
    }
  }
}
