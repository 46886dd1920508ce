/**
 * The original destination listener filter (`envoy.filters.listener.original_dst`) needs the
 * socket's SO_ORIGINAL_DST (the address before an iptables REDIRECT), which a `Deno.Conn`
 * cannot read: there is no getsockopt on Deno sockets and no way to reach the descriptor. The
 * filter is therefore refused by name, in `--mode validate` too, rather than accepted and left
 * without effect.
 */
import type { ExtensionFactory } from "../../../../config/extensions.ts";

const ORIGINAL_DST = "envoy.extensions.filters.listener.original_dst.v3.OriginalDst";

/** Factory for original_dst: known, and refused. */
export const originalDstListenerFilterFactory: ExtensionFactory = {
  name: "envoy.filters.listener.original_dst",
  aliases: ["envoy.listener.original_dst"],
  category: "envoy.filters.listener",
  configTypes: [ORIGINAL_DST],
  fields: { implemented: { [ORIGINAL_DST]: [] } },
  validate(_config, ctx) {
    ctx.unsupported(
      "envoy.filters.listener.original_dst (the runtime cannot read SO_ORIGINAL_DST from a " +
        "Deno socket: no getsockopt on Deno.Conn)",
    );
  },
};
