/**
 * The fault injection filter (`envoy.filters.http.fault`): delays requests, aborts them with an
 * HTTP or gRPC status, and paces response bodies, for a configured (or header-lowered)
 * percentage of the requests that match `upstream_cluster`, `downstream_nodes` and `headers`.
 *
 * Order, as in Envoy: the response rate limit is set up first, then a delay (after which an
 * abort may still follow), else an abort. Percentages go through the runtime
 * (`fault.http.abort.abort_percent`, ... or the config's own keys); a request carrying
 * `x-envoy-downstream-service-cluster: <c>` is looked up under `fault.http.<c>.*` instead, and
 * is counted in `<prefix>.fault.<c>.delays_injected` / `aborts_injected` too (unless
 * `disable_downstream_cluster_stats`). A route's `typed_per_filter_config` for the filter
 * replaces the filter's settings for its requests.
 *
 * `max_active_faults` limits the requests with a fault in progress, a fuzzy limit checked
 * against the `active_faults` gauge summed over every worker (active_faults.ts), so it holds
 * for the whole process whatever `--concurrency` is, as in Envoy.
 *
 * @module
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { HTTPFault } from "../../../../../proto/gen/envoy/extensions/filters/http/fault/v3/fault_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  HttpFilterFactoryCb,
  StreamDecoderFilter,
  StreamEncoderFilter,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import type { HeaderMap } from "../../../../http/header_map.ts";
import { runtimeSnapshot } from "../../../../runtime/runtime.ts";
import type { Snapshot } from "../../../../runtime/snapshot.ts";
import type { Counter, Gauge } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import { ActiveFaultCount, type ActiveFaultMemory } from "./active_faults.ts";
import {
  type FilterTimers,
  REAL_TIMERS,
  StreamRateLimiter,
  type TimerHandle,
} from "../common/stream_rate_limiter.ts";
import {
  abortGrpcStatus,
  abortHttpStatus,
  compileFaultSettings,
  delayMs,
  type FaultPercentage,
  type FaultSettings,
  rateLimitKbps,
  requestPercentage,
} from "./fault_config.ts";

/** Envoy's well-known name of the filter. */
export const FAULT_FILTER_NAME = "envoy.filters.http.fault";

/** RESPONSE_CODE_DETAILS of an injected abort. */
export const FAULT_ABORT_DETAILS = "fault_filter_abort";

/** The filter's stats (`<stat_prefix>.fault.*`), declared when the filter is built. */
export class FaultStats {
  readonly delaysInjected: Counter;
  readonly abortsInjected: Counter;
  readonly responseRlInjected: Counter;
  readonly faultsOverflow: Counter;
  readonly activeFaults: Gauge;
  /** `active_faults` over every worker, which `max_active_faults` is checked against. */
  readonly activeFaultsTotal: ActiveFaultCount;
  /** `http.<stat_prefix>.fault.` */
  readonly prefix: string;
  readonly #byCluster = new Map<string, { delays: Counter; aborts: Counter }>();

  /**
   * `statPrefix`: the connection manager's (`http.<stat_prefix>`); `memory`: where the
   * workers' active fault counts meet (the process's by default).
   */
  constructor(readonly stats: Scope, statPrefix: string, memory?: ActiveFaultMemory) {
    this.prefix = `${statPrefix}.fault.`;
    this.delaysInjected = stats.counter(`${this.prefix}delays_injected`);
    this.abortsInjected = stats.counter(`${this.prefix}aborts_injected`);
    this.responseRlInjected = stats.counter(`${this.prefix}response_rl_injected`);
    this.faultsOverflow = stats.counter(`${this.prefix}faults_overflow`);
    this.activeFaults = stats.gauge(`${this.prefix}active_faults`, "Accumulate");
    this.activeFaultsTotal = new ActiveFaultCount(this.activeFaults.name, memory);
  }

  /** One more fault in progress (`n` = 1) or one fewer (-1). */
  addActive(n: 1 | -1): void {
    this.activeFaults.inc(n);
    this.activeFaultsTotal.publish(this.activeFaults.value);
  }

  /** The counters of one downstream cluster (x-envoy-downstream-service-cluster). */
  downstream(cluster: string): { delays: Counter; aborts: Counter } {
    let c = this.#byCluster.get(cluster);
    if (c === undefined) {
      const p = `${this.prefix}${cluster}.`;
      c = {
        delays: this.stats.counter(`${p}delays_injected`),
        aborts: this.stats.counter(`${p}aborts_injected`),
      };
      this.#byCluster.set(cluster, c);
    }
    return c;
  }
}

