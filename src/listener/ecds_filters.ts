/**
 * Listener filters and network filters whose config comes from ECDS (`config_discovery` on a
 * `ListenerFilter` or a filter chain's `Filter`), as one isolate sees them: built from the
 * config the main thread delivered (xds/ecds_config.ts), else from the `default_config`, and
 * rebuilt once per update, so the next connection gets the new config and those that started
 * keep theirs. Without either, Envoy's missing-config filters: a listener filter closes the
 * socket; a network filter closes the connection (response flag NFCF).
 *
 * @module
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { ExtensionConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import type { ListenerFilterContext, ServerContext } from "../config/extensions.ts";
import type { NetworkFilterFactoryCb } from "../network/filter.ts";
import { watchEcdsConfig } from "../xds/ecds_config.ts";
import { type AcceptedSocket, CLOSE, type ListenerFilter } from "./listener_filter.ts";

/** Envoy's missing-config listener filter: the socket is closed at accept. */
const MISSING_LISTENER_FILTER: ListenerFilter = {
  maxReadBytes: 0,
  onData: () => CLOSE,
};

/** Envoy's missing-config network filter: the connection is closed (NFCF). */
const missingNetworkFilter: NetworkFilterFactoryCb = (conn, ctx) => {
  ctx.streamInfo?.setFlag("NFCF");
  conn.close();
};

/** A listener filter named `name` whose config comes from ECDS. */
export function ecdsListenerFilter(
  name: string,
  source: ExtensionConfigSource,
  ctx: ListenerFilterContext,
): ListenerFilter {
  const holder = watchEcdsConfig<ListenerFilter>(
    "tcp_listener_filter",
    name,
    source,
    (config: Any) => {
      const factory = ctx.server.extensions.byTypeUrl(config.typeUrl);
      if (!factory?.createListenerFilter) {
        throw new Error(`listener filter '${name}': no listener filter takes ${config.typeUrl}`);
      }
      return factory.createListenerFilter(config, ctx);
    },
    MISSING_LISTENER_FILTER,
  );
  // Each socket reads what the config serving at that moment asks for.
  return {
    get maxReadBytes() {
      return holder.current.maxReadBytes;
    },
    get initialReadBytes() {
      return holder.current.initialReadBytes;
    },
    onData: (s: AcceptedSocket) => holder.current.onData(s),
  };
}

/** The terminal network filter named `name` of a chain, whose config comes from ECDS. */
export function ecdsNetworkFilter(
  name: string,
  source: ExtensionConfigSource,
  server: ServerContext,
): NetworkFilterFactoryCb {
  const holder = watchEcdsConfig<NetworkFilterFactoryCb>(
    "network_filter",
    name,
    source,
    (config: Any) => {
      const factory = server.extensions.byTypeUrl(config.typeUrl);
      if (!factory?.createNetworkFilter) {
        throw new Error(`network filter '${name}': no network filter takes ${config.typeUrl}`);
      }
      return factory.createNetworkFilter(config, server);
    },
    missingNetworkFilter,
  );
  return (conn, ctx) => holder.current(conn, ctx);
}
