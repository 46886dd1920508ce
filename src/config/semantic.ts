/**
 * Checks Envoy makes when it builds the server from a schema-valid bootstrap: unique listener
 * and cluster names, no two listeners on one address, static routes that name defined
 * clusters, and each extension factory's own validation.
 */
import { listenerSocketOptions, type SocketOptionProblem } from "../network/socket_options.ts";
import {
  fromJson,
  isFieldSet,
  type JsonObject,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import type { Secret } from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import type { Cluster } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import type { HttpProtocolOptions } from "../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.ts";
import { unpackAny } from "./any.ts";
import type { Address } from "../../proto/gen/envoy/config/core/v3/address_pb.ts";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import type { HttpConnectionManager } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { apiRegistry, messageSchema, typeNameOfUrl } from "./api.ts";
import type { ConfigIssue } from "./errors.ts";
import type { ExtensionRegistry } from "./extensions.ts";
import { accessLogProblems } from "../extensions/access_loggers/access_log.ts";
import type { WalkContext } from "./proto_json.ts";
import type { Listener } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import type {
  Filter,
  ListenerFilter,
} from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import { ClusterConfigError, parseCluster } from "../upstream/cluster_info.ts";
import { FilterChainMatcher } from "../listener/filter_chain_match.ts";
import { FilterChainMatcherTree } from "../listener/filter_chain_matcher_tree.ts";
import { compileListenerFilterPredicate } from "../listener/listener_filters_config.ts";
import { checkTerminalOrder } from "./extensions.ts";
import { checkLayeredRuntime } from "../runtime/loader.ts";
import { checkStatsConfig } from "../stats/flush_config.ts";
import { checkOverloadManager } from "../server/overload_manager.ts";
import { pathSegments, position } from "./source.ts";
import type {
  ApiConfigSource,
  ConfigSource,
} from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { clusterSockets, listenerSockets, sdsRefs } from "../xds/sds_provider.ts";
import { dynamicHcmProblem, ecdsRefs } from "../xds/ecds_provider.ts";
import { ecdsSourceProblems } from "../xds/ecds_config.ts";
import {
  authoritySourceProblems,
  collectionProblems,
  configSourceProblems,
  grpcApiConfigSourceProblems,
  grpcClusterName,
} from "../xds/config_source.ts";
import { CDS, LDS, type ResourceType } from "../xds/resource_types.ts";

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** Reports issues at field paths, finding their position in whichever source has them. */
class Reporter {
  constructor(readonly ctxs: WalkContext[], readonly issues: ConfigIssue[]) {}

  report(path: string, message: string, fallback?: WalkContext) {
    const c = this.ctxs.find((c) => at(c.json, path) !== undefined) ?? fallback ?? this.ctxs[0];
    const p = c ? position(c.src, { path }) : { line: 0, col: 0 };
    this.issues.push({ kind: "semantic", file: c?.src.file ?? "", ...p, path, message });
  }

  /** Reports a set field of `typeName` that is not implemented where it is used. */
  refuseField(path: string, typeName: string, name: string, where: string) {
    const c = this.ctxs.find((c) => at(c.json, `${path}.${name}`) !== undefined) ?? this.ctxs[0];
    const p = c ? position(c.src, { path, key: name }) : { line: 0, col: 0 };
    this.issues.push({
      kind: "unsupported",
      file: c?.src.file ?? "",
      ...p,
      path,
      message: `field '${name}' is not supported yet ${where}`,
      field: { typeName, name },
    });
  }

  /** Reports a feature denvoy does not implement yet (listed like an unsupported extension). */
  unsupported(path: string, feature: string) {
    const c = this.ctxs.find((c) => at(c.json, path) !== undefined) ?? this.ctxs[0];
    const p = c ? position(c.src, { path }) : { line: 0, col: 0 };
    this.issues.push({
      kind: "unsupported",
      file: c?.src.file ?? "",
      ...p,
      path,
      message: `unsupported: ${feature}`,
      extension: { name: feature, typeUrl: "" },
    });
  }
}

/** `ip:port` (or `unix:path`) of a listener address, for duplicate detection. */
function addressKey(a: Address | undefined): string {
  const sa = a?.address;
  if (sa?.case === "socketAddress") {
    const ps = sa.value.portSpecifier;
    return `${sa.value.address}:${ps.case === "portValue" ? ps.value : ps.value ?? ""}`;
  }
  if (sa?.case === "pipe") return `unix:${sa.value.path}`;
  return "";
}

/** Runs the cross-object checks; appends to `issues`. */
export function checkBootstrap(
  b: Bootstrap,
  ctxs: WalkContext[],
  extensions: ExtensionRegistry,
  issues: ConfigIssue[],
): void {
  const r = new Reporter(ctxs, issues);
  const listeners = b.staticResources?.listeners ?? [];
  const seenListener = new Map<string, number>();
  const seenAddress = new Map<string, number>();
  listeners.forEach((l, i) => {
    const path = `static_resources.listeners[${i}]`;
    if (l.name) {
      const prev = seenListener.get(l.name);
      if (prev !== undefined) {
        r.report(
          `${path}.name`,
          `duplicate listener name '${l.name}' (also static_resources.listeners[${prev}])`,
        );
      } else seenListener.set(l.name, i);
    }
    const key = addressKey(l.address);
    const port = key.slice(key.lastIndexOf(":") + 1);
    if (key && port !== "0" && !key.startsWith("unix:") && l.address) {
      const prev = seenAddress.get(key);
      if (prev !== undefined && (l.bindToPort ?? true)) {
        r.report(
          `${path}.address`,
          `listener '${l.name}' has the same address ${key} as static_resources.listeners[${prev}]`,
        );
      } else seenAddress.set(key, i);
    }
    checkListener(l, path, extensions, r);
  });
  // Envoy rebalances a connection use_original_dst hands to a balanced listener
  // (`onAcceptWorker` with `rebalanced` false); here a hand-off stays on its worker.
  listeners.forEach((l, i) => {
    if (!l.connectionBalanceConfig) return;
    const handsOff = listeners.findIndex((o, j) => j !== i && o.useOriginalDst);
    if (handsOff < 0) return;
    r.refuseField(
      `static_resources.listeners[${i}]`,
      "envoy.config.listener.v3.Listener",
      "connection_balance_config",
      `while another listener (static_resources.listeners[${handsOff}]) has use_original_dst ` +
        "(a connection it hands to this listener would not be rebalanced across workers)",
    );
  });
  b.admin?.accessLog.forEach((log, i) => {
    for (const p of accessLogProblems(log)) r.report(`admin.access_log[${i}]${p.field}`, p.message);
  });

  // The admin listener never shares a port with a data listener (Envoy would fail to bind).
  const admin = b.admin?.address?.address;
  if (admin?.case === "socketAddress" && admin.value.portSpecifier.case === "portValue") {
    const port = admin.value.portSpecifier.value;
    const wildcard = (ip: string) => ip === "0.0.0.0" || ip === "::" || ip === "";
    listeners.forEach((l) => {
      const sa = l.address?.address;
      if (
        port !== 0 && sa?.case === "socketAddress" && (l.bindToPort ?? true) &&
        sa.value.portSpecifier.case === "portValue" && sa.value.portSpecifier.value === port &&
        (sa.value.address === admin.value.address || wildcard(sa.value.address) ||
          wildcard(admin.value.address))
      ) {
        r.report(
          "admin.address",
          `the admin address ${admin.value.address}:${port} shares its port with listener ` +
            `'${l.name}' (${sa.value.address}:${port})`,
        );
      }
    });
  }

  for (const p of checkStatsConfig(b)) r.report(p.path, p.message);
  checkDynamicResources(b, r);
  checkWatchdogs(b, r);

  const secrets = b.staticResources?.secrets ?? [];
  checkDownstreamProxyProtocolOverHttp(b, r);
  const clusters = new Set<string>();
  (b.staticResources?.clusters ?? []).forEach((c, i) => {
    const path = `static_resources.clusters[${i}]`;
    if (clusters.has(c.name)) r.report(`${path}.name`, `duplicate cluster name '${c.name}'`);
    clusters.add(c.name);
    checkCluster(c, path, r);
  });

  // Envoy's cluster manager refuses a local cluster (zone aware routing) it does not have.
  const localCluster = b.clusterManager?.localClusterName;
  if (localCluster && !clusters.has(localCluster)) {
    r.report(
      "cluster_manager.local_cluster_name",
      `local cluster '${localCluster}' must be defined`,
    );
  }

  for (const p of checkOverloadManager(b, extensions)) {
    if (p.unsupported) r.unsupported(p.path, p.message);
    else r.report(p.path, p.message);
  }

  for (const issue of checkLayeredRuntime(b.layeredRuntime)) {
    if (issue.unsupported) r.unsupported(issue.path, issue.message);
    else r.report(issue.path, issue.message);
  }

  checkTypedConfigs(ctxs, extensions, clusters, secrets, r, issues);
}

/**
 * Each typed config's own validation (extension factories), and the clusters an inline route
 * table names, which must be among `clusters`.
 */
function checkTypedConfigs(
  ctxs: WalkContext[],
  extensions: ExtensionRegistry,
  clusters: Set<string>,
  secrets: readonly Secret[],
  r: Reporter,
  issues: ConfigIssue[],
): void {
  for (const ctx of ctxs) {
    const json = ctx.json;
    for (const use of ctx.anys) {
      const typeName = typeNameOfUrl(use.typeUrl);
      const factory = extensions.byType(typeName);
      if (!use.known || (!factory?.validate && typeName !== HCM)) continue;
      const raw = at(json, use.path);
      if (!raw || typeof raw !== "object" || Array.isArray(raw)) continue;
      const { "@type": _, ...body } = raw as JsonObject;
      let msg: Message;
      try {
        msg = fromJson(messageSchema(typeName), body, { registry: apiRegistry() });
      } catch {
        continue; // already reported by the schema walk
      }
      const fallback = ctx;
      if (typeName === HCM) {
        checkRouteClusters(msg as HttpConnectionManager, use.path, clusters, r, fallback);
      }
      factory?.validate?.(msg, {
        extensions,
        clusters,
        secrets,
        perRoute: use.path.includes(".typed_per_filter_config["),
        report: (message, field) =>
          r.report(field ? `${use.path}.${field}` : use.path, message, fallback),
        unsupported: (feature, field) => {
          const path = field ? `${use.path}.${field}` : use.path;
          const name = `${factory.name}: ${feature}`;
          issues.push({
            kind: "unsupported",
            file: ctx.src.file,
            ...position(ctx.src, { path }),
            path,
            message: `unsupported: ${name} (${use.typeUrl})`,
            extension: { name, typeUrl: use.typeUrl },
          });
        },
      });
    }
  }
}

/** The cluster manager's own checks (no DNS, no sockets), so validate finds what serve would. */
function checkCluster(c: Cluster, path: string, r: Reporter) {
  checkUpstreamHttpOptions(c, path, r);
  try {
    parseCluster(c);
  } catch (e) {
    if (!(e instanceof ClusterConfigError)) throw e;
    // The upstream HTTP/2 case is already named by the protocol options extension.
    for (const p of e.problems.filter((p) => !/^upstream HTTP\/[23]/.test(p))) {
      if (/not supported/.test(p)) r.unsupported(path, `cluster '${c.name}': ${p}`);
      else r.report(path, `cluster '${c.name}': ${p}`);
    }
  }
}

/**
 * The checks of `checkBootstrap` for the resources of an xDS response (`resources[i]`), so a
 * resource is validated exactly as the same object in static config: listeners and clusters
 * as built, typed configs by their factories, inline route tables against `clusters` (the
 * clusters known when the update applies). Route configurations and load assignments are
 * compiled by their subscribers.
 */
export function checkDiscoveryResources(
  resources: readonly Message[],
  ctx: WalkContext,
  extensions: ExtensionRegistry,
  clusters: Set<string>,
  issues: ConfigIssue[],
  secrets: readonly Secret[] = [],
): void {
  const r = new Reporter([ctx], issues);
  const names = new Map<string, number>();
  resources.forEach((m, i) => {
    const path = `resources[${i}]`;
    const name = (m as { name?: unknown }).name;
    if (typeof name === "string") {
      const prev = names.get(name);
      if (prev !== undefined) {
        r.report(`${path}.name`, `duplicate resource name '${name}' (also resources[${prev}])`);
      } else names.set(name, i);
    }
    if (m.$typeName === "envoy.config.listener.v3.Listener") {
      checkListener(m as Listener, path, extensions, r);
    } else if (m.$typeName === "envoy.config.cluster.v3.Cluster") {
      checkCluster(m as Cluster, path, r);
    }
  });
  checkTypedConfigs([ctx], extensions, clusters, secrets, r, issues);
}

/**
 * What building the listener in a worker refuses (listener.ts): chains without a filter or
 * with more than one, filters out of terminal order, bad CIDR ranges, bad access log filters;
 * and `bind_to_port: false`, which workers would not honour.
 */
function checkListener(
  l: Listener,
  path: string,
  extensions: ExtensionRegistry,
  r: Reporter,
) {
  // Workers bind every listener; one that only receives redirected connections is not built.
  if (l.bindToPort === false) {
    r.unsupported(`${path}.bind_to_port`, "listeners that do not bind to their port");
  }
  const chains = l.filterChains.map((c, i) => ({ c, at: `${path}.filter_chains[${i}]` }));
  if (l.defaultFilterChain) {
    chains.push({ c: l.defaultFilterChain, at: `${path}.default_filter_chain` });
  }
  let chainsOk = true;
  for (const { c, at } of chains) {
    const ts = c.transportSocket?.configType;
    if (ts?.case === "typedConfig") {
      const f = extensions.byType(typeNameOfUrl(ts.value.typeUrl));
      if (f?.category === "envoy.transport_sockets.upstream") {
        r.report(
          `${at}.transport_socket`,
          `'${f.name}' is an upstream transport socket: it cannot be used on a filter chain`,
        );
      }
    }
    if (c.filters.length === 0) r.report(at, "a filter chain needs at least one filter");
    checkTerminalOrder(
      extensions,
      c.filters.map((f) => ({
        name: f.name,
        typeUrl: f.configType.case === "typedConfig"
          ? f.configType.value.typeUrl
          : f.configType.case === "configDiscovery"
          ? f.configType.value.typeUrls[0]
          : undefined,
      })),
      "network",
      (i, message) => r.report(`${at}.filters[${i}]`, message),
    );
    c.filters.forEach((f, j) => {
      if (f.configType.case !== "configDiscovery") return;
      const problems = ecdsSourceProblems(
        f.name,
        f.configType.value,
        extensions,
        (x) => x.createNetworkFilter !== undefined,
        "a network filter",
      );
      for (const p of problems) {
        const field = `${at}.filters[${j}].config_discovery.${p.field}`;
        if (p.unsupported) r.unsupported(field, p.message);
        else r.report(field, p.message);
      }
      const hcm = dynamicHcmProblem(f.name, f.configType.value.defaultConfig);
      if (hcm) r.unsupported(`${at}.filters[${j}].config_discovery.default_config`, hcm);
    });
    const tls = c.transportSocket?.configType;
    if (tls?.case === "typedConfig" && tls.value.typeUrl.endsWith(".UpstreamTlsContext")) {
      r.report(
        `${at}.transport_socket`,
        "the TLS transport socket of a filter chain takes a DownstreamTlsContext",
      );
    }
    if (!l.filterChainMatcher) {
      try {
        new FilterChainMatcher([{ config: c, value: 0 }]);
      } catch (e) {
        r.report(`${at}.filter_chain_match`, (e as Error).message);
        chainsOk = false;
      }
    }
  }
  // What only the whole listener shows: two chains with the same rules, the matcher tree.
  if (chainsOk) {
    const all = l.filterChains.map((c) => ({ config: c, value: 0 }));
    try {
      if (l.filterChainMatcher) new FilterChainMatcherTree(l.filterChainMatcher, all);
      else new FilterChainMatcher(all);
    } catch (e) {
      const field = l.filterChainMatcher ? "filter_chain_matcher" : "filter_chains";
      r.report(`${path}.${field}`, (e as Error).message);
    }
  }
  l.accessLog.forEach((log, i) => {
    for (const p of accessLogProblems(log)) {
      r.report(`${path}.access_log[${i}]${p.field}`, p.message);
    }
  });
  const socketOptionProblems: SocketOptionProblem[] = [];
  listenerSocketOptions(l.socketOptions, socketOptionProblems);
  for (const p of socketOptionProblems) {
    if (p.unsupported) r.unsupported(`${path}.${p.field}`, p.message);
    else r.report(`${path}.${p.field}`, p.message);
  }
  const balance = l.connectionBalanceConfig?.balanceType;
  if (balance?.case === "extendBalance") {
    r.unsupported(
      `${path}.connection_balance_config.extend_balance`,
      "connection balancer extensions (only exact_balance is implemented)",
    );
  }
  l.listenerFilters.forEach((f, i) => {
    if (f.configType.case !== "configDiscovery") return;
    const problems = ecdsSourceProblems(
      f.name,
      f.configType.value,
      extensions,
      (x) => x.createListenerFilter !== undefined,
      "a listener filter",
    );
    for (const p of problems) {
      const field = `${path}.listener_filters[${i}].config_discovery.${p.field}`;
      if (p.unsupported) r.unsupported(field, p.message);
      else r.report(field, p.message);
    }
  });
  l.listenerFilters.forEach((f, i) => {
    if (!f.filterDisabled) return;
    const at = `${path}.listener_filters[${i}].filter_disabled`;
    try {
      compileListenerFilterPredicate(f.filterDisabled, at);
    } catch (e) {
      r.report(at, (e as Error).message);
    }
  });
}

const PROXY_PROTOCOL_LISTENER_FILTER =
  "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol";
const UPSTREAM_PROXY_PROTOCOL =
  "envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport";

/**
 * Envoy sends an upstream PROXY header carrying the downstream PROXY header's addresses over
 * HTTP too (pools keyed by them); denvoy's HTTP pools send the upstream connection's own
 * (as Envoy does when the downstream had no PROXY header). Where the difference would show, a
 * listener with the proxy_protocol listener filter and an HTTP connection manager while some
 * cluster speaks upstream PROXY protocol, the listener is refused.
 */
function checkDownstreamProxyProtocolOverHttp(b: Bootstrap, r: Reporter) {
  const ppCluster = (b.staticResources?.clusters ?? []).some((c) => {
    const ts = c.transportSocket?.configType;
    return ts?.case === "typedConfig" &&
      typeNameOfUrl(ts.value.typeUrl) === UPSTREAM_PROXY_PROTOCOL;
  });
  if (!ppCluster) return;
  (b.staticResources?.listeners ?? []).forEach((l, i) => {
    // A filter from ECDS may be any of its type_urls.
    const types = (f: ListenerFilter | Filter) =>
      f.configType.case === "typedConfig"
        ? [typeNameOfUrl(f.configType.value.typeUrl)]
        : f.configType.case === "configDiscovery"
        ? f.configType.value.typeUrls.map(typeNameOfUrl)
        : [];
    const pp = l.listenerFilters.some((f) => types(f).includes(PROXY_PROTOCOL_LISTENER_FILTER));
    const chains = [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])];
    const http = chains.some((c) => c.filters.some((f) => types(f).includes(HCM)));
    if (pp && http) {
      r.unsupported(
        `static_resources.listeners[${i}].listener_filters`,
        "the downstream PROXY header's addresses in upstream PROXY headers of HTTP connections " +
          "(a proxy_protocol listener filter with an HTTP connection manager while a cluster " +
          "uses upstream_proxy_protocol)",
      );
    }
  });
}

