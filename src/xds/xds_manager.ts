/**
 * Dynamic configuration on the main thread (Envoy's xDS-driven cluster and listener managers):
 * CDS, EDS, LDS and RDS subscriptions from the bootstrap's config sources, each update
 * validated as a whole (one bad resource rejects it and the previous config stays), diffed
 * against what serves, warmed, and posted to the workers as a {@linkcode DynamicUpdate}. A
 * reloaded bootstrap's static listeners and clusters go through the same diff and drain.
 *
 * Warming: a cluster serves once initialized (an EDS cluster: its first load assignment, or
 * the initial fetch timing out); a listener once the route configurations its connection
 * managers name (RDS) arrived or failed. Initialization (`initialized()`) waits for CDS and
 * its clusters, then LDS and its listeners, and for the routes of static listeners.
 *
 * @module
 */
import { create, equals, type JsonObject, type Message } from "@bufbuild/protobuf";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import type { ConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import type { ClusterLoadAssignment } from "../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.ts";
import type { Listener } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import type { VirtualHost } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { ScopedRouteConfiguration } from "../../proto/gen/envoy/config/route/v3/scoped_route_pb.ts";
import type { HttpConnectionManager } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { reportBug } from "../common/error_boundary.ts";
import { messageSchema } from "../config/api.ts";
import { getLogger } from "../common/logger.ts";
import { preUnpack, unpackAny } from "../config/any.ts";
import { compactMessages } from "../config/compact.ts";
import type { ServerContext } from "../config/extensions.ts";
import type { ListenerManagerStats } from "../listener/listener_manager_stats.ts";
import { formatAddress } from "../network/address.ts";
import { RouteTable } from "../router/route_table.ts";
import { Cluster, type ClusterDeps } from "../upstream/cluster.ts";
import type { ClusterManager } from "../upstream/cluster_manager.ts";
import { parseCluster } from "../upstream/cluster_info.ts";
import {
  createCollectionSubscription,
  createSingletonSubscription,
  createSubscription,
  type SubscriptionEnv,
} from "./config_source.ts";
import { filterChainOnlyChange, removedFilterChains } from "./listener_update.ts";
import { type GrpcSubscription, GrpcXds } from "./grpc_subscription.ts";
import { type DecodeContext, type DecodedUpdate, updateFailureState } from "./decode.ts";
import { CDS, EDS, LDS, RDS, SRDS, VHDS } from "./resource_types.ts";
import { checkScopes } from "../router/scoped_routes.ts";
import { checkVhdsSource, VhdsInterest, withVirtualHosts } from "./vhds.ts";
import type { Subscription, SubscriptionCallbacks } from "./subscription.ts";
import { SubscriptionStats } from "./subscription_stats.ts";
import { type RtdsTarget, startRtds } from "./rtds.ts";
import { ecdsKeys, EcdsProvider, ecdsRefs, type EcdsState, warmsFor } from "./ecds_provider.ts";
import { applyEcdsConfigs } from "./ecds_config.ts";
import {
  clusterSockets,
  listenerSockets,
  sdsKey,
  SdsProvider,
  sdsRefs,
  type SecretState,
} from "./sds_provider.ts";
import type { ClusterChange, DynamicUpdate, ListenerChange } from "./worker_updates.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const clusterSchema = () => messageSchema<ClusterConfig>("envoy.config.cluster.v3.Cluster");
const configSourceSchema = () => messageSchema<ConfigSource>("envoy.config.core.v3.ConfigSource");
const listenerSchema = () => messageSchema<Listener>("envoy.config.listener.v3.Listener");
const routeConfigurationSchema = () =>
  messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
const scopedRouteConfigurationSchema = () =>
  messageSchema<ScopedRouteConfiguration>("envoy.config.route.v3.ScopedRouteConfiguration");

const log = getLogger("config");

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** What the manager works with. */
export interface XdsManagerDeps {
  bootstrap: Bootstrap;
  /** The main thread's context: cluster manager, extensions, stats. */
  ctx: ServerContext;
  /** What clusters built on the main thread get (stats, event logs, worker slots). */
  clusterDeps: ClusterDeps;
  listenerStats: ListenerManagerStats;
  /** Posts a change to every worker. */
  post(update: DynamicUpdate): void;
  /** How long a replaced or removed listener's connections drain (`--drain-time-s`). */
  drainTimeMs: number;
  /** The port a static listener was bound on (port 0 listeners). */
  staticPort(name: string): number | undefined;
  /** The node (proto JSON) REST requests carry. */
  node: JsonObject;
  /** The runtime, whose RTDS layers subscribe here. */
  runtime?: RtdsTarget;
}

/** A resource in service, with the version of the update that brought it. */
export interface Versioned<T> {
  config: T;
  versionInfo: string;
  lastUpdated: Date;
}

/** Envoy's `admin.v3.UpdateFailureState`: the last rejected update of a resource. */
export interface UpdateFailureState {
  failedConfiguration?: Message;
  lastUpdateAttempt: Date;
  details: string;
  versionInfo: string;
}

interface WarmingCluster extends Versioned<ClusterConfig> {
  cluster: Cluster;
}

interface ServingListener extends Versioned<Listener> {
  port: number;
}

interface WarmingListener extends ServingListener {
  /** The config it replaces once warm (an in-place update when only filter chains changed). */
  previous?: Listener;
  /**
   * What it still awaits: `route:<name>` (RDS), `cluster:<name>` (a cluster its inline routes
   * name that is still warming: workers check route clusters when they build it).
   */
  waiting: Set<string>;
}

/** One RDS subscription (shared by every connection manager naming the route config). */
export interface RouteState {
  readonly name: string;
  subscription?: Subscription;
  /** What serves: the configuration RDS brought, with the virtual hosts of VHDS. */
  current?: Versioned<RouteConfiguration>;
  /** The configuration as RDS brought it (VHDS adds to it). */
  rds?: RouteConfiguration;
  /** Its VHDS subscription, when it sets `vhds`. */
  vhds?: VhdsState;
  /** Arrived, or failed (warming ends either way). */
  ready: boolean;
  error?: UpdateFailureState;
}

/** The VHDS subscription of a route configuration and the virtual hosts it brought. */
interface VhdsState {
  subscription: GrpcSubscription;
  interest: VhdsInterest;
  hosts: VirtualHost[];
}

/** One EDS cluster's subscription and last assignment. */
export interface EdsState {
  readonly serviceName: string;
  subscription?: Subscription;
  current?: Versioned<ClusterLoadAssignment>;
}

/** A route configuration an HCM of a listener takes from RDS. */
interface RdsRef {
  name: string;
  configSource: ConfigSource;
  statPrefix: string;
}

/** The HCMs of `l` that take their routes from RDS. */
export function rdsRefs(l: Listener): RdsRef[] {
  const out: RdsRef[] = [];
  const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
  for (const chain of chains) {
    for (const f of chain.filters) {
      if (f.configType.case !== "typedConfig" || !f.configType.value.typeUrl.endsWith(HCM)) {
        continue;
      }
      const hcm = unpackAny<HttpConnectionManager>(f.configType.value);
      const spec = hcm?.routeSpecifier;
      if (spec?.case === "rds" && spec.value.configSource) {
        out.push({
          name: spec.value.routeConfigName,
          configSource: spec.value.configSource,
          statPrefix: hcm!.statPrefix,
        });
      }
      // The RDS route configurations of inline scopes (SRDS scopes add theirs as they come).
      const sr = spec?.case === "scopedRoutes" ? spec.value : undefined;
      const list = sr?.configSpecifier;
      if (list?.case === "scopedRouteConfigurationsList" && sr!.rdsConfigSource) {
        for (const s of list.value.scopedRouteConfigurations) {
          if (!s.routeConfigurationName) continue;
          out.push({
            name: s.routeConfigurationName,
            configSource: sr!.rdsConfigSource,
            statPrefix: hcm!.statPrefix,
          });
        }
      }
    }
  }
  return out;
}

/** A `scoped_routes` of a listener that takes its scopes from SRDS. */
export interface SrdsRef {
  name: string;
  configSource: ConfigSource;
  /** Where the scopes' route configurations come from (RDS). */
  rdsConfigSource: ConfigSource;
  statPrefix: string;
  /** `srds_resources_locator`: the scopes are the glob collection it names. */
  locator?: string;
}

/** The HCMs of `l` whose scoped routes come from SRDS. */
export function srdsRefs(l: Listener): SrdsRef[] {
  const out: SrdsRef[] = [];
  const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
  for (const chain of chains) {
    for (const f of chain.filters) {
      if (f.configType.case !== "typedConfig" || !f.configType.value.typeUrl.endsWith(HCM)) {
        continue;
      }
      const hcm = unpackAny<HttpConnectionManager>(f.configType.value);
      const spec = hcm?.routeSpecifier;
      if (spec?.case !== "scopedRoutes") continue;
      const srds = spec.value.configSpecifier;
      if (srds.case !== "scopedRds" || !srds.value.scopedRdsConfigSource) continue;
      if (!spec.value.rdsConfigSource) continue;
      out.push({
        name: spec.value.name,
        configSource: srds.value.scopedRdsConfigSource,
        rdsConfigSource: spec.value.rdsConfigSource,
        statPrefix: hcm!.statPrefix,
        ...(srds.value.srdsResourcesLocator ? { locator: srds.value.srdsResourcesLocator } : {}),
      });
    }
  }
  return out;
}

/** One SRDS subscription (shared by the connection managers of one `scoped_routes` name). */
export interface SrdsState {
  readonly name: string;
  /** Where its scopes' route configurations come from. */
  readonly ref: SrdsRef;
  subscription?: Subscription;
  current?: Versioned<ScopedRouteConfiguration[]>;
  ready: boolean;
  /** The route configurations of its scopes still awaited before it is ready. */
  awaiting?: Set<string>;
  error?: UpdateFailureState;
}

/** The clusters the inline route tables of `l` name. */
export function routeClusters(l: Listener): Set<string> {
  const out = new Set<string>();
  const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
  for (const chain of chains) {
    for (const f of chain.filters) {
      if (f.configType.case !== "typedConfig" || !f.configType.value.typeUrl.endsWith(HCM)) {
        continue;
      }
      const spec = unpackAny<HttpConnectionManager>(f.configType.value)?.routeSpecifier;
      if (spec?.case !== "routeConfig") continue;
      for (const vh of spec.value.virtualHosts) {
        for (const r of vh.routes) {
          if (r.action.case !== "route") continue;
          const cs = r.action.value.clusterSpecifier;
          if (cs.case === "cluster") out.add(cs.value);
          else if (cs.case === "weightedClusters") {
            for (const wc of cs.value.clusters) out.add(wc.name);
          }
        }
      }
    }
  }
  return out;
}

function addressKey(l: Listener): string {
  return formatAddress(l.address);
}

/** The dynamic resources of a server. */
export class XdsManager {
  readonly #deps: XdsManagerDeps;
  readonly #decode: DecodeContext;
  readonly #env: SubscriptionEnv;
  readonly #grpc: GrpcXds;
  readonly #sds: SdsProvider;
  readonly #ecds: EcdsProvider;
  /** Static clusters and listeners (the bootstrap's; a reload replaces them). */
  #staticClusters = new Map<string, ClusterConfig>();
  #staticListeners = new Map<string, Listener>();
  /** Listeners a reload added or changed, with their ports. */
  readonly #reloadedListeners = new Map<string, ServingListener>();
  readonly #clusters = new Map<string, Versioned<ClusterConfig>>();
  readonly #warmingClusters = new Map<string, WarmingCluster>();
  readonly #clusterErrors = new Map<string, UpdateFailureState>();
  readonly #listeners = new Map<string, ServingListener>();
  readonly #warmingListeners = new Map<string, WarmingListener>();
  readonly #listenerErrors = new Map<string, UpdateFailureState>();
  readonly #routes = new Map<string, RouteState>();
  readonly #srds = new Map<string, SrdsState>();
  readonly #eds = new Map<Cluster, EdsState>();
  #cdsVersion = "";
  #ldsVersion = "";
  #cds: Subscription | undefined;
  #rtds: Subscription[] = [];
  #lds: Subscription | undefined;
  #ldsStarted = false;
  /** Init targets still pending ("cds", "lds", "cluster:<name>", "route:<name>", ...). */
  readonly #initTargets = new Set<string>();
  #initWaiters: (() => void)[] = [];
  #initializing = true;
  #stopped = false;
  /** A sweep of unused RDS, SRDS, SDS and ECDS subscriptions is queued (see `#sweep`). */
  #sweepQueued = false;
  /** Cluster changes not yet posted to workers (see `#postClusters`). */
  #pending: { clusters: ClusterChange[]; removedClusters: string[] } | undefined;

  constructor(deps: XdsManagerDeps) {
    this.#deps = deps;
    this.#decode = {
      extensions: deps.ctx.extensions,
      clusters: () =>
        new Set([...deps.ctx.clusterManager.names(), ...this.#warmingClusters.keys()]),
      secrets: deps.bootstrap.staticResources?.secrets ?? [],
    };
    for (const c of deps.bootstrap.staticResources?.clusters ?? []) {
      this.#staticClusters.set(c.name, c);
    }
    const cm = deps.ctx.clusterManager;
    const checkCluster = (name: string) => {
      // Envoy: a config source's cluster must be static and not itself EDS.
      const c = cm.get(name);
      if (!c || !this.#staticClusters.has(name) || c.info.type === "EDS") {
        throw new Error(
          `envoy::config::core::v3::ApiConfigSource must have a statically defined non-EDS ` +
            `cluster: '${name}' does not exist, was added via api, or is an EDS cluster`,
        );
      }
    };
    this.#grpc = new GrpcXds({
      clusterManager: cm,
      pools: deps.ctx.pools,
      node: deps.node,
      decode: this.#decode,
      stats: deps.ctx.stats,
      checkCluster,
      ...(deps.bootstrap.dynamicResources?.adsConfig
        ? { adsConfig: deps.bootstrap.dynamicResources.adsConfig }
        : {}),
    });
    this.#env = {
      node: deps.node,
      grpc: this.#grpc,
      xdstp: {
        configSources: deps.bootstrap.configSources,
        ...(deps.bootstrap.defaultConfigSource
          ? { defaultConfigSource: deps.bootstrap.defaultConfigSource }
          : {}),
      },
      hostOf: (name) => {
        checkCluster(name);
        return () => {
          const h = cm.loadBalancer(name)?.chooseHost();
          return h && { address: h.address, port: h.port };
        };
      },
    };
    for (const l of deps.bootstrap.staticResources?.listeners ?? []) {
      this.#staticListeners.set(l.name, l);
    }
    this.#sds = new SdsProvider({
      store: deps.ctx.stats,
      decode: this.#decode,
      env: this.#env,
      post: (secrets) => this.#post({ secrets }),
      onReady: (key) => {
        this.#settle(`secret:${key}`);
        this.#ready(`secret:${key}`);
      },
    });
    this.#ecds = new EcdsProvider({
      store: deps.ctx.stats,
      decode: this.#decode,
      env: this.#env,
      post: (ecds) => {
        applyEcdsConfigs(ecds);
        this.#post({ ecds });
      },
      onReady: (key) => {
        this.#settle(`ecds:${key}`);
        this.#ready(`ecds:${key}`);
      },
    });
  }

  get #store() {
    return this.#deps.ctx.stats;
  }

  /**
   * Starts every subscription: EDS of static EDS clusters, RDS of static listeners, CDS (and
   * LDS once CDS initialized). Before the cluster manager initializes (its EDS clusters wait
   * for their first assignment).
   */
  start(): void {
    const cm = this.#deps.ctx.clusterManager;
    for (const name of cm.names()) {
      const c = cm.get(name)!;
      if (c.info.type === "EDS") this.#startEds(c);
    }
    for (const l of this.#staticListeners.values()) {
      for (const ref of rdsRefs(l)) {
        const st = this.#route(ref);
        if (!st.ready) this.#initTargets.add(`route:${ref.name}`);
      }
      for (const ref of srdsRefs(l)) {
        if (!this.#scopedRds(ref).ready) this.#initTargets.add(`srds:${ref.name}`);
      }
    }
    // Static listeners and clusters wait for their SDS secrets too (the server's init does).
    const sockets = [
      ...[...this.#staticListeners.values()].flatMap(listenerSockets),
      ...[...this.#staticClusters.values()].flatMap(clusterSockets),
    ];
    for (const ref of sdsRefs(sockets)) {
      const st = this.#sds.secret(ref);
      if (!st.ready) this.#initTargets.add(`secret:${st.key}`);
    }
    for (const ref of [...this.#staticListeners.values()].flatMap(ecdsRefs)) {
      const st = this.#ecds.config(ref);
      if (!st.ready && warmsFor(ref)) this.#initTargets.add(`ecds:${st.key}`);
    }
    if (this.#deps.runtime) {
      for (const l of this.#deps.runtime.rtdsLayers()) this.#initTargets.add(`rtds:${l.layer}`);
      this.#rtds = startRtds(
        this.#deps.runtime,
        this.#store,
        this.#decode,
        this.#env,
        (layer) => this.#ready(`rtds:${layer}`),
      );
    }
    const d = this.#deps.bootstrap.dynamicResources;
    if (d?.ldsConfig || d?.ldsResourcesLocator) this.#initTargets.add("lds");
    if (d?.cdsConfig || d?.cdsResourcesLocator) {
      this.#initTargets.add("cds");
      const stats = new SubscriptionStats(this.#store, "cluster_manager.cds");
      const callbacks = this.#callbacks("cds", (u) => this.#onCds(u), this.#clusterErrors, (m) => {
        const c = m as ClusterConfig;
        const cur = this.#warmingClusters.get(c.name) ?? this.#clusters.get(c.name);
        return cur !== undefined && equals(clusterSchema(), cur.config, c);
      });
      const cs = d.cdsConfig ?? create(configSourceSchema());
      this.#cds = d.cdsResourcesLocator
        ? createCollectionSubscription(d.cdsResourcesLocator, cs, CDS, stats, callbacks, this.#env)
        : createSubscription(cs, CDS, stats, this.#decode, callbacks, this.#env);
      this.#cds.start();
    }
    this.#maybeStartLds();
    this.#checkInit();
  }

  /** Resolves once the initial fetches are done (or timed out) and what they brought warmed. */
  initialized(): Promise<void> {
    if (!this.#initializing) return Promise.resolve();
    return new Promise((resolve) => this.#initWaiters.push(resolve));
  }

  /** Stops every subscription. */
  stop(): void {
    this.#stopped = true;
    this.#cds?.stop();
    this.#lds?.stop();
    for (const r of this.#routes.values()) {
      r.subscription?.stop();
      r.vhds?.subscription.stop();
    }
    for (const s of this.#srds.values()) s.subscription?.stop();
    for (const e of this.#eds.values()) e.subscription?.stop();
    this.#sds.stop();
    this.#ecds.stop();
    for (const r of this.#rtds) r.stop();
    for (const w of this.#warmingClusters.values()) w.cluster.destroy();
    this.#grpc.stop();
  }

  #ready(target: string): void {
    if (!this.#initTargets.delete(target)) return;
    this.#maybeStartLds();
    this.#checkInit();
  }

  #checkInit(): void {
    if (!this.#initializing || this.#initTargets.size > 0) return;
    this.#initializing = false;
    for (const w of this.#initWaiters.splice(0)) w();
  }

  /** LDS starts once CDS and the clusters of its first update are initialized, as in Envoy. */
  #maybeStartLds(): void {
    const d = this.#deps.bootstrap.dynamicResources;
    const locator = d?.ldsResourcesLocator;
    if (this.#ldsStarted || !d?.ldsConfig && !locator || this.#stopped) return;
    for (const t of this.#initTargets) if (t === "cds" || t.startsWith("cluster:")) return;
    this.#ldsStarted = true;
    const stats = new SubscriptionStats(this.#store, "listener_manager.lds");
    const callbacks = this.#callbacks("lds", (u) => this.#onLds(u), this.#listenerErrors, (m) => {
      const l = m as Listener;
      const cur = this.#warmingListeners.get(l.name) ?? this.#listeners.get(l.name);
      return cur !== undefined && equals(listenerSchema(), cur.config, l);
    });
    const cs = d.ldsConfig ?? create(configSourceSchema());
    this.#lds = locator
      ? createCollectionSubscription(locator, cs, LDS, stats, callbacks, this.#env)
      : createSubscription(cs, LDS, stats, this.#decode, callbacks, this.#env);
    this.#lds.start();
  }

  /**
   * Callbacks of a CDS or LDS subscription: apply, or record the rejection for each resource
   * of the update that is not `unchanged` (the one serving).
   */
  #callbacks(
    target: string,
    apply: (u: DecodedUpdate) => void,
    errors: Map<string, UpdateFailureState>,
    unchanged: (m: Message) => boolean,
  ): SubscriptionCallbacks {
    return {
      onConfigUpdate: (u) => {
        apply(u);
        for (const r of u.resources) errors.delete(r.name);
        this.#ready(target);
      },
      onConfigUpdateFailed: (_reason, details, failed) => {
        if (failed) {
          const now = new Date();
          for (const r of failed.resources) {
            if (unchanged(r.message)) continue;
            errors.set(r.name, {
              failedConfiguration: r.message,
              lastUpdateAttempt: now,
              details,
              versionInfo: failed.versionInfo,
            });
          }
        }
        // The first answer ends the initial fetch even when it is refused, as in Envoy.
        this.#ready(target);
      },
    };
  }

  // ---- clusters ----

  #onCds(u: DecodedUpdate): void {
    const now = new Date();
    const seen = new Set<string>();
    const changed: ClusterConfig[] = [];
    for (const r of u.resources) {
      const c = r.message as ClusterConfig;
      seen.add(c.name);
      if (this.#staticClusters.has(c.name)) {
        // Envoy's addOrUpdateCluster leaves a static cluster alone.
        log.warn(`cds: cluster '${c.name}' is a static cluster and cannot be updated`);
        continue;
      }
      const cur = this.#warmingClusters.get(c.name) ?? this.#clusters.get(c.name);
      if (cur && equals(clusterSchema(), cur.config, c)) continue;
      changed.push(c);
    }
    const removed = [...new Set([...this.#clusters.keys(), ...this.#warmingClusters.keys()])]
      .filter((n) => !seen.has(n));
    preUnpack(changed);
    // A CDS cluster keeps its message as long as it serves (config/compact.ts).
    const built = this.#build(compactMessages(changed));
    this.#cdsVersion = u.versionInfo;
    for (const name of removed) this.#removeCluster(name);
    for (const cluster of built) {
      this.#warmCluster(cluster, { versionInfo: u.versionInfo, lastUpdated: now }, true);
    }
  }

  /**
   * Builds every cluster before any applies: one that cannot be built rejects them all. Their
   * typed configs must be unpacked (`preUnpack`).
   */
  #build(configs: ClusterConfig[]): Cluster[] {
    const built: Cluster[] = [];
    try {
      for (const c of configs) built.push(new Cluster(c, this.#deps.clusterDeps));
    } catch (e) {
      for (const b of built) b.destroy();
      throw e;
    }
    return built;
  }

  /** A new or changed cluster serves once initialized; the one it replaces serves meanwhile. */
  #warmCluster(
    cluster: Cluster,
    meta: { versionInfo: string; lastUpdated: Date },
    dynamic: boolean,
  ): void {
    const name = cluster.info.name;
    const prev = this.#warmingClusters.get(name);
    if (prev) this.#destroy(prev.cluster);
    const entry: WarmingCluster = { config: cluster.keptConfig, ...meta, cluster };
    this.#warmingClusters.set(name, entry);
    this.#updateClusterGauges();
    if (this.#initializing) this.#initTargets.add(`cluster:${name}`);
    if (cluster.info.type === "EDS") this.#startEds(cluster);
    const secrets = sdsRefs(clusterSockets(cluster.keptConfig)).map((r) =>
      this.#sds.whenReady(this.#sds.secret(r))
    );
    Promise.all([cluster.initialize(), ...secrets]).then(() => {
      if (this.#warmingClusters.get(name) !== entry || this.#stopped) return;
      this.#warmingClusters.delete(name);
      this.#activateCluster(entry, dynamic);
      this.#settle(`cluster:${name}`);
      this.#ready(`cluster:${name}`);
    }).catch((e) => reportBug(`cluster '${name}' warming`, e));
  }

  #activateCluster(entry: WarmingCluster, dynamic: boolean): void {
    const cm = this.#deps.ctx.clusterManager;
    const name = entry.cluster.info.name;
    const old = cm.get(name);
    if (old) this.#stopEds(old);
    const replaced = cm.addOrUpdateCluster(entry.cluster);
    if (replaced) cm.stats?.clusterModified.inc();
    else cm.stats?.clusterAdded.inc();
    if (dynamic) {
      this.#clusters.set(name, {
        config: entry.config,
        versionInfo: entry.versionInfo,
        lastUpdated: entry.lastUpdated,
      });
    }
    this.#updateClusterGauges();
    if (replaced) this.#queueSweep();
    log.info(`cluster '${name}' ${replaced ? "updated" : "added"}${dynamic ? " (CDS)" : ""}`);
    this.#postClusters(clusterChange(entry.cluster), undefined);
  }

  /**
   * Queues a cluster added, changed (`change`) or removed (`removed`) for the workers: the
   * changes of one update (a CDS update of 1,000 clusters activates them one by one) reach
   * them as one message, posted once the current turn's activations are done.
   */
  #postClusters(change: ClusterChange | undefined, removed: string | undefined): void {
    // Workers apply a message's additions before its removals: re-adding a name queued for
    // removal waits for the next message.
    if (change && this.#pending?.removedClusters.includes(change.config.name)) this.#flush();
    if (!this.#pending) {
      const pending = { clusters: [] as ClusterChange[], removedClusters: [] as string[] };
      this.#pending = pending;
      queueMicrotask(() => {
        if (this.#pending === pending) this.#flush();
      });
    }
    if (change) this.#pending.clusters.push(change);
    if (removed !== undefined) this.#pending.removedClusters.push(removed);
  }

  /** Posts the queued cluster changes. */
  #flush(): void {
    const p = this.#pending;
    this.#pending = undefined;
    if (!p) return;
    this.#deps.post({
      ...(p.clusters.length > 0 && { clusters: p.clusters }),
      ...(p.removedClusters.length > 0 && { removedClusters: p.removedClusters }),
    });
  }

  /** Posts `u` after the queued cluster changes (a listener's routes may name them). */
  #post(u: DynamicUpdate): void {
    this.#flush();
    this.#deps.post(u);
  }

  #removeCluster(name: string): void {
    const warming = this.#warmingClusters.get(name);
    if (warming) {
      this.#warmingClusters.delete(name);
      this.#destroy(warming.cluster);
      this.#settle(`cluster:${name}`);
      this.#ready(`cluster:${name}`);
    }
    const cm = this.#deps.ctx.clusterManager;
    const active = cm.get(name);
    this.#clusters.delete(name);
    if (active) {
      this.#stopEds(active);
      cm.removeCluster(name);
      cm.stats?.clusterRemoved.inc();
      log.info(`cluster '${name}' removed`);
      this.#postClusters(undefined, name);
    }
    this.#updateClusterGauges();
    this.#queueSweep();
  }

  #destroy(cluster: Cluster): void {
    this.#stopEds(cluster);
    cluster.destroy();
  }

  #updateClusterGauges(): void {
    this.#deps.ctx.clusterManager.stats?.warmingClusters.set(this.#warmingClusters.size);
  }

  // ---- endpoints ----

  #startEds(cluster: Cluster): void {
    const eds = cluster.keptConfig.edsClusterConfig;
    if (!eds?.edsConfig || this.#eds.has(cluster)) return;
    const serviceName = eds.serviceName || cluster.info.name;
    const state: EdsState = { serviceName };
    this.#eds.set(cluster, state);
    try {
      state.subscription = this.#edsSubscription(cluster, eds.edsConfig, serviceName, state);
    } catch (e) {
      // The cluster serves with no endpoints, as after a failed fetch.
      log.error(`cluster '${cluster.info.name}': EDS: ${(e as Error).message}`);
      cluster.edsInitialized();
      return;
    }
    state.subscription.start();
  }

  #edsSubscription(
    cluster: Cluster,
    edsConfig: ConfigSource,
    serviceName: string,
    state: EdsState,
  ): Subscription {
    const stats = new SubscriptionStats(this.#store, `cluster.${cluster.info.statName}`);
    return createSingletonSubscription(
      serviceName,
      edsConfig,
      EDS,
      stats,
      this.#decode,
      {
        onConfigUpdate: (u) => {
          if (u.resources.length === 0) {
            // A removal (delta, or the TTL passing) keeps the endpoints and counts as an
            // empty update, as Envoy's EdsClusterImpl.
            if (u.removed?.length) stats.updateEmpty.inc();
            cluster.edsInitialized();
            return;
          }
          if (u.resources.length !== 1) {
            throw new Error(`Unexpected EDS resource length: ${u.resources.length}`);
          }
          const cla = u.resources[0].message as ClusterLoadAssignment;
          if (cla.clusterName !== serviceName) {
            throw new Error(
              `Unexpected EDS cluster (expecting ${serviceName}): ${cla.clusterName}`,
            );
          }
          // The assignment's hosts are read as those of a STATIC cluster with the same
          // settings (addresses must be IPs, as in Envoy's EDS).
          const { info, endpoints } = parseCluster({
            ...cluster.keptConfig,
            clusterDiscoveryType: { case: "type", value: 0 },
            loadAssignment: cla,
          });
          cluster.assign(endpoints, info.hostSetPolicy);
          state.current = { config: cla, versionInfo: u.versionInfo, lastUpdated: new Date() };
        },
        // Start-up goes on without endpoints, as Envoy's EDS cluster does.
        onConfigUpdateFailed: () => cluster.edsInitialized(),
      },
      this.#env,
    );
  }

  #stopEds(cluster: Cluster): void {
    const st = this.#eds.get(cluster);
    if (!st) return;
    st.subscription?.stop();
    this.#eds.delete(cluster);
  }

  // ---- routes ----

  #route(ref: RdsRef): RouteState {
    let st = this.#routes.get(ref.name);
    if (st) return st;
    const state: RouteState = { name: ref.name, ready: false };
    st = state;
    this.#routes.set(ref.name, state);
    const cm = this.#deps.ctx.clusterManager;
    try {
      state.subscription = this.#rdsSubscription(ref, state, cm);
    } catch (e) {
      log.error(`RDS '${ref.name}': ${(e as Error).message}`);
      state.ready = true;
      return state;
    }
    state.subscription.start();
    return state;
  }

  #rdsSubscription(ref: RdsRef, state: RouteState, cm: ClusterManager): Subscription {
    // Envoy's RDS stats besides the subscription's: each new route table applied.
    const scope = this.#store.scope(`http.${ref.statPrefix}.rds.${ref.name}`);
    const configReload = scope.counter("config_reload");
    const configReloadTime = scope.gauge("config_reload_time_ms", "NeverImport");
    return createSingletonSubscription(
      ref.name,
      ref.configSource,
      RDS,
      new SubscriptionStats(this.#store, `http.${ref.statPrefix}.rds.${ref.name}`),
      this.#decode,
      {
        onConfigUpdate: (u) => {
          // Envoy: an empty update is counted (update_empty) and ends warming.
          if (u.resources.length === 0) {
            this.#routeReady(ref.name);
            return;
          }
          if (u.resources.length !== 1) {
            throw new Error(`Unexpected RDS resource length: ${u.resources.length}`);
          }
          const rc = u.resources[0].message as RouteConfiguration;
          if (rc.name !== ref.name) {
            throw new Error(`Unexpected RDS configuration (expecting ${ref.name}): ${rc.name}`);
          }
          if (rc.vhds) checkVhdsSource(rc.vhds.configSource!, this.#grpcAds());
          const effective = withVirtualHosts(rc, rc.vhds ? state.vhds?.hosts ?? [] : []);
          this.#checkRoutes(effective, cm);
          const same = state.rds && equals(routeConfigurationSchema(), state.rds, rc);
          state.rds = rc;
          state.current = {
            config: effective,
            versionInfo: u.versionInfo,
            lastUpdated: new Date(),
          };
          state.error = undefined;
          if (!same) {
            preUnpack(effective);
            this.#post({ routes: [effective] });
            configReload.inc();
            configReloadTime.set(Date.now());
          }
          if (rc.vhds && !state.vhds) this.#startVhds(ref, state, rc, cm);
          else if (!rc.vhds && state.vhds) {
            state.vhds.subscription.stop();
            state.vhds = undefined;
          }
          this.#routeReady(ref.name);
        },
        onConfigUpdateFailed: (_reason, details, failed) => {
          if (failed) state.error = updateFailureState(failed, details);
          this.#routeReady(ref.name);
        },
      },
      this.#env,
    );
  }

  /** The SRDS subscription of a `scoped_routes` name (started by its first listener). */
  #scopedRds(ref: SrdsRef): SrdsState {
    let st = this.#srds.get(ref.name);
    if (st) return st;
    const state: SrdsState = { name: ref.name, ref, ready: false };
    st = state;
    this.#srds.set(ref.name, state);
    const cm = this.#deps.ctx.clusterManager;
    const prefix = `http.${ref.statPrefix}.scoped_rds.${ref.name}`;
    const configReload = this.#store.counter(`${prefix}.config_reload`);
    try {
      const stats = new SubscriptionStats(this.#store, prefix);
      const callbacks: SubscriptionCallbacks = {
        onConfigUpdate: (u) => {
          const scopes = u.resources.map((r) => r.message as ScopedRouteConfiguration);
          checkScopes(scopes, true);
          for (const s of scopes) {
            if (s.routeConfiguration) this.#checkRoutes(s.routeConfiguration, cm);
          }
          const same = state.current !== undefined &&
            state.current.config.length === scopes.length &&
            state.current.config.every((s, i) =>
              equals(scopedRouteConfigurationSchema(), s, scopes[i])
            );
          state.current = { config: scopes, versionInfo: u.versionInfo, lastUpdated: new Date() };
          state.error = undefined;
          // Ready once the scopes' route configurations arrived, as Envoy's SRDS init.
          const awaiting = new Set<string>();
          for (const s of scopes) {
            if (!s.routeConfigurationName) continue;
            // An on-demand scope's route configuration loads when a request needs it
            // (demandScopedRoutes), unless another scope or listener asked for it already.
            if (s.onDemand && !this.#routes.has(s.routeConfigurationName)) continue;
            const route = this.#route({
              name: s.routeConfigurationName,
              configSource: ref.rdsConfigSource,
              statPrefix: ref.statPrefix,
            });
            if (!route.ready) awaiting.add(route.name);
          }
          if (!same) {
            for (const s of scopes) preUnpack(s);
            this.#post({ scopes: [{ name: ref.name, scopes }] });
            configReload.inc();
          }
          if (awaiting.size === 0) this.#srdsReady(ref.name);
          else state.awaiting = awaiting;
        },
        onConfigUpdateFailed: (_reason, details, failed) => {
          if (failed) state.error = updateFailureState(failed, details);
          this.#srdsReady(ref.name);
        },
      };
      state.subscription = ref.locator
        ? createCollectionSubscription(
          ref.locator,
          ref.configSource,
          SRDS,
          stats,
          callbacks,
          this.#env,
        )
        : createSubscription(ref.configSource, SRDS, stats, this.#decode, callbacks, this.#env);
    } catch (e) {
      log.error(`SRDS '${ref.name}': ${(e as Error).message}`);
      state.ready = true;
      return state;
    }
    state.subscription.start();
    return state;
  }

  #srdsReady(name: string): void {
    const st = this.#srds.get(name);
    if (!st || st.ready) return;
    st.ready = true;
    this.#settle(`srds:${name}`);
    this.#ready(`srds:${name}`);
  }

  /** Throws what Envoy rejects in a dynamic route configuration. */
  #checkRoutes(rc: RouteConfiguration, cm: ClusterManager): void {
    // validate_clusters is off by default for RDS (Envoy's default for dynamic routes).
    new RouteTable(rc, {
      fromRds: true,
      ...(rc.validateClusters === true ? { clusterExists: (n) => cm.get(n) !== undefined } : {}),
    });
  }

  #grpcAds() {
    return this.#deps.bootstrap.dynamicResources?.adsConfig;
  }

  /** VHDS of route configuration `rc` (from RDS): its virtual hosts join `state`'s routes. */
  #startVhds(ref: RdsRef, state: RouteState, rc: RouteConfiguration, cm: ClusterManager): void {
    const prefix = `http.${ref.statPrefix}.vhds.${ref.name}`;
    const configReload = this.#store.counter(`${prefix}.config_reload`);
    const interest = new VhdsInterest(ref.name);
    const subscription = createSubscription(
      rc.vhds!.configSource!,
      VHDS,
      new SubscriptionStats(this.#store, prefix),
      this.#decode,
      {
        onConfigUpdate: (u) => {
          const rds = state.rds;
          if (!rds || state.vhds?.subscription !== subscription) return;
          const hosts = u.resources.map((r) => r.message as VirtualHost);
          const effective = withVirtualHosts(rds, hosts);
          this.#checkRoutes(effective, cm);
          state.vhds.hosts = hosts;
          state.current = {
            config: effective,
            versionInfo: u.versionInfo,
            lastUpdated: new Date(),
          };
          preUnpack(effective);
          // Posted even when nothing changed: requests waiting on demand learn the answer.
          this.#post({ routes: [effective] });
          configReload.inc();
        },
        onConfigUpdateFailed: () => {},
      },
      this.#env,
      interest.names,
    ) as GrpcSubscription;
    state.vhds = { subscription, interest, hosts: [] };
    subscription.start();
  }

  /**
   * A worker's request found no virtual host for `host` in route configuration `name`, which
   * uses VHDS (the `on_demand` filter): the subscription asks for it.
   */
  demandVirtualHost(name: string, host: string): void {
    const v = this.#routes.get(name)?.vhds;
    if (!v) return;
    if (v.interest.demand(host)) v.subscription.setNames(v.interest.names);
  }

  /**
   * A worker's request needs the route configuration `routeConfig` of an on-demand scope of
   * `scoped_routes` `name` (the `on_demand` filter): its RDS subscription starts; requests
   * wait for it. One already fetched (or whose fetch ended) answers at once.
   */
  demandScopedRoutes(name: string, routeConfig: string): void {
    const st = this.#srds.get(name);
    const scope = st?.current?.config.find((s) => s.routeConfigurationName === routeConfig);
    if (!st || !scope?.onDemand) {
      // Nothing to load: the waiting requests go on (to a 404).
      this.#post({ routesSettled: [routeConfig] });
      return;
    }
    const route = this.#route({
      name: routeConfig,
      configSource: st.ref.rdsConfigSource,
      statPrefix: st.ref.statPrefix,
    });
    if (!route.ready) return;
    if (route.current) this.#post({ routes: [route.current.config] });
    else this.#post({ routesSettled: [routeConfig] });
  }

  #routeReady(name: string): void {
    const st = this.#routes.get(name);
    if (!st || st.ready) return;
    st.ready = true;
    // A fetch that ended without a configuration: requests waiting on demand go on.
    if (!st.current) this.#post({ routesSettled: [name] });
    for (const s of this.#srds.values()) {
      if (s.awaiting?.delete(name) && s.awaiting.size === 0) this.#srdsReady(s.name);
    }
    this.#settle(`route:${name}`);
    this.#ready(`route:${name}`);
  }

  /** What warming listeners waited for (`route:<name>`, `cluster:<name>`) is there. */
  #settle(key: string): void {
    for (const w of [...this.#warmingListeners.values()]) {
      if (w.waiting.delete(key) && w.waiting.size === 0) this.#activateListener(w);
    }
  }

  // ---- listeners ----

  #onLds(u: DecodedUpdate): void {
    const now = new Date();
    const seen = new Set<string>();
    const changed: Listener[] = [];
    for (const r of u.resources) {
      const l = r.message as Listener;
      seen.add(l.name);
      if (this.#staticListeners.has(l.name)) {
        throw new Error(
          `error updating listener: '${l.name}' is a static listener and cannot be updated`,
        );
      }
      const cur = this.#warmingListeners.get(l.name) ?? this.#listeners.get(l.name);
      if (cur && equals(listenerSchema(), cur.config, l)) continue;
      changed.push(l);
    }
    const removed = [...new Set([...this.#listeners.keys(), ...this.#warmingListeners.keys()])]
      .filter((n) => !seen.has(n));
    const next = new Map<string, Listener>(this.#staticListeners);
    for (const [n, l] of this.#listeners) if (seen.has(n)) next.set(n, l.config);
    for (const l of changed) next.set(l.name, l);
    checkAddresses(next);
    checkBalancedHandOffs(next);
    const ports = this.#ports(changed, (n) => this.#listeners.get(n));
    this.#ldsVersion = u.versionInfo;
    for (const name of removed) this.#removeListener(name);
    for (const l of changed) {
      this.#warmListener(
        l,
        ports.get(l.name)!,
        { versionInfo: u.versionInfo, lastUpdated: now },
        this.#listeners.get(l.name)?.config,
      );
    }
  }

  /**
   * The port each changed listener binds: its current one when its address is unchanged,
   * else the configured one, checked free (or chosen, for port 0) by binding it here once.
   * Throws when one cannot be bound, rejecting the update.
   */
  #ports(
    listeners: Listener[],
    current: (name: string) => { config: Listener; port: number } | undefined,
  ): Map<string, number> {
    const out = new Map<string, number>();
    for (const l of listeners) {
      const cur = current(l.name);
      if (cur && addressKey(cur.config) === addressKey(l)) {
        out.set(l.name, cur.port);
        continue;
      }
      const sa = l.address?.address;
      if (sa?.case !== "socketAddress") {
        throw new Error(`listener '${l.name}': only socket_address listeners are supported yet`);
      }
      const ps = sa.value.portSpecifier;
      try {
        const probe = Deno.listen({
          hostname: sa.value.address,
          port: ps.case === "portValue" ? ps.value : 0,
          reusePort: true,
        } as Deno.TcpListenOptions);
        out.set(l.name, (probe.addr as Deno.NetAddr).port);
        probe.close();
      } catch (e) {
        throw new Error(
          `error adding listener '${formatAddress(l.address)}': cannot bind: ` +
            (e instanceof Deno.errors.AddrInUse ? "address already in use" : (e as Error).message),
        );
      }
    }
    return out;
  }

  #warmListener(
    l: Listener,
    port: number,
    meta: { versionInfo: string; lastUpdated: Date },
    previous: Listener | undefined,
  ): void {
    preUnpack(l);
    const waiting = new Set<string>();
    for (const ref of rdsRefs(l)) if (!this.#route(ref).ready) waiting.add(`route:${ref.name}`);
    for (const ref of srdsRefs(l)) {
      if (!this.#scopedRds(ref).ready) waiting.add(`srds:${ref.name}`);
    }
    for (const ref of sdsRefs(listenerSockets(l))) {
      const st = this.#sds.secret(ref);
      if (!st.ready) waiting.add(`secret:${st.key}`);
    }
    for (const ref of ecdsRefs(l)) {
      const st = this.#ecds.config(ref);
      if (!st.ready && warmsFor(ref)) waiting.add(`ecds:${st.key}`);
    }
    const cm = this.#deps.ctx.clusterManager;
    for (const c of routeClusters(l)) {
      if (this.#warmingClusters.has(c) && !cm.get(c)) waiting.add(`cluster:${c}`);
    }
    const entry: WarmingListener = { config: l, port, ...meta, waiting, previous };
    this.#warmingListeners.set(l.name, entry);
    if (waiting.size === 0) {
      this.#activateListener(entry);
      return;
    }
    if (this.#initializing) this.#initTargets.add(`listener:${l.name}`);
    this.#updateListenerGauges();
    log.info(`listener '${l.name}' warming: awaiting ${[...waiting].join(", ")}`);
  }

  #activateListener(entry: WarmingListener): void {
    const name = entry.config.name;
    this.#warmingListeners.delete(name);
    const stats = this.#deps.listenerStats;
    const isStatic = this.#staticListeners.has(name);
    const replaced = isStatic
      ? this.#reloadedListeners.has(name) || this.#deps.staticPort(name) !== undefined
      : this.#listeners.has(name);
    const serving = { config: entry.config, port: entry.port, versionInfo: entry.versionInfo };
    if (isStatic) this.#reloadedListeners.set(name, { ...serving, lastUpdated: entry.lastUpdated });
    else this.#listeners.set(name, { ...serving, lastUpdated: entry.lastUpdated });
    const inPlace = replaced && entry.previous !== undefined &&
      filterChainOnlyChange(entry.previous, entry.config);
    if (inPlace) {
      stats.listenerModified.inc();
      stats.listenerInPlaceUpdated.inc();
      if (removedFilterChains(entry.previous!, entry.config) > 0) this.#drainingChains();
    } else if (replaced) {
      stats.listenerModified.inc();
      this.#draining();
    } else stats.listenerAdded.inc();
    this.#updateListenerGauges();
    log.info(
      `listener '${name}' ${inPlace ? "updated in place" : replaced ? "updated" : "added"} on ${
        formatAddress(entry.config.address).replace(/:\d+$/, `:${entry.port}`)
      }`,
    );
    this.#post({ listeners: [{ config: entry.config, port: entry.port, inPlace }] });
    this.#ready(`listener:${name}`);
    if (replaced) this.#queueSweep();
  }

  #removeListener(name: string): void {
    if (this.#warmingListeners.delete(name)) this.#ready(`listener:${name}`);
    const active = this.#listeners.delete(name) || this.#reloadedListeners.delete(name) ||
      this.#staticListeners.has(name);
    if (active) {
      this.#deps.listenerStats.listenerRemoved.inc();
      this.#draining();
      log.info(`listener '${name}' removed`);
      this.#post({ removedListeners: [name] });
    }
    this.#updateListenerGauges();
    this.#queueSweep();
  }

  /** Sweeps once the current turn's removals and activations are done. */
  #queueSweep(): void {
    if (
      this.#sweepQueued ||
      (this.#sds.size === 0 && this.#ecds.size === 0 && this.#routes.size === 0 &&
        this.#srds.size === 0)
    ) return;
    this.#sweepQueued = true;
    queueMicrotask(() => {
      this.#sweepQueued = false;
      if (!this.#stopped) this.#sweep();
    });
  }

  /**
   * Drops the RDS, SRDS, SDS and ECDS subscriptions that no listener or cluster (serving or
   * warming) names any more, as Envoy's providers go with their last user (the stream
   * unsubscribes); a route configuration an SRDS scope names (on demand or not) is in use while
   * its scoped routes are. Workers keep the tables they have, so connections draining on a
   * removed listener go on routing. RTDS layers come from the bootstrap's `layered_runtime`,
   * which a reload never changes: they keep their users for the server's life.
   */
  #sweep(): void {
    const listeners = [
      ...this.#staticListeners.values(),
      ...[...this.#reloadedListeners.values()].map((l) => l.config),
      ...[...this.#listeners.values()].map((l) => l.config),
      ...[...this.#warmingListeners.values()].map((l) => l.config),
    ];
    if (this.#sds.size > 0) {
      const cm = this.#deps.ctx.clusterManager;
      const clusters = [
        ...cm.names().map((n) => cm.get(n)!.config),
        ...[...this.#warmingClusters.values()].map((c) => c.config),
      ].filter((c) => c !== undefined); // the main thread keeps every cluster's config
      const sockets = [...listeners.flatMap(listenerSockets), ...clusters.flatMap(clusterSockets)];
      for (const key of this.#sds.retain(new Set(sdsRefs(sockets).map(sdsKey)))) {
        this.#ready(`secret:${key}`);
      }
    }
    if (this.#ecds.size > 0) {
      for (const key of this.#ecds.retain(new Set(ecdsKeys(listeners.flatMap(ecdsRefs))))) {
        this.#ready(`ecds:${key}`);
      }
    }
    if (this.#srds.size > 0) {
      const inUse = new Set(listeners.flatMap(srdsRefs).map((r) => r.name));
      for (const [name, st] of this.#srds) {
        if (inUse.has(name)) continue;
        this.#srdsReady(name);
        st.subscription?.stop();
        this.#srds.delete(name);
        log.info(`SRDS '${name}' no longer used: unsubscribed`);
      }
    }
    if (this.#routes.size > 0) {
      const inUse = new Set(listeners.flatMap(rdsRefs).map((r) => r.name));
      for (const st of this.#srds.values()) {
        for (const s of st.current?.config ?? []) {
          if (s.routeConfigurationName) inUse.add(s.routeConfigurationName);
        }
      }
      for (const [name, st] of this.#routes) {
        if (inUse.has(name)) continue;
        this.#routeReady(name);
        st.subscription?.stop();
        st.vhds?.subscription.stop();
        this.#routes.delete(name);
        log.info(`RDS '${name}' no longer used: unsubscribed`);
      }
    }
  }

  /** A listener instance drains for the drain time (`total_listeners_draining`). */
  #draining(): void {
    const g = this.#deps.listenerStats.totalListenersDraining;
    g.inc();
    const t = setTimeout(() => g.dec(), this.#deps.drainTimeMs);
    Deno.unrefTimer(t);
  }

  /** The removed chains of an in-place update drain for the drain time. */
  #drainingChains(): void {
    const g = this.#deps.listenerStats.totalFilterChainsDraining;
    g.inc();
    const t = setTimeout(() => g.dec(), this.#deps.drainTimeMs);
    Deno.unrefTimer(t);
  }

  #updateListenerGauges(): void {
    const s = this.#deps.listenerStats;
    s.totalListenersWarming.set(this.#warmingListeners.size);
    s.totalListenersActive.set(this.activeListenerCount());
  }

  /** Listeners serving: static and dynamic. */
  activeListenerCount(): number {
    return this.#staticListeners.size + this.#listeners.size;
  }

  // ---- bootstrap reload ----

  /**
   * Applies a reloaded bootstrap's static clusters and listeners: what changed is built (a
   * cluster or listener that cannot be, or a port that cannot be bound, throws and nothing
   * changes), warmed and swapped in; what is gone drains away. Returns what changed.
   */
  reloadStatic(next: Bootstrap): string[] {
    const now = new Date();
    const clusters = next.staticResources?.clusters ?? [];
    const listeners = next.staticResources?.listeners ?? [];
    for (const c of clusters) {
      if (this.#clusters.has(c.name) || this.#warmingClusters.has(c.name)) {
        throw new Error(`cluster '${c.name}' is also a CDS cluster`);
      }
    }
    const changedClusters = clusters.filter((c) => {
      const cur = this.#staticClusters.get(c.name);
      return !cur || !equals(clusterSchema(), cur, c);
    });
    const removedClusters = [...this.#staticClusters.keys()]
      .filter((n) => !clusters.some((c) => c.name === n));
    const all = new Map<string, Listener>();
    for (const l of listeners) {
      if (this.#listeners.has(l.name)) {
        throw new Error(`listener '${l.name}' is also an LDS listener`);
      }
      all.set(l.name, l);
    }
    for (const [n, l] of this.#listeners) all.set(n, l.config);
    checkAddresses(all);
    checkBalancedHandOffs(all);
    const changedListeners = listeners.filter((l) => {
      const cur = this.#staticListeners.get(l.name);
      return !cur || !equals(listenerSchema(), cur, l);
    });
    const removedListeners = [...this.#staticListeners.keys()]
      .filter((n) => !listeners.some((l) => l.name === n));
    const previous = (n: string) =>
      this.#reloadedListeners.get(n)?.config ?? this.#staticListeners.get(n);
    const ports = this.#ports(changedListeners, (n) => {
      const cur = this.#reloadedListeners.get(n);
      if (cur) return cur;
      const l = this.#staticListeners.get(n);
      const port = this.#deps.staticPort(n);
      return l && port !== undefined ? { config: l, port } : undefined;
    });
    preUnpack(changedClusters);
    const built = this.#build(changedClusters);
    const meta = { versionInfo: "", lastUpdated: now };
    for (const cluster of built) this.#warmCluster(cluster, meta, false);
    for (const name of removedClusters) {
      this.#staticClusters.delete(name);
      this.#removeCluster(name);
    }
    this.#staticClusters = new Map(clusters.map((c) => [c.name, c]));
    for (const name of removedListeners) {
      this.#removeListener(name);
      this.#staticListeners.delete(name);
    }
    const replaced = new Map(changedListeners.map((l) => [l.name, previous(l.name)]));
    this.#staticListeners = new Map(listeners.map((l) => [l.name, l]));
    for (const l of changedListeners) {
      this.#warmListener(l, ports.get(l.name)!, meta, replaced.get(l.name));
    }
    this.#updateListenerGauges();
    return [
      ...changedClusters.map((c) => `cluster '${c.name}'`),
      ...removedClusters.map((n) => `cluster '${n}' (removed)`),
      ...changedListeners.map((l) => `listener '${l.name}'`),
      ...removedListeners.map((n) => `listener '${n}' (removed)`),
    ];
  }

  /** The static resources serving now (a restarted worker builds these). */
  staticResources(): { clusters: ClusterConfig[]; listeners: Listener[] } {
    return {
      clusters: [...this.#staticClusters.values()],
      listeners: [...this.#staticListeners.values()],
    };
  }

  /** The ports of listeners this manager bound (LDS, reloaded static listeners). */
  ports(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [n, l] of this.#reloadedListeners) out[n] = l.port;
    for (const [n, l] of this.#listeners) out[n] = l.port;
    return out;
  }

  /**
   * What a worker starting now needs besides the static resources: dynamic clusters (with
   * their membership), every route table, dynamic listeners.
   */
  snapshot(): DynamicUpdate {
    const cm = this.#deps.ctx.clusterManager;
    const clusters: ClusterChange[] = [];
    for (const name of this.#clusters.keys()) {
      const c = cm.get(name);
      if (c) clusters.push(clusterChange(c));
    }
    const listeners: ListenerChange[] = [...this.#listeners.values()].map((l) => ({
      config: l.config,
      port: l.port,
    }));
    const routes: RouteConfiguration[] = [];
    for (const r of this.#routes.values()) if (r.current) routes.push(r.current.config);
    const scopes = [...this.#srds.values()].filter((s) => s.current)
      .map((s) => ({ name: s.name, scopes: s.current!.config }));
    return {
      secrets: this.#sds.snapshot(),
      ecds: this.#ecds.snapshot(),
      clusters,
      routes,
      scopes,
      listeners,
    };
  }

  // ---- config dump ----

  /** What `/config_dump` shows of dynamic resources. */
  dumpState(): {
    cdsVersion: string;
    ldsVersion: string;
    clusters: ReadonlyMap<string, Versioned<ClusterConfig>>;
    warmingClusters: ReadonlyMap<string, Versioned<ClusterConfig>>;
    clusterErrors: ReadonlyMap<string, UpdateFailureState>;
    listeners: ReadonlyMap<string, Versioned<Listener>>;
    warmingListeners: ReadonlyMap<string, Versioned<Listener>>;
    listenerErrors: ReadonlyMap<string, UpdateFailureState>;
    routes: ReadonlyMap<string, RouteState>;
    scopedRoutes: ReadonlyMap<string, SrdsState>;
    endpoints: EdsState[];
    secrets: SecretState[];
    ecds: EcdsState[];
  } {
    return {
      cdsVersion: this.#cdsVersion,
      ldsVersion: this.#ldsVersion,
      clusters: this.#clusters,
      warmingClusters: this.#warmingClusters,
      clusterErrors: this.#clusterErrors,
      listeners: this.#listeners,
      warmingListeners: this.#warmingListeners,
      listenerErrors: this.#listenerErrors,
      routes: this.#routes,
      scopedRoutes: this.#srds,
      endpoints: [...this.#eds.values()],
      secrets: [...this.#sds.states()],
      ecds: [...this.#ecds.states()],
    };
  }
}

/** What a worker needs to put `cluster` in service. */
function clusterChange(cluster: Cluster): ClusterChange {
  return {
    config: cluster.keptConfig,
    memory: cluster.resources.memory,
    membership: cluster.prioritySet.snapshot(),
  };
}

/** Two listeners may not share an address (unless one does not bind); throws naming both. */
/**
 * Envoy rebalances a connection `use_original_dst` hands to a balanced listener
 * (`onAcceptWorker` with `rebalanced` false); here a hand-off stays on its worker, so the two
 * are refused together, as at validate for the bootstrap's listeners.
 */
function checkBalancedHandOffs(listeners: ReadonlyMap<string, Listener>): void {
  for (const l of listeners.values()) {
    if (!l.connectionBalanceConfig) continue;
    for (const o of listeners.values()) {
      if (o === l || !o.useOriginalDst) continue;
      throw new Error(
        `listener '${l.name}': connection_balance_config while listener '${o.name}' has ` +
          "use_original_dst is not supported (a connection it hands over would not be " +
          "rebalanced across workers)",
      );
    }
  }
}

function checkAddresses(listeners: ReadonlyMap<string, Listener>): void {
  const seen = new Map<string, string>();
  for (const l of listeners.values()) {
    if (l.bindToPort === false) continue;
    const key = addressKey(l);
    if (key.endsWith(":0")) continue;
    const other = seen.get(key);
    if (other !== undefined) {
      throw new Error(
        `error adding listener '${key}': listener '${l.name}' has duplicate address ` +
          `'${key}' as existing listener '${other}'`,
      );
    }
    seen.set(key, l.name);
  }
}
