/**
 * denvoy's shared gRPC client (Envoy's Grpc::AsyncClient): Connect-RPC clients speaking the
 * gRPC protocol over a cluster of the cluster manager (`envoy_grpc`), or to a `google_grpc`
 * target, served the same way (denvoy's HTTP/2 pool, not a separate gRPC library). xDS streams use it; so can every later gRPC
 * need (ext_authz, rate limit, access log and tracing services).
 *
 * @module
 */
import { create, type DescService } from "@bufbuild/protobuf";
import { messageSchema } from "../config/api.ts";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createTransport } from "@connectrpc/connect/protocol-grpc";
import type { UniversalClientFn } from "@connectrpc/connect/protocol";
import { parseCluster } from "../upstream/cluster_info.ts";
import { parseTargetUri } from "./target_uri.ts";
import type { ConnPoolManager } from "../upstream/conn_pool.ts";
import {
  clusterHttpClient,
  type ClusterHttpDeps,
  type GrpcTarget,
  poolHttpClient,
} from "./cluster_http_client.ts";
import type { Cluster } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const clusterSchema = () => messageSchema<Cluster>("envoy.config.cluster.v3.Cluster");

/** The largest message a call reads (Envoy's gRPC client has no limit; xDS can be large). */
const READ_MAX_BYTES = 256 * 1024 * 1024;

/** A Connect transport of the gRPC protocol over cluster `clusterName`. */
export function clusterTransport(
  deps: ClusterHttpDeps,
  clusterName: string,
  authority?: string,
): Transport {
  return grpcTransport(clusterHttpClient(deps, clusterName, authority), clusterName);
}

/**
 * A Connect transport of the gRPC protocol to `google_grpc.target_uri`: served as `envoy_grpc`
 * is, by an HTTP/2 pool of denvoy's, to the one address the target names (no cluster: its
 * pool counts under `cluster.google_grpc.<stat_prefix>.*`).
 */
export function googleGrpcTransport(
  pools: ConnPoolManager,
  targetUri: string,
  statPrefix: string,
): Transport {
  const target = parseTargetUri(targetUri);
  if (!target) throw new Error(`google_grpc target_uri '${targetUri}' is not host:port`);
  const parsed = parseCluster(create(clusterSchema(), { name: `google_grpc:${targetUri}` }));
  const info = {
    ...parsed.info,
    statName: `google_grpc.${statPrefix}`,
    upstreamProtocol: "HTTP/2" as const,
  };
  const host = { address: target.host, port: target.port, done: () => {} };
  const t: GrpcTarget = { info, pick: () => host };
  return grpcTransport(poolHttpClient(pools, () => t, targetUri), targetUri);
}

function grpcTransport(httpClient: UniversalClientFn, name: string): Transport {
  return createTransport({
    httpClient,
    baseUrl: `http://${name}`,
    useBinaryFormat: true,
    interceptors: [],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: 0,
    readMaxBytes: READ_MAX_BYTES,
    writeMaxBytes: READ_MAX_BYTES,
  });
}

/** A client of `service` over `transport`. */
export function grpcClient<T extends DescService>(service: T, transport: Transport): Client<T> {
  return createClient(service, transport);
}
