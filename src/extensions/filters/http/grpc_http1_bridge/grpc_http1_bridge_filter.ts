/**
 * The gRPC HTTP/1.1 bridge (`envoy.filters.http.grpc_http1_bridge`): lets HTTP/1.1 clients
 * that cannot read trailers call gRPC services. For a gRPC request over HTTP/1.x the response
 * is held until its trailers, whose `grpc-status` and `grpc-message` then go in the response
 * headers (HTTP 503 when the status is not OK) with the body's `content-length`. With
 * `upgrade_protobuf_to_grpc`, an `application/x-protobuf` request becomes a one-message gRPC
 * call (the body framed, the response's frame header removed); `ignore_query_parameters`
 * drops the query of bridged requests. Every gRPC request also counts
 * `cluster.<cluster>.grpc.<service>.<method>.success|failure|total`, as Envoy's bridge does.
 *
 * @module
 */
import type { HeaderMap } from "../../../../http/header_map.ts";
import type {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  HttpFilterFactoryCb,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import { concat } from "../../../../http/filter_manager.ts";
import type { Scope } from "../../../../stats/store.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import { frameHeader, isGrpcRequest, serviceMethod } from "../common/grpc_frames.ts";

/** `Config`, resolved. */
export interface GrpcHttp1BridgeConfig {
  readonly upgradeProtobufToGrpc: boolean;
  readonly ignoreQueryParameters: boolean;
}

const PROTOBUF = "application/x-protobuf";

interface CallStats {
  success: Counter;
  failure: Counter;
  total: Counter;
}

/** Builds the per-stream filter; counters are looked up once per cluster and method. */
export function grpcHttp1BridgeFilterFactory(
  cfg: GrpcHttp1BridgeConfig,
  stats: Scope,
): HttpFilterFactoryCb {
  const byKey = new Map<string, CallStats>();
  const lookup = (cluster: string, service: string, method: string): CallStats => {
    const prefix = `cluster.${cluster}.grpc.${service}.${method}.`;
    let cs = byKey.get(prefix);
    if (cs === undefined) {
      byKey.set(
        prefix,
        cs = {
          success: stats.counter(`${prefix}success`),
          failure: stats.counter(`${prefix}failure`),
          total: stats.counter(`${prefix}total`),
        },
      );
    }
    return cs;
  };
  return (cb) => {
    const f = new GrpcHttp1BridgeFilter(cfg, cb, lookup);
    return { decoder: f, encoder: f };
  };
}

class GrpcHttp1BridgeFilter {
  #bridging = false;
  /** upgrade_protobuf_to_grpc applies: the request is framed, the response unframed. */
  #framing = false;
  #stats: CallStats | undefined;
  #charged = false;
  #responseHeaders: HeaderMap | undefined;
  #requestBody: Uint8Array[] = [];
  #responseBody: Uint8Array[] = [];

  constructor(
    readonly cfg: GrpcHttp1BridgeConfig,
    readonly cb: StreamFilterCallbacks,
    readonly lookup: (cluster: string, service: string, method: string) => CallStats,
  ) {}

  decodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const protobuf = this.cfg.upgradeProtobufToGrpc && headers.get("content-type") === PROTOBUF;
    if (protobuf) {
      this.#framing = true;
      headers.set("content-type", "application/grpc");
      headers.remove("content-length");
    }
    if (!isGrpcRequest(headers)) return "continue";
    const sm = serviceMethod(headers.get(":path"));
    const cluster = this.cb.route()?.clusterName;
    if (sm !== undefined && cluster !== undefined) this.#stats = this.lookup(cluster, sm[0], sm[1]);
    const protocol = this.cb.streamInfo.protocol;
    if (protocol !== "HTTP/1.1" && protocol !== "HTTP/1.0") return "continue";
    this.#bridging = true;
    if (this.cfg.ignoreQueryParameters) {
      const path = headers.get(":path")!;
      const q = path.indexOf("?");
      if (q >= 0) {
        headers.set(":path", path.slice(0, q));
        this.cb.clearRouteCache();
      }
    }
    return "continue";
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (!this.#framing) return "continue";
    // The whole body is one message: its frame header needs its length.
    this.#requestBody.push(data);
    if (!endStream) return "stopNoBuffer";
    const body = concat(this.#requestBody);
    this.#requestBody = [];
    const framed = new Uint8Array(5 + body.length);
    framed.set(frameHeader(0, body.length));
    framed.set(body, 5);
    this.cb.injectDecodedDataToFilterChain(framed, true);
    return "stopNoBuffer";
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    if (endStream) {
      // Trailers-only: grpc-status is already in the headers.
      const status = headers.get("grpc-status");
      if (status !== undefined) this.#charge(status === "0");
      if (this.#bridging && status !== undefined && status !== "0") headers.set(":status", "503");
      return "continue";
    }
    if (!this.#bridging) return "continue";
    this.#responseHeaders = headers;
    return "stop";
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (!this.#bridging) return "continue";
    this.#responseBody.push(data);
    // A response that ends without trailers is no gRPC response: it goes as it is.
    if (endStream) this.#release(true);
    return "stopNoBuffer";
  }

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    const status = trailers.get("grpc-status");
    if (status !== undefined) this.#charge(status === "0");
    if (!this.#bridging || this.#responseHeaders === undefined) return "continue";
    const h = this.#responseHeaders;
    if (status !== undefined) {
      if (status !== "0") h.set(":status", "503");
      h.set("grpc-status", status);
    }
    const message = trailers.get("grpc-message");
    if (message !== undefined) h.set("grpc-message", message);
    this.#release(false);
    return "continue";
  }

  /** Sends the held headers and body on (`end`: the body ends the response). */
  #release(end: boolean): void {
    const h = this.#responseHeaders!;
    let body = concat(this.#responseBody);
    this.#responseBody = [];
    if (this.#framing && body.length >= 5) body = body.subarray(5);
    h.set("content-length", String(body.length));
    this.#responseHeaders = undefined;
    this.cb.continueEncoding();
    this.cb.injectEncodedDataToFilterChain(body, end);
  }

  #charge(success: boolean): void {
    if (this.#charged || this.#stats === undefined) return;
    this.#charged = true;
    (success ? this.#stats.success : this.#stats.failure).inc();
    this.#stats.total.inc();
  }
}
