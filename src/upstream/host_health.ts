/**
 * The main thread's health state of a cluster's hosts: what active health checking and
 * outlier detection found, combined with each host's EDS/config health as Envoy combines
 * health flags. The cluster type (static, DNS) writes plain membership into a raw priority set;
 * this publishes the same hosts with their flags, combined health and shared monitor into the
 * cluster's public priority set, which reaches the workers as snapshots.
 *
 * With active health checking (and without `ignore_health_on_host_removal`), service discovery
 * is eventually consistent as in Envoy: a host that leaves the raw membership while it passes
 * its health checks stays published (flag `pending_dynamic_removal`) and checked until it fails
 * them, and only then leaves; one that comes back in the meantime is simply a member again.
 *
 * @module
 */
import { type HostDescription, type HostFlags, hostKey } from "./host.ts";
import { ID, newHostMonitor } from "./host_monitor.ts";
import type { OutlierConfig } from "./outlier_detection.ts";
import { OutlierHostState } from "./outlier_detection.ts";
import type { HostSetPolicy, PrioritySet } from "./priority_set.ts";

/** One host's mutable health state. */
export interface HostState {
  readonly key: string;
  /** The host as its cluster type describes it (before health flags). */
  host: HostDescription;
  readonly monitor: Int32Array;
  /** Set by the health checker. */
  failedActiveHc: boolean;
  pendingActiveHc: boolean;
  degradedActiveHc: boolean;
  activeHcTimeout: boolean;
  excludedViaImmediateHcFail: boolean;
  /** Gone from the raw membership, kept while it passes active health checks. */
  pendingDynamicRemoval: boolean;
  /** Outlier detection's view of the host (its ejection is `outlier.ejected`). */
  readonly outlier: OutlierHostState;
}

let nextMonitorId = 1;

/** Host health of one cluster, on the main thread. */
export class HostHealthTracker {
  readonly states = new Map<string, HostState>();
  /** Monitor ids (host_monitor.ts) to host keys, for results workers post by id. */
  readonly #byId = new Map<number, string>();
  readonly #raw: PrioritySet;
  readonly #out: PrioritySet;
  readonly #policy: HostSetPolicy;
  readonly #activeHc: boolean;
  readonly #workerSlots: number;
  readonly #outlier: OutlierConfig | undefined;
  readonly #keepsRemovedHealthy: boolean;
  /** Hosts service discovery removed that are kept (Envoy's PENDING_DYNAMIC_REMOVAL). */
  readonly #pendingRemoval = new Set<HostState>();
  /** Called with hosts added and removed, after the states changed and before publishing. */
  onHostsChanged: ((added: HostState[], removed: HostState[]) => void) | undefined;

