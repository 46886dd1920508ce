/**
 * The HTTP client of denvoy's gRPC client (Envoy's `envoy_grpc`): a Connect-RPC
 * `UniversalClientFn` whose requests go where the router's go — the cluster's load balancer
 * picks a host and the host's connection pool (HTTP/2, multiplexed) carries the stream — so
 * the cluster's endpoints, health, TLS, circuit breakers and stats apply to gRPC calls. The
 * request body and the response body are streams (bidirectional gRPC); the response trailers
 * fill the response's `trailer` when the body ends, as Connect's gRPC protocol expects.
 *
 * @module
 */
import type {
  UniversalClientFn,
  UniversalClientRequest,
  UniversalClientResponse,
} from "@connectrpc/connect/protocol";
import { reportBug } from "../common/error_boundary.ts";
import { HeaderMap } from "../http/header_map.ts";
import type {
  Cancellable,
  PoolFailureReason,
  UpstreamStream,
  UpstreamStreamDecoder,
} from "../http/conn_pool.ts";
import type { StreamResetReason } from "../http/codec.ts";
import type { ClusterManager } from "../upstream/cluster_manager.ts";
import type { ConnPoolManager, PoolClusterInfo } from "../upstream/conn_pool.ts";
import type { ResourceManager } from "../upstream/resource_manager.ts";

/** Where gRPC calls go: the cluster manager and this thread's pools. */
export interface ClusterHttpDeps {
  clusterManager: ClusterManager;
  pools: ConnPoolManager;
}

