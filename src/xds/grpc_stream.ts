/**
 * gRPC xDS streams (Envoy's GrpcStream with GrpcMuxImpl / NewGrpcMuxImpl): one bidirectional
 * stream to the control plane carries the requests the multiplexer (sotw_mux.ts or
 * delta_mux.ts) decides and feeds it the responses. The stream opens when the first watch is
 * added; when it closes or fails it is opened again after a jittered exponential backoff
 * (Envoy's defaults: 500 ms doubling up to 30 s, reset once a response arrives), and every
 * type is requested again. With `rate_limit_settings`, requests beyond the token bucket wait
 * for a token. Stats under `control_plane.`: `connected_state`, `rate_limit_enforced`,
 * `pending_requests`.
 *
 * @module
 */
import { create, fromJson, type JsonObject } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { Node } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { AggregatedDiscoveryService } from "../../proto/gen/envoy/service/discovery/v3/ads_pb.ts";
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { durationMs } from "../common/duration.ts";
import { reportBug } from "../common/error_boundary.ts";
import { getLogger } from "../common/logger.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { Counter, Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import type { DecodeContext } from "./decode.ts";
import { DeltaMux, type DeltaMuxRequest } from "./delta_mux.ts";
import type { TokenBucket } from "./rate_limit.ts";
import { type MuxRequest, SotwMux } from "./sotw_mux.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const deltaDiscoveryRequestSchema = () =>
  messageSchema<DeltaDiscoveryRequest>("envoy.service.discovery.v3.DeltaDiscoveryRequest");
const discoveryRequestSchema = () =>
  messageSchema<DiscoveryRequest>("envoy.service.discovery.v3.DiscoveryRequest");
const nodeSchema = () => messageSchema<Node>("envoy.config.core.v3.Node");

const log = getLogger("config");

/** Envoy's retry backoff of xDS gRPC streams (when `retry_policy` is unset). */
export const RETRY_INITIAL_DELAY_MS = 500;
export const RETRY_MAX_DELAY_MS = 30_000;

/** Envoy's JitteredExponentialBackOffStrategy: uniform in [0, base), base doubling to max. */
export class JitteredBackoff {
  #next: number;
  constructor(
    readonly baseMs = RETRY_INITIAL_DELAY_MS,
    readonly maxMs = RETRY_MAX_DELAY_MS,
    readonly random: () => number = Math.random,
  ) {
    this.#next = baseMs;
  }
  /** The next delay. */
  nextMs(): number {
    const backoff = this.#next;
    this.#next = backoff < this.maxMs / 2 ? backoff * 2 : this.maxMs;
    return Math.min(Math.floor(this.random() * backoff), this.maxMs);
  }
  /** Back to the base interval (the stream works again). */
  reset(): void {
    this.#next = this.baseMs;
  }
}

/** Envoy's `control_plane.*` stats of a gRPC mux. */
export class ControlPlaneStats {
  readonly connectedState: Gauge;
  readonly rateLimitEnforced: Counter;
  readonly pendingRequests: Gauge;
  constructor(store: Scope) {
    const s = store.scope("control_plane");
    this.connectedState = s.gauge("connected_state", "NeverImport");
    this.rateLimitEnforced = s.counter("rate_limit_enforced");
    this.pendingRequests = s.gauge("pending_requests", "Accumulate");
  }
}

/** Requests waiting to be written, read by the call as an async iterable. */
class RequestQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #closed = false;
  #wake: (() => void) | undefined;
  push(item: T): void {
    if (this.#closed) return;
    this.#items.push(item);
    this.#notify();
  }
  close(): void {
    this.#closed = true;
    this.#notify();
  }
  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.#items.length > 0) {
        yield this.#items.shift()!;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }
}

/** Opens one call of the stream's method: requests in, responses out. */
export type OpenCall<Req, Res> = (
  requests: AsyncIterable<Req>,
  signal: AbortSignal,
) => AsyncIterable<Res>;

/** What a stream reports to its multiplexer. */
interface StreamCallbacks<Res> {
  onStreamEstablished(): void;
  onResponse(response: Res): void;
  /** The stream failed or closed (every watch learns of it). */
  onEstablishmentFailure(detail: string): void;
}

