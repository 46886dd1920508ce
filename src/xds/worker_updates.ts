/**
 * Dynamic configuration in a worker isolate: the main thread validated and warmed an update
 * (CDS, LDS, RDS, a reloaded bootstrap) and posts what changed; the worker swaps it in
 * without dropping connections. A replaced cluster's pools drain; a replaced listener stops
 * accepting, its connections drain over the drain time (then close) while the new instance
 * serves; a listener whose filter chains alone changed is updated in place, and only the
 * connections of its removed chains drain; a new route table applies to the next request.
 *
 * @module
 */
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import type { Listener } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import type { ScopedRouteConfiguration } from "../../proto/gen/envoy/config/route/v3/scoped_route_pb.ts";
import { getLogger } from "../common/logger.ts";
import type { ServerContext } from "../config/extensions.ts";
import { ActiveListener, type DrainingFilterChains } from "../listener/listener.ts";
import { listenerCreateSuccess } from "../listener/listener_manager_stats.ts";
import { drainManager, gradualShare } from "../server/drain_manager.ts";
import type { DrainStrategy } from "../server/options.ts";
import { Cluster } from "../upstream/cluster.ts";
import { applyEcdsConfigs, type EcdsConfigUpdate } from "./ecds_config.ts";
import {
  applySdsSecrets,
  type SdsSecretUpdate,
} from "../extensions/transport_sockets/tls/sds_registry.ts";
import type { PrioritySetSnapshot } from "../upstream/priority_set.ts";

const log = getLogger("upstream");

/** A cluster to put in service, with its circuit breaker memory and current membership. */
export interface ClusterChange {
  config: ClusterConfig;
  memory: SharedArrayBuffer;
  membership: PrioritySetSnapshot;
}

/** A listener to serve, on the port the main thread resolved. */
export interface ListenerChange {
  config: Listener;
  port: number;
  /**
   * Only its filter chains changed (Envoy's in-place filter chain update): the listener
   * serving keeps its socket and unchanged chains; the connections of removed chains drain.
   */
  inPlace?: boolean;
}

/**
 * What changed, applied in this order: SDS secrets, ECDS filter configs, clusters, route tables, listeners, then
 * removals of listeners and clusters (a listener's routes may name a cluster it replaces).
 */
export interface DynamicUpdate {
  secrets?: SdsSecretUpdate[];
  ecds?: EcdsConfigUpdate[];
  clusters?: ClusterChange[];
  routes?: RouteConfiguration[];
  /** Route configurations whose fetch ended without one: requests waiting on them go on. */
  routesSettled?: string[];
  /** SRDS: the scopes of a `scoped_routes` (by its name), replacing what it had. */
  scopes?: { name: string; scopes: ScopedRouteConfiguration[] }[];
  listeners?: ListenerChange[];
  removedListeners?: string[];
  removedClusters?: string[];
}

/** The worker state updates act on. */
export interface WorkerTarget {
  readonly ctx: ServerContext;
  /** The listeners serving, which updates add to and take from. */
  readonly listeners: ActiveListener[];
  readonly drainTimeMs: number;
  readonly drainStrategy: DrainStrategy;
}

let generation = 0;

/** Applies `u` to the worker; a part that fails is logged and the rest still applies. */
export function applyDynamicUpdate(w: WorkerTarget, u: DynamicUpdate): void {
  const cm = w.ctx.clusterManager;
  if (u.secrets) applySdsSecrets(u.secrets);
  if (u.ecds) applyEcdsConfigs(u.ecds);
  for (const c of u.clusters ?? []) {
    try {
      const cluster = new Cluster(c.config, {
        circuitBreakerMemory: { [c.config.name]: c.memory },
        workerId: w.ctx.workerId,
        keepConfig: false,
      });
      cluster.prioritySet.replace(c.membership);
      cm.addOrUpdateCluster(cluster);
    } catch (e) {
      log.error(`cluster '${c.config.name}': ${(e as Error).message}`);
    }
  }
  for (const rc of u.routes ?? []) {
    try {
      w.ctx.routeConfigs?.update(rc);
    } catch (e) {
      log.error(`route configuration '${rc.name}': ${(e as Error).message}`);
    }
  }
  for (const name of u.routesSettled ?? []) w.ctx.routeConfigs?.settled(name);
  for (const s of u.scopes ?? []) {
    try {
      w.ctx.scopedRoutes?.update(s.name, s.scopes);
    } catch (e) {
      log.error(`scoped routes '${s.name}': ${(e as Error).message}`);
    }
  }
  for (const l of u.listeners ?? []) {
    const old = w.listeners.find((x) => x.name === l.config.name);
    if (old && l.inPlace) {
      try {
        const draining = old.updateFilterChains(l.config);
        if (draining) drainAway(w, draining);
      } catch (e) {
        getLogger("config").error(`listener '${l.config.name}': ${(e as Error).message}`);
      }
      continue;
    }
    let next: ActiveListener;
    try {
      next = new ActiveListener(l.config, w.ctx, `${l.config.name}#${++generation}`);
      next.bind(true, l.port);
    } catch (e) {
      getLogger("config").error(`listener '${l.config.name}': ${(e as Error).message}`);
      continue;
    }
    drainManager().registerListener(next.drainKey, l.config.drainType);
    w.listeners.push(next);
    listenerCreateSuccess(w.ctx.stats).inc();
    next.serve().catch((e) => log.error(`listener '${next.name}': ${(e as Error).message}`));
    if (old) retire(w, old);
  }
  for (const name of u.removedListeners ?? []) {
    const old = w.listeners.find((x) => x.name === name);
    if (old) retire(w, old);
  }
  for (const name of u.removedClusters ?? []) cm.removeCluster(name);
}

/**
 * A listener leaves service: it stops accepting now; its connections drain over the drain
 * time (Envoy drains on modify and remove whatever the `drain_type`), then close.
 */
function retire(w: WorkerTarget, l: ActiveListener): void {
  w.listeners.splice(w.listeners.indexOf(l), 1);
  l.close(false);
  drainManager().startDrain([l.drainKey], w.drainTimeMs, w.drainStrategy);
  drainAway(w, l);
}

/**
 * The connections of a retired listener or of removed filter chains drain over the drain
 * time, then what is left closes.
 */
function drainAway(w: WorkerTarget, l: DrainingFilterChains): void {
  if (l.connectionCount === 0) return;
  // Idle connections send no response to carry `connection: close`: they are told too, all
  // at once (immediate) or a growing share each interval (gradual), as a server drain does.
  if (w.drainStrategy === "immediate" || w.drainTimeMs <= 0) l.drainConnections(1);
  else {
    const start = performance.now();
    const interval = Math.min(1000, w.drainTimeMs);
    const sweep = setInterval(() => {
      const share = gradualShare(performance.now() - start, w.drainTimeMs, interval);
      l.drainConnections(share);
      if (share >= 1 || l.connectionCount === 0) clearInterval(sweep);
    }, interval);
  }
  setTimeout(() => l.close(true), w.drainTimeMs);
}