const CORE_HTTP = "envoy.config.core.v3.HttpProtocolOptions";
const HTTP1 = "envoy.config.core.v3.Http1ProtocolOptions";
const UPSTREAM_HTTP = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
/**
 * What the upstream pools implement of the HTTP options they share with the connection
 * manager (which implements more of them, see http/conn_manager_fields.ts).
 */
const UPSTREAM_IMPLEMENTED: Readonly<Record<string, ReadonlySet<string>>> = {
  [CORE_HTTP]: new Set([
    "idle_timeout",
    "max_requests_per_connection",
    "max_headers_count",
    "max_stream_duration",
    // Envoy documents it as having no effect upstream.
    "headers_with_underscores_action",
  ]),
  [HTTP1]: new Set(["header_key_format", "allow_chunked_length", "enable_trailers"]),
};

/** Refuses set fields of a cluster's HTTP options that only the downstream side implements. */
function checkUpstreamHttpOptions(c: Cluster, path: string, r: Reporter) {
  const refuse = (msg: Message | undefined, typeName: string, at: string) => {
    if (!msg) return;
    const desc = apiRegistry().getMessage(typeName)!;
    for (const f of desc.fields) {
      if (!UPSTREAM_IMPLEMENTED[typeName].has(f.name) && isFieldSet(msg, f)) {
        r.refuseField(at, typeName, f.name, "for upstream connections");
      }
    }
  };
  refuse(c.commonHttpProtocolOptions, CORE_HTTP, `${path}.common_http_protocol_options`);
  refuse(c.httpProtocolOptions, HTTP1, `${path}.http_protocol_options`);
  for (const [key, any] of Object.entries(c.typedExtensionProtocolOptions)) {
    if (typeNameOfUrl(any.typeUrl) !== UPSTREAM_HTTP) continue;
    const o = unpackAny<HttpProtocolOptions>(any);
    const at = `${path}.typed_extension_protocol_options[${JSON.stringify(key)}]`;
    refuse(o?.commonHttpProtocolOptions, CORE_HTTP, `${at}.common_http_protocol_options`);
    const explicit = o?.upstreamProtocolOptions;
    if (explicit?.case === "explicitHttpConfig") {
      const p = explicit.value.protocolConfig;
      if (p.case === "httpProtocolOptions") {
        refuse(p.value, HTTP1, `${at}.explicit_http_config.http_protocol_options`);
      }
    } else if (explicit?.case === "useDownstreamProtocolConfig") {
      refuse(
        explicit.value.httpProtocolOptions,
        HTTP1,
        `${at}.use_downstream_protocol_config.http_protocol_options`,
      );
    } else if (explicit?.case === "autoConfig") {
      refuse(explicit.value.httpProtocolOptions, HTTP1, `${at}.auto_config.http_protocol_options`);
    }
  }
}