/** The reconnecting gRPC stream (Envoy's GrpcStream). */
class GrpcStream<Req, Res> {
  #queue: RequestQueue<Req> | undefined;
  #abort: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #started = false;
  /** Requests the rate limit holds back, oldest first, and the timer that sends them. */
  #held: Req[] = [];
  #drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly name: string,
    readonly open: OpenCall<Req, Res>,
    readonly callbacks: StreamCallbacks<Res>,
    readonly stats: ControlPlaneStats,
    readonly backoff: JitteredBackoff,
    /** `rate_limit_settings`: undefined sends every request at once. */
    readonly limiter?: TokenBucket,
  ) {}

  /** Whether a call is open (requests sent now are written). */
  get open_(): boolean {
    return this.#queue !== undefined;
  }

  /** Opens the stream unless it is open or waiting to reopen. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#establish();
  }

  send(request: Req): void {
    if (!this.#queue) return;
    if (!this.limiter) {
      this.#queue.push(request);
      return;
    }
    this.#held.push(request);
    this.#drain();
  }

  /** Writes the held requests the bucket allows; the rest wait for a token (drainRequests). */
  #drain(): void {
    const queue = this.#queue;
    if (!queue) return;
    while (this.#held.length > 0) {
      if (!this.limiter!.consume()) {
        this.stats.rateLimitEnforced.inc();
        this.#drainTimer ??= setTimeout(() => {
          this.#drainTimer = undefined;
          this.#drain();
        }, this.limiter!.nextTokenMs());
        break;
      }
      queue.push(this.#held.shift()!);
    }
    this.stats.pendingRequests.set(this.#held.length);
  }

  /** The stream closed: held requests go (every type is requested again on reconnection). */
  #dropHeld(): void {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    if (this.#held.length === 0) return;
    this.#held = [];
    this.stats.pendingRequests.set(0);
  }

  stop(): void {
    this.#stopped = true;
    this.#dropHeld();
    clearTimeout(this.#timer);
    this.#queue?.close();
    this.#abort?.abort();
    this.#queue = undefined;
    this.stats.connectedState.set(0);
  }

  #establish(): void {
    if (this.#stopped) return;
    const queue = new RequestQueue<Req>();
    const abort = new AbortController();
    this.#queue = queue;
    this.#abort = abort;
    let responses: AsyncIterable<Res>;
    try {
      responses = this.open(queue, abort.signal);
    } catch (e) {
      this.#closed(queue, (e as Error).message);
      return;
    }
    this.stats.connectedState.set(1);
    try {
      this.callbacks.onStreamEstablished();
    } catch (e) {
      reportBug(`${this.name} stream established`, e);
    }
    this.#read(queue, responses);
  }

  async #read(queue: RequestQueue<Req>, responses: AsyncIterable<Res>): Promise<void> {
    let detail = "stream closed by the control plane";
    try {
      for await (const r of responses) {
        if (this.#queue !== queue) return;
        this.backoff.reset();
        try {
          this.callbacks.onResponse(r);
        } catch (e) {
          reportBug(`${this.name} response`, e);
        }
      }
    } catch (e) {
      detail = (e as Error).message;
    }
    this.#closed(queue, detail);
  }

  #closed(queue: RequestQueue<Req>, detail: string): void {
    if (this.#queue !== queue || this.#stopped) return;
    queue.close();
    this.#abort?.abort();
    this.#queue = undefined;
    this.#dropHeld();
    this.stats.connectedState.set(0);
    log.warn(`${this.name} gRPC config stream closed: ${detail}`);
    try {
      this.callbacks.onEstablishmentFailure(detail);
    } catch (e) {
      reportBug(`${this.name} stream failure`, e);
    }
    this.#timer = setTimeout(() => this.#establish(), this.backoff.nextMs());
  }
}

/** What a gRPC subscription hears of its stream besides updates. */
export interface StreamListener {
  /** The stream failed: a connection failure of the subscription. */
  onStreamFailure(detail: string): void;
}

/** The node as a proto message (converted once). */
function nodeMessage(node: JsonObject): Node {
  return fromJson(nodeSchema(), node, { registry: apiRegistry(), ignoreUnknownFields: true });
}

/** A state-of-the-world gRPC xDS stream (ADS, or one type's own service). */
export class SotwGrpcStream {
  readonly mux: SotwMux;
  readonly #stream: GrpcStream<DiscoveryRequest, DiscoveryResponse>;
  readonly listeners = new Set<StreamListener>();

