/** The plaintext transport socket (`envoy.transport_sockets.raw_buffer`), Envoy's default. */
import type { ExtensionFactory } from "../../../config/extensions.ts";

/** Factory for raw_buffer. */
export const rawBufferFactory: ExtensionFactory = {
  name: "envoy.transport_sockets.raw_buffer",
  aliases: ["raw_buffer"],
  category: "envoy.transport_sockets.downstream",
  configTypes: ["envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"],
  fields: { implemented: { "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer": [] } },
  // Plaintext is the connection's own raw socket: nothing to wrap.
  createDownstreamTransportSocket: () => undefined,
  createUpstreamTransportSocket: () => undefined,
};
