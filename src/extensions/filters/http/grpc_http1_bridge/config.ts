/** Factory of the gRPC HTTP/1.1 bridge filter (`envoy.filters.http.grpc_http1_bridge`). */
import type { Config } from "../../../../../proto/gen/envoy/extensions/filters/http/grpc_http1_bridge/v3/config_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { grpcHttp1BridgeFilterFactory } from "./grpc_http1_bridge_filter.ts";

/** Factory for the gRPC HTTP/1.1 bridge. */
export const grpcHttp1BridgeFactory: ExtensionFactory = {
  name: "envoy.filters.http.grpc_http1_bridge",
  aliases: ["envoy.grpc_http1_bridge"],
  category: "envoy.filters.http",
  configTypes: ["envoy.extensions.filters.http.grpc_http1_bridge.v3.Config"],
  fields: {
    implemented: {
      "envoy.extensions.filters.http.grpc_http1_bridge.v3.Config": [
        "upgrade_protobuf_to_grpc",
        "ignore_query_parameters",
      ],
    },
  },
  createHttpFilter: (config, server) => {
    const c = config && unpackAny<Config>(config);
    return grpcHttp1BridgeFilterFactory({
      upgradeProtobufToGrpc: c?.upgradeProtobufToGrpc ?? false,
      ignoreQueryParameters: c?.ignoreQueryParameters ?? false,
    }, server.stats);
  },
};
