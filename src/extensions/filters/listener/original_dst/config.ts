/**
 * The original destination listener filter (`envoy.filters.listener.original_dst`): a
 * connection that iptables/nftables redirected (REDIRECT, DNAT, TPROXY's conntrack) takes the
 * destination it had before as its local address: SO_ORIGINAL_DST (IPv4) or
 * IP6T_SO_ORIGINAL_DST (IPv6) of the accepted socket, read through FFI to libc
 * (network/socket_fd.ts). Filter chain matching (`destination_port`, `prefix_ranges`), the
 * HTTP connection manager, `%DOWNSTREAM_LOCAL_ADDRESS%` and an ORIGINAL_DST cluster then see
 * that address; `%DOWNSTREAM_DIRECT_LOCAL_ADDRESS%` keeps the socket's own. A connection with
 * no original destination (not redirected, no conntrack entry) keeps its address, as in Envoy.
 *
 * Where the socket cannot be reached (not Linux, no FFI permission) the filter is refused at
 * config time, in `--mode validate` too.
 */
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import {
  type AcceptedSocket,
  CONTINUE,
  type ListenerFilter,
  type ListenerFilterStatus,
} from "../../../../listener/listener_filter.ts";
import { getLogger } from "../../../../common/logger.ts";
import { SocketFds, socketFdUnavailable } from "../../../../network/socket_fd.ts";

const ORIGINAL_DST = "envoy.extensions.filters.listener.original_dst.v3.OriginalDst";

const log = getLogger("filter");

/** The filter, shared by a listener's sockets. */
export class OriginalDstFilter implements ListenerFilter {
  /** It reads no bytes: it runs once, at accept. */
  readonly maxReadBytes = 0;

  constructor(readonly fds: SocketFds) {}

  onData(s: AcceptedSocket): ListenerFilterStatus {
    const fd = this.fds.fdOf(s.raw);
    if (fd < 0) {
      log.debug("original_dst: the accepted socket's descriptor was not found");
      return CONTINUE;
    }
    const dst = this.fds.originalDst(fd);
    if (dst) s.restoreLocalAddress(dst.ip, dst.port);
    return CONTINUE;
  }
}

/** Factory for original_dst. */
export const originalDstListenerFilterFactory: ExtensionFactory = {
  name: "envoy.filters.listener.original_dst",
  aliases: ["envoy.listener.original_dst"],
  category: "envoy.filters.listener",
  configTypes: [ORIGINAL_DST],
  // traffic_direction (Windows only) is refused.
  fields: { implemented: { [ORIGINAL_DST]: [] } },
  validate(_config, ctx) {
    const why = socketFdUnavailable();
    if (why) {
      ctx.unsupported(`reading SO_ORIGINAL_DST of the accepted socket (${why})`);
    }
  },
  createListenerFilter() {
    const fds = SocketFds.get();
    if (!fds) {
      throw new Error(`envoy.filters.listener.original_dst: ${socketFdUnavailable()}`);
    }
    return new OriginalDstFilter(fds);
  },
};