/** What every stream's filter shares. */
export interface FaultFilterConfig {
  /** The filter's name in the chain: the per-route config and dynamic metadata key. */
  readonly name: string;
  readonly settings: FaultSettings;
  readonly stats: FaultStats;
  readonly timers: FilterTimers;
  /** A uniformly random unsigned integer (tests inject a fixed one). */
  readonly random: () => number;
  readonly runtime: () => Snapshot;
}

/** A uniformly random 32-bit unsigned integer. */
export function random32(): number {
  return Math.floor(Math.random() * 0x1_0000_0000);
}

/** Per-route settings, compiled once per route config. */
const perRouteSettings = new WeakMap<Any, FaultSettings>();

function routeSettings(any: Any): FaultSettings | undefined {
  let s = perRouteSettings.get(any);
  if (s === undefined) {
    const c = unpackAny<HTTPFault>(any);
    if (c === undefined) return undefined;
    perRouteSettings.set(any, s = compileFaultSettings(c));
  }
  return s;
}

/** Builds the per-stream filter. */
export function faultFilterFactory(cfg: FaultFilterConfig): HttpFilterFactoryCb {
  return (cb) => {
    const f = new FaultFilter(cfg, cb);
    return { decoder: f, encoder: f };
  };
}

class FaultFilter implements StreamDecoderFilter, StreamEncoderFilter {
  #s: FaultSettings;
  /** x-envoy-downstream-service-cluster, when the request has one. */
  #downstreamCluster: string | undefined;
  #active = false;
  #delayTimer: TimerHandle | undefined;
  #limiter: StreamRateLimiter | undefined;

  constructor(readonly cfg: FaultFilterConfig, readonly cb: StreamFilterCallbacks) {
    this.#s = cfg.settings;
  }

  decodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const own = this.cb.perFilterConfig(this.cfg.name);
    const s = this.#s = (own && routeSettings(own)) ?? this.cfg.settings;
    if (s.upstreamCluster !== "" && this.cb.route()?.clusterName !== s.upstreamCluster) {
      return "continue";
    }
    if (s.downstreamNodes !== undefined) {
      const node = headers.get("x-envoy-downstream-service-node");
      if (node === undefined || !s.downstreamNodes.has(node)) return "continue";
    }
    if (s.headers !== undefined && !s.headers(headers)) return "continue";
    this.#downstreamCluster = headers.get("x-envoy-downstream-service-cluster");
    this.#maybeLimitResponse(headers);
    if (this.#maybeDelay(headers)) return "stop";
    return this.#maybeAbort(headers) ? "stop" : "continue";
  }

  encodeHeaders(_headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    return "continue";
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.#limiter === undefined) return "continue";
    this.#limiter.writeData(data, endStream);
    return "stopNoBuffer";
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return this.#limiter?.onTrailers() ? "stop" : "continue";
  }

  onDestroy(): void {
    if (this.#delayTimer !== undefined) this.cfg.timers.clear(this.#delayTimer);
    this.#delayTimer = undefined;
    this.#limiter?.destroy();
    if (this.#active) {
      this.#active = false;
      this.cfg.stats.addActive(-1);
    }
  }

  /** The runtime key of a setting: the downstream cluster's own when the request names one. */
  #key(configured: string, downstreamSuffix: string): string {
    const c = this.#downstreamCluster;
    return c === undefined ? configured : `fault.http.${c}.${downstreamSuffix}`;
  }

