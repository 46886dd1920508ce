/**
 * HTTP filters whose config comes from ECDS (`http_filters[].config_discovery`): Envoy's
 * dynamic filter config provider, as one isolate sees it (xds/ecds_config.ts keeps what the
 * main thread delivered). Each connection manager's filter built from it swaps its factory
 * once per update, so the next stream gets the new config and streams that started keep
 * theirs. Until a config comes, the `default_config` serves; without one, a stream gets
 * Envoy's missing-config reply (500, response flag NFCF).
 *
 * @module
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { ExtensionConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import type { ServerContext } from "../config/extensions.ts";
import { type EcdsProblem, ecdsSourceProblems, watchEcdsConfig } from "../xds/ecds_config.ts";
import type { HttpFilterFactoryCb, StreamFilter, StreamFilterCallbacks } from "./filter.ts";

/** Envoy's MissingConfigFilter: no config arrived and there is no default. */
function missingConfigFilter(cb: StreamFilterCallbacks): StreamFilter {
  return {
    decoder: {
      decodeHeaders() {
        cb.streamInfo.setFlag("NFCF");
        cb.sendLocalReply(500, "");
        return "stop";
      },
    },
  };
}

/**
 * The factory of an ECDS filter named `name`: each stream gets a filter from the current
 * config's factory (built once per update, not per stream).
 */
export function ecdsHttpFilter(
  name: string,
  source: ExtensionConfigSource,
  server: ServerContext,
  statPrefix: string,
): HttpFilterFactoryCb {
  const build = (config: Any): HttpFilterFactoryCb => {
    const factory = server.extensions.byTypeUrl(config.typeUrl);
    if (!factory?.createHttpFilter) {
      throw new Error(`HTTP filter '${name}': no HTTP filter takes ${config.typeUrl}`);
    }
    return factory.createHttpFilter(config, server, statPrefix, name);
  };
  const holder = watchEcdsConfig<HttpFilterFactoryCb>(
    "http_filter",
    name,
    source,
    build,
    missingConfigFilter,
  );
  return (cb) => holder.current(cb);
}

/** What Envoy refuses in an HTTP filter's `config_discovery` (`name` is the filter's). */
export function ecdsFilterProblems(
  name: string,
  source: ExtensionConfigSource,
  extensions: ServerContext["extensions"],
): EcdsProblem[] {
  return ecdsSourceProblems(
    name,
    source,
    extensions,
    (f) => f.createHttpFilter !== undefined,
    "an HTTP filter",
  );
}
