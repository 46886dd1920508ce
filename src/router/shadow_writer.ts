/**
 * Request mirroring (`request_mirror_policies`): Envoy's shadow writer. A mirrored request is a
 * fire-and-forget copy of the downstream request (headers as the router finalized them, body,
 * trailers) sent to the mirror cluster with `-shadow` appended to its host. It streams alongside
 * the main request, as Envoy does since 1.33 (`envoy.reloadable_features.streaming_shadow`), is
 * charged to the mirror cluster's `upstream_rq_*` stats, and its response is discarded. It never
 * delays or fails the main request: where Envoy would push the shadow's back-pressure onto the
 * downstream, the shadow is abandoned instead (`retry_or_shadow_abandoned`).
 */
import { CoarseTimer } from "../common/coarse_timer.ts";
import type { ServerContext } from "../config/extensions.ts";
import type { HeaderMap } from "../http/header_map.ts";
import type { RouteAction_RequestMirrorPolicy } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { ClusterStats } from "../stats/data_path_stats.ts";
import type {
  Cancellable,
  ConnectionPoolCallbacks,
  PoolFailureReason,
  UpstreamFailure,
  UpstreamStream,
  UpstreamStreamDecoder,
} from "../http/conn_pool.ts";
import type { StreamResetReason } from "../http/codec.ts";
import type { HostDescription } from "../upstream/host.ts";
import type { HostStats } from "../upstream/host_stats.ts";
import type { LoadBalancer } from "../upstream/load_balancer.ts";
import { runtimeSnapshot } from "../runtime/runtime.ts";
import type { FractionalPercent } from "../runtime/snapshot.ts";

/** FractionalPercent.DenominatorType values, in enum order. */
const DENOMINATORS = [100, 10_000, 1_000_000];
/** Without `runtime_fraction` every request is mirrored (Envoy's default of 100%). */
const ALWAYS: FractionalPercent = { numerator: 100, denominator: 100 };
const EMPTY = new Uint8Array(0);
const EXPECTED_TIMEOUT = "x-envoy-expected-rq-timeout-ms";

/** One compiled `RequestMirrorPolicy`. */
export interface MirrorPolicy {
  /** `cluster`; empty when the cluster comes from `clusterHeader`. */
  readonly cluster: string;
  /** `cluster_header`, lower case. */
  readonly clusterHeader: string;
  readonly runtimeKey: string;
  readonly defaultValue: FractionalPercent;
  readonly disableShadowHostSuffixAppend: boolean;
}

/**
 * Envoy's ShadowPolicyImpl checks: exactly one of `cluster` and `cluster_header`, and a named
 * cluster that exists (when clusters are validated). Throws with `field` in the message.
 */
export function validateMirrorPolicies(
  policies: readonly RouteAction_RequestMirrorPolicy[],
  field: string,
  clusterExists: ((name: string) => boolean) | undefined,
): void {
  policies.forEach((m, i) => {
    const f = `${field ? field + "." : ""}request_mirror_policies[${i}]`;
    if (m.cluster !== "" && m.clusterHeader !== "") {
      throw new Error(
        `${f}: Only one of cluster '${m.cluster}' or cluster_header '${m.clusterHeader}' in ` +
          "request mirror policy can be specified",
      );
    }
    if (m.cluster === "" && m.clusterHeader === "") {
      throw new Error(
        `${f}: Exactly one of cluster or cluster_header in request mirror policy need to be ` +
          "specified",
      );
    }
    if (m.cluster !== "" && clusterExists && !clusterExists(m.cluster)) {
      throw new Error(`${f}.cluster: unknown shadow cluster '${m.cluster}'`);
    }
  });
}

const compiled = new WeakMap<readonly RouteAction_RequestMirrorPolicy[], MirrorPolicy[]>();

/** The compiled form of a route's policies (compiled once per policy list). */
export function mirrorPolicies(
  policies: readonly RouteAction_RequestMirrorPolicy[],
): readonly MirrorPolicy[] {
  let c = compiled.get(policies);
  if (!c) {
    c = policies.map((m) => ({
      cluster: m.cluster,
      clusterHeader: m.clusterHeader.toLowerCase(),
      runtimeKey: m.runtimeFraction?.runtimeKey ?? "",
      defaultValue: m.runtimeFraction
        ? {
          numerator: m.runtimeFraction.defaultValue?.numerator ?? 0,
          denominator: DENOMINATORS[m.runtimeFraction.defaultValue?.denominator ?? 0] ?? 100,
        }
        : ALWAYS,
      disableShadowHostSuffixAppend: m.disableShadowHostSuffixAppend,
    }));
    compiled.set(policies, c);
  }
  return c;
}

/**
 * Envoy's shadow host: `-shadow` goes before the port (`a.com:8080` -> `a.com-shadow:8080`),
 * the port being what follows the last `:` outside an IPv6 literal's brackets.
 */
