/**
 * Envoy's `TcpStatsdSink` (`envoy.stat_sinks.statsd` with `tcp_cluster_name`): newline-ended
 * statsd lines with full stat names over one TCP connection per isolate to a host of a static
 * cluster. Like Envoy it connects on the first write (and again after the connection closes),
 * drops what it cannot send when the cluster has no host or the connect fails, and when more
 * than 16 MiB wait to be written it closes the connection, drops the data and counts
 * `statsd.cx_overflow`.
 */
import { applyConnectionOptions } from "../../../../network/socket_options.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { StoreSnapshot } from "../../../../stats/snapshot.ts";
import type { SinkHistogram, StatsSink } from "../../../../stats/sink.ts";
import type { ClusterStats } from "../../../../stats/data_path_stats.ts";
import type { ClusterManager } from "../../../../upstream/cluster_manager.ts";
import {
  connectionAddresses,
  upstreamProxyProtocolHeader,
} from "../../../transport_sockets/proxy_protocol/upstream_proxy_protocol.ts";
import { DEFAULT_PREFIX, formatInteger, histogramValue } from "./statsd_format.ts";

/** Envoy's `MAX_BUFFERED_STATS_BYTES`: beyond this the connection is considered backed up. */
export const MAX_BUFFERED_STATS_BYTES = 16 * 1024 * 1024;

/** Writes statsd text somewhere; a test double records it instead. */
export interface StreamWriter {
  write(text: string): void;
  close(): Promise<void>;
}

/** A TCP statsd sink. */
export class TcpStatsdSink implements StatsSink {
  readonly prefix: string;
  readonly #writer: StreamWriter;

  /** `prefix` "" means Envoy's default, `envoy`. */
  constructor(prefix: string, writer: StreamWriter) {
    this.prefix = prefix || DEFAULT_PREFIX;
    this.#writer = writer;
  }

  flush(snapshot: StoreSnapshot): void {
    const lines: string[] = [];
    const p = this.prefix;
    for (const c of snapshot.counters) {
      if (c.used) lines.push(`${p}.${c.name}:${formatInteger(c.delta)}|c\n`);
    }
    for (const g of snapshot.gauges) {
      if (g.used) lines.push(`${p}.${g.name}:${formatInteger(g.value)}|g\n`);
    }
    if (lines.length > 0) this.#writer.write(lines.join(""));
  }

  onHistogramComplete(histogram: SinkHistogram, value: number): void {
    const v = histogramValue(histogram.unit, value);
    this.#writer.write(`${this.prefix}.${histogram.name}:${v.value}${v.type}\n`);
  }

  close(): Promise<void> {
    return this.#writer.close();
  }
}

/** What a cluster connection needs from the isolate. */
export interface ClusterWriterDeps {
  clusterManager: ClusterManager;
  cluster: string;
  /** The cluster's `upstream_cx_total` and `upstream_cx_connect_fail`. */
  clusterStats: Pick<ClusterStats, "cxTotal" | "cxConnectFail">;
  /** `statsd.cx_overflow`. */
  cxOverflow: Counter;
  /** Limit of bytes waiting to be written (default `MAX_BUFFERED_STATS_BYTES`). */
  maxBufferedBytes?: number;
}

/** One TCP connection to a host of the cluster, opened on demand. */
export class ClusterStreamWriter implements StreamWriter {
  readonly #deps: ClusterWriterDeps;
  readonly #maxBuffered: number;
  readonly #encoder = new TextEncoder();
  #conn: Deno.TcpConn | undefined;
  #connecting: Promise<void> | undefined;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #pumping: Promise<void> | undefined;
  #closed = false;

  constructor(deps: ClusterWriterDeps) {
    this.#deps = deps;
    this.#maxBuffered = deps.maxBufferedBytes ?? MAX_BUFFERED_STATS_BYTES;
  }

