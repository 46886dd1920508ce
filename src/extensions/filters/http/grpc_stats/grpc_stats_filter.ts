/**
 * The gRPC statistics filter (`envoy.filters.http.grpc_stats`): for each gRPC request routed
 * to a cluster, counts `cluster.<cluster>.grpc.[<service>.<method>.]success|failure|total` from
 * the response's `grpc-status`, and `request_message_count` / `response_message_count` from
 * the message frames of both bodies. Service and method prefix the names for methods in
 * `individual_method_stats_allowlist`, or for every method with `stats_for_all_methods`.
 * `emit_filter_state` stores the message counts in the filter state
 * (`envoy.filters.http.grpc_stats`; text form `request_message_count,response_message_count`).
 *
 * @module
 */
import type { Scope } from "../../../../stats/store.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { HeaderMap } from "../../../../http/header_map.ts";
import type {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  HttpFilterFactoryCb,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import { GrpcFrameCounter, isGrpcRequest, serviceMethod } from "../common/grpc_frames.ts";

/** Envoy's name of the filter, also its filter state key. */
export const GRPC_STATS_FILTER_NAME = "envoy.filters.http.grpc_stats";

/** `FilterConfig`, resolved. */
export interface GrpcStatsConfig {
  readonly emitFilterState: boolean;
  /** Methods named in the stats, by service; undefined: `stats_for_all_methods` decides. */
  readonly allowlist: ReadonlyMap<string, ReadonlySet<string>> | undefined;
  readonly statsForAllMethods: boolean;
  readonly replaceDotsInGrpcServiceName: boolean;
}

/** The filter state object: the message counts of a call (Envoy's GrpcStatsObject). */
export class GrpcStatsObject {
  requestMessageCount = 0;
  responseMessageCount = 0;

  serializeAsString(): string {
    return `${this.requestMessageCount},${this.responseMessageCount}`;
  }

  /** As Envoy's FilterObject proto in JSON (uint64 fields as strings). */
  toJSON(): Record<string, string> {
    return {
      requestMessageCount: String(this.requestMessageCount),
      responseMessageCount: String(this.responseMessageCount),
    };
  }

  getField(name: string): number | undefined {
    if (name === "request_message_count") return this.requestMessageCount;
    if (name === "response_message_count") return this.responseMessageCount;
    return undefined;
  }
}

/** The counters of one cluster and (optionally) one method. */
class CallStats {
  readonly success: Counter;
  readonly failure: Counter;
  readonly total: Counter;
  readonly requestMessages: Counter;
  readonly responseMessages: Counter;

  constructor(stats: Scope, prefix: string) {
    this.success = stats.counter(`${prefix}success`);
    this.failure = stats.counter(`${prefix}failure`);
    this.total = stats.counter(`${prefix}total`);
    this.requestMessages = stats.counter(`${prefix}request_message_count`);
    this.responseMessages = stats.counter(`${prefix}response_message_count`);
  }
}

/** Builds the per-stream filter; counters are looked up once per cluster and method. */
export function grpcStatsFilterFactory(cfg: GrpcStatsConfig, stats: Scope): HttpFilterFactoryCb {
  const byKey = new Map<string, CallStats>();
  const lookup = (cluster: string, path: string | undefined): CallStats => {
    let name = "";
    const sm = serviceMethod(path);
    if (sm !== undefined) {
      const [service, method] = sm;
      const named = cfg.allowlist !== undefined
        ? cfg.allowlist.get(service)?.has(method) ?? false
        : cfg.statsForAllMethods;
      if (named) {
        const s = cfg.replaceDotsInGrpcServiceName ? service.replaceAll(".", "_") : service;
        name = `${s}.${method}.`;
      }
    }
    const key = `${cluster}\0${name}`;
    let cs = byKey.get(key);
    if (cs === undefined) {
      byKey.set(key, cs = new CallStats(stats, `cluster.${cluster}.grpc.${name}`));
    }
    return cs;
  };
  return (cb) => {
    const f = new GrpcStatsFilter(cfg, cb, lookup);
    return { decoder: f, encoder: f };
  };
}

class GrpcStatsFilter {
  #stats: CallStats | undefined;
  #object: GrpcStatsObject | undefined;
  #grpc = false;
  #charged = false;
  #requests: GrpcFrameCounter | undefined;
  #responses: GrpcFrameCounter | undefined;

  constructor(
    readonly cfg: GrpcStatsConfig,
    readonly cb: StreamFilterCallbacks,
    readonly lookup: (cluster: string, path: string | undefined) => CallStats,
  ) {}

  decodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    if (!isGrpcRequest(headers)) return "continue";
    this.#grpc = true;
    this.#requests = new GrpcFrameCounter();
    this.#responses = new GrpcFrameCounter();
    const cluster = this.cb.route()?.clusterName;
    if (cluster !== undefined) this.#stats = this.lookup(cluster, headers.get(":path"));
    if (this.cfg.emitFilterState) {
      this.#object = new GrpcStatsObject();
      this.cb.streamInfo.filterState.set(GRPC_STATS_FILTER_NAME, this.#object);
    }
    return "continue";
  }

  decodeData(data: Uint8Array, _endStream: boolean): FilterDataStatus {
    if (!this.#grpc) return "continue";
    const n = this.#requests!.inspect(data);
    if (n > 0) {
      if (this.#object) this.#object.requestMessageCount += n;
      this.#stats?.requestMessages.inc(n);
    }
    return "continue";
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    if (!this.#grpc) return "continue";
    const status = headers.get("grpc-status");
    // Trailers-only (grpc-status in the headers), or no gRPC response at all.
    if (status !== undefined) this.#charge(status === "0");
    else if (endStream || headers.get(":status") !== "200") this.#charge(false);
    return "continue";
  }

  encodeData(data: Uint8Array, _endStream: boolean): FilterDataStatus {
    if (!this.#grpc) return "continue";
    const n = this.#responses!.inspect(data);
    if (n > 0) {
      if (this.#object) this.#object.responseMessageCount += n;
      this.#stats?.responseMessages.inc(n);
    }
    return "continue";
  }

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (!this.#grpc) return "continue";
    const status = trailers.get("grpc-status");
    if (status !== undefined) this.#charge(status === "0");
    return "continue";
  }

  #charge(success: boolean): void {
    if (this.#charged || this.#stats === undefined) return;
    this.#charged = true;
    (success ? this.#stats.success : this.#stats.failure).inc();
    this.#stats.total.inc();
  }
}
