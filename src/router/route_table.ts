/**
 * A `RouteConfiguration` compiled into a matcher: virtual host by `:authority`, then the first
 * matching route, then its cluster. Everything is compiled once, so a bad regex or a duplicate
 * domain fails when the config loads, and routing a request allocates nothing beyond its
 * answer (and not even that for routes to a fixed cluster).
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { HeaderMap } from "../http/header_map.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { DomainTable } from "./domains.ts";
import { validateMirrorPolicies } from "./shadow_writer.ts";
import { HeaderParser } from "./header_mutation.ts";
import type { CompiledRoute, CompiledWeightedCluster } from "./route_entry.ts";
import { CompiledVirtualHost, type RouteConfigLevel } from "./virtual_host.ts";

export { rewritePath } from "./path_rewrite.ts";
export type {
  CompiledRoute,
  CompiledWeightedCluster,
  DirectResponse,
  RouteActionKind,
} from "./route_entry.ts";
export type { CompiledVirtualHost } from "./virtual_host.ts";

/** What routing reads from a request. */
export interface RouteMatchContext {
  headers: HeaderMap;
  /** A random value in [0, 2^32) drawn once per request (runtime_fraction, weighted clusters). */
  random: number;
  /** The downstream TLS peer, for `match.tls_context`; absent on plain-text connections. */
  tls?: { presented: boolean; validated: boolean };
}

/** The route a request matched, with its cluster resolved. Shared between requests: read only. */
export interface MatchedRoute {
  readonly route: CompiledRoute;
  readonly virtualHost: CompiledVirtualHost;
  /**
   * The cluster to forward to; undefined for redirects and direct responses, and when
   * `cluster_header` names no cluster (Envoy answers 503 NC).
   */
  readonly clusterName?: string;
  /** The weighted cluster picked, for its header mutations and host rewrite. */
  readonly weightedCluster?: CompiledWeightedCluster;
}

/** Options of a route table. */
export interface RouteTableOptions {
  /**
   * Rejects routes to clusters this says do not exist, unless the configuration sets
   * `validate_clusters: false`. Pass it where Envoy validates by default (static configs).
   */
  clusterExists?: (name: string) => boolean;
  /** The configuration came from RDS: `vhds` may add virtual hosts to it. */
  fromRds?: boolean;
}

/** Envoy's `max_direct_response_body_size_bytes` when unset. */
const DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

/** A compiled route configuration. */
export class RouteTable {
  readonly name: string;
  readonly config: RouteConfiguration;
  readonly virtualHosts: readonly CompiledVirtualHost[];
  /** `internal_only_headers`, lower case, for the connection manager to strip. */
  readonly internalOnlyHeaders: readonly string[];
  readonly #domains: DomainTable<CompiledVirtualHost>;

  /**
   * @throws {Error} naming the field, for what Envoy rejects (bad regexes, duplicate domains,
   * unknown clusters, ...) and for features denvoy does not implement.
   */
  constructor(config: RouteConfiguration, opts: RouteTableOptions = {}) {
    this.name = config.name;
    this.config = config;
    if (config.vhds && !opts.fromRds) {
      throw new Error("vhds: virtual hosts on demand need a route configuration from RDS");
    }
    if (config.clusterSpecifierPlugins.length > 0) {
      throw new Error("cluster_specifier_plugins: cluster specifier plugins are not supported");
    }
    validateMirrorPolicies(
      config.requestMirrorPolicies,
      "",
      config.validateClusters === false ? undefined : opts.clusterExists,
    );
    const level: RouteConfigLevel = {
      name: config.name,
      requestHeaderParser: HeaderParser.compile(
        config.requestHeadersToAdd,
        config.requestHeadersToRemove,
        "route_config",
        "request",
      ),
      responseHeaderParser: HeaderParser.compile(
        config.responseHeadersToAdd,
        config.responseHeadersToRemove,
        "route_config",
        "response",
      ),
      mostSpecificHeaderMutationsWins: config.mostSpecificHeaderMutationsWins,
      typedPerFilterConfig: new Map<string, Any>(Object.entries(config.typedPerFilterConfig)),
      requestMirrorPolicies: config.requestMirrorPolicies,
      maxDirectResponseBodyBytes: config.maxDirectResponseBodySizeBytes ??
        DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES,
      ignorePathParameters: config.ignorePathParametersInPathMatching,
      clusterExists: config.validateClusters === false ? undefined : opts.clusterExists,
    };
    this.internalOnlyHeaders = config.internalOnlyHeaders.map((h) => h.toLowerCase());
    this.#domains = new DomainTable(config.name, config.ignorePortInHostMatching);
    this.virtualHosts = config.virtualHosts.map((vh, i) => {
      const field = `virtual_hosts[${i}]`;
      const compiled = new CompiledVirtualHost(vh, level, field);
      for (const d of vh.domains) {
        try {
          this.#domains.add(d, compiled);
        } catch (e) {
          throw new Error(`${field}.domains: ${e instanceof Error ? e.message : e}`);
        }
      }
      return compiled;
    });
  }

  /** The virtual host for an `:authority`, or undefined. */
  virtualHost(authority: string | undefined): CompiledVirtualHost | undefined {
    return this.#domains.find(authority);
  }

  /** Routes a request; undefined means no route (Envoy's 404 with response flag NR). */
  route(ctx: RouteMatchContext): MatchedRoute | undefined {
    return this.#domains.find(ctx.headers.get(":authority"))?.route(ctx);
  }
}