/**
 * Without `ads_config`, SDS secrets, ECDS filter configs and RTDS layers of the static config
 * cannot come over ADS (Envoy fails at start-up).
 */
function checkAdsUses(b: Bootstrap, r: Reporter) {
  const message = (what: string) =>
    `ADS must be configured to support an ADS config source (${what})`;
  const isAds = (cs: ConfigSource | undefined) => cs?.configSourceSpecifier.case === "ads";
  (b.staticResources?.listeners ?? []).forEach((l, i) => {
    for (const ref of sdsRefs(listenerSockets(l))) {
      if (isAds(ref.configSource)) {
        r.report(`static_resources.listeners[${i}]`, message(`secret '${ref.name}'`));
      }
    }
    for (const ref of ecdsRefs(l)) {
      if (isAds(ref.source.configSource)) {
        r.report(`static_resources.listeners[${i}]`, message(`filter config '${ref.name}'`));
      }
    }
  });
  (b.staticResources?.clusters ?? []).forEach((c, i) => {
    for (const ref of sdsRefs(clusterSockets(c))) {
      if (isAds(ref.configSource)) {
        r.report(`static_resources.clusters[${i}]`, message(`secret '${ref.name}'`));
      }
    }
  });
  b.layeredRuntime?.layers.forEach((l, i) => {
    if (l.layerSpecifier.case === "rtdsLayer" && isAds(l.layerSpecifier.value.rtdsConfig)) {
      r.report(`layered_runtime.layers[${i}].rtds_layer.rtds_config.ads`, message("RTDS"));
    }
  });
}