  write(text: string): void {
    if (this.#closed) return;
    if (this.#queuedBytes > this.#maxBuffered) {
      // The collector does not keep up: start over rather than grow without bound.
      this.#reset();
      this.#deps.cxOverflow.inc();
      return;
    }
    if (this.#conn === undefined && this.#connecting === undefined && !this.#connect()) return;
    const bytes = this.#encoder.encode(text);
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    if (this.#conn !== undefined) this.#pump();
  }

  /** Writes what is queued (bounded by the cluster's connect timeout), then closes. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#connecting !== undefined || this.#pumping !== undefined) {
      const cluster = this.#deps.clusterManager.get(this.#deps.cluster);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const written = (async () => {
        await this.#connecting;
        await this.#pumping;
      })();
      await Promise.race([
        written,
        new Promise<void>((r) => timer = setTimeout(r, cluster?.info.connectTimeoutMs ?? 1000)),
      ]);
      clearTimeout(timer);
    }
    this.#reset();
  }

  /** Starts connecting to a host the load balancer picks; false when there is none. */
  #connect(): boolean {
    const { clusterManager, cluster: name, clusterStats } = this.#deps;
    const cluster = clusterManager.get(name);
    const host = clusterManager.loadBalancer(name)?.chooseHost();
    if (cluster === undefined || host == null) return false;
    clusterStats.cxTotal.inc();
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const connected = Deno.connect({ hostname: host.address, port: host.port }).then((conn) => {
      clearTimeout(timer);
      if (timedOut) {
        conn.close();
        return;
      }
      this.#connecting = undefined;
      if (cluster.info.tcpKeepalive) conn.setKeepAlive(true);
      const opts = cluster.info.upstreamSocketOptions;
      if (opts) applyConnectionOptions(conn, opts);
      // When closing, the connection still takes what close() waits to see written.
      this.#conn = conn;
      this.#watchClose(conn);
      // A cluster with upstream_proxy_protocol: its PROXY header (no downstream) goes first.
      const pp = cluster.info.upstreamProxyProtocol;
      if (pp) {
        const header = upstreamProxyProtocolHeader(pp, undefined, connectionAddresses(conn));
        writeAll(conn, header).then(() => this.#pump(), () => {});
      } else this.#pump();
    }, () => {
      clearTimeout(timer);
      if (!timedOut) this.#connectFailed();
    });
    this.#connecting = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        this.#connectFailed();
        resolve();
      }, cluster.info.connectTimeoutMs);
      connected.then(resolve);
    });
    return true;
  }

  #connectFailed(): void {
    this.#deps.clusterStats.cxConnectFail.inc();
    this.#connecting = undefined;
    this.#queue = [];
    this.#queuedBytes = 0;
  }

  /** Statsd servers send nothing; reading only tells when the server closes the connection. */
  async #watchClose(conn: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(512);
    try {
      while ((await conn.read(buf)) !== null) { /* discard */ }
    } catch { /* reset or closed by us */ }
    if (this.#conn === conn) this.#reset();
  }

  #pump(): void {
    if (this.#pumping !== undefined) return;
    const conn = this.#conn!;
    this.#pumping = (async () => {
      try {
        while (this.#queue.length > 0 && this.#conn === conn) {
          const queue = this.#queue;
          const chunk = queue[0];
          for (let off = 0; off < chunk.length;) off += await conn.write(chunk.subarray(off));
          // A reset while writing replaced the queue: nothing of the new one was written.
          if (this.#queue !== queue) break;
          queue.shift();
          this.#queuedBytes -= chunk.length;
        }
      } catch {
        if (this.#conn === conn) this.#reset();
      } finally {
        this.#pumping = undefined;
      }
      // Data queued for a new connection while this pump wound down.
      if (this.#conn !== undefined && this.#queue.length > 0) this.#pump();
    })();
  }

  /** Closes the connection and drops what was queued (Envoy's close with `NoFlush`). */
  #reset(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (conn !== undefined) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }
}

/** Writes all of `data` (a socket may take part of it). */
async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}
