/**
 * gRPC active health checks (`grpc_health_check`): `grpc.health.v1.Health/Check` over an
 * upstream HTTP/2 connection (the client role of http/http2/connection.ts), as Envoy's
 * GrpcHealthCheckerImpl does it: the host is healthy when the RPC ends with grpc-status 0 and
 * the response says SERVING; a reset, GOAWAY or closed connection is a network failure, any
 * other answer an active one. Runs on the main thread with the health checker.
 */
import type { HealthCheck_GrpcHealthCheck } from "../../proto/gen/envoy/config/core/v3/health_check_pb.ts";
import { HeaderMap } from "../http/header_map.ts";
import {
  DEFAULT_HTTP2_OPTIONS,
  Http2Connection,
  type Http2Stream,
} from "../http/http2/connection.ts";
import { type Http2CodecStats, http2CodecStats } from "../http/http2/codec_stats.ts";
import type {
  CodecStatus,
  Http2ConnectionCallbacks,
  Http2Transport,
  StreamHandler,
  StreamResetReason,
} from "../http/http2/codec_types.ts";
import { Store } from "../stats/store.ts";

/** The gRPC part of a health check. */
export interface GrpcCheck {
  readonly type: "grpc";
  /** `service_name`: the HealthCheckRequest's service ("" is the server as a whole). */
  readonly serviceName: string;
  /** `authority`; empty: the endpoint's health check hostname, else the cluster name. */
  readonly authority: string;
  /** `initial_metadata`: headers added to the request. */
  readonly initialMetadata: readonly (readonly [string, string])[];
}

/** Reads `grpc_health_check`; problems go to `problems`. */
export function parseGrpcHealthCheck(
  g: HealthCheck_GrpcHealthCheck,
  at: string,
  problems: string[],
): GrpcCheck {
  const initialMetadata = g.initialMetadata.map((o, i): [string, string] => {
    const name = (o.header?.key ?? "").toLowerCase();
    const raw = o.header?.rawValue;
    const value = o.header?.value || (raw && raw.length > 0 ? new TextDecoder().decode(raw) : "");
    if (value.includes("%")) {
      problems.push(
        `${at}.initial_metadata[${i}]: header formatters (%...%) are not supported in health checks yet`,
      );
    }
    if (name.startsWith(":") || name === "host") {
      problems.push(`${at}.initial_metadata[${i}]: ${name} cannot be set`);
    }
    return [name, value];
  });
  return { type: "grpc", serviceName: g.serviceName, authority: g.authority, initialMetadata };
}

/** The length-prefixed gRPC message of a HealthCheckRequest for `service`. */
export function healthCheckRequest(service: string): Uint8Array {
  const name = new TextEncoder().encode(service);
  const lenBytes: number[] = [];
  for (let n = name.length;; n >>>= 7) {
    if (n < 0x80) {
      lenBytes.push(n);
      break;
    }
    lenBytes.push((n & 0x7f) | 0x80);
  }
  const msgLen = name.length > 0 ? 1 + lenBytes.length + name.length : 0;
  const out = new Uint8Array(5 + msgLen);
  new DataView(out.buffer).setUint32(1, msgLen);
  if (msgLen > 0) {
    out[5] = 0x0a; // field 1, length-delimited
    out.set(lenBytes, 6);
    out.set(name, 6 + lenBytes.length);
  }
  return out;
}

/** SERVING in grpc.health.v1.HealthCheckResponse.ServingStatus. */
export const SERVING = 1;

/**
 * The `status` of the HealthCheckResponse in a gRPC response body (one uncompressed,
 * length-prefixed message); undefined when the body is not one.
 */
export function servingStatus(body: Uint8Array): number | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const len = new DataView(body.buffer, body.byteOffset).getUint32(1);
  if (body.length !== 5 + len) return undefined;
  let status = 0;
  let p = 5;
  const end = 5 + len;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (p >= end) return undefined;
      const b = body[p++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    return undefined;
  };
  while (p < end) {
    const key = varint();
    if (key === undefined) return undefined;
    const wire = key & 7;
    if (wire === 0) {
      const v = varint();
      if (v === undefined) return undefined;
      if (key >>> 3 === 1) status = v;
    } else if (wire === 2) {
      const n = varint();
      if (n === undefined || p + n > end) return undefined;
      p += n;
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else return undefined;
  }
  return p === end ? status : undefined;
}

/** How one check ended. */
export type GrpcCheckOutcome = "healthy" | "active_failure" | "network_failure";