/** `dynamic_resources`: each config source must be one denvoy can fetch from. */
function checkDynamicResources(b: Bootstrap, r: Reporter) {
  const d = b.dynamicResources;
  if (!d?.adsConfig) {
    // Static EDS clusters fetching over ADS need it too (Envoy fails at start-up).
    (b.staticResources?.clusters ?? []).forEach((c, i) => {
      if (c.edsClusterConfig?.edsConfig?.configSourceSpecifier.case === "ads") {
        r.report(
          `static_resources.clusters[${i}].eds_cluster_config.eds_config.ads`,
          "ADS must be configured to support an ADS config source",
        );
      }
    });
  }
  if (!d?.adsConfig) checkAdsUses(b, r);
  const statics = new Map((b.staticResources?.clusters ?? []).map((c) => [c.name, c]));
  const check = (cs: ConfigSource | undefined, type: ResourceType, path: string) => {
    if (!cs) return;
    const problems = configSourceProblems(cs, type);
    for (const p of problems) {
      const at = p.field ? `${path}.${p.field}` : path;
      if (p.unsupported) r.unsupported(at, `${path}: ${p.message}`);
      else r.report(at, p.message);
    }
    // A REST source polls a static cluster that is not itself discovered (EDS), as in Envoy.
    const spec = cs.configSourceSpecifier;
    if (spec.case === "ads" && !d?.adsConfig) {
      r.report(`${path}.ads`, "ADS must be configured to support an ADS config source");
    }
    const name = spec.case !== "apiConfigSource"
      ? undefined
      : spec.value.apiType === 1
      ? spec.value.clusterNames[0]
      : grpcClusterName(spec.value);
    const cluster = name !== undefined ? statics.get(name) : undefined;
    const eds = cluster?.clusterDiscoveryType.case === "type" &&
      cluster.clusterDiscoveryType.value === 3;
    if (problems.length === 0 && name !== undefined && (!cluster || eds)) {
      r.report(
        `${path}.api_config_source.cluster_names`,
        `envoy::config::core::v3::ApiConfigSource must have a statically defined non-EDS ` +
          `cluster: '${name}' does not exist, was added via api, or is an EDS cluster`,
      );
    } else if (spec.case === "apiConfigSource" && spec.value.apiType !== 1) {
      checkGrpcH2(cluster, `${path}.api_config_source.grpc_services[0].envoy_grpc.cluster_name`);
    }
  };
  /** gRPC needs HTTP/2: a cluster without it could never carry the stream. */
  const checkGrpcH2 = (cluster: Cluster | undefined, at: string) => {
    if (!cluster) return;
    let h2: boolean;
    try {
      h2 = parseCluster(cluster).info.upstreamProtocol !== undefined;
    } catch {
      return; // the cluster's own problems are reported with it
    }
    if (!h2) {
      r.report(
        at,
        `cluster '${cluster.name}' carries gRPC (xDS) and must use HTTP/2 ` +
          "(typed_extension_protocol_options: http2_protocol_options)",
      );
    }
  };
  /** A gRPC source's `envoy_grpc` cluster: static, not EDS, HTTP/2. */
  const checkGrpcCluster = (api: ApiConfigSource, at: string) => {
    const name = grpcClusterName(api);
    const cluster = name !== undefined ? statics.get(name) : undefined;
    const eds = cluster?.clusterDiscoveryType.case === "type" &&
      cluster.clusterDiscoveryType.value === 3;
    if (name !== undefined && (!cluster || eds)) {
      r.report(
        `${at}.grpc_services[0].envoy_grpc.cluster_name`,
        `envoy::config::core::v3::ApiConfigSource must have a statically defined non-EDS ` +
          `cluster: '${name}' does not exist, was added via api, or is an EDS cluster`,
      );
    } else checkGrpcH2(cluster, `${at}.grpc_services[0].envoy_grpc.cluster_name`);
  };
  // The xdstp:// config sources: an ADS stream each, for the names of their authorities.
  const authoritySource = (cs: ConfigSource, path: string, isDefault: boolean) => {
    const problems = authoritySourceProblems(cs, isDefault);
    for (const p of problems) r.report(p.field ? `${path}.${p.field}` : path, p.message);
    const spec = cs.configSourceSpecifier;
    if (problems.length === 0 && spec.case === "apiConfigSource") {
      checkGrpcCluster(spec.value, `${path}.api_config_source`);
    }
  };
  b.configSources.forEach((cs, i) => authoritySource(cs, `config_sources[${i}]`, false));
  if (b.defaultConfigSource) authoritySource(b.defaultConfigSource, "default_config_source", true);
  if (!d) return;
  if (d.adsConfig) {
    const at = "dynamic_resources.ads_config";
    const problems = grpcApiConfigSourceProblems(d.adsConfig, "");
    for (const p of problems) {
      const where = `${at}${p.field}`;
      if (p.unsupported) r.unsupported(where, `${at}: ${p.message}`);
      else r.report(where, p.message);
    }
    if (problems.length === 0) checkGrpcCluster(d.adsConfig, at);
  }
  const collection = (locator: string, field: string, type: ResourceType, cs: string) => {
    const config = type === LDS ? d.ldsConfig : d.cdsConfig;
    const problems = collectionProblems(locator, config, type);
    for (const p of problems) {
      const base = p.of === "locator" ? `dynamic_resources.${field}` : `dynamic_resources.${cs}`;
      const where = p.field ? `${base}.${p.field}` : base;
      if (p.unsupported) r.unsupported(where, `${base}: ${p.message}`);
      else r.report(where, p.message);
    }
    const spec = config?.configSourceSpecifier;
    if (problems.length > 0 || !spec) return;
    // Over ADS unless a DELTA_GRPC stream of its own (AGGREGATED_* api types mean the ADS).
    if (spec.case === "ads" || spec.case === "apiConfigSource" && spec.value.apiType !== 3) {
      if (!d.adsConfig) {
        r.report(
          `dynamic_resources.${cs}`,
          "ADS must be configured to support an ADS config source",
        );
      }
    } else if (spec.case === "apiConfigSource") {
      checkGrpcCluster(spec.value, `dynamic_resources.${cs}.api_config_source`);
    }
  };
  if (d.ldsResourcesLocator) {
    collection(d.ldsResourcesLocator, "lds_resources_locator", LDS, "lds_config");
  } else check(d.ldsConfig, LDS, "dynamic_resources.lds_config");
  if (d.cdsResourcesLocator) {
    collection(d.cdsResourcesLocator, "cds_resources_locator", CDS, "cds_config");
  } else check(d.cdsConfig, CDS, "dynamic_resources.cds_config");
}