  constructor(
    name: string,
    open: OpenCall<DiscoveryRequest, DiscoveryResponse>,
    decode: DecodeContext,
    node: JsonObject,
    /** `set_node_on_first_message_only`: else every request carries the node, as Envoy. */
    nodeOnFirstOnly: boolean,
    stats: ControlPlaneStats,
    backoff = new JitteredBackoff(),
    limiter?: TokenBucket,
  ) {
    const nodeMsg = nodeMessage(node);
    this.#stream = new GrpcStream(
      name,
      open,
      {
        onStreamEstablished: () => this.mux.onStreamEstablished(),
        onResponse: (r) =>
          this.mux.onResponse({
            typeUrl: r.typeUrl,
            versionInfo: r.versionInfo,
            nonce: r.nonce,
            resources: r.resources,
          }),
        onEstablishmentFailure: (d) => {
          for (const l of this.listeners) l.onStreamFailure(d);
        },
      },
      stats,
      backoff,
      limiter,
    );
    this.mux = new SotwMux(
      (req: MuxRequest) => {
        if (!this.#stream.open_) return; // said again once the stream is established
        this.#stream.send(create(discoveryRequestSchema(), {
          versionInfo: req.versionInfo,
          resourceNames: req.resourceNames,
          typeUrl: req.typeUrl,
          responseNonce: req.responseNonce,
          ...(req.node || !nodeOnFirstOnly ? { node: nodeMsg } : {}),
          ...(req.errorDetail ? { errorDetail: req.errorDetail } : {}),
        }));
      },
      decode,
      node,
    );
  }

  /** Opens the stream (once; later calls do nothing). */
  start(): void {
    this.#stream.start();
  }

  stop(): void {
    this.#stream.stop();
    this.mux.stop();
  }
}

/** An incremental (delta) gRPC xDS stream. */
export class DeltaGrpcStream {
  readonly mux: DeltaMux;
  readonly #stream: GrpcStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
  readonly listeners = new Set<StreamListener>();

  constructor(
    name: string,
    open: OpenCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse>,
    decode: DecodeContext,
    node: JsonObject,
    stats: ControlPlaneStats,
    backoff = new JitteredBackoff(),
    limiter?: TokenBucket,
  ) {
    const nodeMsg = nodeMessage(node);
    this.#stream = new GrpcStream(
      name,
      open,
      {
        onStreamEstablished: () => this.mux.onStreamEstablished(),
        onResponse: (r) =>
          this.mux.onResponse({
            typeUrl: r.typeUrl,
            systemVersionInfo: r.systemVersionInfo,
            nonce: r.nonce,
            resources: r.resources.map((x) => ({
              name: x.name,
              version: x.version,
              ...(x.resource ? { resource: x.resource } : {}),
              ...(x.ttl ? { ttlMs: durationMs(x.ttl, 0) } : {}),
            })),
            removedResources: r.removedResources,
          }),
        onEstablishmentFailure: (d) => {
          for (const l of this.listeners) l.onStreamFailure(d);
        },
      },
      stats,
      backoff,
      limiter,
    );
    this.mux = new DeltaMux(
      (req: DeltaMuxRequest) => {
        if (!this.#stream.open_) return;
        this.#stream.send(create(deltaDiscoveryRequestSchema(), {
          typeUrl: req.typeUrl,
          resourceNamesSubscribe: req.resourceNamesSubscribe,
          resourceNamesUnsubscribe: req.resourceNamesUnsubscribe,
          initialResourceVersions: req.initialResourceVersions,
          responseNonce: req.responseNonce,
          // Delta streams carry the node on the first request only, as Envoy's.
          ...(req.node ? { node: nodeMsg } : {}),
          ...(req.errorDetail ? { errorDetail: req.errorDetail } : {}),
        }));
      },
      decode,
      node,
    );
  }

  start(): void {
    this.#stream.start();
  }

  stop(): void {
    this.#stream.stop();
    this.mux.stop();
  }
}

/** The ADS calls of a Connect client. */
export function adsCalls(client: Client<typeof AggregatedDiscoveryService>): {
  sotw: OpenCall<DiscoveryRequest, DiscoveryResponse>;
  delta: OpenCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
} {
  return {
    sotw: (requests, signal) => client.streamAggregatedResources(requests, { signal }),
    delta: (requests, signal) => client.deltaAggregatedResources(requests, { signal }),
  };
}
