/**
 * The extension registry: every filter, access logger, transport socket, cluster type, tracer
 * and stat sink that denvoy implements registers a factory here, keyed by the type URL of its
 * config and by its well-known name (as Envoy's registry is). The loader resolves every
 * `typed_config` through it; a config naming anything else is rejected as unsupported, with
 * the extension's name, type URL and place in the file — never silently ignored.
 */
import type { RouteConfigProviders } from "../xds/route_config_provider.ts";
import type { ScopedRouteProviders } from "../xds/scoped_route_provider.ts";
import type { ResourceMonitor } from "../extensions/resource_monitors/resource_monitor.ts";
import type { Message } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { HttpFilterFactoryCb } from "../http/filter.ts";
import type { NetworkFilterFactoryCb } from "../network/filter.ts";
import type {
  DownstreamTransportSocketFactory,
  UpstreamTransportSocketFactory,
} from "../network/transport_socket.ts";
import type { ClusterManager } from "../upstream/cluster_manager.ts";
import type { ConnPoolManager } from "../upstream/conn_pool.ts";
import type { Scope, Store } from "../stats/store.ts";
import type { ListenerFilter } from "../listener/listener_filter.ts";
import type {
  CompressorLibrary,
  DecompressorLibrary,
} from "../extensions/compression/compression.ts";
import type { ClusterStatsCache } from "../stats/data_path_stats.ts";
import type { StatsSink, StatsSinkContext } from "../stats/sink.ts";
import { FieldSupport, type FieldTable } from "./field_support.ts";
import type { Secret } from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import { CORE_FIELDS } from "./core_fields.ts";

/** Where an extension plugs in, by Envoy's category names. */
export type ExtensionCategory =
  | "envoy.filters.http"
  | "envoy.filters.network"
  | "envoy.filters.listener"
  | "envoy.filters.udp_listener"
  | "envoy.access_loggers"
  | "envoy.transport_sockets.downstream"
  | "envoy.transport_sockets.upstream"
  | "envoy.upstream_options"
  | "envoy.clusters"
  | "envoy.tracers"
  | "envoy.stats_sinks"
  | "envoy.health_checkers"
  | "envoy.health_check.event_sinks"
  | "envoy.load_balancing_policies"
  | "envoy.compression.compressor"
  | "envoy.compression.decompressor"
  | "envoy.matching"
  | "envoy.rbac"
  | "envoy.formatter"
  | "envoy.internal_redirect_predicates"
  | "envoy.retry_host_predicates"
  | "envoy.retry_priorities"
  | "envoy.http.stateful_header_formatters"
  | "envoy.resource_monitors"
  | "envoy.bootstrap";

/**
 * The extension points: the field that holds an extension's config (`message type.field`) and
 * the categories it takes. The server builds each from its factory's hook for that category
 * (`createNetworkFilter`, `createHttpFilter`, `createStatsSink`, ...), so an extension of
 * another category named there cannot work.
 */
export const EXTENSION_POINTS: Readonly<Record<string, readonly ExtensionCategory[]>> = {
  "envoy.config.listener.v3.Filter.typed_config": ["envoy.filters.network"],
  "envoy.config.listener.v3.ListenerFilter.typed_config": ["envoy.filters.listener"],
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter.typed_config": [
    "envoy.filters.http",
  ],
  "envoy.config.accesslog.v3.AccessLog.typed_config": ["envoy.access_loggers"],
  "envoy.config.metrics.v3.StatsSink.typed_config": ["envoy.stats_sinks"],
  "envoy.config.core.v3.TransportSocket.typed_config": [
    "envoy.transport_sockets.downstream",
    "envoy.transport_sockets.upstream",
  ],
  "envoy.config.cluster.v3.Cluster.typed_extension_protocol_options": ["envoy.upstream_options"],
  "envoy.config.overload.v3.ResourceMonitor.typed_config": ["envoy.resource_monitors"],
};

/**
 * Why extension `f` cannot be used at extension point `owner` (see EXTENSION_POINTS), or
 * undefined when it can (or the point is not one the server builds by category).
 */
export function misplacedExtension(
  f: ExtensionFactory,
  owner: string | undefined,
): string | undefined {
  const expected = owner ? EXTENSION_POINTS[owner] : undefined;
  if (!expected || expected.includes(f.category)) return undefined;
  return `extension '${f.name}' (category ${f.category}) cannot be used here: ` +
    `this field takes ${expected.join(" or ")}`;
}