const WATCHDOG = "envoy.config.bootstrap.v3.Watchdog";

/**
 * The guard dog that kills acts on worker isolates only: nothing outside the main thread can
 * stop it, so a kill set for the main thread (its own watchdog, or the deprecated `watchdog`
 * that covers every thread) is refused rather than counted and never applied.
 */
function checkWatchdogs(b: Bootstrap, r: Reporter) {
  const refuse = (w: Bootstrap["watchdog"], path: string, where: string) => {
    if (w?.killTimeout) r.refuseField(path, WATCHDOG, "kill_timeout", where);
    if (w?.multikillTimeout) r.refuseField(path, WATCHDOG, "multikill_timeout", where);
  };
  const why = "for the main thread (set it in watchdogs.worker_watchdog)";
  refuse(b.watchdogs?.mainThreadWatchdog, "watchdogs.main_thread_watchdog", why);
  refuse(b.watchdog, "watchdog", why);
}

/** Follows a field path through proto JSON. */
function at(json: JsonValue | undefined, path: string): JsonValue | undefined {
  let v = json;
  for (const seg of pathSegments(path)) {
    if (v === null || typeof v !== "object") return undefined;
    v = Array.isArray(v) ? v[seg as number] : (v as JsonObject)[seg as string];
  }
  return v;
}