  #enabled(runtime: Snapshot, key: string, p: FaultPercentage, headers: HeaderMap): boolean {
    return runtime.featureEnabled(key, requestPercentage(p, headers), this.cfg.random());
  }

  #maybeLimitResponse(headers: HeaderMap): void {
    const rl = this.#s.responseRateLimit;
    if (rl === undefined) return;
    // Envoy has no downstream-cluster override for this one.
    const key = this.#s.runtime.responseRateLimitPercent;
    if (!this.#enabled(this.cfg.runtime(), key, rl.percentage, headers)) return;
    const kbps = rateLimitKbps(rl, headers);
    if (kbps === undefined || !this.#tryActivate()) return;
    this.cfg.stats.responseRlInjected.inc();
    const cb = this.cb;
    this.#limiter = new StreamRateLimiter(kbps, cb.decoderBufferLimit || Infinity, {
      write: (data, endStream) => cb.injectEncodedDataToFilterChain(data, endStream),
      continueTrailers: () => cb.continueEncoding(),
      onBug: (e) => cb.onBug(e),
      aboveHighWatermark: () => cb.onEncoderFilterAboveWriteBufferHighWatermark(),
      belowLowWatermark: () => cb.onEncoderFilterBelowWriteBufferLowWatermark(),
    }, this.cfg.timers);
  }

  #maybeDelay(headers: HeaderMap): boolean {
    const d = this.#s.delay;
    if (d === undefined) return false;
    const runtime = this.cfg.runtime();
    const percentKey = this.#key(this.#s.runtime.delayPercent, "delay.fixed_delay_percent");
    if (!this.#enabled(runtime, percentKey, d.percentage, headers)) return false;
    const configured = delayMs(d, headers);
    if (configured === undefined) return false;
    let ms = runtime.getInteger(this.#s.runtime.delayDuration, configured);
    if (this.#downstreamCluster !== undefined) {
      ms = runtime.getInteger(this.#key("", "delay.fixed_duration_ms"), ms);
    }
    if (ms <= 0 || !this.#tryActivate()) return false;
    this.#delayTimer = this.cfg.timers.set(ms, () => {
      this.#delayTimer = undefined;
      try {
        this.#afterDelay(headers);
      } catch (e) {
        this.cb.onBug(e);
      }
    });
    this.#countInjected("delays");
    this.cb.streamInfo.setFlag("DI");
    this.#setFilterMetadata();
    return true;
  }

  #afterDelay(headers: HeaderMap): void {
    const status = this.#abortStatus(headers);
    if (status !== undefined) {
      this.#abort(status[0], status[1]);
      return;
    }
    // The delay is over; with no response rate limit configured no fault is in progress.
    if (this.#s.responseRateLimit === undefined) {
      this.#active = false;
      this.cfg.stats.addActive(-1);
    }
    this.cb.continueDecoding();
  }

  #maybeAbort(headers: HeaderMap): boolean {
    const status = this.#abortStatus(headers);
    if (status === undefined || !this.#tryActivate()) return false;
    this.#abort(status[0], status[1]);
    return true;
  }

  /** The abort's HTTP status and gRPC status (HTTP 200 for a gRPC abort); undefined: none. */
  #abortStatus(headers: HeaderMap): [number, number | undefined] | undefined {
    const a = this.#s.abort;
    if (a === undefined) return undefined;
    const runtime = this.cfg.runtime();
    const keys = this.#s.runtime;
    const percentKey = this.#key(keys.abortPercent, "abort.abort_percent");
    if (!this.#enabled(runtime, percentKey, a.percentage, headers)) return undefined;
    // A downstream cluster's key overrides the configured value, not the global key's.
    const http = abortHttpStatus(a, headers);
    if (http !== undefined) {
      let code = runtime.getInteger(keys.abortHttpStatus, http);
      if (this.#downstreamCluster !== undefined) {
        code = runtime.getInteger(this.#key("", "abort.http_status"), http);
      }
      return [code, undefined];
    }
    const grpc = abortGrpcStatus(a, headers);
    if (grpc === undefined) return undefined;
    let code = runtime.getInteger(keys.abortGrpcStatus, grpc);
    if (this.#downstreamCluster !== undefined) {
      code = runtime.getInteger(this.#key("", "abort.grpc_status"), grpc);
    }
    return [200, code];
  }

  #abort(httpStatus: number, grpcStatus: number | undefined): void {
    this.#countInjected("aborts");
    this.cb.streamInfo.setFlag("FI");
    this.#setFilterMetadata();
    this.cb.sendLocalReply(httpStatus, "fault filter abort", {
      details: FAULT_ABORT_DETAILS,
      grpcStatus,
    });
  }

  /** Envoy's tryIncActiveFaults: one active fault per request, within max_active_faults. */
  #tryActivate(): boolean {
    if (this.#active) return true;
    const stats = this.cfg.stats;
    const s = this.#s;
    const max = this.cfg.runtime().getInteger(
      s.runtime.maxActiveFaults,
      s.maxActiveFaults ?? Number.POSITIVE_INFINITY,
    );
    if (stats.activeFaultsTotal.total() >= max) {
      stats.faultsOverflow.inc();
      return false;
    }
    stats.addActive(1);
    this.#active = true;
    return true;
  }

  #countInjected(which: "delays" | "aborts"): void {
    const stats = this.cfg.stats;
    const c = this.#downstreamCluster;
    if (c && !this.#s.disableDownstreamClusterStats) stats.downstream(c)[which].inc();
    (which === "delays" ? stats.delaysInjected : stats.abortsInjected).inc();
  }

  #setFilterMetadata(): void {
    const m = this.#s.filterMetadata;
    if (m === undefined) return;
    const all = this.cb.streamInfo.dynamicMetadata;
    all[this.cfg.name] = { ...all[this.cfg.name], ...m };
  }
}

/** What the filter's streams share, on real timers, randomness and runtime. */
export function faultFilterConfig(
  settings: FaultSettings,
  name: string,
  stats: FaultStats,
): FaultFilterConfig {
  return { name, settings, stats, timers: REAL_TIMERS, random: random32, runtime: runtimeSnapshot };
}
