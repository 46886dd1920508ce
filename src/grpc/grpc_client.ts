/**
 * denvoy's shared gRPC client (Envoy's Grpc::AsyncClient): Connect-RPC clients speaking the
 * gRPC protocol over a cluster of the cluster manager (`envoy_grpc`; `google_grpc` is served
 * the same way, by the cluster its target names). xDS streams use it; so can every later gRPC
 * need (ext_authz, rate limit, access log and tracing services).
 *
 * @module
 */
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createTransport } from "@connectrpc/connect/protocol-grpc";
import { clusterHttpClient, type ClusterHttpDeps } from "./cluster_http_client.ts";

/** The largest message a call reads (Envoy's gRPC client has no limit; xDS can be large). */
const READ_MAX_BYTES = 256 * 1024 * 1024;

/** A Connect transport of the gRPC protocol over cluster `clusterName`. */
export function clusterTransport(
  deps: ClusterHttpDeps,
  clusterName: string,
  authority?: string,
): Transport {
  return createTransport({
    httpClient: clusterHttpClient(deps, clusterName, authority),
    baseUrl: `http://${clusterName}`,
    useBinaryFormat: true,
    interceptors: [],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: 0,
    readMaxBytes: READ_MAX_BYTES,
    writeMaxBytes: READ_MAX_BYTES,
  });
}

/** A client of `service` over cluster `clusterName`. */
export function clusterClient<T extends DescService>(
  service: T,
  deps: ClusterHttpDeps,
  clusterName: string,
  authority?: string,
): Client<T> {
  return createClient(service, clusterTransport(deps, clusterName, authority));
}
