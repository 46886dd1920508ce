/** Factory of the gRPC-Web filter (`envoy.filters.http.grpc_web`). */
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import { grpcWebFilterFactory } from "./grpc_web_filter.ts";

/** Factory for the gRPC-Web filter (its config message has no fields). */
export const grpcWebFactory: ExtensionFactory = {
  name: "envoy.filters.http.grpc_web",
  aliases: ["envoy.grpc_web"],
  category: "envoy.filters.http",
  configTypes: ["envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"],
  fields: { implemented: { "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb": [] } },
  createHttpFilter: () => grpcWebFilterFactory,
};