/** What a factory's validation step may use. */
export interface ExtensionValidationContext {
  /** Reports a problem in this extension's config; `field` is relative to the config. */
  report(message: string, field?: string): void;
  /** The registry, for extensions that hold other extensions (HCM holds HTTP filters). */
  extensions: ExtensionRegistry;
  /**
   * Reports a feature of this extension that denvoy does not implement yet: listed like an
   * unsupported extension (`<extension>: <feature>`), not as a config error.
   */
  unsupported(feature: string, field?: string): void;
  /** Names of the bootstrap's static clusters, for extensions that must name one. */
  clusters?: ReadonlySet<string>;
  /** The bootstrap's `static_resources.secrets`, for TLS contexts that name one. */
  secrets?: readonly Secret[];
  /** The config is a route's (`typed_per_filter_config`), not a filter's. */
  perRoute?: boolean;
}

/** One extension denvoy implements. */
export interface ExtensionFactory {
  /** Envoy's well-known name, e.g. `envoy.filters.http.router`. */
  name: string;
  /** Older names Envoy still accepts for it. */
  aliases?: string[];
  category: ExtensionCategory;
  /** Full names of the config messages accepted as its `typed_config`. */
  configTypes: string[];
  /** A terminal filter ends its chain (router, HCM, tcp_proxy): it must come last. */
  terminal?: boolean;
  /** Full names of its per-route configs (`typed_per_filter_config`). */
  perRouteConfigTypes?: string[];
  /**
   * The fields of its config messages (and of the messages nested in them) that it implements;
   * any other field a config sets is refused (see field_support.ts).
   */
  fields?: FieldTable;
  /**
   * Checks what the schema cannot (cross-field rules Envoy enforces when it builds the
   * extension). Runs in `--mode validate` too, so it must not open sockets or start work.
   */
  validate?(config: Message, ctx: ExtensionValidationContext): void;
  /**
   * For HTTP filters: builds the per-stream factory from the filter's `typed_config`
   * (undefined when the filter was named without one). `filterName` is its name in the chain
   * (`HttpFilter.name`), the key of its `typed_per_filter_config` and of the dynamic metadata it
   * sets. Throws an Error for configs it rejects.
   */
  createHttpFilter?(
    config: Any | undefined,
    ctx: ServerContext,
    statPrefix: string,
    filterName?: string,
  ): HttpFilterFactoryCb;
  /**
   * For listener filters: builds the filter (shared by the listener's sockets) from its
   * `typed_config`. Throws an Error for configs it rejects.
   */
  createListenerFilter?(config: Any | undefined, ctx: ListenerFilterContext): ListenerFilter;
  /** For network filters: builds the per-connection factory from the filter's `typed_config`. */
  createNetworkFilter?(config: Any | undefined, ctx: ServerContext): NetworkFilterFactoryCb;
  /**
   * For transport sockets on filter chains: the chain's handshake factory, or undefined for
   * plaintext (raw_buffer: the connection keeps its raw socket). `where` places errors.
   */
  createDownstreamTransportSocket?(
    config: Any | undefined,
    ctx: TransportSocketContext,
    opts: { where: string; handshakeTimeoutMs: number },
  ): DownstreamTransportSocketFactory | undefined;
  /** For transport sockets on clusters: as above, for upstream connections. */
  createUpstreamTransportSocket?(
    config: Any | undefined,
    where: string,
    ctx: TransportSocketContext,
  ): UpstreamTransportSocketFactory | undefined;
  /**
   * For stat sinks: builds the sink in the calling isolate from its unpacked config. Throws an
   * Error for configs it rejects (Envoy's sink construction errors).
   */
  createStatsSink?(config: Message, ctx: StatsSinkContext): StatsSink;
  /** For resource monitors: builds the monitor the overload manager samples. */
  createResourceMonitor?(config: Message): ResourceMonitor;
  /** For compressor libraries: builds the library from its unpacked config. */
  createCompressorLibrary?(config: Message): CompressorLibrary;
  /** For decompressor libraries: builds the library from its unpacked config. */
  createDecompressorLibrary?(config: Message): DecompressorLibrary;
}