export function shadowHost(host: string): string {
  const colon = host.lastIndexOf(":");
  if (colon < 0 || host.lastIndexOf("]") > colon) return host + "-shadow";
  return `${host.slice(0, colon)}-shadow${host.slice(colon)}`;
}

let localAddress: string | undefined;

/**
 * Envoy's local_info address, which an async client appends to x-forwarded-for: the first
 * non-loopback IPv4 address of the machine, else the loopback one.
 */
export function localInfoAddress(): string {
  if (localAddress !== undefined) return localAddress;
  localAddress = "127.0.0.1";
  try {
    for (const i of Deno.networkInterfaces()) {
      if (i.family === "IPv4" && !i.address.startsWith("127.")) {
        localAddress = i.address;
        break;
      }
    }
  } catch {
    // Without --allow-sys the interfaces are unknown: loopback, as Envoy's fallback.
  }
  return localAddress;
}

/** Statuses charged when a shadow's upstream fails, as the router's local replies. */
const FAILURE_STATUS: Record<UpstreamFailure, number> = {
  connection_failure: 503,
  connection_timeout: 503,
  connection_termination: 503,
  protocol_error: 502,
  local_reset: 503,
  remote_reset: 503,
  remote_refused_stream_reset: 503,
  overflow: 503,
};

/**
 * Starts the shadows of a request whose route has mirror policies: for each policy that the
 * runtime fraction selects and that names an existing cluster. `headers` are the finalized
 * request headers (each shadow takes its own copy). Returns the shadows still waiting for
 * request body or trailers, or undefined when none.
 */
export function startShadows(
  server: ServerContext,
  policies: readonly MirrorPolicy[],
  headers: HeaderMap,
  endStream: boolean,
  timeoutMs: number,
  bufferLimit: number,
): ShadowStream[] | undefined {
  // Envoy does not mirror CONNECT.
  if (headers.get(":method") === "CONNECT") return undefined;
  let open: ShadowStream[] | undefined;
  for (const p of policies) {
    const random = (Math.random() * 0x100000000) >>> 0;
    if (!runtimeSnapshot().featureEnabled(p.runtimeKey, p.defaultValue, random)) continue;
    const name = p.cluster !== "" ? p.cluster : headers.get(p.clusterHeader);
    if (!name) continue;
    const cluster = server.clusterManager.get(name);
    // The cluster may have gone (CDS): Envoy skips the shadow.
    if (!cluster) continue;
    const h = headers.clone();
    if (!p.disableShadowHostSuffixAppend) {
      h.set(":authority", shadowHost(h.get(":authority") ?? ""));
    }
    // What Envoy's async client adds to every request it sends.
    h.set("x-envoy-internal", "true");
    h.append("x-forwarded-for", localInfoAddress(), ",");
    // The shadow's own router announces its timeout, the route's (not a per-try one).
    if (timeoutMs > 0 && h.has(EXPECTED_TIMEOUT)) h.set(EXPECTED_TIMEOUT, String(timeoutMs));
    const s = new ShadowStream(
      server,
      cluster.info.name,
      server.clusterStats.get(cluster.info.statName),
      h,
      endStream,
      timeoutMs,
      bufferLimit,
    );
    if (!endStream && !s.done) (open ??= []).push(s);
  }
  return open;
}

/** One mirrored request: the router's copy of the request goes out, the response is dropped. */
export class ShadowStream implements UpstreamStreamDecoder, ConnectionPoolCallbacks {
  done = false;
  #stats: ClusterStats;
  #lb: LoadBalancer | undefined;
  #host: HostDescription | undefined;
  #hostStats: HostStats | undefined;
  #pending: Cancellable | undefined;
  #upstream: UpstreamStream | undefined;
  #headers: HeaderMap;
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #heldTrailers: HeaderMap | undefined;
  #requestEnded: boolean;
  #timer: CoarseTimer | undefined;
  #startMs = performance.now();

  constructor(
    server: ServerContext,
    clusterName: string,
    stats: ClusterStats,
    headers: HeaderMap,
    endStream: boolean,
    readonly timeoutMs: number,
    readonly bufferLimit: number,
  ) {
    this.#stats = stats;
    this.#headers = headers;
    this.#requestEnded = endStream;
    const cluster = server.clusterManager.get(clusterName)!;
    const info = cluster.info;
    const lb = server.clusterManager.loadBalancer(clusterName);
    const host = lb?.chooseHost(info.originalDst ? { downstreamHeaders: headers } : undefined);
    // A shadow goes at the DEFAULT priority, as Envoy's async client requests do.
    const pool = host && server.pools.pool(
      info,
      host.address,
      host.port,
      undefined,
      host.metadata,
      undefined,
      cluster.resources.forPriority(0),
    );
    if (!lb || !host || !pool) {
      // The shadow's own router answers 503 no healthy upstream (no host, or no pool:
      // max_connection_pools, counted by the pools).
      if (!host) stats.cxNoneHealthy.inc();
      stats.chargeCode(503, true);
      this.done = true;
      return;
    }
    lb.requestStarted(host);
    this.#lb = lb;
    this.#host = host;
    this.#hostStats = pool.stats;
    if (endStream) this.#armTimer();
    this.#pending = pool.newStream(this, this);
  }