  constructor(
    raw: PrioritySet,
    out: PrioritySet,
    policy: HostSetPolicy,
    opts: {
      activeHc: boolean;
      outlier?: OutlierConfig;
      /**
       * Keep hosts the raw membership drops until they fail active health checking (a
       * health-checked cluster without `ignore_health_on_host_removal`).
       */
      keepRemovedHealthy?: boolean;
      /** Worker isolates that count connections in each host's monitor. */
      workerSlots?: number;
    },
  ) {
    this.#raw = raw;
    this.#out = out;
    this.#policy = policy;
    this.#activeHc = opts.activeHc;
    this.#outlier = opts.outlier;
    this.#keepsRemovedHealthy = opts.keepRemovedHealthy === true;
    this.#workerSlots = opts.workerSlots ?? 0;
    raw.onUpdate(() => this.#sync());
    this.#sync();
  }

  /** The host key a worker's monitor id names. */
  keyOf(monitorId: number): string | undefined {
    return this.#byId.get(monitorId);
  }

  #sync(): void {
    const seen = new Set<string>();
    const added: HostState[] = [];
    for (const h of this.#raw.allHosts()) {
      const key = hostKey(h);
      seen.add(key);
      const st = this.states.get(key);
      if (st) {
        st.host = h;
        if (st.pendingDynamicRemoval) {
          st.pendingDynamicRemoval = false;
          this.#pendingRemoval.delete(st);
        }
        continue;
      }
      const o = this.#outlier;
      const id = nextMonitorId++;
      const monitor = newHostMonitor(
        id,
        o && {
          c5xx: o.consecutive5xx,
          gateway: o.consecutiveGatewayFailure,
          localOrigin: o.consecutiveLocalOriginFailure,
          split: o.splitExternalLocalOriginErrors,
        },
        this.#activeHc,
        this.#workerSlots,
      );
      this.#byId.set(id, key);
      // With active health checking, a new host is unhealthy until its first check (Envoy's
      // FAILED_ACTIVE_HC | PENDING_ACTIVE_HC at creation).
      const state: HostState = {
        key,
        host: h,
        monitor,
        failedActiveHc: this.#activeHc,
        pendingActiveHc: this.#activeHc,
        degradedActiveHc: false,
        activeHcTimeout: false,
        excludedViaImmediateHcFail: false,
        pendingDynamicRemoval: false,
        outlier: new OutlierHostState(monitor, key),
      };
      this.states.set(key, state);
      added.push(state);
    }
    const removed: HostState[] = [];
    for (const [key, st] of this.states) {
      if (seen.has(key)) continue;
      // As Envoy, only failing active health checks or EDS health removes a host at once;
      // an outlier ejection does not. A host not checked yet counts as failing.
      if (this.#keepsRemovedHealthy && !st.failedActiveHc && !edsFailed(st.host)) {
        st.pendingDynamicRemoval = true;
        this.#pendingRemoval.add(st);
        continue;
      }
      this.#forget(st);
      removed.push(st);
    }
    if (added.length > 0 || removed.length > 0) this.onHostsChanged?.(added, removed);
    this.publish();
  }

  #forget(st: HostState): void {
    this.states.delete(st.key);
    this.#byId.delete(st.monitor[ID]);
    this.#pendingRemoval.delete(st);
  }

  /**
   * Publishes every host with its current flags (workers get the new snapshot). A kept host
   * that now fails active health checking leaves the membership here.
   */
  publish(): void {
    let levels = this.#raw.hostSets.length;
    if (this.#pendingRemoval.size > 0) {
      let failed: HostState[] | undefined;
      for (const st of this.#pendingRemoval) {
        if (st.failedActiveHc) (failed ??= []).push(st);
        else levels = Math.max(levels, st.host.priority + 1);
      }
      if (failed) {
        for (const st of failed) this.#forget(st);
        this.onHostsChanged?.([], failed);
      }
    }
    // Levels that only kept hosts filled are emptied once they are gone.
    levels = Math.max(levels, this.#out.hostSets.length);
    for (let p = 0; p < levels; p++) {
      const raw = this.#raw.hostSets[p]?.hosts ?? [];
      const hosts = raw.map((h) => withFlags(h, this.states.get(hostKey(h))!));
      for (const st of this.#pendingRemoval) {
        if (st.host.priority === p) hosts.push(withFlags(st.host, st));
      }
      this.#out.updateHosts(p, hosts, this.#policy);
    }
  }
}

/** EDS said the host is unhealthy (not merely degraded). */
function edsFailed(h: HostDescription): boolean {
  return !h.healthy && h.degraded !== true;
}

/** A host with its health flags applied, as Envoy's `Host::coarseHealth()`. */
export function withFlags(h: HostDescription, st: HostState): HostDescription {
  const flags: HostFlags = {
    edsHealthy: h.healthy,
    edsDegraded: h.degraded === true,
    failedActiveHc: st.failedActiveHc,
    pendingActiveHc: st.pendingActiveHc,
    degradedActiveHc: st.degradedActiveHc,
    activeHcTimeout: st.activeHcTimeout,
    excludedViaImmediateHcFail: st.excludedViaImmediateHcFail,
    failedOutlierCheck: st.outlier.ejected,
    pendingDynamicRemoval: st.pendingDynamicRemoval,
  };
  const unhealthy = edsFailed(h) || st.failedActiveHc || st.outlier.ejected;
  const degraded = !unhealthy && (h.degraded === true || st.degradedActiveHc);
  return {
    ...h,
    healthy: !unhealthy && !degraded,
    ...(degraded ? { degraded: true } : { degraded: undefined }),
    monitor: st.monitor,
    flags,
  };
}