/**
 * With an inline route table, Envoy checks at load time that every cluster a route names
 * exists (`validate_clusters`, on by default for static route tables).
 */
function checkRouteClusters(
  hcm: HttpConnectionManager,
  base: string,
  clusters: Set<string>,
  r: Reporter,
  fallback: WalkContext,
) {
  if (hcm.routeSpecifier.case !== "routeConfig") return;
  const rc = hcm.routeSpecifier.value;
  if (rc.validateClusters === false) return;
  rc.virtualHosts.forEach((vh, vi) => {
    vh.routes.forEach((route, ri) => {
      if (route.action.case !== "route") return;
      const ra = route.action.value;
      const p = `${base}.route_config.virtual_hosts[${vi}].routes[${ri}].route`;
      if (ra.clusterSpecifier.case === "cluster" && !clusters.has(ra.clusterSpecifier.value)) {
        r.report(`${p}.cluster`, `route: unknown cluster '${ra.clusterSpecifier.value}'`, fallback);
      } else if (ra.clusterSpecifier.case === "weightedClusters") {
        ra.clusterSpecifier.value.clusters.forEach((wc, wi) => {
          if (!clusters.has(wc.name)) {
            r.report(
              `${p}.weighted_clusters.clusters[${wi}].name`,
              `route: unknown weighted cluster '${wc.name}'`,
              fallback,
            );
          }
        });
      }
    });
  });
}