  /** More request body from downstream. */
  encodeData(data: Uint8Array, endStream: boolean): void {
    if (this.done) return;
    if (endStream) {
      this.#requestEnded = true;
      this.#armTimer();
    }
    const up = this.#upstream;
    if (up) {
      // A shadow that cannot keep up is given up rather than slowing the client.
      if (up.aboveHighWatermark) return this.#abandon();
      up.encodeData(data, endStream);
      return;
    }
    this.#heldBytes += data.length;
    if (this.#heldBytes > this.bufferLimit) return this.#abandon();
    this.#held.push(data);
  }

  /** The request's trailers (end of the request). */
  encodeTrailers(trailers: HeaderMap): void {
    if (this.done) return;
    this.#requestEnded = true;
    this.#armTimer();
    const t = trailers.clone();
    if (this.#upstream) this.#upstream.encodeTrailers(t);
    else this.#heldTrailers = t;
  }

  /** The main request ended before its request did (Envoy cancels unfinished shadows). */
  cancel(): void {
    if (!this.done && !this.#requestEnded) this.#finish(true);
  }

  onPoolReady(stream: UpstreamStream): void {
    this.#pending = undefined;
    if (this.done) {
      stream.resetStream("local_reset");
      return;
    }
    this.#upstream = stream;
    const held = this.#held;
    const trailers = this.#heldTrailers;
    const bodyLess = this.#requestEnded && held.length === 0 && !trailers;
    stream.encodeHeaders(this.#headers, bodyLess);
    if (bodyLess) return;
    this.#held = [];
    for (let i = 0; i < held.length; i++) {
      stream.encodeData(held[i], this.#requestEnded && i === held.length - 1 && !trailers);
    }
    if (held.length === 0 && this.#requestEnded && !trailers) stream.encodeData(EMPTY, true);
    if (trailers) stream.encodeTrailers(trailers);
  }

  onPoolFailure(reason: PoolFailureReason, _transportFailureReason: string): void {
    this.#failed(reason);
  }

  onResetStream(reason: StreamResetReason, _details: string): void {
    this.#failed(reason);
  }

  /** The shadow's upstream request failed: charged as its router would answer it. */
  #failed(reason: UpstreamFailure): void {
    if (this.done) return;
    this.#pending = undefined;
    this.#upstream = undefined;
    this.#stats.chargeCode(FAILURE_STATUS[reason], true);
    if (this.#hostStats) this.#hostStats.rq_error++;
    this.#finish(false);
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.done) return;
    const status = Number(headers.get(":status"));
    if (status < 200 && status !== 101) return;
    this.#stats.chargeCode(status, true);
    this.#stats.responseTime(performance.now() - this.#startMs, true);
    if (this.#hostStats) {
      if (status >= 500) this.#hostStats.rq_error++;
      else this.#hostStats.rq_success++;
    }
    if (endStream) this.#finish(false);
  }

  decodeData(_data: Uint8Array, endStream: boolean): void {
    if (endStream) this.#finish(false);
  }

  decodeTrailers(_trailers: HeaderMap): void {
    this.#finish(false);
  }

  /** A shadow does not wait for the upstream to drain: one that cannot keep up is abandoned. */
  onBelowWriteBufferLowWatermark(): void {}

  /** BugScope: an exception in this shadow's callbacks ends the shadow only. */
  onBug(_error: unknown): void {
    this.#finish(true);
  }

  /** The body outgrew what may be held for the shadow: Envoy's retry_or_shadow_abandoned. */
  #abandon(): void {
    this.#stats.retryOrShadowAbandoned.inc();
    this.#finish(true);
  }

  #armTimer(): void {
    if (this.timeoutMs <= 0 || this.#timer || this.done) return;
    this.#timer = new CoarseTimer(() => {
      if (this.done) return;
      this.#stats.rqTimeout.inc();
      this.#stats.chargeCode(504, true);
      if (this.#hostStats) {
        this.#hostStats.rq_timeout++;
        this.#hostStats.rq_error++;
      }
      this.#finish(true);
    }, this);
    this.#timer.arm(this.timeoutMs);
  }

  #finish(reset: boolean): void {
    if (this.done) return;
    this.done = true;
    this.#timer?.disarm();
    this.#held = [];
    this.#heldTrailers = undefined;
    // A response that ended before the request did leaves the stream on its connection.
    if (reset || !this.#requestEnded) {
      this.#pending?.cancel();
      this.#upstream?.resetStream("local_reset");
    }
    this.#pending = undefined;
    this.#upstream = undefined;
    if (this.#host) this.#lb!.requestFinished(this.#host);
  }
}