/** A queue of chunks read as an async iterable; `end` or `fail` finishes it. */
class ChunkQueue implements AsyncIterable<Uint8Array> {
  readonly #chunks: Uint8Array[] = [];
  #done = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  push(chunk: Uint8Array): void {
    if (this.#done) return;
    this.#chunks.push(chunk);
    this.#notify();
  }
  end(): void {
    this.#done = true;
    this.#notify();
  }
  fail(e: Error): void {
    if (this.#done) return;
    this.#error = e;
    this.#done = true;
    this.#notify();
  }
  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.#chunks.length > 0) {
        yield this.#chunks.shift()!;
        continue;
      }
      if (this.#error) throw this.#error;
      if (this.#done) return;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }
}

/** One gRPC call's HTTP/2 stream through the pool. */
class PoolCall implements UpstreamStreamDecoder {
  #stream: UpstreamStream | undefined;
  #pending: Cancellable | undefined;
  #done = false;
  readonly body = new ChunkQueue();
  readonly trailer = new Headers();
  #resolve!: (r: UniversalClientResponse) => void;
  #reject!: (e: Error) => void;
  readonly response = new Promise<UniversalClientResponse>((res, rej) => {
    this.#resolve = res;
    this.#reject = rej;
  });
  #headersSeen = false;
  #release: () => void;

  constructor(
    readonly request: UniversalClientRequest,
    readonly headers: HeaderMap,
    release: () => void,
  ) {
    this.#release = release;
    request.signal?.addEventListener("abort", () => this.#abort());
  }

  start(pending: Cancellable): void {
    this.#pending = pending;
  }

  // ---- ConnectionPoolCallbacks ----
  onPoolReady(stream: UpstreamStream): void {
    this.#pending = undefined;
    if (this.#done) {
      stream.resetStream("local_reset");
      return;
    }
    this.#stream = stream;
    const body = this.request.body;
    stream.encodeHeaders(this.headers, body === undefined);
    if (body) this.#pump(body);
  }
  onPoolFailure(reason: PoolFailureReason, transport: string): void {
    this.#pending = undefined;
    this.#fail(new Error(`upstream connect error: ${reason}${transport ? ` (${transport})` : ""}`));
  }
  onBug(error: unknown): void {
    this.#fail(error instanceof Error ? error : new Error(String(error)));
    this.#stream?.resetStream("local_reset");
  }

  // ---- the response ----
  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.#headersSeen) {
      // A second header block is the trailers (a trailers-only answer comes as one block).
      this.decodeTrailers(headers);
      return;
    }
    const status = Number(headers.get(":status") ?? 0);
    if (status >= 100 && status < 200) return;
    this.#headersSeen = true;
    const h = new Headers();
    headers.forEach((k, v) => {
      if (!k.startsWith(":")) h.append(k, v);
    });
    this.#resolve({ status, header: h, body: this.body, trailer: this.trailer });
    if (endStream) this.#finish();
  }
  decode1xxHeaders(_headers: HeaderMap): void {}
  decodeData(data: Uint8Array, endStream: boolean): void {
    if (data.length > 0) this.body.push(data.slice());
    if (endStream) this.#finish();
  }
  decodeTrailers(trailers: HeaderMap): void {
    trailers.forEach((k, v) => this.trailer.append(k, v));
    this.#finish();
  }
  onResetStream(reason: StreamResetReason, details: string): void {
    this.#fail(new Error(`upstream reset: ${reason}${details ? ` (${details})` : ""}`));
  }
  onBelowWriteBufferLowWatermark(): void {
    const w = this.#writable;
    this.#writable = undefined;
    w?.();
  }
  #writable: (() => void) | undefined;

  async #pump(body: AsyncIterable<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of body) {
        const s = this.#stream;
        if (this.#done || !s) return;
        s.encodeData(chunk, false);
        if (s.aboveHighWatermark) await new Promise<void>((r) => (this.#writable = r));
      }
      if (!this.#done) this.#stream?.encodeData(new Uint8Array(0), true);
    } catch (e) {
      this.#fail(e instanceof Error ? e : new Error(String(e)));
      this.#stream?.resetStream("local_reset");
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.body.end();
    this.#release();
    // A stream whose request side is still open is over once the answer ended.
    if (this.#stream) this.#stream.resetStream("local_reset");
  }

  #fail(e: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#reject(e);
    this.body.fail(e);
    this.#release();
    const w = this.#writable;
    this.#writable = undefined;
    w?.();
  }

  #abort(): void {
    if (this.#done) return;
    this.#pending?.cancel();
    this.#pending = undefined;
    const s = this.#stream;
    this.#fail(new Error("aborted"));
    s?.resetStream("local_reset");
  }
}

/** Where one call goes: the pool's cluster settings and a host (with its load accounting). */
export interface GrpcTarget {
  /** The settings the pool connects with. */
  readonly info: PoolClusterInfo;
  /** The cluster's DEFAULT priority circuit breakers (counts its connection pools). */
  readonly resources?: ResourceManager;
  /** A host for the next call, or why there is none. */
  pick(): { address: string; port: number; done(): void } | string;
}

/** The target of cluster `clusterName` (`envoy_grpc`): its load balancer picks the host. */
export function clusterTarget(
  deps: ClusterHttpDeps,
  clusterName: string,
): () => GrpcTarget | string {
  return () => {
    const cluster = deps.clusterManager.get(clusterName);
    if (!cluster) return `unknown cluster '${clusterName}'`;
    return {
      info: cluster.info,
      resources: cluster.resources.forPriority(0),
      pick: () => {
        const lb = deps.clusterManager.loadBalancer(clusterName);
        const host = lb?.chooseHost();
        if (!lb || !host) return `no healthy upstream in cluster '${clusterName}'`;
        lb.requestStarted(host);
        return { address: host.address, port: host.port, done: () => lb.requestFinished(host) };
      },
    };
  };
}

/**
 * The Connect HTTP client of a target (`envoy_grpc`: a cluster; `google_grpc`: its
 * `target_uri`); `authority` is the `:authority` sent (Envoy's envoy_grpc default: the cluster
 * name). A call with no host fails like a connect failure.
 */
export function poolHttpClient(
  pools: ConnPoolManager,
  target: () => GrpcTarget | string,
  authority: string,
): UniversalClientFn {
  return (request) => {
    const t = target();
    const host = typeof t === "string" ? t : t.pick();
    if (typeof host === "string") return Promise.reject(new Error(host));
    const url = new URL(request.url);
    const headers = new HeaderMap();
    headers.add(":method", request.method);
    // gRPC clients ask for http:// (the cluster decides on TLS); JWKS URIs may say https.
    headers.add(":scheme", url.protocol === "https:" ? "https" : "http");
    headers.add(":authority", authority);
    headers.add(":path", url.pathname + url.search);
    request.header.forEach((v, k) => headers.add(k, v));
    let released = false;
    const call = new PoolCall(request, headers, () => {
      if (released) return;
      released = true;
      host.done();
    });
    // The pool of an HTTP/2 cluster (use_downstream_protocol_config: as for HTTP/2 clients).
    const tgt = t as GrpcTarget;
    const pool = pools.pool(
      tgt.info,
      host.address,
      host.port,
      "HTTP/2",
      undefined,
      undefined,
      tgt.resources,
    );
    if (pool === undefined) {
      // max_connection_pools left no room (counted by the pools): no healthy upstream.
      call.onBug(new Error(`no healthy upstream in cluster '${tgt.info.name}'`));
      return call.response;
    }
    try {
      call.start(pool.newStream(call, call));
    } catch (e) {
      reportBug("gRPC client newStream", e);
      call.onBug(e);
    }
    return call.response;
  };
}

/** The Connect HTTP client of cluster `clusterName` (`envoy_grpc`). */
export function clusterHttpClient(
  deps: ClusterHttpDeps,
  clusterName: string,
  authority = clusterName,
): UniversalClientFn {
  return poolHttpClient(deps.pools, clusterTarget(deps, clusterName), authority);
}
