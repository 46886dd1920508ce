/**
 * Listener filters (tls_inspector, http_inspector, proxy_protocol, ...): they run on an accepted
 * socket before its filter chain is chosen, look at its first bytes and record what they learn
 * (SNI, ALPN, transport protocol, the PROXY protocol's addresses) for filter chain matching.
 *
 * Envoy peeks at the socket (MSG_PEEK) so bytes stay in the kernel; a `Deno.Conn` cannot peek,
 * so the bytes are read into the socket's buffer here and handed to the chosen filter chain as
 * the connection's first read (`Connection.setFirstRead`), with the buffer they were read into
 * as the connection's read buffer; a TLS transport socket takes them as the handshake's first
 * bytes. A filter that consumes bytes (proxy_protocol) drains them from the front of that buffer.
 *
 * Filters are shared by every socket of a listener and keep no per-socket state: each call
 * looks at everything buffered so far (headers are small, so parsing again is cheaper than
 * keeping a parser per socket). One timer per listener enforces `listener_filters_timeout`.
 */
import { CoarseTimer, RESOLUTION_MS } from "../common/coarse_timer.ts";
import { reportBug } from "../common/error_boundary.ts";
import { SlotList } from "../common/slot_list.ts";
import { monotonicNow } from "../common/monotonic_time.ts";
import type { Counter, Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";

/** The filter has what it needs: run the next one. */
export const CONTINUE = 0;
/** The filter needs more bytes. */
export const STOP_ITERATION = 1;
/** The filter rejected the socket (it counted why): close it. */
export const CLOSE = 2;

/** What a listener filter's `onData` decides. */
export type ListenerFilterStatus = typeof CONTINUE | typeof STOP_ITERATION | typeof CLOSE;

/** One listener filter, built once per listener from its config. */
export interface ListenerFilter {
  /**
   * The most bytes the filter may need to decide; 0 when it needs none (its `onData` then runs
   * once, at accept, with whatever is buffered).
   */
  readonly maxReadBytes: number;
  /** The first read's size, when the filter knows better than the default (1 KiB). */
  readonly initialReadBytes?: number;
  /** Looks at `s.data` (everything buffered so far) and records what it learns on `s`. */
  onData(s: AcceptedSocket): ListenerFilterStatus;
}

/** A listener filter with its `filter_disabled` predicate, when it has one. */
export interface ConfiguredListenerFilter {
  filter: ListenerFilter;
  /** True when the filter must not run on this socket (`filter_disabled`). */
  disabled?: (s: AcceptedSocket) => boolean;
}

/** Where sockets go once their listener filters are done. */
export interface ListenerFilterOwner {
  /** The filters are done (or timed out with continue_on_listener_filters_timeout). */
  onListenerFiltersDone(s: AcceptedSocket): void;
  /** The socket was closed before it became a connection (Envoy logs it then). */
  onListenerFiltersClosed(s: AcceptedSocket): void;
}

/** The listener stats of the listener filter stage, under `listener.<name>.`. */
export class ListenerFilterStats {
  readonly preCxTimeout: Counter;
  readonly preCxActive: Gauge;
  readonly remoteClose: Counter;
  readonly filterError: Counter;

  constructor(listenerScope: Scope) {
    this.preCxTimeout = listenerScope.counter("downstream_pre_cx_timeout");
    this.preCxActive = listenerScope.gauge("downstream_pre_cx_active", "Accumulate");
    this.remoteClose = listenerScope.counter("downstream_listener_filter_remote_close");
    this.filterError = listenerScope.counter("downstream_listener_filter_error");
  }
}

const FIRST_READ = 1024;
const EMPTY = new Uint8Array(0);
const NO_PROTOCOLS: readonly string[] = [];

/**
 * An accepted socket while its listener filters run: the bytes read so far and what the
 * filters found (Envoy's ConnectionSocket with its ConnectionInfoProvider).
 */
export class AcceptedSocket {
  slot = -1;
  /** Bytes read; `data` is `buf[start, end)`. */
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  /** The filter running now. */
  #index = 0;
  /** When listener_filters_timeout expires (monotonic ms). */
  deadline = Infinity;
  /** Set once the socket left the listener filter stage (done, closed or timed out). */
  #finished = false;
  /** The read in flight when the filters timed out and the connection went on without them. */
  #pendingRead: Promise<number | null> | undefined;

  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
  /** The socket's own peer, whatever a filter restored. */
  readonly directRemoteIp: string;
  readonly directRemotePort: number;
  /** Whether a filter restored the local address (proxy_protocol's destination). */
  localAddressRestored = false;
  /** SNI (tls_inspector). */
  serverName: string | undefined = undefined;
  /** "tls" (tls_inspector) or "" (raw_buffer is assumed). */
  transportProtocol = "";
  /** ALPN (tls_inspector) or the HTTP version found (http_inspector). */
  applicationProtocols: readonly string[] = NO_PROTOCOLS;
  /** ClientHello fingerprints (tls_inspector with fingerprinting enabled). */
  ja3: string | undefined = undefined;
  ja4: string | undefined = undefined;
  /** Dynamic metadata listener filters set (proxy_protocol TLVs), by namespace. */
  dynamicMetadata: Record<string, Record<string, unknown>> | undefined = undefined;
  /** Connection filter state objects listener filters set, by key. */
  filterState: Map<string, unknown> | undefined = undefined;
  /**
   * The running filter's progress on this socket, when it keeps any (filters are shared by
   * the listener's sockets); cleared when the next filter starts.
   */
  scratch: unknown = undefined;

  constructor(readonly raw: Deno.TcpConn, readonly manager: ListenerFilterManager) {
    const r = raw.remoteAddr as Deno.NetAddr;
    const l = raw.localAddr as Deno.NetAddr;
    this.remoteIp = this.directRemoteIp = r.hostname ?? "";
    this.remotePort = this.directRemotePort = r.port ?? 0;
    this.localIp = l.hostname ?? "";
    this.localPort = l.port ?? 0;
  }

  /** Whether `use_original_dst` may still move the socket to another listener. */
  mayHandOff = true;

  /**
   * Takes over a socket another listener handed off (`use_original_dst`): what its listener
   * filters read and found about the socket, which this listener's filters see again.
   */
  carryOver(prev: AcceptedSocket): void {
    this.#buf = prev.#buf;
    this.#start = prev.#start;
    this.#end = prev.#end;
    this.remoteIp = prev.remoteIp;
    this.remotePort = prev.remotePort;
    this.localIp = prev.localIp;
    this.localPort = prev.localPort;
    this.localAddressRestored = prev.localAddressRestored;
    this.serverName = prev.serverName;
    this.transportProtocol = prev.transportProtocol;
    this.applicationProtocols = prev.applicationProtocols;
    this.ja3 = prev.ja3;
    this.ja4 = prev.ja4;
    this.mayHandOff = false;
  }

  /** Whether a read started by the filters is still in flight (they timed out). */
  get readPending(): boolean {
    return this.#pendingRead !== undefined;
  }

  /** Everything buffered and not drained. */
  get data(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Consumes `n` bytes from the front (a header the filter handled). */
  drain(n: number): void {
    this.#start = Math.min(this.#end, this.#start + n);
  }

  /** Restores the addresses a proxy connected on behalf of (proxy_protocol). */
  restoreAddresses(remoteIp: string, remotePort: number, localIp: string, localPort: number) {
    this.remoteIp = remoteIp;
    this.remotePort = remotePort;
    if (localIp !== this.localIp || localPort !== this.localPort) {
      this.localIp = localIp;
      this.localPort = localPort;
      this.localAddressRestored = true;
    }
  }

  /**
   * Restores the destination the connection had before a NAT redirect (original_dst): the
   * local address counts as restored even when it is the socket's own, as in Envoy.
   */
  restoreLocalAddress(ip: string, port: number): void {
    this.localIp = ip;
    this.localPort = port;
    this.localAddressRestored = true;
  }

  /** Sets one key of dynamic metadata namespace `ns`. */
  setDynamicMetadata(ns: string, key: string, value: unknown): void {
    const md = this.dynamicMetadata ??= {};
    (md[ns] ??= {})[key] = value;
  }

  /**
   * The socket for the connection, once the filters are done: the raw one, or (after a timeout
   * that let the connection go on while a read was in flight) one whose first read returns
   * what that read brings.
   */
  takeConn(): Deno.Conn {
    return this.#pendingRead
      ? new PendingReadConn(this.raw, this.#pendingRead, this) as unknown as Deno.Conn
      : this.raw;
  }

  /** The bytes the pending read brought (for PendingReadConn). */
  takeLate(from: number): Uint8Array {
    return this.#buf.subarray(from, this.#end);
  }

  /**
   * The buffer `data` is a view of, for the connection to read on into; undefined while a read
   * the filters started is still in flight (PendingReadConn), or when nothing was read.
   */
  get idleReadBuffer(): Uint8Array | undefined {
    return this.#pendingRead || this.#buf === EMPTY ? undefined : this.#buf;
  }

  /** Where the pending read puts its bytes (for PendingReadConn). */
  get end(): number {
    return this.#end;
  }

  // The filters run from callbacks rather than an async function: with one read deciding
  // (the usual case), an async function's generator and promises were most of this stage's
  // cost per connection.
  /** Runs the filters from the current one; reads when one needs more bytes. */
  run(): void {
    const filters = this.manager.filters;
    try {
      while (this.#index < filters.length) {
        const f = filters[this.#index];
        if (f.disabled?.(this)) {
          this.#index++;
          continue;
        }
        if (f.filter.maxReadBytes > 0 && this.#end === this.#start) break;
        const status = f.filter.onData(this);
        if (status === CONTINUE) {
          this.#index++;
          this.scratch = undefined;
        } else if (status === CLOSE) {
          this.manager.close(this);
          return;
        } else break;
      }
      if (this.#index === filters.length) {
        this.manager.done(this);
        return;
      }
      const max = filters[this.#index].filter.maxReadBytes;
      if (this.#end - this.#start >= max) {
        // The filter saw all it may ever need and still cannot decide.
        this.manager.stats.filterError.inc();
        this.manager.close(this);
        return;
      }
      this.#makeRoom(max, filters[this.#index].filter.initialReadBytes ?? FIRST_READ);
      // The first read fills the buffer from its start: no view to make.
      const read = this.raw.read(this.#end === 0 ? this.#buf : this.#buf.subarray(this.#end));
      this.#pendingRead = read;
      read.then(this.#onRead, this.#onRead);
    } catch (e) {
      this.#failed(e);
    }
  }

  /** A read finished: the byte count, null at the peer's end of stream, or why it failed. */
  readonly #onRead = (n: number | null | Error): void => {
    if (this.#finished) {
      // Timed out while reading: the connection took over, PendingReadConn reads on.
      if (typeof n === "number") this.#end += n;
      return;
    }
    this.#pendingRead = undefined;
    if (n === null) {
      this.manager.stats.remoteClose.inc();
      this.manager.close(this);
    } else if (typeof n !== "number") this.#failed(n);
    else {
      this.#end += n;
      this.run();
    }
  };

  /** A read failed or a filter threw. */
  #failed(e: unknown): void {
    if (this.#finished) return;
    // A read error (a reset) is a listener filter error in Envoy's stats; anything else
    // thrown here is a bug of a filter.
    if (e instanceof Error && e.name.startsWith("Connection")) {
      this.manager.stats.filterError.inc();
    } else if (!(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted)) {
      reportBug("listener filter", e);
    }
    this.manager.close(this);
  }

  /** Makes room to read into: compacts drained bytes, grows up to `max` (doubling). */
  #makeRoom(max: number, first: number): void {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end < this.#buf.length) return;
    const used = this.#end - this.#start;
    const size = Math.min(Math.max(first, this.#buf.length * 2), Math.max(max, used + 1));
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(this.#start, this.#end));
    this.#buf = next;
    this.#start = 0;
    this.#end = used;
  }

  /** Leaves the listener filter stage; false if it had already left. */
  finish(): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    return true;
  }
}

/**
 * A `Deno.Conn` whose first read returns what a read started by the listener filters brings;
 * later calls go to the socket. Only used after a timeout with
 * `continue_on_listener_filters_timeout`.
 */
class PendingReadConn {
  #pending: Promise<number | null> | undefined;
  readonly #from: number;

  constructor(
    readonly raw: Deno.TcpConn,
    pending: Promise<number | null>,
    readonly s: AcceptedSocket,
  ) {
    this.#pending = pending;
    this.#from = s.end;
  }

  get remoteAddr(): Deno.Addr {
    return this.raw.remoteAddr;
  }
  get localAddr(): Deno.Addr {
    return this.raw.localAddr;
  }

  #late: Uint8Array | undefined;

  async read(p: Uint8Array): Promise<number | null> {
    if (this.#pending) {
      const n = await this.#pending.catch(() => null);
      this.#pending = undefined;
      if (n === null) return null;
      this.#late = this.s.takeLate(this.#from);
    }
    if (this.#late && this.#late.length > 0) {
      const n = Math.min(p.length, this.#late.length);
      p.set(this.#late.subarray(0, n));
      this.#late = this.#late.subarray(n);
      return n;
    }
    return this.raw.read(p);
  }
  write(p: Uint8Array): Promise<number> {
    return this.raw.write(p);
  }
  closeWrite(): Promise<void> {
    return this.raw.closeWrite();
  }
  close(): void {
    this.raw.close();
  }
  setNoDelay(on?: boolean): void {
    this.raw.setNoDelay(on);
  }
}

/**
 * Runs a listener's filters on each accepted socket, with `listener_filters_timeout` (one
 * coarse timer for all of the listener's sockets) and the listener stats of this stage.
 */
export class ListenerFilterManager {
  readonly #pending = new SlotList<AcceptedSocket>();
  readonly #timer: CoarseTimer;

  /**
   * @param timeoutMs listener_filters_timeout (0: none).
   * @param continueOnTimeout continue_on_listener_filters_timeout.
   */
  constructor(
    readonly filters: readonly ConfiguredListenerFilter[],
    readonly timeoutMs: number,
    readonly continueOnTimeout: boolean,
    readonly stats: ListenerFilterStats,
    readonly owner: ListenerFilterOwner,
  ) {
    this.#timer = new CoarseTimer(() => this.#sweep());
  }

  /** Runs the filters on a newly accepted socket. */
  accept(raw: Deno.TcpConn): void {
    this.#run(new AcceptedSocket(raw, this));
  }

  /** Runs the filters on a socket another listener handed off (`use_original_dst`). */
  adopt(prev: AcceptedSocket): void {
    const s = new AcceptedSocket(prev.raw, this);
    s.carryOver(prev);
    this.#run(s);
  }

  #run(s: AcceptedSocket): void {
    this.#pending.add(s);
    this.stats.preCxActive.inc();
    if (this.timeoutMs > 0) {
      s.deadline = monotonicNow() + this.timeoutMs;
      if (this.#timer.deadline === Infinity) this.#timer.arm(this.timeoutMs);
    }
    s.run();
  }

  /** The socket passed its filters. */
  done(s: AcceptedSocket): void {
    if (!this.#leave(s)) return;
    try {
      this.owner.onListenerFiltersDone(s);
    } catch (e) {
      reportBug("listener filters done", e);
      try {
        s.raw.close();
      } catch { /* already closed */ }
    }
  }

  /** Closes a socket still in the listener filter stage. */
  close(s: AcceptedSocket): void {
    if (!this.#leave(s)) return;
    try {
      s.raw.close();
    } catch { /* already closed */ }
    try {
      this.owner.onListenerFiltersClosed(s);
    } catch (e) {
      reportBug("listener filters closed", e);
    }
  }

  /** Closes every socket still in the listener filter stage (listener shutdown). */
  closeAll(): void {
    for (const s of this.#pending.toArray()) this.close(s);
    this.#timer.disarm();
  }

  #leave(s: AcceptedSocket): boolean {
    if (!s.finish()) return false;
    this.#pending.remove(s);
    this.stats.preCxActive.dec();
    return true;
  }

  /** Times out sockets past listener_filters_timeout; re-arms while any is left. */
  #sweep(): void {
    const now = monotonicNow();
    let next = Infinity;
    for (const s of this.#pending.toArray()) {
      if (s.deadline <= now) {
        this.stats.preCxTimeout.inc();
        if (this.continueOnTimeout) this.done(s);
        else this.close(s);
      } else if (s.deadline < next) next = s.deadline;
    }
    if (next !== Infinity) this.#timer.arm(Math.max(RESOLUTION_MS, next - now));
  }
}
