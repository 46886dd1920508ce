/**
 * gRPC active health checks (`grpc_health_check`): `grpc.health.v1.Health/Check` over an
 * upstream HTTP/2 connection (the client role of http/http2/connection.ts), as Envoy's
 * GrpcHealthCheckerImpl does it: the host is healthy when the RPC ends with grpc-status 0 and
 * the response says SERVING; a reset, a GOAWAY that is not graceful or a closed connection is
 * a network failure, any other answer an active one. Runs on the main thread with the health checker.
 */
import type { HealthCheck_GrpcHealthCheck } from "../../proto/gen/envoy/config/core/v3/health_check_pb.ts";
import { HeaderMap } from "../http/header_map.ts";
import { Http2CheckClient } from "./http2_check_client.ts";

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

/**
 * An HTTP/2 connection a health check session keeps to its host: one Health/Check RPC per
 * check (GOAWAY and resets as in http2_check_client.ts).
 */
export class GrpcHealthCheckClient extends Http2CheckClient {
  /** One Health/Check RPC on this connection (`secure`: over TLS, scheme https). */
  async check(check: GrpcCheck, authority: string, secure = false): Promise<GrpcCheckOutcome> {
    const headers = new HeaderMap([
      ":method",
      "POST",
      ":scheme",
      secure ? "https" : "http",
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
    // The response is one small message; anything bigger is not a health check answer.
    const res = await this.request(headers, healthCheckRequest(check.serviceName), 64 * 1024);
    if (res === "reset") return "network_failure";
    // A trailers-only response carries grpc-status in its headers.
    const grpcStatus = (res.trailers ?? res.headers).get("grpc-status");
    if (res.headers.get(":status") !== "200" || grpcStatus !== "0") return "active_failure";
    return servingStatus(res.body) === SERVING ? "healthy" : "active_failure";
  }
}