/** What transport sockets are built with: the registry, static secrets, stats. */
export interface TransportSocketContext {
  extensions: ExtensionRegistry;
  /** `static_resources.secrets`, for `*_sds_secret_config(s)` without an `sds_config`. */
  secrets?: readonly Secret[];
  stats?: Store;
}

/** What a listener filter is built with: the server, and its listener's stats scope. */
export interface ListenerFilterContext {
  server: ServerContext;
  /**
   * `listener.<stat_prefix or address>.` (Envoy's listener scope, for legacy stats); known once
   * the listener is bound, so filters ask for it when they first count.
   */
  listenerScope(): Scope;
}

/** The server's shared parts that extensions are built with. */
export interface ServerContext extends TransportSocketContext {
  extensions: ExtensionRegistry;
  clusterManager: ClusterManager;
  /** This worker's upstream connection pools. */
  pools: ConnPoolManager;
  /** This isolate's stats store, and its per-cluster stats. */
  stats: Store;
  clusterStats: ClusterStatsCache;
  /** The worker isolate this context serves (per-worker stat names); undefined off the workers. */
  workerId?: number;
  /** RDS route tables of this isolate; without it, `rds` connection managers are refused. */
  routeConfigs?: RouteConfigProviders;
  /** Scoped route sets of this isolate (SRDS feeds them); needs `routeConfigs`. */
  scopedRoutes?: ScopedRouteProviders;
  /** This server's node id and service cluster (node, or --service-node/--service-cluster). */
  localInfo?: { nodeId: string; clusterName: string };
  /**
   * For network filters and what they hold: where they are configured (listener and filter
   * chain), the same in every worker; keys process-wide state such as local rate limit buckets.
   */
  placement?: string;
}

/** A filter as a chain lists it: its name and, when given, its config's type URL. */
export interface ChainEntry {
  name: string;
  typeUrl?: string;
}

/**
 * Envoy's rule for filter chains: a terminal filter must be last, and the last filter must be
 * terminal. Unknown filters are skipped (they are reported as unsupported elsewhere).
 * Calls `report(index, message)` for each violation.
 */
export function checkTerminalOrder(
  reg: ExtensionRegistry,
  chain: ChainEntry[],
  kind: "http" | "network",
  report: (index: number, message: string) => void,
): void {
  chain.forEach((e, i) => {
    const f = (e.typeUrl ? reg.byTypeUrl(e.typeUrl) : undefined) ??
      reg.byName(e.name);
    if (!f) return;
    const last = i === chain.length - 1;
    if (f.terminal && !last) {
      report(
        i,
        `terminal filter '${e.name}' (${f.name}) must be the last filter in a ${kind} filter chain`,
      );
    } else if (!f.terminal && last) {
      report(
        i,
        `non-terminal filter '${e.name}' (${f.name}) is the last filter in a ${kind} filter chain`,
      );
    }
  });
}

/** Factories by config type and by name. */
export class ExtensionRegistry {
  readonly #byType = new Map<string, ExtensionFactory>();
  readonly #byName = new Map<string, ExtensionFactory>();
  /** The implemented fields of every config message: the core's and each extension's. */
  readonly fields: FieldSupport = new FieldSupport(CORE_FIELDS);

  /** Adds a factory; a second factory for the same type or name is a programming error. */
  register(f: ExtensionFactory): void {
    if (f.fields) this.fields.declare(f.fields);
    for (const t of [...f.configTypes, ...(f.perRouteConfigTypes ?? [])]) {
      if (this.#byType.has(t)) throw new Error(`extension config type ${t} registered twice`);
      this.#byType.set(t, f);
    }
    for (const n of [f.name, ...(f.aliases ?? [])]) {
      if (this.#byName.has(n)) throw new Error(`extension name ${n} registered twice`);
      this.#byName.set(n, f);
    }
  }

  /** The factory accepting config messages of `typeName` (full message name). */
  byType(typeName: string): ExtensionFactory | undefined {
    return this.#byType.get(typeName);
  }

  /** The factory accepting a config `Any` of `typeUrl` (the type is the URL's last part). */
  byTypeUrl(typeUrl: string): ExtensionFactory | undefined {
    return this.#byType.get(typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
  }

  /** The factory registered under `name` or one of its aliases. */
  byName(name: string): ExtensionFactory | undefined {
    return this.#byName.get(name);
  }

  /** Every registered factory, once each. */
  all(): ExtensionFactory[] {
    return [...new Set(this.#byName.values())];
  }
}