/** Stats of the health checkers' HTTP/2 codecs (not published: Envoy's are per codec client). */
let hcStats: Http2CodecStats | undefined;

/**
 * An HTTP/2 connection a health check session keeps to its host: one stream per check.
 * Frames the codec writes are queued and flushed to the socket after each step.
 */
export class GrpcHealthCheckClient
  implements Http2Transport, Http2ConnectionCallbacks, StreamHandler {
  readonly #h2: Http2Connection;
  #out: Uint8Array[] = [];
  #outBytes = 0;
  /** The connection broke or the host sent GOAWAY: no more checks on it. */
  failed = false;
  #status = "";
  #grpcStatus = "";
  #body: Uint8Array[] = [];
  #bodyBytes = 0;
  #done = false;
  #reset = false;
  /** Bytes read from the host during the latest check (0: a stale reused connection). */
  received = 0;

  constructor(readonly conn: Pick<Deno.Conn, "read" | "write" | "close">) {
    this.#h2 = new Http2Connection(
      "client",
      this,
      this,
      DEFAULT_HTTP2_OPTIONS,
      hcStats ??= http2CodecStats(new Store()),
    );
  }

  // ---- Http2Transport ----
  write(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
  }
  get bufferedBytes(): number {
    return this.#outBytes;
  }

  async #flush(): Promise<void> {
    while (this.#out.length > 0) {
      const out = this.#out;
      this.#out = [];
      this.#outBytes = 0;
      for (const b of out) {
        let off = 0;
        while (off < b.length) off += await this.conn.write(b.subarray(off));
      }
    }
  }

  // ---- Http2ConnectionCallbacks ----
  onGoAway(): void {
    this.failed = true;
  }
  onCodecError(_status: CodecStatus, _details: string): void {
    this.failed = true;
  }

  // ---- StreamHandler ----
  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.#status = headers.get(":status") ?? "";
    // A trailers-only response carries grpc-status in its headers.
    if (endStream) this.#end(headers);
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    // The response is one small message; anything bigger is not a health check answer.
    if (this.#bodyBytes + data.length <= 64 * 1024) {
      this.#body.push(data);
      this.#bodyBytes += data.length;
    }
    if (endStream) this.#end(undefined);
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.#end(trailers);
  }
  onResetStream(_reason: StreamResetReason, _details: string): void {
    this.#reset = true;
    this.#done = true;
  }
  onAboveWriteBufferHighWatermark(): void {}
  onBelowWriteBufferLowWatermark(): void {}

  #end(trailers: HeaderMap | undefined): void {
    this.#grpcStatus = trailers?.get("grpc-status") ?? "";
    this.#done = true;
  }

  /** One Health/Check RPC on this connection. */
  async check(check: GrpcCheck, authority: string): Promise<GrpcCheckOutcome> {
    this.#status = "";
    this.#grpcStatus = "";
    this.#body = [];
    this.#bodyBytes = 0;
    this.#done = false;
    this.#reset = false;
    this.received = 0;
    const stream: Http2Stream | undefined = this.#h2.newStream(this);
    if (!stream) {
      this.failed = true;
      return "network_failure";
    }
    const headers = new HeaderMap([
      ":method",
      "POST",
      ":scheme",
      "http",
      ":path",
      "/grpc.health.v1.Health/Check",
      ":authority",
      authority,
      "content-type",
      "application/grpc",
      "te",
      "trailers",
    ]);
    for (const [n, v] of check.initialMetadata) headers.add(n, v);
    stream.encodeHeaders(headers, false);
    stream.encodeData(healthCheckRequest(check.serviceName), true);
    await this.#flush();
    const buf = new Uint8Array(16 * 1024);
    while (!this.#done && !this.failed) {
      const n = await this.conn.read(buf);
      if (n === null) {
        this.failed = true;
        break;
      }
      this.received += n;
      this.#h2.dispatch(buf.slice(0, n));
      await this.#flush();
    }
    if (!this.#done || this.#reset) {
      if (!this.#done) this.failed = true;
      return "network_failure";
    }
    if (this.#status !== "200" || this.#grpcStatus !== "0") return "active_failure";
    const body = new Uint8Array(this.#bodyBytes);
    let off = 0;
    for (const b of this.#body) {
      body.set(b, off);
      off += b.length;
    }
    return servingStatus(body) === SERVING ? "healthy" : "active_failure";
  }
}
